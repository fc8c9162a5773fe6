"""What operators graph: the service's metrics, on the hub's own ``/hub/metrics``.

JupyterHub serves ``prometheus_client``'s default registry there (behind its
``authenticate_prometheus`` rule); these metrics join it, each named
``slurm_interactive_*``:

- counted as things happen: how each start ended (``starts_total``), how long
  each phase of a start took (``start_phase_seconds``), every Slurm command's
  duration and failures (``slurm_command_*``), sessions stopped for idleness;
- read at each scrape from the live sessions (:class:`SessionsCollector`):
  sessions by state, the GPUs, cores and memory they hold, and the age of the
  shared views of the queue and of the cluster.

docs/operating.md has the table of them; ``ansible/roles/hub/files/grafana-dashboard.json``
plots them.
"""

from __future__ import annotations

import time

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

PREFIX = "slurm_interactive_"

#: From seconds to hours: a start may wait in the queue for hours.
_PHASE_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, float("inf"))
_COMMAND_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, float("inf"))

START_PHASE = Histogram(
    PREFIX + "start_phase_seconds",
    "Seconds each phase of a start took: queue (submitted to running), port (running to the server's port "
    "reported), answer (port to the server answering)",
    ["phase"], buckets=_PHASE_BUCKETS)
STARTS = Counter(
    PREFIX + "starts",
    "Starts by how they ended: ready, cancelled (by the user), refused (by Slurm), timed_out (waited longer than "
    "pending_timeout), failed (the job or its server ended while starting)",
    ["outcome"])
SLURM_COMMAND = Histogram(
    PREFIX + "slurm_command_seconds", "Seconds each Slurm command run by the hub took", ["command"],
    buckets=_COMMAND_BUCKETS)
SLURM_FAILURES = Counter(
    PREFIX + "slurm_command_failures", "Slurm commands run by the hub that failed or timed out", ["command"])
IDLE_STOPS = Counter(
    PREFIX + "idle_stops", "Sessions stopped for idleness by the idle culler, GPU sessions apart", ["kind"])
TIME_ADDED = Counter(
    PREFIX + "time_requests", "Requests for more time for a running session, by outcome: added, or the rule that "
    "refused it (partition, site_cap, reservation, queue, not_running)", ["outcome"])
TIME_ADDED_MINUTES = Counter(PREFIX + "time_added_minutes", "Minutes added to running sessions")



def observe_command(name: str, seconds: float, failed: bool):
    """One Slurm command run by the hub (the runner's ``on_command``)."""
    SLURM_COMMAND.labels(name).observe(seconds)
    if failed:
        SLURM_FAILURES.labels(name).inc()


OUTCOMES = ("ready", "cancelled", "refused", "timed_out", "failed")
for _outcome in OUTCOMES:  # every outcome exported from the start, at 0
    STARTS.labels(_outcome)
for _phase in ("queue", "port", "answer"):
    START_PHASE.labels(_phase)
for _kind in ("gpu", "cpu"):
    IDLE_STOPS.labels(_kind)
for _outcome in ("added", "partition", "site_cap", "reservation", "queue", "not_running"):
    TIME_ADDED.labels(_outcome)
for _command in ("squeue", "scontrol", "sinfo", "sacct", "sacctmgr", "sbatch", "scancel"):
    SLURM_COMMAND.labels(_command)
    SLURM_FAILURES.labels(_command)

#: The states a session is counted in (a stopped or never started one is not a session now).
STATES = ("queued", "starting", "running", "stopping")


class SessionsCollector:
    """Reads the live sessions at each scrape. ``spawners()`` gives the hub's session spawners, each with
    ``metrics_view()`` → (phase, its ResourceRequest or None, whether its job holds a node), or None for one the hub no
    longer holds; ``views()`` the shared views as (name, SharedQuery)."""

    def __init__(self, spawners, views):
        self.spawners = spawners
        self.views = views

    def collect(self):
        states = dict.fromkeys(STATES, 0)
        held = {"gpus": 0, "cores": 0, "memory": 0}
        for spawner in list(self.spawners()):
            try:
                view = spawner.metrics_view()
            except Exception:  # noqa: BLE001 - one odd spawner never breaks the scrape
                continue
            if view is None:  # not the spawner the hub holds for that server now
                continue
            phase, request, holds = view
            if phase in states:
                states[phase] += 1
            if holds and request is not None:
                held["gpus"] += request.gpus
                held["cores"] += request.cores
                held["memory"] += request.memory
        sessions = GaugeMetricFamily(PREFIX + "sessions", "Sessions by state (queued, starting, running, stopping)",
                                     labels=["state"])
        for state, count in states.items():
            sessions.add_metric([state], count)
        yield sessions
        yield GaugeMetricFamily(PREFIX + "held_gpus", "GPUs held by sessions whose job runs", value=held["gpus"])
        yield GaugeMetricFamily(PREFIX + "held_cores", "Cores held by sessions whose job runs", value=held["cores"])
        yield GaugeMetricFamily(PREFIX + "held_memory_bytes", "Memory held by sessions whose job runs, in bytes",
                                value=held["memory"] * 1024 * 1024)
        age = GaugeMetricFamily(PREFIX + "view_age_seconds",
                                "Seconds since the shared view was asked of Slurm (queue: squeue; cluster: nodes, "
                                "reservations, partitions); -1 if never", labels=["view"])
        now = time.time()
        for name, view in self.views():
            began = view.began_at if view is not None else 0.0
            age.add_metric([name], round(now - began, 3) if began else -1)
        yield age


def register(collector: SessionsCollector, registry=REGISTRY) -> bool:
    """Have ``registry`` (the hub's ``/hub/metrics``) read the live sessions at each scrape, once; done by
    :func:`jupyterhub_slurm_interactive.hub.enable`. Returns whether it was added now."""
    if collector in getattr(registry, "_collector_to_names", {}):
        return False
    registry.register(collector)
    return True
