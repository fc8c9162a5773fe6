"""A session's workers: jobs the session submits for itself (Dask's, through dask-jobqueue), which end with it.

The session's job tells what it starts the name its workers take (``JUPYTERHUB_SLURM_WORKERS``, from
:func:`worker_job_name`), and they are cancelled by that name, as the session's owner:

- by the session's batch script, when its server ends or Slurm ends the job (scancel, the walltime, and
  so the hub's Stop, whose scancel signals it);
- by the hub's reconciler (:class:`WorkerSweeper`), for a session whose job ended without its script (a
  node that failed): once the shared ``squeue`` shows the session's job ended, its workers still there.

A name is no proof of anything: only the owner's own jobs are ever cancelled, as the owner.
"""

from __future__ import annotations

import re
from typing import Iterable

from jupyterhub_slurm_interactive.cluster.reconcile import LIVE_STATES, read_mark
from jupyterhub_slurm_interactive.slurm.commands import SQUEUE_FORMAT, QueueEntry, parse_squeue

#: The environment variable that carries the name into the session (the release's Dask settings read it).
ENV = "JUPYTERHUB_SLURM_WORKERS"
_NAME = re.compile(r"^worker-of-([0-9]+)$")


def worker_job_name(job_id: str) -> str:
    """The job name of session ``job_id``'s workers."""
    return f"worker-of-{job_id}"


def session_of(name: str) -> str:
    """The session job a worker's name names, or ""."""
    found = _NAME.match(name or "")
    return found.group(1) if found else ""


def ended_sessions(jobs: Iterable[QueueEntry], mark: str) -> dict[str, str]:
    """Session jobs of this hub (its mark) that have ended, still in the shared squeue: job ID -> owner."""
    return {j.job_id: j.user for j in jobs if j.state not in LIVE_STATES and read_mark(j.comment, mark)}


def orphans(workers: Iterable[QueueEntry], ended: dict[str, str]) -> list[QueueEntry]:
    """Live workers of ended sessions (``ended``: job ID -> owner) that the session's owner owns."""
    return [w for w in workers if w.state in LIVE_STATES and ended.get(session_of(w.name)) == w.user]


class WorkerSweeper:
    """Once for each session seen ended in the shared squeue: its workers still there are cancelled as their
    owner. One ``squeue`` of the ended sessions' worker names per answer that shows new ones, none otherwise.
    ``run(argv)`` runs a command (the hub's runner), ``as_user(user, argv)`` prefixes it to run as the user."""

    def __init__(self, mark: str, run, as_user, log):
        self.mark, self.run, self.as_user, self.log = mark, run, as_user, log
        self.swept: set[str] = set()

    async def __call__(self, jobs: Iterable[QueueEntry]):
        ended = ended_sessions(jobs, self.mark)
        self.swept &= set(ended)  # a job gone from squeue is not seen again
        todo = {job: user for job, user in ended.items() if job not in self.swept}
        if not todo:
            return
        out = await self.run(["squeue", "--noheader", "--states=all", f"--format={SQUEUE_FORMAT}",
                              "--name=" + ",".join(worker_job_name(job) for job in sorted(todo))])
        for worker in orphans(parse_squeue(out), todo):
            self.log.warning("Worker job %s of %s: cancelling (its session %s has ended)", worker.job_id, worker.user,
                             session_of(worker.name))
            await self.run(self.as_user(worker.user, ["scancel", worker.job_id]))
        self.swept |= set(todo)
