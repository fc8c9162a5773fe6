"""One cached view of the cluster, shared by every user of the hub.

However many people have the form open, the hub asks Slurm for nodes,
reservations and partitions at most once per ``interval``: concurrent callers
wait for the same refresh, and the commands run as subprocesses, so the hub's
event loop never blocks on Slurm. A failed refresh is not retried before the
interval passes either; callers then get the last good view, marked stale.
"""

from __future__ import annotations

import asyncio
import grp
import pwd
import time
from dataclasses import dataclass, field

from . import slurm


@dataclass
class Snapshot:
    nodes: list[slurm.Node]
    reservations: list[slurm.Reservation]
    partitions: dict[str, dict]
    taken_at: float  # time.time() of the refresh
    stale: bool = False
    error: str = ""


@dataclass
class ClusterCache:
    """The shared view of the cluster; use :func:`shared_cluster` to get the hub's one."""

    interval: float = 5.0
    timeout: float = 30.0
    refreshes: int = 0  # how many times Slurm was asked (for tests and benchmarks)
    _snapshot: Snapshot | None = field(default=None, repr=False)
    _tried_at: float = field(default=float("-inf"), repr=False)
    _error: str = field(default="", repr=False)
    _inflight: asyncio.Future | None = field(default=None, repr=False)

    async def get(self) -> Snapshot:
        """The cluster as of at most ``interval`` seconds ago (or stale, if Slurm fails)."""
        if time.monotonic() - self._tried_at < self.interval:
            return self._current()
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._refresh())
            self._inflight.add_done_callback(self._done)
        await asyncio.shield(self._inflight)
        return self._current()

    def _done(self, fut: asyncio.Future):
        self._inflight = None
        if not fut.cancelled():
            fut.exception()  # retrieved: failures are recorded in _error

    def _current(self) -> Snapshot:
        if self._snapshot is None:
            raise slurm.SlurmError("scontrol", None, self._error or "no answer from Slurm yet")
        if self._error:
            snap = Snapshot(**{**self._snapshot.__dict__, "stale": True, "error": self._error})
            return snap
        return self._snapshot

    async def _refresh(self):
        self._tried_at = time.monotonic()
        self.refreshes += 1
        try:
            nodes, reservations, partitions = await asyncio.gather(
                slurm.run(["scontrol", "--oneliner", "--details", "show", "node"], timeout=self.timeout),
                slurm.run(["scontrol", "--oneliner", "show", "reservation"], timeout=self.timeout),
                slurm.run(["scontrol", "--oneliner", "show", "partition"], timeout=self.timeout),
            )
        except slurm.SlurmError as e:
            self._error = e.message
            self._tried_at = time.monotonic()
            raise
        self._snapshot = Snapshot(
            nodes=slurm.parse_nodes(nodes),
            reservations=slurm.parse_reservations(reservations),
            partitions={p["PartitionName"]: p for p in slurm.parse_records(partitions) if "PartitionName" in p},
            taken_at=time.time(),
        )
        self._error = ""
        self._tried_at = time.monotonic()


_CLUSTER: ClusterCache | None = None


def shared_cluster(interval: float, timeout: float) -> ClusterCache:
    """The hub's one cluster view (created on first use; the interval follows the config)."""
    global _CLUSTER
    if _CLUSTER is None:
        _CLUSTER = ClusterCache(interval=interval, timeout=timeout)
    _CLUSTER.interval, _CLUSTER.timeout = interval, timeout
    return _CLUSTER


# ----------------------------------------------------------------------------- accounts


class AccountsUnavailable(Exception):
    """The site runs without Slurm accounting (no associations to read)."""


@dataclass
class AccountCache:
    """Each user's Slurm accounts (default first), from ``sacctmgr``, kept for ``ttl`` seconds."""

    ttl: float = 60.0
    timeout: float = 30.0
    queries: int = 0
    _entries: dict = field(default_factory=dict, repr=False)

    async def accounts(self, user: str) -> list[str]:
        hit = self._entries.get(user)
        if hit and time.monotonic() - hit[0] < self.ttl:
            return list(hit[1])
        self.queries += 1
        try:
            assoc, default = await asyncio.gather(
                slurm.run(["sacctmgr", "--noheader", "--parsable2", "show", "associations",
                           f"user={user}", "format=account"], timeout=self.timeout),
                slurm.run(["sacctmgr", "--noheader", "--parsable2", "show", "user", user,
                           "format=defaultaccount"], timeout=self.timeout),
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


_ACCOUNTS: AccountCache | None = None


def shared_accounts(ttl: float, timeout: float) -> AccountCache:
    global _ACCOUNTS
    if _ACCOUNTS is None:
        _ACCOUNTS = AccountCache(ttl=ttl, timeout=timeout)
    _ACCOUNTS.ttl, _ACCOUNTS.timeout = ttl, timeout
    return _ACCOUNTS


def unix_groups(user: str) -> list[str]:
    """The user's Unix groups (for reservations granted to a group)."""
    try:
        primary = grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
    except KeyError:
        primary = None
    groups = [g.gr_name for g in grp.getgrall() if user in g.gr_mem]
    return ([primary] if primary else []) + groups
