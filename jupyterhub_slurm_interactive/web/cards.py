"""The cards of "My sessions": one per session of a user, in whatever state it is.

Pure: each card is built from what the hub knows now (the spawner's flags, the
session's job and node, the request, the job's line of the shared ``squeue``,
how it ended and what it used) and never asks Slurm. The home page renders the
cards; ``GET /hub/api/slurm-interactive/users/NAME/sessions`` returns them as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

from jupyterhub_slurm_interactive.choice.releases import Release
from jupyterhub_slurm_interactive.choice.request import FIELDS, ResourceRequest
from jupyterhub_slurm_interactive.session.states import pending_message
from jupyterhub_slurm_interactive.slurm.commands import QueueEntry
from jupyterhub_slurm_interactive.web.summary import session_summary
from jupyterhub_slurm_interactive.words import duration

#: The phases of a session, as its card names them.
PHASES = {
    "new": "not started",
    "queued": "queued",
    "starting": "starting",
    "running": "running",
    "stopping": "stopping",
    "ended": "ended",
}


@dataclass(frozen=True)
class Flags:
    """What the hub and the session say of a server right now."""

    active: bool = False  # pending or ready, in JupyterHub's words
    ready: bool = False
    pending: str | None = None  # "spawn", "stop", "check" (after a hub restart), or None
    starting: bool = False  # the session follows a start (also one resumed after a hub restart)
    node: str = ""  # the node the job runs on, once it runs
    ended: bool = False  # a session ran before and has ended (how it ended is known)


def phase(flags: Flags, entry: QueueEntry | None = None) -> str:
    """new, queued, starting, running, stopping or ended."""
    if flags.pending == "stop":
        return "stopping"
    if flags.starting or flags.pending == "spawn":
        if flags.node or (entry is not None and entry.running):
            return "starting"
        return "queued"
    if flags.ready or flags.active:
        return "running"
    return "ended" if flags.ended else "new"


def session_card(name: str, flags: Flags, request: ResourceRequest | None, release: Release | None,
                 entry: QueueEntry | None, *,
                 job_id: str = "", last_end: dict | None = None, usage: dict | None = None,
                 now: float | None = None, add_time: tuple[int, ...] = ()) -> dict:
    """One card: the session's name, phase, job, node, resources, account, release, time left, why it waits
    or how it ended, what it used, which actions apply to it, and the time a running one may be given
    (``add_time``: the site's steps in minutes)."""
    current = phase(flags, entry)
    card = session_summary(request, release, entry, job_id=job_id if current != "ended" else "",
                           node=flags.node if current in ("starting", "running", "stopping") else "",
                           last_end=last_end if current in ("ended", "new") else None, now=now)
    card.update(name=name, phase=current, phase_label=PHASES[current], waiting="", expected_start="",
                usage=usage if current == "ended" else None,
                ended_job=(last_end or {}).get("job_id", "") if current == "ended" else "",
                ended_state=(last_end or {}).get("state", "") if current == "ended" else "",
                actions=ACTIONS[current] + (("again",) if current in ("ended", "new") and request else ()))
    card["usage_rows"], card["usage_note"] = usage_rows(card["usage"])
    card["again_fields"] = [(f, request.form_value(f)) for f in FIELDS] if request else []
    # "Add time" on a running session: the steps the site offers, each with its words ("30 min", "1 h")
    card["add_time"] = [{"minutes": m, "label": duration(m * 60)} for m in add_time] if current == "running" else []
    if current == "queued" and entry is not None and entry.pending:
        card["waiting"] = pending_message(entry.reason, entry.start_time, *_resources(request), now=None)
    return card


def _resources(request: ResourceRequest | None) -> tuple[int, int, int]:
    """(cores, memory, gpus) asked for; zeros when the request is not known (a job found after a restart)."""
    return (request.cores, request.memory, request.gpus) if request else (0, 0, 0)


#: What may be done with a session in each phase.
ACTIONS = {
    "new": ("start", "remove"),
    "queued": ("progress", "cancel"),
    "starting": ("progress", "cancel"),
    "running": ("open", "stop"),
    "stopping": (),
    "ended": ("form", "remove"),
}


def usage_rows(usage: dict | None) -> tuple[list[tuple[str, str, str]], str]:
    """A finished session's figures as (label, value, class) rows; or a note saying why there are none."""
    if not usage:
        return [], ""
    if usage.get("elapsed_s", 0) <= 0:
        return [], "It never ran: no resources were used."
    rows = [("Time", f"{duration(usage['elapsed_s'])} of {duration(usage['limit_s'])} asked"
             if usage.get("limit_s") else duration(usage["elapsed_s"]), "jsi-used-time")]
    if usage.get("recording"):
        rows.append(("CPU and memory", "being recorded by Slurm: back in a moment", "jsi-used-cpu"))
    elif not usage.get("gathered"):
        rows.append(("CPU and memory", "not recorded by Slurm on this cluster", "jsi-used-cpu"))
    else:
        efficiency = usage.get("cpu_efficiency")
        cores = usage.get("cores", 0)
        rows.append(("CPU efficiency", f"{efficiency * 100:.0f} % of {cores} core{'s' if cores != 1 else ''} "
                     f"({duration(usage['cpu_s'])} of CPU time)" if efficiency is not None else "–", "jsi-used-cpu"))
        rows.append(("Peak memory", f"{usage['peak_memory_mb']:.0f} MB of {usage['memory_mb']:.0f} MB",
                     "jsi-used-memory"))
    if usage.get("gpus"):
        rows.append(("GPU-hours", f"{usage['gpu_hours']:.2f} ({usage['gpus']} GPU{'s' if usage['gpus'] != 1 else ''} "
                     "held)", "jsi-used-gpu"))
    return rows, ""
