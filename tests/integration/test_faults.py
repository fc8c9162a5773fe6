"""Faults lose nothing: every session job of this hub is held by exactly one of its servers, and every
server that says it runs or waits has its job in Slurm."""

import time

import pytest

from .conftest import STACKCTL, hub_log_tail, sh, squeue, wait_for

pytestmark = pytest.mark.integration

LIVE = ("PENDING", "CONFIGURING", "RUNNING")


def invariant(hub) -> tuple[list, list]:
    """(orphans, ghosts): this hub's live session jobs no server holds (or more than one holds), and
    servers that run or wait without their job in Slurm."""
    jobs = {j["id"]: j for j in squeue("--states=all") if j["name"] == "jupyterhub-session" and j["state"] in LIVE}
    holders: dict[str, list[str]] = {}
    ghosts = []
    for user in hub.api("GET", "/users").json():
        for name, server in (user.get("servers") or {}).items():
            job = (server.get("state") or {}).get("job_id")
            who = f"{user['name']}/{name}"
            if job:
                holders.setdefault(job, []).append(who)
            if (server.get("ready") or server.get("pending")) and job and job not in jobs:
                ghosts.append((who, job))
            if server.get("ready") and not job:
                ghosts.append((who, None))
    orphans = [(j, holders.get(j, [])) for j in jobs if len(holders.get(j, [])) != 1]
    return orphans, ghosts


def assert_invariant(hub, within: float = 30):
    wait_for(lambda: invariant(hub) == ([], []), within, 1, what="no orphan job and no ghost server")


def marked_job(user: str, mark_user: str, server: str = "") -> str:
    return sh("sbatch", "--parsable", "-J", "jupyterhub-session", f"--comment=jupyterhub:{mark_user}:{server}",
              "-c", "1", "--mem=100M", "-t", "10", "--wrap", "sleep 600", user=user).stdout.strip()


def test_a_job_no_server_holds_is_cancelled_and_named_in_the_log(hub, clean):
    assert hub.start("bob", {}).status_code in (201, 202)  # the hub follows the queue
    hub.wait_ready("bob")
    orphan = marked_job("alice", "alice", "lost")  # as if the hub died before saving it
    wait_for(lambda: not [j for j in squeue() if j["id"] == orphan], 60, 1, what="the orphan to be cancelled")
    assert f"Session job {orphan} of alice/lost: cancelling (no server holds it)" in hub_log_tail(300)
    assert_invariant(hub)


def test_a_mark_naming_another_user_makes_the_hub_do_nothing(hub, clean):
    assert hub.start("alice", {}).status_code in (201, 202)
    hub.wait_ready("alice")
    alice_job = hub.server("alice")["state"]["job_id"]
    forged = marked_job("bob", "alice")  # bob's job claims to be alice's default server
    wait_for(lambda: f"Session job {forged}: ignored" in hub_log_tail(300), 60, 1, what="the forged mark to be seen")
    assert [j["state"] for j in squeue() if j["id"] == forged] == ["RUNNING"]  # not cancelled, not adopted
    assert hub.server("alice")["state"]["job_id"] == alice_job
    assert hub.status_through_proxy("alice").status_code == 200
    sh("scancel", forged)


def test_sessions_and_jobs_still_match_after_a_hub_restart(hub, clean):
    for user in ("alice", "bob"):
        assert hub.start(user, {}).status_code in (201, 202)
    for user in ("alice", "bob"):
        hub.wait_ready(user)
    assert_invariant(hub, 10)
    sh(STACKCTL, "restart", "hub", timeout=120)
    time.sleep(2)
    assert_invariant(hub)
    hub.stop("alice")
    assert_invariant(hub)
