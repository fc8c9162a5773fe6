"""Jobs of this hub that no server holds: adopted by a starting server, else cancelled; a mark that names
another user than the job's owner makes the hub do nothing."""

import logging

from jupyterhub_slurm_interactive.cluster.reconcile import Reconciler, decide, make_mark, read_mark
from jupyterhub_slurm_interactive.slurm.commands import parse_squeue

from .playback import queue_line


def queue(*lines):
    return parse_squeue("".join(lines))


def test_marks():
    assert make_mark("jupyterhub", "alice", "") == "jupyterhub:alice:"
    assert read_mark("jupyterhub:alice:gpu", "jupyterhub") == ("alice", "gpu")
    assert read_mark("(null)", "jupyterhub") is None
    assert read_mark("otherhub:alice:", "jupyterhub") is None
    assert read_mark("jupyterhub::", "jupyterhub") is None


def test_decisions():
    jobs = queue(
        queue_line("RUNNING", "1", comment="jupyterhub:alice:", user="alice"),      # held: nothing to do
        queue_line("RUNNING", "2", comment="jupyterhub:alice:cpu", user="alice"),   # orphan, server starting
        queue_line("PENDING", "3", comment="jupyterhub:alice:old", user="alice"),   # orphan: cancel
        queue_line("RUNNING", "4", comment="jupyterhub:alice:", user="bob"),        # bob claims alice: ignore
        queue_line("RUNNING", "5", comment="(null)", user="bob"),                   # not ours
        queue_line("CANCELLED", "6", comment="jupyterhub:alice:", user="alice"),    # ended already
        queue_line("RUNNING", "7", comment="otherhub:alice:", user="alice"),        # another hub's
    )
    decisions = {d.job_id: d for d in decide(jobs, {"1"}, {("alice", "cpu")}, "jupyterhub")}
    assert {k: d.action for k, d in decisions.items()} == {"2": "adopt", "3": "cancel", "4": "ignore"}
    assert decisions["4"].user == "bob" and "owns it" in decisions["4"].why


async def test_a_job_is_cancelled_when_seen_twice_unheld(caplog):
    cancelled, adopted = [], []

    async def cancel(d):
        cancelled.append(d.job_id)

    r = Reconciler("jupyterhub", held=lambda: set(), starting=lambda: set(), adopt=adopted.append, cancel=cancel,
                   log=logging.getLogger("test"))
    orphan = queue(queue_line("RUNNING", "9", comment="jupyterhub:alice:", user="alice"))
    with caplog.at_level(logging.WARNING):
        await r.check(orphan)
        assert cancelled == []  # its server may be saving it right now
        await r.check(orphan)
    assert cancelled == ["9"] and adopted == []
    assert "Session job 9 of alice/(default): cancelling (no server holds it)" in caplog.text
