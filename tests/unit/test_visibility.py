"""Whether the hub sees its sessions' jobs, judged from what slurmctld says (recorded on the local stack on
a fresh machine, where the hub's user was made an operator before it existed)."""

import asyncio

from jupyterhub_slurm_interactive.cluster.visibility import (
    UNRESOLVED_UID,
    JobVisibility,
    judge,
    private_data,
    slurm_user,
    user_record,
)
from jupyterhub_slurm_interactive.slurm.runner import SlurmError

from .playback import PlaybackRunner, fixture

CONFIG = fixture("scontrol_show_config.txt")
UNRESOLVED = fixture("scontrol_assoc_mgr_hub_unresolved.txt")
UNKNOWN = fixture("scontrol_assoc_mgr_hub_unknown.txt")
RESOLVED = UNRESOLVED.replace(f"jupyterhub({UNRESOLVED_UID})", "jupyterhub(999)")
NOT_OPERATOR = RESOLVED.replace("AdminLevel=Operator", "AdminLevel=Not Set")


def test_the_configuration_says_what_is_private_and_who_runs_slurm():
    assert private_data(CONFIG) == {"jobs", "usage"}
    assert private_data(CONFIG.replace("PrivateData             = jobs,usage", "PrivateData             = none")) == set()
    assert slurm_user(CONFIG) == "slurm"


def test_the_user_record_gives_the_uid_slurmctld_knows_and_the_admin_level():
    assert user_record(UNRESOLVED, "jupyterhub") == (UNRESOLVED_UID, "Operator")
    assert user_record(NOT_OPERATOR, "jupyterhub") == (999, "Not Set")
    assert user_record(UNKNOWN, "jupyterhub") is None


def test_an_operator_slurmctld_never_resolved_sees_no_job_and_the_fix_is_named():
    verdict = judge("jupyterhub", CONFIG, UNRESOLVED)
    assert not verdict.ok
    assert "never resolved its uid" in verdict.problem and "PrivateData=jobs,usage" in verdict.problem
    assert "scontrol reconfigure" in verdict.fix


def test_a_resolved_operator_sees_every_job():
    assert judge("jupyterhub", CONFIG, RESOLVED).ok


def test_a_user_that_is_no_operator_or_unknown_to_accounting_is_told_how_to_become_one():
    assert "adminlevel=Operator" in judge("jupyterhub", CONFIG, NOT_OPERATOR).fix
    unknown = judge("jupyterhub", CONFIG, UNKNOWN)
    assert "not in Slurm accounting" in unknown.problem and "sacctmgr -i add user jupyterhub" in unknown.fix


def test_nothing_is_needed_where_jobs_are_not_private_or_the_hub_runs_as_slurm():
    public = CONFIG.replace("PrivateData             = jobs,usage", "PrivateData             = usage")
    assert judge("jupyterhub", public, UNKNOWN).ok
    assert judge("slurm", CONFIG, UNKNOWN).ok and judge("root", CONFIG, None).ok
    no_accounting = CONFIG.replace("accounting_storage/slurmdbd", "accounting_storage/none")
    assert "Slurm has no accounting" in judge("jupyterhub", no_accounting, None).problem


async def test_a_hub_user_slurmctld_does_not_know_is_refused_its_own_record_and_told_the_fix():
    refused = SlurmError("scontrol", 1, fixture("scontrol_assoc_mgr_as_unresolved_hub.stderr"))
    runner = PlaybackRunner({"scontrol show config": [CONFIG], "scontrol show assoc_mgr": [refused]})
    verdict = await JobVisibility(runner, user="jupyterhub").get()
    assert not verdict.ok and "unknown to slurmctld" in verdict.problem
    assert "scontrol reconfigure" in verdict.fix


async def test_the_check_is_shared_kept_while_it_holds_and_asked_again_when_a_start_lost_its_job():
    runner = PlaybackRunner({"scontrol show config": [CONFIG], "scontrol show assoc_mgr": [RESOLVED]})
    check = JobVisibility(runner, user="jupyterhub", ttl=300, retry=0)
    verdicts = await asyncio.gather(*(check.get() for _ in range(5)))
    assert all(v.ok for v in verdicts) and check.checks == 1
    await check.get()
    assert check.checks == 1
    check.forget()
    await check.get()
    assert check.checks == 2


async def test_a_failing_verdict_is_asked_again_so_that_a_fix_is_seen_without_a_restart():
    runner = PlaybackRunner({"scontrol show config": [CONFIG], "scontrol show assoc_mgr": [UNRESOLVED, RESOLVED]})
    check = JobVisibility(runner, user="jupyterhub", ttl=300, retry=0)
    assert not (await check.get()).ok
    assert (await check.get()).ok


async def test_a_slurm_that_does_not_answer_gives_no_verdict_against_the_hub_but_keeps_a_failing_one():
    down = SlurmError("scontrol", 1, "slurm_load_ctl_conf error: Unable to contact slurm controller")
    check = JobVisibility(PlaybackRunner({"scontrol show config": [down]}), user="jupyterhub", retry=0)
    assert (await check.get()).ok
    runner = PlaybackRunner({"scontrol show config": [CONFIG, down], "scontrol show assoc_mgr": [UNRESOLVED]})
    check = JobVisibility(runner, user="jupyterhub", retry=0)
    assert not (await check.get()).ok
    assert not (await check.get()).ok


async def test_a_verdict_that_held_is_answered_while_its_next_check_runs_and_a_loss_is_seen_by_the_next_page():
    runner = PlaybackRunner({"scontrol show config": [CONFIG], "scontrol show assoc_mgr": [RESOLVED, NOT_OPERATOR]})
    check = JobVisibility(runner, user="jupyterhub", ttl=0, retry=300)
    assert (await check.get()).ok
    assert (await check.get()).ok  # expired: answered at once, checked again behind it...
    await check.settled()
    assert check.checks == 2
    assert not (await check.get()).ok  # ...and the next page knows what that check found
