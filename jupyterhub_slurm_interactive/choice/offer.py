"""What one user is offered right now: their accounts, the reservations they may use, the releases, the
bounds of a request and its defaults, gathered from the hub's shared views of Slurm.

The form, the REST API's validation and the availability table all start from one :class:`Offer`, so
they never disagree about what a user may ask for.
"""

from __future__ import annotations

from dataclasses import dataclass

from jupyterhub_slurm_interactive.choice import choices
from jupyterhub_slurm_interactive.choice.releases import Release, ReleaseShelf
from jupyterhub_slurm_interactive.choice.request import Limits
from jupyterhub_slurm_interactive.cluster.views import (
    AccountCache,
    AccountsUnavailable,
    ClusterCache,
    GroupCache,
    Snapshot,
)
from jupyterhub_slurm_interactive.slurm import commands as slurm
from jupyterhub_slurm_interactive.slurm.runner import SlurmError


@dataclass(frozen=True)
class OfferSettings:
    """The site's settings an offer depends on (the spawner's traits of the same names)."""

    partition: str = "interactive"
    releases_dir: str = "/opt/releases"
    max_hours: int = 0
    min_memory: int = 100
    reservation_lookahead_hours: float = 24
    use_accounting: bool = True
    accounts: tuple[str, ...] = ()
    accounts_cache_seconds: float = 60
    availability_interval: float = 5
    default_cores: int = 1
    default_memory: int = 2000
    default_gpus: int = 0
    default_hours: int = 1


@dataclass(frozen=True)
class Sources:
    """Where an offer is read from: the hub's shared views (``Shared.sources``)."""

    cluster: ClusterCache
    accounts: AccountCache
    groups: GroupCache
    releases: ReleaseShelf


@dataclass(frozen=True)
class Offer:
    snapshot: Snapshot
    accounts: list[str]
    accounts_from_slurm: bool  # False: the site's configured list (no accounting)
    reservations: list[slurm.Reservation]  # the ones this user may use
    releases: list[Release]
    limits: Limits
    defaults: dict


async def user_accounts(user: str, accounts: AccountCache, settings: OfferSettings) -> tuple[list[str], bool]:
    """The user's accounts (default first), and whether they come from Slurm accounting.
    Without accounting (``use_accounting`` off, or no slurmdbd) the configured ``accounts`` are offered."""
    if not settings.use_accounting:
        return list(settings.accounts), False
    try:
        return await accounts.accounts(user), True
    except AccountsUnavailable:
        return list(settings.accounts), False
    except SlurmError as e:  # slurmdbd or its database away, and this user never seen since the hub started
        raise AccountsUnknown("sacctmgr", e.returncode, e.message) from e


class AccountsUnknown(SlurmError):
    """Slurm accounting does not answer, and the hub has not yet seen this user's accounts."""


def defaults(settings: OfferSettings, releases: list[Release]) -> dict:
    """A session's request when the user chooses nothing: the site's defaults and the newest release."""
    return {"cores": settings.default_cores, "memory": settings.default_memory, "gpus": settings.default_gpus,
            "hours": settings.default_hours, "release": releases[0].name if releases else ""}


async def gather(user: str, sources: Sources, settings: OfferSettings, max_age: float | None = None) -> Offer:
    """Everything a user is offered now; with ``max_age``, from a view of the cluster up to that old.
    Raises :class:`~slurm.runner.SlurmError` when Slurm has never answered (a later failure serves the
    last view, marked stale)."""
    cluster = sources.cluster
    snapshot = await (cluster.get() if max_age is None else cluster.recent(max_age))
    accounts, from_slurm = await user_accounts(user, sources.accounts, settings)
    usable = choices.usable_reservations(snapshot.reservations, user, accounts, sources.groups.groups(user),
                                         settings.partition, settings.reservation_lookahead_hours)
    releases = sources.releases.releases(settings.releases_dir)
    limits = choices.request_limits(
        snapshot.nodes, snapshot.partitions.get(settings.partition, {}), settings.partition,
        max_hours=settings.max_hours, accounts=accounts, reservations=usable, releases=releases,
        min_memory=settings.min_memory)
    return Offer(snapshot, accounts, from_slurm, usable, releases, limits, defaults(settings, releases))
