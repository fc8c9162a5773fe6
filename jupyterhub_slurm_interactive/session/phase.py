"""A session's phase: one value, and the moves allowed between phases.

The hub's ``spawner.pending`` and ``ready`` say what JupyterHub does with a server; the phase says what the
session does with its job. Every change of phase goes through :meth:`Phase.to`, which refuses a move the
life of a session does not have (a bug, never a user's doing).
"""

from __future__ import annotations

import enum


class PhaseError(RuntimeError):
    """A move between phases that the life of a session does not have."""


class Phase(enum.Enum):
    IDLE = "idle"  # no start under way: never started, running (the server answers), or over
    SUBMITTING = "submitting"  # sbatch runs, or the queue is searched for a job sbatch did not answer about
    QUEUED = "queued"  # the job pends
    LAUNCHING = "launching"  # the job runs; its server has not answered yet
    CANCELLING = "cancelling"  # the user cancelled the start: it ends at its next look
    STOPPING = "stopping"  # the hub's stop: scancel sent, waiting for the job to leave its node

    @property
    def starting(self) -> bool:
        """A start is under way (also one resumed after a hub restart, and one being cancelled)."""
        return self in _STARTING

    def to(self, new: Phase) -> Phase:
        """``new``, if the life of a session moves from this phase to it; else :class:`PhaseError`."""
        if new is not self and new not in MOVES[self]:
            raise PhaseError(f"a session does not go from {self.value} to {new.value}")
        return new


_STARTING = frozenset({Phase.SUBMITTING, Phase.QUEUED, Phase.LAUNCHING, Phase.CANCELLING})

#: Where each phase may go. A start (or one resumed after a restart, which begins at QUEUED) ends in IDLE,
#: with a server or without; a stop runs from IDLE (or stops a start that has a job) and returns to IDLE.
MOVES: dict[Phase, frozenset[Phase]] = {
    Phase.IDLE: frozenset({Phase.SUBMITTING, Phase.QUEUED, Phase.STOPPING}),
    Phase.SUBMITTING: frozenset({Phase.QUEUED, Phase.CANCELLING, Phase.IDLE}),
    Phase.QUEUED: frozenset({Phase.LAUNCHING, Phase.CANCELLING, Phase.STOPPING, Phase.IDLE}),
    Phase.LAUNCHING: frozenset({Phase.CANCELLING, Phase.STOPPING, Phase.IDLE}),
    Phase.CANCELLING: frozenset({Phase.IDLE}),
    Phase.STOPPING: frozenset({Phase.IDLE}),
}
