"""One cached view of the cluster, shared by every user of the hub.

However many people have the form open, the hub asks Slurm for nodes,
reservations and partitions at most once per ``interval``: concurrent callers
wait for the same refresh, and the commands run as subprocesses, so the hub's
event loop never blocks on Slurm. A failed refresh is not retried before the
interval passes either; callers then get the last good view, marked stale.

Each view asks Slurm through the runner it was made with (:mod:`slurm.runner`);
the hub keeps one view of each kind, in its one :class:`~shared.Shared`.
"""

from __future__ import annotations

import asyncio
import grp
import pwd
import time
from dataclasses import dataclass, field

from jupyterhub_slurm_interactive.slurm import commands as slurm


@dataclass
class Snapshot:
    nodes: list[slurm.Node]
    reservations: list[slurm.Reservation]
    partitions: dict[str, dict]
    taken_at: float  # time.time() when Slurm was asked
    stale: bool = False
    error: str = ""


class SharedQuery:
    """A Slurm query whose answer every caller shares.

    ``get(max_age)`` answers from the last result if it is younger than
    ``max_age`` (default ``interval``); otherwise one refresh runs, and every
    concurrent caller waits for that same one. A failure is remembered for the
    same time: callers get the last good result marked stale, or the error.
    """

    def __init__(self, interval: float):
        self.interval = interval
        self.refreshes = 0  # how many times Slurm was asked (for tests and benchmarks)
        self._result = None
        self._tried_at = float("-inf")
        self._began_at = 0.0
        self._inflight_began = 0.0
        self._error = ""
        self._inflight: asyncio.Future | None = None
        self._not_before = 0.0  # set by expire()

    async def fetch(self):  # pragma: no cover - subclasses
        raise NotImplementedError

    async def get(self, max_age: float | None = None, newer_than: float = 0.0):
        """The last result if younger than ``max_age`` seconds and begun after ``newer_than``
        (a time.time(): "the answer must know of what I did then"); else a refresh, shared."""
        max_age = self.interval if max_age is None else max_age
        if self._began_at < self._not_before:  # expired: only a view begun since will do
            newer_than = max(newer_than, self._not_before)
        for _ in range(3):
            if self._fresh(max_age, newer_than):
                break
            if self._inflight is not None and self._inflight_began < newer_than:
                await self._wait(self._inflight)  # began too early for this caller: one more
                continue
            if self._inflight is None:
                self._inflight_began = time.time()
                self._inflight = asyncio.ensure_future(self._refresh(self._inflight_began))
                self._inflight.add_done_callback(self._done)
            await self._wait(self._inflight)
            if self._error:
                break
        return self._current()

    def _fresh(self, max_age: float, newer_than: float) -> bool:
        recent = time.monotonic() - self._tried_at < max_age
        if self._error:
            return recent  # failed a moment ago: do not hammer a controller that is away
        if newer_than:
            return self._began_at >= newer_than
        return recent

    async def _wait(self, fut):
        try:
            await asyncio.shield(fut)
        except slurm.SlurmError:
            if self._result is None:
                raise

    @property
    def began_at(self) -> float:
        """time.time() when the query behind the current result began."""
        return self._began_at

    @property
    def error(self) -> str:
        return self._error

    def expire(self):
        """What the hub did has changed the cluster (a session stopped): the next caller gets a view
        begun after now."""
        self._not_before = time.time()

    async def recent(self, max_age: float):
        """The last good result if it began less than ``max_age`` seconds ago, even if a change since
        has expired it for the pages; otherwise as :meth:`get`. For checks that a newer view would not
        change, such as whether a request fits the partition's limits."""
        if self._result is not None and not self._error and time.time() - self._began_at < max_age:
            return self._result
        return await self.get()

    def peek(self):
        """The last result, or None: never asks Slurm (for pages that only show it)."""
        return self._result

    def _done(self, fut: asyncio.Future):
        self._inflight = None
        if not fut.cancelled():
            fut.exception()  # retrieved: failures are recorded in _error

    def _current(self):
        if self._result is None:
            raise slurm.SlurmError("slurm", None, self._error or "no answer from Slurm yet")
        return self._result

    async def _refresh(self, began: float):
        self._tried_at = time.monotonic()
        self.refreshes += 1
        try:
            self._result = await self.fetch()
        except slurm.SlurmError as e:
            self._error = e.message
            self._tried_at = time.monotonic()
            if self._result is not None:
                self._mark_stale(e.message)
            raise
        self._error = ""
        self._began_at = began
        self._tried_at = time.monotonic()

    def _mark_stale(self, message: str):
        pass


