"""What this session is, from Slurm's job environment and the job's own times.

Pure functions: from the environment and ``squeue``'s answer for this job,
:func:`session_info` makes the JSON the status-bar item shows (served by
:mod:`.handlers`).
"""

from __future__ import annotations

from datetime import datetime

#: The minutes "Add time" offers, set by the hub at submission ("30,60").
STEPS = "JUPYTERHUB_SLURM_ADD_TIME"

#: squeue's format: start and end time of the job (the end moves if an operator changes the limit)
SQUEUE_FORMAT = "%S|%e"


def gpu_count(env: dict) -> int:
    """The GPUs Slurm gave the job: CUDA_VISIBLE_DEVICES names them (the batch script sets it empty for none)."""
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip()])
    try:
        return int(env.get("SLURM_GPUS_ON_NODE", "0") or 0)
    except ValueError:
        return 0


def _int(env: dict, key: str) -> int:
    try:
        return int(env.get(key, "") or 0)
    except ValueError:
        return 0


def parse_times(squeue_out: str) -> tuple[float | None, float | None]:
    """squeue's ``%S|%e`` (local time, or N/A, Unknown, NONE) as epoch seconds."""
    line = squeue_out.strip().splitlines()[0] if squeue_out.strip() else ""
    parts = line.split("|")
    if len(parts) != 2:
        return None, None

    def epoch(text: str) -> float | None:
        try:
            return datetime.strptime(text.strip(), "%Y-%m-%dT%H:%M:%S").timestamp()
        except ValueError:
            return None

    return epoch(parts[0]), epoch(parts[1])


def steps(environ) -> list[int]:
    """The minutes the site offers ("30,60" → [30, 60]); anything not a whole number from 1 to 10080 is left out."""
    found = []
    for part in (environ.get(STEPS) or "").split(","):
        part = part.strip()
        if part.isdigit() and 1 <= int(part) <= 10080 and int(part) not in found:
            found.append(int(part))
    return found


def session_info(env: dict, started_at: float | None, ends_at: float | None, now: float) -> dict:
    """The session as the status bar shows it."""
    base = env.get("JUPYTERHUB_BASE_URL", "/")
    hub_prefix = env.get("JUPYTERHUB_SERVICE_PREFIX") and (base.rstrip("/") + "/hub/home")
    return {
        "job_id": env.get("SLURM_JOB_ID", ""),
        "node": env.get("SLURMD_NODENAME", ""),
        "cores": _int(env, "SLURM_CPUS_PER_TASK") or _int(env, "SLURM_CPUS_ON_NODE"),
        "memory_mb": _int(env, "SLURM_MEM_PER_NODE"),
        "gpus": gpu_count(env),
        "account": env.get("SLURM_JOB_ACCOUNT", ""),
        "reservation": env.get("SLURM_JOB_RESERVATION", ""),
        "partition": env.get("SLURM_JOB_PARTITION", ""),
        "release": env.get("JUPYTERHUB_SLURM_RELEASE", ""),
        "add_time": steps(env),
        "server_name": env.get("JUPYTERHUB_SERVER_NAME", ""),
        "hub_url": hub_prefix or "",
        "started_at": started_at,
        "ends_at": ends_at,
        "now": now,
    }
