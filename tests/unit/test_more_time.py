"""Add time: the rules in their order, each refusal naming its rule, and the one scontrol update."""

from pathlib import Path

import pytest

from jupyterhub_slurm_interactive.choice.choices import timestamp
from jupyterhub_slurm_interactive.session import more_time
from jupyterhub_slurm_interactive.session.more_time import JobTime, Policy, Refused, Waiting, decide
from jupyterhub_slurm_interactive.slurm import commands as slurm

FIXTURES = Path(__file__).parent / "fixtures"
JOB = JobTime(job_id="7", state="RUNNING", limit_minutes=60, start=1_000_000.0, partition="interactive")


def refusal(**kw) -> Refused:
    args = dict(user="alice", gpus=1, policy=Policy(), partition_max_minutes=480, reservation_end=None, waiting=[])
    args.update(kw)
    job = args.pop("job", JOB)
    minutes = args.pop("minutes", 30)
    with pytest.raises(Refused) as e:
        decide(job, minutes, **args)
    return e.value


def test_recorded_job_and_queue_parse():
    job = more_time.parse_job((FIXTURES / "scontrol_show_job_running.txt").read_text())
    assert (job.state, job.limit_minutes, job.partition, job.reservation) == ("RUNNING", 60, "interactive", "")
    assert job.start == timestamp("2026-11-22T02:25:54")
    waiting = more_time.parse_waiting((FIXTURES / "squeue_pending_waiting.txt").read_text())
    assert [(w.reason, w.wants_gpus) for w in waiting] == [
        ("Resources", True), ("Priority", True), ("Priority", False), ("Priority", False), ("Priority", False),
        ("JobHeldUser", True)]
    assert more_time.parse_job("") is None


def test_minutes_of_slurm_durations():
    assert [more_time.minutes_of(t) for t in ("08:00:00", "1-00:00:00", "30:00", "00:00:01", "UNLIMITED")] == [
        480, 1440, 30, 1, None]


def test_time_is_added_within_every_rule():
    assert decide(JOB, 30, user="alice", gpus=1, policy=Policy(max_total_minutes=120), partition_max_minutes=480,
                  reservation_end=JOB.start + 3 * 3600, waiting=[Waiting("9", "alice", "Resources", True)]) == 90


def test_the_partitions_max_time_is_checked_first():
    e = refusal(minutes=8 * 60, policy=Policy(max_total_minutes=120))
    assert e.rule == "partition"
    assert e.message == ("No more time: 8 h more would make it 9 h, and the partition interactive allows at most "
                         "8 h (Slurm's MaxTime).")


def test_the_sites_cap_on_a_sessions_whole_time():
    e = refusal(minutes=90, policy=Policy(max_total_minutes=120))
    assert e.rule == "site_cap"
    assert e.message == ("No more time: 1 h 30 min more would make it 2 h 30 min, and a session here may run at "
                         "most 2 h in all, with the time added.")


def test_a_reservation_is_not_outlasted():
    job = JobTime(**{**JOB.__dict__, "reservation": "course"})
    e = refusal(job=job, reservation_end=JOB.start + 80 * 60)
    assert e.rule == "reservation" and "past the end of the reservation course" in e.message


@pytest.mark.parametrize("gpus, wants_gpus, refused", [(1, True, True), (1, False, False), (0, False, True),
                                                        (0, True, False)])
def test_no_time_while_others_wait_for_what_the_session_holds(gpus, wants_gpus, refused):
    waiting = [Waiting("9", "bob", "Resources", wants_gpus), Waiting("10", "bob", "Priority", wants_gpus)]
    if refused:
        e = refusal(gpus=gpus, waiting=waiting)
        assert e.rule == "queue"
        assert e.message.startswith(f"No more time while others wait: 2 jobs of other people wait in the partition "
                                    f"interactive for {'GPUs' if gpus else 'cores and memory'}")
    else:
        assert decide(JOB, 30, user="alice", gpus=gpus, policy=Policy(), partition_max_minutes=480,
                      reservation_end=None, waiting=waiting) == 90


def test_own_held_and_blocked_jobs_do_not_count_and_the_site_may_allow_it():
    waiting = [Waiting("9", "alice", "Resources", True), Waiting("10", "bob", "JobHeldUser", True),
               Waiting("11", "bob", "ReqNodeNotAvail, Reserved for maintenance", True)]
    assert decide(JOB, 30, user="alice", gpus=1, policy=Policy(), partition_max_minutes=480, reservation_end=None,
                  waiting=waiting) == 90
    assert decide(JOB, 30, user="alice", gpus=1, policy=Policy(while_others_wait=True), partition_max_minutes=480,
                  reservation_end=None, waiting=[Waiting("9", "bob", "Resources", True)]) == 90


def test_only_a_running_job_with_a_limit():
    assert refusal(job=JobTime(**{**JOB.__dict__, "state": "PENDING"})).rule == "not_running"
    assert refusal(job=JobTime(**{**JOB.__dict__, "limit_minutes": None})).rule == "partition"


@pytest.mark.parametrize("value", [0, -5, 10081, 1.5, "30", True, None, [30]])
def test_hostile_minutes_are_refused(value):
    with pytest.raises(ValueError, match="minutes must be a whole number from 1 to 10080"):
        more_time.check_minutes(value)


class Recorder:
    """A runner that answers from recorded output and keeps what it was asked."""

    def __init__(self, answers):
        self.answers, self.asked = answers, []

    async def run(self, argv, input=None, env=None):
        self.asked.append(argv)
        return self.answers.get(argv[0] + ":" + argv[-1].split("=")[0], "")


async def test_add_time_asks_once_and_updates_the_limit():
    runner = Recorder({"scontrol:215": (FIXTURES / "scontrol_show_job_running.txt").read_text()})
    partitions = {p["PartitionName"]: p for p in slurm.parse_records(
        (FIXTURES / "scontrol_show_partition.txt").read_text())}
    added = await more_time.add_time(runner, "215", 30, user="alice", gpus=1, policy=Policy(), partitions=partitions,
                                     reservations=[])
    assert added.limit_minutes == 90 and added.ends_at == timestamp("2026-11-22T02:25:54") + 90 * 60
    assert runner.asked[1][:3] == ["squeue", "--noheader", "--states=PENDING"]
    assert runner.asked[-1] == ["scontrol", "update", "JobId=215", "TimeLimit=90"]
    assert added.message().startswith("30 min added: the session (Slurm job 215) now ends at ")


async def test_a_refusal_changes_nothing_in_slurm():
    runner = Recorder({"scontrol:215": (FIXTURES / "scontrol_show_job_running.txt").read_text(),
                       "squeue:--format": (FIXTURES / "squeue_pending_waiting.txt").read_text()})
    with pytest.raises(Refused) as e:
        await more_time.add_time(runner, "215", 30, user="alice", gpus=1, policy=Policy(), partitions={},
                                 reservations=[])
    assert e.value.rule == "queue"
    assert not any(argv[:2] == ["scontrol", "update"] for argv in runner.asked)
