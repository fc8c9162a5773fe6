"""The hub's side of :mod:`cluster.reconcile`: which jobs its servers hold, which servers are starting,
and how a job is adopted or cancelled. One reconciler per job poller, started by the first spawner that
polls or starts (a hub restart polls every server it knew, so it starts there too)."""

from __future__ import annotations

import asyncio
import shlex

from jupyterhub import orm

from jupyterhub_slurm_interactive.cluster.reconcile import Decision, Reconciler, run_forever
from jupyterhub_slurm_interactive.session import workers


def _spawners(spawner):
    users = (getattr(spawner.user, "settings", None) or {}).get("users") or {}
    for user in list(users.values()):
        for sp in list(getattr(user, "spawners", {}).values()):
            if hasattr(sp, "session"):
                yield sp


def _held(spawner) -> set[str]:
    held = set()
    # only spawners with a server (running or starting) can hold a live job
    for row in spawner.db.query(orm.Spawner).filter(orm.Spawner.server_id.isnot(None)):
        job = (row.state or {}).get("job_id") if isinstance(row.state, dict) else None
        if job:
            held.add(str(job))
    held.update(sp.session.job_id for sp in _spawners(spawner) if sp.session.job_id)
    return held


def _starting(spawner) -> set[tuple[str, str]]:
    return {(sp.user.name, sp.name) for sp in _spawners(spawner) if sp.session.starting and not sp.session.job_id}


def _adopt(spawner, d: Decision):
    for sp in _spawners(spawner):
        if (sp.user.name, sp.name) == (d.user, d.server) and sp.session.starting and not sp.session.job_id:
            sp.session.adopt(d.job_id)
            sp._save_state()


def _as_user(spawner, user: str, argv: list[str]) -> list[str]:
    return shlex.split(spawner.exec_prefix.format(username=user)) + argv


async def _cancel(spawner, d: Decision):
    await spawner.runner.run(_as_user(spawner, d.user, ["scancel", d.job_id]))


def start(spawner):
    """Start the reconciler of this spawner's poller, once."""
    poller = spawner.poller()
    if getattr(poller, "reconciler_task", None) is not None or spawner.db is None:
        return
    reconciler = Reconciler(spawner.session_mark, lambda: _held(spawner), lambda: _starting(spawner),
                            lambda d: _adopt(spawner, d), lambda d: _cancel(spawner, d), spawner.log,
                            after=workers.WorkerSweeper(spawner.session_mark, spawner.runner.run,
                                                        lambda user, argv: _as_user(spawner, user, argv), spawner.log))
    poller.reconciler = reconciler
    poller.reconciler_task = asyncio.ensure_future(run_forever(reconciler, poller, spawner.queue_interval))
