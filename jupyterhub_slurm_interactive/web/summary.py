"""What the home page (Hub Control Panel) shows of a session, from what the hub knows now.

Pure: built from the session's request, its release, its line of the shared
``squeue`` (or None) and how the last session ended. Never asks Slurm.
"""

from __future__ import annotations

import time

from jupyterhub_slurm_interactive.choice.choices import timestamp
from jupyterhub_slurm_interactive.choice.releases import Release
from jupyterhub_slurm_interactive.choice.request import ResourceRequest
from jupyterhub_slurm_interactive.slurm.commands import QueueEntry
from jupyterhub_slurm_interactive.words import duration


def time_left(end_time: str, now: float | None = None) -> str:
    """Time until a Slurm end time, in words ("1 h 5 min"); "" if unknown."""
    end = timestamp(end_time)
    if end == float("inf"):
        return ""
    return duration(end - (time.time() if now is None else now))


def session_summary(request: ResourceRequest | None, release: Release | None, entry: QueueEntry | None, *,
                    job_id: str = "", node: str = "", last_end: dict | None = None, now: float | None = None) -> dict:
    """The session card's fields: job, node, resources, account, release, time left, how the last one ended."""
    asked = request.as_options() if request else {}
    return {
        "job_id": job_id,
        "node": node or (entry.nodes if entry else ""),
        **{field: asked.get(field, "") for field in ("cores", "memory", "gpus", "hours", "account", "reservation")},
        "release_label": release.label if release else asked.get("release", ""),
        "time_left": time_left(entry.end_time, now) if entry and entry.running else "",
        "last_end": (last_end or {}).get("message", ""),
    }
