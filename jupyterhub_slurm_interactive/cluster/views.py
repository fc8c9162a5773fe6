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
from dataclasses import dataclass

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

    def __init__(self, interval: float, clock=time):
        self.interval = interval
        self.clock = clock  # monotonic() and time(): the time module, or a test's
        self.refreshes = 0  # how many times Slurm was asked (for tests and benchmarks)
        self._result = None
        self._tried_at = float("-inf")
        self._began_at = 0.0
        self._inflight_began = 0.0
        self._error = ""
        self._inflight: asyncio.Future | None = None
        self._not_before = 0.0  # set by expire()
        self._took = 0.0  # seconds the last good refresh took

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
            await self._wait(self._begin())
            if self._error:
                break
        else:
            return self._current()
        if max_age >= self.interval and not newer_than and not self._error and self._due_soon():
            self._begin()  # ahead of time: the refresh is done before the view expires, so no page waits for it
        return self._current()

    async def latest(self):
        """The last result at once, however old; when it is older than the interval, a refresh begins behind
        it for the next caller. Waits only while there has never been one."""
        if self._result is None:
            return await self.get()
        if self.clock.monotonic() - self._tried_at >= self.interval:
            self._begin()
        return self._result

    def _begin(self) -> asyncio.Future:
        """The refresh under way, begun now if none is."""
        if self._inflight is None:
            self._inflight_began = self.clock.time()
            self._inflight = asyncio.ensure_future(self._refresh(self._inflight_began))
            self._inflight.add_done_callback(self._done)
        return self._inflight

    #: The part of the interval before expiry in which a caller begins the next refresh behind it, however
    #: quick the last one was. Only a caller can begin it, so the window must be long enough for one to come:
    #: with a lead of twice a 20 ms read, the window was shorter than the gap between two pages at 20 a
    #: second, so a view could expire unrefreshed and the page of that moment wait for Slurm. The price is at
    #: most a quarter more refreshes.
    LEAD = 0.2

    def _due_soon(self) -> bool:
        """The view expires within a fifth of the interval, or within twice what the last refresh took if
        that is longer (at most half the interval)."""
        lead = min(self.interval / 2, max(self.LEAD * self.interval, 2 * self._took))
        return self._inflight is None and self.clock.monotonic() - self._tried_at >= self.interval - lead

    async def settled(self):
        """Once the refresh under way, if any, is over (its failure is kept, as always, in ``error``)."""
        if self._inflight is not None:
            try:
                await asyncio.shield(self._inflight)
            except slurm.SlurmError:
                pass

    def _fresh(self, max_age: float, newer_than: float) -> bool:
        recent = self.clock.monotonic() - self._tried_at < max_age
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
        self._not_before = self.clock.time()

    async def recent(self, max_age: float):
        """The last good result if it began less than ``max_age`` seconds ago, even if a change since
        has expired it for the pages; otherwise as :meth:`get`. For checks that a newer view would not
        change, such as whether a request fits the partition's limits."""
        if self._result is not None and not self._error and self.clock.time() - self._began_at < max_age:
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
        self._tried_at = started = self.clock.monotonic()
        self.refreshes += 1
        try:
            self._result = await self.fetch()
            self._took = self.clock.monotonic() - started
        except slurm.SlurmError as e:
            self._error = e.message
            self._tried_at = self.clock.monotonic()
            if self._result is not None:
                self._mark_stale(e.message)
            raise
        self._error = ""
        self._began_at = began
        self._tried_at = self.clock.monotonic()

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
        output = await self.runner.run(["scontrol", "--oneliner", "--details"], input=slurm.CLUSTER_VIEW_INPUT)
        try:
            view = slurm.parse_cluster_view(output)
        except ValueError as e:
            raise slurm.SlurmError("scontrol", 0, str(e)) from e
        return Snapshot(nodes=view.nodes, reservations=view.reservations, partitions=view.partitions,
                        taken_at=asked)

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


class AccountTable(SharedQuery):
    """Every user's Slurm accounts (default first), for the whole site in one round of ``sacctmgr``."""

    def __init__(self, runner, interval: float, clock=time):
        super().__init__(interval, clock)
        self.runner = runner

    async def fetch(self) -> Associations:
        try:
            assoc, users = await asyncio.gather(
                self.runner.run(["sacctmgr", "--noheader", "--parsable2", "show", "associations",
                                 "format=user,account"]),
                self.runner.run(["sacctmgr", "--noheader", "--parsable2", "show", "user",
                                 "format=user,defaultaccount"]),
            )
        except slurm.SlurmError as e:
            if _no_accounting(e):
                return Associations({}, unavailable=e.message)  # the site's answer, as good as a table
            raise
        return Associations(parse_account_table(assoc, users))


