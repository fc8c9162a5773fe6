"""What a user may choose: the reservations they may run in and the bounds of a request.

Pure functions over a cluster snapshot (:class:`cluster.views.Snapshot`), the
user's accounts and groups and the site's settings, so they are tested on
recorded Slurm output with no hub and no Slurm.
"""

from __future__ import annotations

import time
from datetime import datetime

from jupyterhub_slurm_interactive.choice.releases import Release
from jupyterhub_slurm_interactive.choice.request import Limits
from jupyterhub_slurm_interactive.slurm import commands as slurm


def usable_reservations(reservations: list[slurm.Reservation], user: str, accounts, groups, partition: str,
                        lookahead_hours: float, now: float | None = None) -> list[slurm.Reservation]:
    """Reservations this user may run in, active now or starting within ``lookahead_hours``, not maintenance,
    and not bound to another partition."""
    horizon = (time.time() if now is None else now) + lookahead_hours * 3600
    out = []
    for r in reservations:
        if r.maintenance or not slurm.may_use_reservation(r, user, accounts or (), groups):
            continue
        if r.partition and r.partition != partition:
            continue
        if not r.active and timestamp(r.start_time) > horizon:
            continue
        if r.state.upper() not in ("ACTIVE", "INACTIVE"):
            continue
        out.append(r)
    return out


def request_limits(nodes: list[slurm.Node], partition_record: dict, partition: str, *, max_hours: int,
                   accounts, reservations: list[slurm.Reservation], releases: list[Release],
                   min_memory: int) -> Limits:
    """The bounds of a request: the largest node of the partition, the partition's MaxTime (or the site's
    ``max_hours``), the user's accounts and reservations, the installed releases and their interfaces."""
    nodes = [n for n in nodes if partition in n.partitions]
    return Limits(
        max_cores=max((n.cpus for n in nodes), default=1),
        max_memory_mb=max((n.memory_mb for n in nodes), default=1000),
        max_gpus=max((n.gpus for n in nodes), default=0),
        max_hours=max_hours or hours(partition_record.get("MaxTime", "")) or 24,
        accounts=tuple(accounts or ()),
        reservations=tuple(r.name for r in reservations),
        releases=tuple(r.name for r in releases),
        interfaces={r.name: r.interfaces for r in releases},
        min_memory_mb=min_memory,
    )


def reservation_label(r: slurm.Reservation) -> str:
    """"course (node04; until 2026-11-28 10:00)": what the form's menu shows of a reservation."""
    nodes = ", ".join(r.nodes[:4]) + (f" and {len(r.nodes) - 4} more" if len(r.nodes) > 4 else "")
    when = f"until {r.end_time.replace('T', ' ')[:16]}" if r.active else f"from {r.start_time.replace('T', ' ')[:16]}"
    return f"{r.name} ({nodes}; {when})"


def oversubscribe_factor(text: str) -> str:
    """``FORCE:5`` → "5"; anything else → "several"."""
    _, _, count = text.partition(":")
    return count if count.isdigit() else "several"


def timestamp(slurm_time: str) -> float:
    """Seconds since the epoch of a Slurm local time (``2026-11-21T10:52:06``); +inf if unknown."""
    try:
        return datetime.strptime(slurm_time, "%Y-%m-%dT%H:%M:%S").timestamp()
    except (TypeError, ValueError):
        return float("inf")


def hours(slurm_time: str) -> int:
    """Whole hours of a Slurm time limit (``8:00:00``, ``1-12:00:00``); 0 if unlimited or unknown."""
    parsed = slurm.parse_duration(slurm_time or "")
    if parsed is None:
        return 0
    days, h, _, _ = parsed
    return days * 24 + h
