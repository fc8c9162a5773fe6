"""How a session is followed, and how a start can end without a server.

:class:`Timing` holds the spawner's settings a :class:`~session.life.Session` follows its job with. The
exceptions are what a start ends with when it gives no server: each carries the sentence for the user
(``message``) and the HTTP status the REST API answers with (``status``).
"""

from __future__ import annotations

from dataclasses import dataclass


class SessionError(Exception):
    """A start that did not give a server; ``message`` is for the user, ``status`` for the REST API."""

    status = 500

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


class SubmitRefused(SessionError):
    """sbatch refused the job (an association removed meanwhile, a limit reached)."""

    status = 400


class GaveUpWaiting(SessionError):
    """The job waited in the queue longer than the site allows, and was cancelled."""

    status = 503


class EndedWhileStarting(SessionError):
    """The job ended (or failed) before its server answered."""


class Cancelled(SessionError):
    """The user cancelled the session while it was queued or starting."""

    status = 409


class NotStarting(Exception):
    """A cancel of a session that is not queued or starting (it runs, or it has ended)."""


@dataclass
class Timing:
    """How a session is followed; the spawner's traits of the same names."""

    startup_poll_interval: float = 1.0
    queue_interval: float = 10.0
    pending_timeout: float = 570.0
    http_timeout: float = 120.0
    stop_wait: float = 3.0
    #: A job missing from the queue this soon after its submission means a stale answer, not a job gone.
    fresh_job_grace: float = 10.0
    #: After an ``sbatch`` that got no answer, how long the queue is searched for the job by its mark once
    #: Slurm answers again, before the start says the job was never submitted.
    lost_submission_grace: float = 15.0
