"""One user's session jobs as Slurm sees them: the I/O boundary of a session.

:class:`SlurmJob` submits and cancels as the user (through ``exec_prefix``), reads a job's line of the
hub's shared ``squeue`` (one query for every session), asks accounting how a job ended, and finds a node's
address. It holds the runner, the shared views and the clock it is given; a test gives ones that play back
recorded output.
"""

from __future__ import annotations

import logging
import shlex
import time

from jupyterhub_slurm_interactive.cluster.views import JobPoller, SharedQuery
from jupyterhub_slurm_interactive.session.outcomes import EndedWhileStarting
from jupyterhub_slurm_interactive.slurm import commands
from jupyterhub_slurm_interactive.slurm.runner import SlurmError


class SlurmJob:
    def __init__(self, *, user: str, runner, poller: JobPoller, cluster: SharedQuery, exec_prefix: str,
                 log: logging.Logger | logging.LoggerAdapter, clock=time):
        self.user = user
        self.runner = runner
        self.poller = poller
        self.cluster = cluster
        self.exec_prefix = exec_prefix
        self.log = log
        self.clock = clock

    def as_user(self, *argv: str) -> list[str]:
        return shlex.split(self.exec_prefix.format(username=self.user)) + list(argv)

    async def sbatch(self, script: str, env: dict) -> str:
        """Submit ``script`` as the user; the job ID. :class:`SlurmError` if Slurm refused or did not answer."""
        return commands.parse_sbatch_job_id(
            await self.runner.run(self.as_user("sbatch", "--parsable"), input=script, env=env))

    async def cancel(self, job_id: str):
        self.log.info("Cancelling %s's job %s", self.user, job_id)
        await self.runner.run(self.as_user("scancel", job_id))

    async def entry(self, job_id: str, submitted_at: float, max_age: float,
                    fresh_job_grace: float) -> tuple[commands.QueueEntry | None, bool]:
        """The job's line of the shared squeue: (entry or None, whether Slurm answered)."""
        try:
            jobs = await self.poller.get(max_age)
            if self.poller.error:
                return None, False
            if job_id not in jobs and self.poller.began_at < submitted_at:
                jobs = await self.poller.get(0, newer_than=submitted_at)  # that answer predates the job
                if self.poller.error:
                    return None, False
        except SlurmError as e:
            self.log.warning("Slurm did not answer about %s's job %s: %s", self.user, job_id, e.message)
            return None, False
        entry = jobs.get(job_id)
        if entry is None and self.clock.time() - submitted_at < fresh_job_grace:
            # a job just submitted is listed, even one that failed at once (--states=all):
            # missing this soon means a stale answer, not a job gone
            return None, False
        return entry, True

    async def fresh_entry(self, job_id: str) -> commands.QueueEntry | None:
        """The job's line of an answer of the shared squeue begun now (many callers still make one query)."""
        return (await self.poller.get(0, newer_than=self.clock.time())).get(job_id)

    async def final_state(self, job_id: str) -> str:
        """How a job that left squeue ended, from accounting (sacct), or ""."""
        try:
            out = await self.runner.run(["sacct", "--noheader", "--parsable2", "--allocations",
                                         f"--jobs={job_id}", "--format=State"])
        except SlurmError:
            return ""
        return out.strip().splitlines()[0] if out.strip() else ""

    async def node_address(self, node: str) -> str:
        """The address Slurm reports for a node (NodeAddr), not what DNS may say of its name."""
        snapshot = await self.cluster.get(max_age=60)
        for n in snapshot.nodes:
            if n.name == node:
                return n.addr
        nodes = commands.parse_nodes(await self.runner.run(["scontrol", "--oneliner", "show", "node", node]))
        if not nodes:
            raise EndedWhileStarting(f"Slurm does not know node {node}")
        return nodes[0].addr