@dataclass(frozen=True)
class Associations:
    by_user: dict[str, tuple[str, ...]]  # the user's accounts, default first
    unavailable: str = ""  # the site runs without accounting: why sacctmgr said so


def _no_accounting(e: slurm.SlurmError) -> bool:
    return "accounting_storage" in e.message or "not running a supported" in e.message


class AccountCache:
    """Each user's Slurm accounts (default first), from the site's :class:`AccountTable`.

    The table is read once, then again behind the pages once it is ``ttl`` old: nobody waits for slurmdbd
    after the hub's first read, and a failed read keeps the last table. A user the table does not hold
    (given an association since, or none at all) is asked about alone, at most once per ``ttl``. A refusal
    by Slurm at submission forgets the user (:meth:`forget`), also in a table that was being read then.
    """

    def __init__(self, runner, ttl: float = 60.0, clock=time):
        self.runner = runner
        self.clock = clock
        self.table = AccountTable(runner, ttl, clock)
        self.queries = 0  # users asked about alone
        self._alone: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._forgotten: dict[str, float] = {}  # user -> time.time() of forget()

    @property
    def ttl(self) -> float:
        return self.table.interval

    @ttl.setter
    def ttl(self, value: float):
        self.table.interval = value

    async def accounts(self, user: str) -> list[str]:
        """The user's accounts; AccountsUnavailable without accounting, SlurmError if it cannot be known."""
        try:
            table = await self.table.latest()
        except slurm.SlurmError:
            table = Associations({})  # never read (accounting away since the hub started): ask about the user alone
        if table.unavailable:
            raise AccountsUnavailable(table.unavailable)
        if user in table.by_user:
            if self._forgotten.get(user, float("-inf")) < self.table.began_at:
                self._forgotten.pop(user, None)
                return list(table.by_user[user])
        hit = self._alone.get(user)
        if hit and self.clock.monotonic() - hit[0] < self.ttl:
            return list(hit[1])
        return await self._ask(user)

    async def _ask(self, user: str) -> list[str]:
        self.queries += 1
        asked = self.clock.time()
        try:
            assoc, default = await asyncio.gather(
                self.runner.run(["sacctmgr", "--noheader", "--parsable2", "show", "associations",
                                 f"user={user}", "format=account"]),
                self.runner.run(["sacctmgr", "--noheader", "--parsable2", "show", "user", user,
                                 "format=defaultaccount"]),
            )
        except slurm.SlurmError as e:
            if _no_accounting(e):
                raise AccountsUnavailable(e.message) from e
            raise
        accounts = parse_accounts(assoc, default)
        if self._forgotten.get(user, float("-inf")) < asked:
            self._alone[user] = (self.clock.monotonic(), tuple(accounts))
        return accounts

    def forget(self, user: str):
        """Slurm refused this user's account: ask again, alone, until a table read since holds them."""
        self._alone.pop(user, None)
        self._forgotten[user] = self.clock.time()


def parse_account_table(assoc_output: str, users_output: str) -> dict[str, tuple[str, ...]]:
    """``sacctmgr show assoc format=user,account`` and ``show user format=user,defaultaccount`` (both
    ``--parsable2``) → each user's accounts, default first. Lines of an account itself (no user) are left out."""
    accounts: dict[str, set[str]] = {}
    for line in assoc_output.splitlines():
        user, _, account = line.partition("|")
        if user.strip() and account.strip():
            accounts.setdefault(user.strip(), set()).add(account.strip())
    defaults = {}
    for line in users_output.splitlines():
        user, _, default = line.partition("|")
        defaults[user.strip()] = default.strip()
    return {user: tuple(_default_first(sorted(found), defaults.get(user, ""))) for user, found in accounts.items()}


def _default_first(accounts: list[str], default: str) -> list[str]:
    if default in accounts:
        accounts.remove(default)
        accounts.insert(0, default)
    return accounts


def parse_accounts(assoc_output: str, default_output: str) -> list[str]:
    """``sacctmgr show assoc format=account`` and ``show user format=defaultaccount`` → accounts, default first."""
    accounts = sorted({a.strip() for a in assoc_output.splitlines() if a.strip()})
    default = default_output.strip().splitlines()[0].strip() if default_output.strip() else ""
    return _default_first(accounts, default)


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
