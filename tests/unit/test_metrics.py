"""The service's metrics without a hub: what a scrape reads from the sessions, what a start and a Slurm
command count."""

import asyncio
import time

import pytest
from prometheus_client import REGISTRY, generate_latest

from jupyterhub_slurm_interactive.choice.request import ResourceRequest
from jupyterhub_slurm_interactive.ops.metrics import SessionsCollector, observe_command
from jupyterhub_slurm_interactive.session.life import Cancelled
from jupyterhub_slurm_interactive.shared import Shared
from jupyterhub_slurm_interactive.slurm.runner import SlurmError, SlurmRunner

from .playback import queue_line
from .test_session import JOB, SLOW, asked, make_session, until


class FakeSpawner:
    def __init__(self, phase, request, holds):
        self.view = (phase, request, holds)

    def metrics_view(self):
        return self.view


class Replaced:
    def metrics_view(self):
        return None


class Broken:
    def metrics_view(self):
        raise RuntimeError("half-built spawner")


class View:
    def __init__(self, began_at):
        self.began_at = began_at


def scrape(collector) -> dict:
    out = {}
    for family in collector.collect():
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_a_scrape_counts_sessions_by_state_and_what_running_ones_hold():
    def asked(gpus, cores=1, memory=1000):
        return ResourceRequest(cores=cores, memory=memory, gpus=gpus, hours=1, release="2026.11", ui="lab")

    spawners = [FakeSpawner("running", asked(2, 4, 8000), True),
                FakeSpawner("starting", asked(1, 1, 1000), True),
                FakeSpawner("queued", asked(2, 2, 2000), False),  # holds nothing yet
                FakeSpawner("ended", asked(2), False), FakeSpawner("running", None, True),  # request unknown
                Broken(), Replaced()]
    now = time.time()
    got = scrape(SessionsCollector(lambda: spawners, lambda: [("queue", View(now - 3)), ("cluster", View(0))]))
    assert {s: got[("slurm_interactive_sessions", (("state", s),))] for s in
            ("queued", "starting", "running", "stopping")} == {"queued": 1, "starting": 1, "running": 2, "stopping": 0}
    assert got[("slurm_interactive_held_gpus", ())] == 3
    assert got[("slurm_interactive_held_cores", ())] == 5
    assert got[("slurm_interactive_held_memory_bytes", ())] == 9000 * 1024 * 1024
    assert 3 <= got[("slurm_interactive_view_age_seconds", (("view", "queue"),))] < 10
    assert got[("slurm_interactive_view_age_seconds", (("view", "cluster"),))] == -1  # never asked


def test_a_spawner_the_hub_replaced_is_not_counted_twice():
    from jupyterhub_slurm_interactive.spawner import InteractiveSlurmSpawner

    class User:
        name = "alice"
        spawners: dict = {}

    current, replaced = InteractiveSlurmSpawner(), InteractiveSlurmSpawner()
    for spawner in (current, replaced):
        spawner.user = User()
    User.spawners[""] = current
    assert current.metrics_view() is not None and replaced.metrics_view() is None


def sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0


async def test_a_start_counts_its_phases_and_its_outcome():
    session, runner, _ = make_session({"sbatch": [JOB + "\n"],
                                       "squeue": [queue_line("PENDING", JOB), queue_line("RUNNING", JOB)]})
    before = {p: sample("slurm_interactive_start_phase_seconds_count", phase=p) for p in ("queue", "port", "answer")}
    ready = sample("slurm_interactive_starts_total", outcome="ready")

    async def report():
        await until(lambda: session.node)
        session.accept_port(40000)

    reporter = asyncio.ensure_future(report())
    await session.start("#!/bin/bash\n", {}, asked(), "/")
    await reporter
    assert sample("slurm_interactive_starts_total", outcome="ready") == ready + 1
    for phase in ("queue", "port", "answer"):
        assert sample("slurm_interactive_start_phase_seconds_count", phase=phase) == before[phase] + 1


async def test_a_cancelled_start_counts_as_cancelled():
    session, runner, _ = make_session({"sbatch": [JOB + "\n"], "squeue": [queue_line("PENDING", JOB)],
                                       "scancel": [""]}, SLOW)
    cancelled = sample("slurm_interactive_starts_total", outcome="cancelled")
    start = asyncio.ensure_future(session.start("#!/bin/bash\n", {}, asked(), "/"))
    await until(lambda: session.job_id)
    await session.cancel_start()
    with pytest.raises(Cancelled):
        await start
    assert sample("slurm_interactive_starts_total", outcome="cancelled") == cancelled + 1


async def test_every_slurm_command_is_timed_and_its_failures_counted():
    runner = SlurmRunner(timeout=5, on_command=observe_command)  # as the spawner's default runner
    count = sample("slurm_interactive_slurm_command_seconds_count", command="true")
    failures = sample("slurm_interactive_slurm_command_failures_total", command="false")
    await runner.run(["true"])
    with pytest.raises(SlurmError):
        await runner.run(["false"])
    assert sample("slurm_interactive_slurm_command_seconds_count", command="true") == count + 1
    assert sample("slurm_interactive_slurm_command_failures_total", command="false") == failures + 1


def test_every_metric_is_named_with_the_prefix():
    Shared.register_metrics()  # as enable(c) does; a second time changes nothing
    Shared.register_metrics()
    names = {line.split()[2].removesuffix("_total") for line in generate_latest(REGISTRY).decode().splitlines()
             if line.startswith("# TYPE") and "slurm_interactive" in line}
    assert {"slurm_interactive_sessions", "slurm_interactive_held_gpus", "slurm_interactive_start_phase_seconds",
            "slurm_interactive_starts", "slurm_interactive_slurm_command_seconds",
            "slurm_interactive_view_age_seconds", "slurm_interactive_idle_stops"} <= names