class ClusterCache(SharedQuery):
    """The cluster's nodes, reservations and partitions, for the form and its table.

    A page never shows a view older than the interval: once it is, the next caller waits
    for a refresh, and every caller of that moment shares the same one.
    """

    def __init__(self, runner, interval: float):
        super().__init__(interval)
        self.runner = runner

    async def fetch(self) -> Snapshot:
        asked = time.time()  # the view is of the cluster as it was when asked (a change after may be missing)
        nodes, reservations, partitions = await asyncio.gather(
            self.runner.run(["scontrol", "--oneliner", "--details", "show", "node"]),
            self.runner.run(["scontrol", "--oneliner", "show", "reservation"]),
            self.runner.run(["scontrol", "--oneliner", "show", "partition"]),
        )
        return Snapshot(
            nodes=slurm.parse_nodes(nodes),
            reservations=slurm.parse_reservations(reservations),
            partitions={p["PartitionName"]: p for p in slurm.parse_records(partitions) if "PartitionName" in p},
            taken_at=asked,
        )

    def _mark_stale(self, message: str):
        self._result = Snapshot(**{**self._result.__dict__, "stale": True, "error": message})


class JobPoller(SharedQuery):
    """Every session job of this hub in one ``squeue``, shared by all spawners.

    Includes jobs that ended in the last few minutes (``--states=all``), so a
    spawner learns how its job ended. Run as the hub's own user: no sudo.
    """

    def __init__(self, runner, interval: float, job_name: str):
        super().__init__(interval)
        self.runner = runner
        self.job_name = job_name

    async def fetch(self) -> dict[str, slurm.QueueEntry]:
        out = await self.runner.run(
            ["squeue", "--noheader", "--states=all", f"--name={self.job_name}", f"--format={slurm.SQUEUE_FORMAT}"])
        return {e.job_id: e for e in slurm.parse_squeue(out)}


# ----------------------------------------------------------------------------- accounts


class AccountsUnavailable(Exception):
    """The site runs without Slurm accounting (no associations to read)."""


@dataclass
class AccountCache:
    """Each user's Slurm accounts (default first), from ``sacctmgr``, kept for ``ttl`` seconds."""

    runner: object
    ttl: float = 60.0
    queries: int = 0
    _entries: dict = field(default_factory=dict, repr=False)
    _refreshing: dict = field(default_factory=dict, repr=False)

    async def accounts(self, user: str) -> list[str]:
        """The user's accounts. An expired entry is still answered while it is refreshed in the
        background (pages never wait for slurmdbd once a user was seen); a refusal by Slurm at
        submission forgets the entry (forget)."""
        hit = self._entries.get(user)
        if hit and time.monotonic() - hit[0] < self.ttl:
            return list(hit[1])
        if hit:
            if user not in self._refreshing:
                task = asyncio.ensure_future(self._fetch(user))
                self._refreshing[user] = task
                task.add_done_callback(lambda t, u=user: (self._refreshing.pop(u, None),
                                                          t.cancelled() or t.exception()))
            return list(hit[1])
        return await self._fetch(user)

    async def _fetch(self, user: str) -> list[str]:
        self.queries += 1
        try:
            assoc, default = await asyncio.gather(
                self.runner.run(["sacctmgr", "--noheader", "--parsable2", "show", "associations",
                                 f"user={user}", "format=account"]),
                self.runner.run(["sacctmgr", "--noheader", "--parsable2", "show", "user", user,
                                 "format=defaultaccount"]),
            )
        except slurm.SlurmError as e:
            if "accounting_storage" in e.message or "not running a supported" in e.message:
                raise AccountsUnavailable(e.message) from e
            raise
        accounts = parse_accounts(assoc, default)
        self._entries[user] = (time.monotonic(), tuple(accounts))
        return accounts

    def forget(self, user: str):
        self._entries.pop(user, None)


def parse_accounts(assoc_output: str, default_output: str) -> list[str]:
    """``sacctmgr show assoc format=account`` and ``show user format=defaultaccount`` → accounts, default first."""
    accounts = sorted({a.strip() for a in assoc_output.splitlines() if a.strip()})
    default = default_output.strip().splitlines()[0].strip() if default_output.strip() else ""
    if default in accounts:
        accounts.remove(default)
        accounts.insert(0, default)
    return accounts


class GroupCache:
    """Each user's Unix groups (for reservations granted to a group), kept for ``ttl`` seconds: reading
    the whole group database on every page load is slow with a directory service."""

    def __init__(self, ttl: float = 60.0, read=None, clock=time):
        self.ttl = ttl
        self.read = read or _read_groups
        self.clock = clock
        self._entries: dict[str, tuple[float, list[str]]] = {}

    def groups(self, user: str) -> list[str]:
        hit = self._entries.get(user)
        if hit and self.clock.monotonic() - hit[0] < self.ttl:
            return hit[1]
        groups = self.read(user)
        self._entries[user] = (self.clock.monotonic(), groups)
        return groups


def _read_groups(user: str) -> list[str]:
    try:
        primary = grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
    except KeyError:
        primary = None
    groups = [g.gr_name for g in grp.getgrall() if user in g.gr_mem]
    return ([primary] if primary else []) + groups
