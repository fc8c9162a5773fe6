"""What every session of one hub shares, held in one object, the way kubespawner holds its reflectors.

A :class:`Shared` belongs to one runner of Slurm's commands (the hub's own subprocess runner, or a test's
playback runner) and holds everything the sessions of that hub share: the clock; the views of the cluster,
of the queue (one per job name) and of users' accounts and Unix groups; the check of what the hub can see;
the releases on disk; the reconciler's task; the pool of session keys and the thread that signs their
certificates; the refused forms waiting to be shown again; and the spawners the metrics count. Nothing else
in the package keeps state between requests.

The spawner class finds its ``Shared`` with :meth:`Shared.of`; ``enable(c)`` makes the hub's own with
:meth:`Shared.default`, so the check made as the hub starts and the sessions share one verdict.
"""

from __future__ import annotations

import logging
import time
import weakref
from typing import ClassVar

from jupyterhub_slurm_interactive.choice import offer
from jupyterhub_slurm_interactive.choice.releases import ReleaseShelf
from jupyterhub_slurm_interactive.cluster.budgets import BudgetView
from jupyterhub_slurm_interactive.cluster.views import AccountCache, ClusterCache, GroupCache, JobPoller
from jupyterhub_slurm_interactive.cluster.visibility import JobVisibility
from jupyterhub_slurm_interactive.ops import metrics
from jupyterhub_slurm_interactive.session.certs import KeyPool, signing_thread
from jupyterhub_slurm_interactive.slurm.runner import SlurmRunner
from jupyterhub_slurm_interactive.web.form import FormStash


class Shared:
    """The shared state of the hub whose Slurm commands go through ``runner``."""

    #: Every Shared of this process, by the id of its runner (which each holds, so an id is never reused).
    instances: ClassVar[dict[int, Shared]] = {}
    #: The scrape-time collector of every Shared's sessions, registered once by enable(c).
    collector: ClassVar[metrics.SessionsCollector | None] = None

    def __init__(self, runner, clock=time, log: logging.Logger | None = None):
        self.runner = runner
        self.clock = clock
        self.log = log or logging.getLogger("JupyterHub")
        self._cluster: ClusterCache | None = None
        self._pollers: dict[str, JobPoller] = {}
        self._accounts: AccountCache | None = None
        self._budgets: BudgetView | None = None
        self.groups = GroupCache(clock=clock)
        self.releases = ReleaseShelf(clock=clock)
        self.visibility = JobVisibility(runner, log=self.log)
        self.keys = KeyPool()
        self._signing = None
        self.form_stash = FormStash()
        self.spawners: weakref.WeakSet = weakref.WeakSet()

    @classmethod
    def of(cls, runner) -> Shared:
        """The Shared of ``runner``, made on first use."""
        shared = cls.instances.get(id(runner))
        if shared is None or shared.runner is not runner:
            shared = cls.instances[id(runner)] = cls(runner)
        return shared

    @classmethod
    def default(cls, timeout: float = 30) -> Shared:
        """The hub's own: Slurm's commands run as subprocesses of the hub, each counted in the metrics.
        Its timeout follows the configuration (the last ``slurm_timeout`` given)."""
        shared = next((s for s in cls.instances.values() if getattr(s.runner, "hub_default", False)), None)
        if shared is None:
            runner = SlurmRunner(timeout, on_command=metrics.observe_command)
            runner.hub_default = True
            shared = cls.of(runner)
        shared.runner.timeout = timeout
        return shared

    # ------------------------------------------------------------------ the views (their settings follow the config)
    def cluster(self, interval: float) -> ClusterCache:
        """Nodes, reservations and partitions, asked of Slurm at most once per ``interval``."""
        if self._cluster is None:
            self._cluster = ClusterCache(self.runner, interval)
        self._cluster.interval = interval
        return self._cluster

    def poller(self, interval: float, job_name: str) -> JobPoller:
        """The queue of this hub's session jobs (by their job name): one ``squeue`` for every session."""
        poller = self._pollers.get(job_name)
        if poller is None:
            poller = self._pollers[job_name] = JobPoller(self.runner, interval, job_name)
        poller.interval = interval
        return poller

    def accounts(self, ttl: float) -> AccountCache:
        """Each user's Slurm accounts, read from sacctmgr and kept ``ttl`` seconds."""
        if self._accounts is None:
            self._accounts = AccountCache(self.runner, ttl=ttl)
        self._accounts.ttl = ttl
        return self._accounts

    def budgets(self, interval: float) -> BudgetView:
        """Every project's budget (sshare), asked of Slurm at most once per ``interval``."""
        if self._budgets is None:
            self._budgets = BudgetView(self.runner, interval)
        self._budgets.interval = interval
        return self._budgets

    def sources(self, settings: offer.OfferSettings) -> offer.Sources:
        """Where what a user is offered comes from, for :func:`choice.offer.gather`."""
        return offer.Sources(cluster=self.cluster(settings.availability_interval),
                             accounts=self.accounts(settings.accounts_cache_seconds), groups=self.groups,
                             releases=self.releases)

    @property
    def signing(self):
        """The one thread that signs session certificates (started on first use)."""
        if self._signing is None:
            self._signing = signing_thread()
        return self._signing

    # ------------------------------------------------------------------ what the metrics read
    def views(self) -> list[tuple[str, object]]:
        found: list[tuple[str, object]] = []
        if self._cluster is not None:
            found.append(("cluster", self._cluster))
        if self._budgets is not None:
            found.append(("budgets", self._budgets))
        found += [("queue", poller) for poller in self._pollers.values()]
        return found

    @classmethod
    def all_spawners(cls) -> list:
        return [sp for shared in list(cls.instances.values()) for sp in list(shared.spawners)]

    @classmethod
    def all_views(cls) -> list[tuple[str, object]]:
        return [view for shared in list(cls.instances.values()) for view in shared.views()]

    @classmethod
    def register_metrics(cls) -> None:
        """Have the hub's /hub/metrics read every session at each scrape (once per process)."""
        if cls.collector is None:
            cls.collector = metrics.SessionsCollector(cls.all_spawners, cls.all_views)
        metrics.register(cls.collector)
