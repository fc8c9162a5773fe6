"""What a session's Slurm job is doing, in words a user understands.

Pure functions over Slurm's job states and reasons (see squeue(1), "JOB REASON
CODES" and "JOB STATE CODES"), so that the progress page, the home page and the
form say the same thing, and the unit tests can check every case.
"""

from __future__ import annotations

import time
from datetime import datetime

from jupyterhub_slurm_interactive.words import clock_time, duration

#: States of a job that has ended, with what to tell the user.
ENDED = {
    "TIMEOUT": "it reached its time limit (walltime)",
    "CANCELLED": "it was cancelled outside the hub (scancel by you or an administrator)",
    "NODE_FAIL": "its node failed",
    "BOOT_FAIL": "its node failed to boot",
    "FAILED": "the server failed",
    "COMPLETED": "the server exited",
    "OUT_OF_MEMORY": "it ran out of memory",
    "PREEMPTED": "it was preempted by a job with higher priority",
    "DEADLINE": "it reached its deadline",
    "REVOKED": "it was revoked by the federation",
    "SPECIAL_EXIT": "it ended with a special exit state",
}

_REASONS = {
    "Priority": "behind jobs with higher priority",
    "Dependency": "for a job it depends on",
    "BeginTime": "for its start time",
    "ReqNodeNotAvail": "because the nodes it could use are not available (down, drained or reserved)",
    "NodeDown": "because a node it needs is down",
    "PartitionDown": "because the partition is down",
    "PartitionInactive": "because the partition is inactive",
    "PartitionNodeLimit": "because it asks for more than the partition allows",
    "PartitionTimeLimit": "because its time exceeds the partition's limit",
    "JobHeldUser": "because you held it",
    "JobHeldAdmin": "because an administrator held it",
    "Reservation": "for its reservation to start",
    "InvalidAccount": "because its account is not valid",
    "InvalidQOS": "because its QOS is not valid",
    "Licenses": "for licenses",
    "Cleaning": "while its node is cleaned up after the previous job",
    "launch failed requeued held": "because its start failed",
}


def pending_message(reason: str, start_time: str = "", cores: int = 0, memory: int = 0, gpus: int = 0,
                    now: datetime | None = None) -> str:
    """"Waiting for a node with 2 free GPUs (Resources); expected to start at 14:05"."""
    reason = (reason or "").strip()
    if reason in ("Resources", "None", ""):
        wants = []
        if gpus:
            wants.append(f"{gpus} free GPU{'s' if gpus != 1 else ''}")
        if cores:
            wants.append(f"{cores} free core{'s' if cores != 1 else ''}")
        if memory:
            wants.append(f"{memory} MB of free memory")
        listed = ", ".join(wants[:-1]) + " and " + wants[-1] if len(wants) > 1 else "".join(wants)
        what = "waiting for a node with " + listed if wants else "waiting for resources"
        text = f"{what} ({reason})" if reason not in ("None", "") else "waiting to be scheduled"
    elif reason.startswith(("Assoc", "QOS")):
        text = f"waiting: your project has reached one of its limits ({reason})"
    elif reason in _REASONS:
        text = f"waiting {_REASONS[reason]} ({reason})"
    else:
        text = f"waiting ({reason})"
    expected = expected_start(start_time, now)
    if expected:
        text += f"; expected to start {expected}"
    return text[0].upper() + text[1:]


def expected_start(start_time: str, now: datetime | None = None) -> str:
    """Slurm's expected start of a pending job, as "at 14:05 UTC" or "on 2026-11-22 at 09:00 UTC"; "" if unknown."""
    try:
        when = datetime.strptime(start_time, "%Y-%m-%dT%H:%M:%S")
    except (TypeError, ValueError):
        return ""
    now = now or datetime.now()
    if when <= now:
        return "any moment now"
    zone = time.strftime("%Z", time.localtime(when.timestamp()))  # Slurm writes the hub's local time
    if when.date() == now.date():
        return f"at {when:%H:%M} {zone}"
    return f"on {when:%Y-%m-%d} at {when:%H:%M} {zone}"


def end_message(state: str, job_id: str = "", node: str = "") -> str:
    """Why a session ended, from its final Slurm state (``CANCELLED by 1001`` → CANCELLED)."""
    words = (state or "").split()
    base = words[0].rstrip("+") if words else ""
    state = " ".join(words)
    why = ENDED.get(base, f"its job ended ({state or 'unknown state'})" if state
                    else "its job is no longer known to Slurm")
    if base == "NODE_FAIL" and node:
        why = f"its node {node} failed"
    return f"Your session (Slurm job {job_id}) ended: {why}." if job_id else f"Your session ended: {why}."


def base_state(state: str) -> str:
    """``CANCELLED by 1001`` → CANCELLED; ``RUNNING+`` → RUNNING."""
    words = (state or "").split()
    return words[0].rstrip("+") if words else ""


def waited_too_long(job_id: str, waited: float, why: str) -> str:
    """A session cancelled after waiting ``waited`` seconds in the queue for the reason ``why``."""
    why = why.split("; expected")[0].lower()
    return (f"Your session (Slurm job {job_id}) waited {duration(waited)} in the queue ({why}) and was "
            "cancelled. Ask for fewer GPUs or cores (see the table of free resources), or try again later.")


def no_port(job_id: str, seconds: float) -> str:
    return (f"The server of your session (Slurm job {job_id}) did not report its port within {seconds:.0f} s; "
            "the job was cancelled.")


def launch_failed(job_id: str, where: str) -> str:
    """The job never ran: Slurm could not open its output file in ``where`` (the user's home)."""
    return (f"Slurm could not start your session (job {job_id}): it could not write the session's output file in "
            f"{where}. Is your home directory full, or not writable? Make room there (or ask the centre), then "
            "start again.")


def lost_sight(job_id: str, state: str) -> str:
    """Accounting says the job is ``state`` (alive), but the hub's queue does not list it."""
    return (f"Your session (Slurm job {job_id}) could not be followed: Slurm says it is {state}, but the hub cannot "
            "see it in the queue. This is a fault of the service, not of your request; the job was cancelled so "
            "that it holds nothing, and the centre is told in the hub's log. Please try again later.")


def stopped(job_id: str, idle_seconds: float | None = None, operator: str = "", reason: str = "") -> str:
    """A session stopped from the hub; with ``idle_seconds``, by the idle culler after that long idle; with
    ``operator``, by that operator, for ``reason``."""
    if operator:
        why = reason.strip().rstrip(".") or "no reason given"
        return (f"Your session (Slurm job {job_id}) was stopped at {clock_time(time.time())} by the operator "
                f"{operator}: {why}.")
    if idle_seconds is None:
        return f"Your session (Slurm job {job_id}) was stopped from the hub."
    return (f"Your session (Slurm job {job_id}) was stopped at {clock_time(time.time())} after "
            f"{duration(idle_seconds)} without activity, to give its resources back to others.")
