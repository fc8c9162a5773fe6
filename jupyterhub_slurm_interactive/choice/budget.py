"""What the form says of the chosen project's budget, and whether a request would pass it.

Pure: from an account's :class:`~cluster.budgets.Budget` and the request's cores, GPUs and hours. A session
may use at most cores × hours CPU-hours and GPUs × hours GPU-hours; Slurm holds it in the queue if that,
with what the project has used and what its running jobs may still use, passes a limit.
"""

from __future__ import annotations

from jupyterhub_slurm_interactive.cluster.budgets import TRES, Budget

#: How each TRES is named on the form.
NAMES = {"cpu": "CPU-hours", "gres/gpu": "GPU-hours"}


def hours_text(minutes: float) -> str:
    """TRES-minutes as hours on the form, to a tenth: "1,234.5", "1,000", "0.1"."""
    return f"{minutes / 60:,.1f}".removesuffix(".0")


def need(tres: str, cores: int, gpus: int, hours: int) -> int:
    """The TRES-minutes a session of this size may use."""
    return (cores if tres == "cpu" else gpus) * hours * 60


def budget_json(budget: Budget | None, cores=None, gpus=None, hours=None) -> dict | None:
    """The budget's lines for the form, and a warning if a request of this size would pass a limit. None when
    the account has no budget."""
    if budget is None:
        return None
    lines = []
    for tres in TRES:
        if tres not in budget.limits:
            continue
        limit = budget.limits[tres]
        used = budget.used.get(tres, 0.0)
        running = budget.running.get(tres, 0.0)
        held = f", {hours_text(running)} held by running jobs" if hours_text(running) != "0" else ""
        lines.append({"tres": tres, "name": NAMES[tres], "used_minutes": used, "running_minutes": running,
                      "limit_minutes": limit, "left_minutes": max(0.0, budget.left(tres)),
                      "percent": min(100, round(100 * (used + running) / limit)) if limit else 100,
                      "text": f"{hours_text(used)} of {hours_text(limit)} {NAMES[tres]} used{held}"})
    return {"account": budget.account, "lines": lines, "warning": warning(budget, cores, gpus, hours)}


def _whole(value) -> int | None:
    """A size as typed, if it is one (out-of-bounds sizes are the fields' own errors, not the budget's)."""
    text = str(value).strip()
    if not text.isdigit() or len(text) > 6:
        return None
    return int(text)


def warning(budget: Budget, cores, gpus, hours) -> str:
    """A sentence if Slurm would hold a session of this size for the budget; "" if it fits (or is not a size)."""
    cores, gpus, hours = _whole(cores), _whole(gpus), _whole(hours)
    if cores is None or gpus is None or not hours:
        return ""
    for tres, reason in TRES.items():
        if tres not in budget.limits:
            continue
        asked = need(tres, cores, gpus, hours)
        left = budget.left(tres)
        if asked and asked > left:
            count, unit = (cores, "core") if tres == "cpu" else (gpus, "GPU")
            size = f"{count} {unit}{'s' if count != 1 else ''}"
            unit = NAMES[tres] if asked != 60 else NAMES[tres][:-1]
            return (f"This session may use up to {hours_text(asked)} {unit} ({size} × {hours} h), and "
                    f"{budget.account} has {hours_text(max(0.0, left))} left of its {hours_text(budget.limits[tres])}: "
                    f"Slurm would hold it in the queue ({reason}) until the budget is raised or renewed. Ask for "
                    f"fewer hours{' or GPUs' if tres != 'cpu' else ' or cores'}, or choose another account.")
    return ""
