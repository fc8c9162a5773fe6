"""A session's phase: the moves its life has, and none other."""

import pytest

from jupyterhub_slurm_interactive.session.phase import MOVES, Phase, PhaseError
from jupyterhub_slurm_interactive.session.record import JobRecord

from .test_session import make_session


def test_a_start_goes_through_its_phases_and_ends_idle():
    phase = Phase.IDLE
    for new in (Phase.SUBMITTING, Phase.QUEUED, Phase.LAUNCHING, Phase.IDLE):
        phase = phase.to(new)
    assert phase is Phase.IDLE


@pytest.mark.parametrize("old,new", [
    (Phase.IDLE, Phase.LAUNCHING),  # a job runs only after it was queued
    (Phase.IDLE, Phase.CANCELLING),  # nothing to cancel
    (Phase.CANCELLING, Phase.LAUNCHING),  # a cancelled start does not go on
    (Phase.STOPPING, Phase.QUEUED),
    (Phase.LAUNCHING, Phase.QUEUED),
    (Phase.SUBMITTING, Phase.STOPPING),  # no job yet: a stop has nothing to cancel
])
def test_a_move_the_life_of_a_session_does_not_have_is_refused(old, new):
    with pytest.raises(PhaseError, match=f"from {old.value} to {new.value}"):
        old.to(new)


def test_every_phase_can_end_idle_and_only_the_start_phases_are_starting():
    assert all(p is Phase.IDLE or Phase.IDLE in MOVES[p] for p in Phase)
    assert {p for p in Phase if p.starting} == {Phase.SUBMITTING, Phase.QUEUED, Phase.LAUNCHING, Phase.CANCELLING}


def test_the_saved_record_round_trips_and_ignores_what_is_not_its_own():
    record = JobRecord()
    record.submitted("4242", 1700000000.5)
    record.on_node("gpu01")
    record.ended("COMPLETED", "done", 1700000100.0)
    again = JobRecord()
    again.load({**record.to_state(), "job_status": "ignored", "last_end": record.last_end})
    assert again == record
    broken = JobRecord()
    broken.load({"job_id": None, "node": 3, "submitted_at": "", "last_end": "not a dict"})
    assert broken == JobRecord(node="3")


async def test_a_session_out_of_its_start_is_idle_and_a_cancel_of_it_is_refused():
    session, _, _ = make_session({})
    assert session.phase is Phase.IDLE and not session.starting
    from jupyterhub_slurm_interactive.session.outcomes import NotStarting

    with pytest.raises(NotStarting):
        await session.cancel_start()
    assert session.phase is Phase.IDLE
