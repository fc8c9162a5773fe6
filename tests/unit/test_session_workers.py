"""A session's workers (Dask's, through dask-jobqueue) end with it: by their name, as their owner, once
the shared squeue shows their session ended, and never anyone else's jobs."""

import logging

from jupyterhub_slurm_interactive.session import workers
from jupyterhub_slurm_interactive.slurm.commands import parse_squeue

from .playback import PlaybackRunner, queue_line


def queue(*lines):
    return parse_squeue("".join(lines))


def test_a_workers_name_says_whose_session_it_serves():
    assert workers.worker_job_name("1234") == "worker-of-1234"
    assert workers.session_of("worker-of-1234") == "1234"
    for name in ("worker-of-", "worker-of-12a", "xworker-of-1", "worker-of-1 ", "jupyterhub-session", ""):
        assert workers.session_of(name) == ""


def test_only_ended_sessions_of_this_hub_and_their_owners_own_workers_count():
    sessions = queue(
        queue_line("COMPLETED", "10", comment="jupyterhub:alice:", user="alice"),   # ended
        queue_line("RUNNING", "11", comment="jupyterhub:alice:gpu", user="alice"),  # still running
        queue_line("CANCELLED", "12", comment="otherhub:bob:", user="bob"),         # another hub's
    )
    ended = workers.ended_sessions(sessions, "jupyterhub")
    assert ended == {"10": "alice"}
    found = queue(
        queue_line("RUNNING", "20", name="worker-of-10", user="alice"),   # alice's worker of her ended session
        queue_line("PENDING", "21", name="worker-of-10", user="alice"),   # queued: cancelled too
        queue_line("RUNNING", "22", name="worker-of-10", user="bob"),     # bob named his job so: never his
        queue_line("COMPLETED", "23", name="worker-of-10", user="alice"),  # ended already
        queue_line("RUNNING", "24", name="worker-of-11", user="alice"),   # a running session's
    )
    assert [w.job_id for w in workers.orphans(found, ended)] == ["20", "21"]


def as_user(user, argv):
    return ["sudo", "-n", "-u", user, *argv]


async def test_the_sweeper_asks_once_per_ended_session_and_cancels_as_the_owner(caplog):
    sessions = queue(queue_line("COMPLETED", "10", comment="jupyterhub:alice:", user="alice"),
                     queue_line("RUNNING", "11", comment="jupyterhub:bob:", user="bob"))
    runner = PlaybackRunner({
        "squeue": [queue_line("RUNNING", "20", name="worker-of-10", user="alice")
                   + queue_line("RUNNING", "22", name="worker-of-10", user="bob")],
        "scancel": [""],
    })
    sweep = workers.WorkerSweeper("jupyterhub", runner.run, as_user, logging.getLogger("test"))
    with caplog.at_level(logging.WARNING):
        await sweep(sessions)
    asked, cancelled = runner.ran
    assert "--name=worker-of-10" in asked["argv"] and "--states=all" in asked["argv"]
    assert cancelled["argv"] == ["sudo", "-n", "-u", "alice", "scancel", "20"]
    assert "Worker job 20 of alice: cancelling (its session 10 has ended)" in caplog.text
    await sweep(sessions)  # the same answer again: nothing more is asked
    assert len(runner.ran) == 2
    await sweep(queue(queue_line("RUNNING", "11", comment="jupyterhub:bob:", user="bob")))  # 10 left squeue
    assert len(runner.ran) == 2 and sweep.swept == set()


async def test_a_sweep_that_slurm_refuses_is_tried_again():
    from .playback import DOWN

    sessions = queue(queue_line("TIMEOUT", "10", comment="jupyterhub:alice:", user="alice"))
    runner = PlaybackRunner({"squeue": [DOWN, queue_line("RUNNING", "20", name="worker-of-10", user="alice")],
                             "scancel": [""]})
    sweep = workers.WorkerSweeper("jupyterhub", runner.run, as_user, logging.getLogger("test"))
    try:
        await sweep(sessions)
    except Exception:  # noqa: BLE001 - the reconciler's loop logs it and comes back
        pass
    assert sweep.swept == set()
    await sweep(sessions)
    assert runner.commands() == ["squeue", "squeue", "scancel"] and sweep.swept == {"10"}
