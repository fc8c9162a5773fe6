"""Every session job belongs to a server: jobs of this hub that no server holds are found and dealt with.

Each session job carries this hub's mark (``--comment=MARK:user:server``). A job can lose its server when
the hub dies between ``sbatch`` answering and the job ID being saved, or when a server's record is lost.
After every shared ``squeue``, :func:`decide` compares the marked jobs with the jobs the servers hold:

- a job whose server is starting and holds no job yet is *adopted* by it;
- any other job that no server holds is *cancelled*, as its owner;
- a job whose mark names another user than its owner is *ignored*: anyone can write a comment, and a
  mark never makes the hub act on one person's behalf for another.

Every decision is logged with the job. :func:`decide` is pure; :class:`Reconciler` runs it on the
poller's answers (the logic apart from the hub, in the way of jupyterhub-idle-culler).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable

from jupyterhub_slurm_interactive.slurm.commands import QueueEntry

#: Job states in which a job still holds (or waits for) resources.
LIVE_STATES = frozenset({"PENDING", "CONFIGURING", "RUNNING", "REQUEUED", "RESV_DEL_HOLD", "REQUEUE_HOLD",
                         "SUSPENDED"})


def make_mark(mark: str, user: str, server: str) -> str:
    return f"{mark}:{user}:{server}"


def read_mark(comment: str, mark: str) -> tuple[str, str] | None:
    """(user, server) from a comment carrying this hub's mark, or None."""
    prefix, sep, rest = (comment or "").partition(":")
    if not sep or prefix != mark:
        return None
    user, sep, server = rest.partition(":")
    if not sep or not user:
        return None
    return user, server


def pick_marked_job(jobs: Iterable[QueueEntry], mark: str, user: str) -> str:
    """The newest live job of ``user`` carrying ``mark`` (the whole comment: MARK:user:server), or "".
    Only the owner's jobs count: anyone can write a comment."""
    mine = [j for j in jobs if j.comment == mark and j.user == user and j.state in LIVE_STATES]
    return max(mine, key=lambda j: (len(j.job_id), j.job_id)).job_id if mine else ""


@dataclass(frozen=True)
class Decision:
    action: str  # "adopt", "cancel" or "ignore"
    job_id: str
    user: str
    server: str
    why: str


def decide(jobs: Iterable[QueueEntry], held: set[str], starting_without_job: set[tuple[str, str]],
           mark: str) -> list[Decision]:
    """What to do with each live marked job that no server holds (``held``: the job IDs servers hold)."""
    decisions = []
    adopted: set[tuple[str, str]] = set()
    for job in jobs:
        owner = read_mark(job.comment, mark)
        if owner is None or job.job_id in held or job.state not in LIVE_STATES:
            continue
        user, server = owner
        if user != job.user:
            decisions.append(Decision("ignore", job.job_id, job.user, server,
                                      f"its mark names {user!r} but {job.user!r} owns it"))
        elif (user, server) in starting_without_job and (user, server) not in adopted:
            adopted.add((user, server))
            decisions.append(Decision("adopt", job.job_id, user, server, "its server is starting without a job"))
        else:
            decisions.append(Decision("cancel", job.job_id, user, server, "no server holds it"))
    return decisions


class Reconciler:
    """Runs :func:`decide` on the shared poller's answers and carries the decisions out.

    ``held()`` gives the job IDs the hub's servers hold (saved and in memory), ``starting()`` the
    (user, server) pairs that are starting without a job yet, ``adopt(decision)`` hands a job to its
    server, ``cancel(decision)`` cancels it as its owner. A job is acted on only when it was seen in
    two answers in a row, so that a job whose ID is being saved at that very moment is left alone.
    ``after(jobs)``, if given, is run on every answer after that.
    """

    def __init__(self, mark: str, held: Callable[[], set[str]], starting: Callable[[], set[tuple[str, str]]],
                 adopt: Callable[[Decision], None], cancel: Callable[[Decision], Awaitable[None]],
                 log: logging.Logger | None = None,
                 after: Callable[[list[QueueEntry]], Awaitable[None]] | None = None):
        self.mark = mark
        self.held, self.starting, self.adopt, self.cancel = held, starting, adopt, cancel
        self.after = after  # what else is checked on each answer (the sessions' workers: session.workers)
        self.log = log or logging.getLogger(__name__)
        self._seen: set[str] = set()
        self._ignored: set[str] = set()
        self.done: list[Decision] = []

    async def check(self, jobs: Iterable[QueueEntry]):
        jobs = list(jobs)
        await self._decide_and_act(jobs)
        if self.after is not None:
            await self.after(jobs)

    async def _decide_and_act(self, jobs: list[QueueEntry]):
        decisions = decide(jobs, self.held(), self.starting(), self.mark)
        seen_before, self._seen = self._seen, {d.job_id for d in decisions}
        for d in decisions:
            if d.job_id not in seen_before and d.action != "adopt":
                continue  # one more answer first: its server may be saving it right now
            if d.action == "ignore":
                if d.job_id not in self._ignored:
                    self._ignored.add(d.job_id)
                    self.log.warning("Session job %s: ignored (%s)", d.job_id, d.why)
                continue
            self.log.warning("Session job %s of %s/%s: %s (%s)", d.job_id, d.user, d.server or "(default)",
                             "adopted by its server" if d.action == "adopt" else "cancelling", d.why)
            if d.action == "adopt":
                self.adopt(d)
            elif d.action == "cancel":
                try:
                    await self.cancel(d)
                except Exception as e:  # noqa: BLE001 - the next answer tries again
                    self.log.error("Could not cancel job %s: %s", d.job_id, e)
            self.done.append(d)
            self._seen.discard(d.job_id)


async def run_forever(reconciler: Reconciler, poller, interval: float):
    """Check the shared queue's answers every ``interval`` seconds (the same answers the sessions use)."""
    import asyncio
    while True:
        try:
            await reconciler.check((await poller.get(interval)).values())
        except Exception as e:  # noqa: BLE001 - Slurm away: next round
            reconciler.log.debug("Reconciling session jobs: %s", e)
        await asyncio.sleep(interval)
