"""How a session starts: submit the job, follow it while it pends, wait for the server's port, wait for the
server to answer; and how a start that gives no server ends.

:class:`Starting` is the start's half of :class:`~session.life.Session`, kept apart because it is one idea
with its own steps. It moves the session through its phases (:mod:`session.phase`): SUBMITTING, QUEUED,
LAUNCHING, and IDLE at the end, with a server or with the sentence that says why not.
"""

from __future__ import annotations

import asyncio

from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from jupyterhub_slurm_interactive.choice.request import ResourceRequest
from jupyterhub_slurm_interactive.cluster.reconcile import LIVE_STATES, pick_marked_job
from jupyterhub_slurm_interactive.ops import metrics
from jupyterhub_slurm_interactive.session import states
from jupyterhub_slurm_interactive.session.outcomes import (
    Cancelled,
    EndedWhileStarting,
    GaveUpWaiting,
    SessionError,
    SubmitRefused,
)
from jupyterhub_slurm_interactive.session.phase import Phase
from jupyterhub_slurm_interactive.session.states import end_message, pending_message
from jupyterhub_slurm_interactive.slurm.commands import QueueEntry
from jupyterhub_slurm_interactive.slurm.runner import SlurmError

#: States in which a job is not over: a start that gives up on such a job cancels it.
ALIVE = LIVE_STATES | {"COMPLETING"}


class Starting:
    """The steps of a start, on the session's record, job, timing and events (see Session)."""

    async def start(self, script: str, env: dict, request: ResourceRequest, base_url: str):
        """Submit the job and follow it until its server answers; return (ip, port).

        Raises :class:`SessionError` with a message for the user when it cannot be had."""
        self._begin(Phase.SUBMITTING)
        self.record.new_start()
        try:
            self.event(0, "Checking your request")
            try:
                await self.submit(script, env)
            except (SubmitRefused, Cancelled) as e:
                metrics.STARTS.labels("refused" if isinstance(e, SubmitRefused) else "cancelled").inc()
                raise
            self.save()  # a hub restart from here on keeps the job
            self.event(10, f"Submitted as Slurm job {self.job_id}")
            return await self.counted(self.until_ready(request, base_url))
        finally:
            self._move(Phase.IDLE)

    @staticmethod
    async def counted(start):
        """Await a start that has a job, and count how it ended (metrics.STARTS)."""
        try:
            where = await start
        except (Cancelled, asyncio.CancelledError):
            metrics.STARTS.labels("cancelled").inc()
            raise
        except GaveUpWaiting:
            metrics.STARTS.labels("timed_out").inc()
            raise
        except BaseException:
            metrics.STARTS.labels("failed").inc()
            raise
        metrics.STARTS.labels("ready").inc()
        return where

    async def submit(self, script: str, env: dict) -> str:
        """``sbatch`` the script as the user; the job ID, saved in the record as soon as Slurm answers."""
        try:
            job_id = await self.slurm.sbatch(script, env)
        except SlurmError as e:
            if not (e.unreachable and self.mark):
                self.log.warning("sbatch refused %s's session: %s", self.user, e.message)
                raise SubmitRefused(f"Slurm refused the session: {e.message}") from e
            # no answer is not a refusal: the controller may have queued the job all the same
            self.log.warning("sbatch got no answer for %s's session (%s); looking for the job by its mark",
                             self.user, e.message)
            job_id = await self.find_submitted(e.message)
        self.record.submitted(job_id, self.clock.time())
        self.log.info("Submitted %s's session as job %s", self.user, self.job_id)
        if self.phase is Phase.CANCELLING:  # the user cancelled while sbatch ran
            await self.cancel()
            raise self._cancelled()
        if self.phase is Phase.SUBMITTING:  # (a stop of a job handed over meanwhile has moved it on)
            self._move(Phase.QUEUED)
        return self.job_id

    async def find_submitted(self, error: str) -> str:
        """``sbatch`` got no answer (the controller away or overloaded): look in the queue for a live job
        of this user with this session's mark, and take it (the reconciler may hand it over meanwhile).
        The search goes on while Slurm does not answer (at most ``pending_timeout``), and for
        ``lost_submission_grace`` seconds once it answers again; then the job was never submitted."""
        self.event(5, "Slurm did not answer the submission in time; looking for your job in the queue")
        clock, poller = self.clock, self.slurm.poller
        failed_at, answered_since = clock.time(), 0.0
        while not self.job_id:
            try:
                interval = self.timing.startup_poll_interval  # an answer begun since the failure, and recent
                jobs = await poller.get(interval, newer_than=max(failed_at, clock.time() - interval))
                answered = not poller.error
            except SlurmError:
                jobs, answered = {}, False
            if self.job_id:
                break  # adopted by the reconciler while the queue was read
            found = pick_marked_job(jobs.values(), self.mark, self.user) if answered else ""
            if found:
                self.log.warning("%s: found job %s, submitted while Slurm did not answer", self.log_name, found)
                return found
            now = clock.monotonic()
            if answered:
                answered_since = answered_since or now
            if (answered and now - answered_since > self.timing.lost_submission_grace) or (
                    clock.time() - failed_at > self.timing.pending_timeout):
                raise SubmitRefused(f"Slurm did not answer the submission ({error}), and no job of this session "
                                    "is in the queue since: the session was not submitted. Please start it again.")
            await self.pause(self.timing.startup_poll_interval)
        return self.job_id

    async def until_ready(self, request: ResourceRequest | None, base_url: str, port_timeout: float | None = None):
        """Follow the job until it runs, its server reports its port and answers; return (ip, port)."""
        clock = self.clock
        await self.until_running(request)
        running = clock.time()
        metrics.START_PHASE.labels("queue").observe(max(0.0, running - self.record.submitted_at))
        await self.until_port(port_timeout)
        ported = clock.time()
        metrics.START_PHASE.labels("port").observe(ported - running)
        self.save()
        if self.reports_when_listening:  # JupyterHub checks next that it answers, and finds it at once
            metrics.START_PHASE.labels("answer").observe(clock.time() - ported)
            self.event(90, f"Server listening on {self.node}; connecting")
            return self.ip, self.port
        self.event(80, f"Server starting on {self.node}")
        await self.until_answering(base_url)
        metrics.START_PHASE.labels("answer").observe(clock.time() - ported)
        self.event(95, "Server answering; connecting")
        return self.ip, self.port

    async def until_running(self, request: ResourceRequest | None):
        """Wait while the job pends, saying why; cancel it after ``pending_timeout``. A port reported
        meanwhile means the job runs: the queue is asked at once, not at the next look."""
        while True:
            ported = self._port_event.is_set()
            entry, answered = await self.job_entry(0 if ported else self.timing.startup_poll_interval)
            if not answered:
                self.event(15, "Slurm is not answering; still waiting for your job")
            elif entry is None or not (entry.pending or entry.running):
                raise await self.failure(entry)
            elif entry.pending:
                asked = (request.cores, request.memory, request.gpus) if request else (0, 0, 0)
                why = pending_message(entry.reason, entry.start_time, *asked)
                self.event(20, f"Job {self.job_id}: {why}")
                waited = self.clock.time() - self.record.submitted_at
                if waited > self.timing.pending_timeout:
                    await self.give_up_waiting(why, waited)
            else:
                self.record.on_node(entry.nodes)
                self.ip = await self.slurm.node_address(self.node)
                if self.phase is Phase.QUEUED:  # a cancel meanwhile ends the start at its next look
                    self._move(Phase.LAUNCHING)
                self.event(50, f"Job {self.job_id} is running on {self.node}; starting the server")
                return
            await self.pause(self.timing.startup_poll_interval, until=None if ported else self._port_event)

    async def give_up_waiting(self, why: str, waited: float):
        await self.cancel()
        raise self.over("CANCELLED", states.waited_too_long(self.job_id, waited, why), GaveUpWaiting)

    async def until_port(self, port_timeout: float | None = None):
        """Wait for the server to report its port through the hub's API; the job may still die meanwhile."""
        deadline = self.clock.monotonic() + (port_timeout or float("inf"))
        while not self.port:
            if self.clock.monotonic() > deadline:
                await self.cancel_quietly()
                raise self.over("CANCELLED", states.no_port(self.job_id, port_timeout) + self._output_note())
            await self.pause(1, until=self._port_event)
            if not self.port:
                entry, answered = await self.job_entry(self.timing.startup_poll_interval * 2)
                if answered and (entry is None or not entry.running):
                    raise await self.failure(entry)

    async def until_answering(self, base_url: str):
        """Poll the new server every 0.1 s until it answers, so that the hub's own check (with its growing
        back-off) finds it at the first try. Gives up quietly after http_timeout: the hub's check decides."""
        if self.http_client is None:
            self.http_client = AsyncHTTPClient()
        scheme = "https" if self.ssl_options is not None else "http"
        url = f"{scheme}://{self.ip}:{self.port}{base_url or '/'}api"
        options = {"ssl_options": self.ssl_options} if self.ssl_options is not None else {}
        deadline = self.clock.monotonic() + self.timing.http_timeout
        while self.clock.monotonic() < deadline:
            try:
                await self.http_client.fetch(url, raise_error=False, request_timeout=2, follow_redirects=False,
                                             **options)
                return
            except (OSError, HTTPClientError):
                pass
            entry, answered = await self.job_entry(self.timing.queue_interval)
            if answered and entry is not None and not entry.running:
                raise await self.failure(entry)
            await self.pause(0.1)

    async def failure(self, entry: QueueEntry | None) -> SessionError:
        """The job ended while starting: say why, with the end of its output when the job sent it."""
        if self.phase is Phase.CANCELLING:  # ended by the user's own cancel, which has said so
            return self._cancelled()
        state = entry.state if entry else await self.slurm.final_state(self.job_id)
        if entry is None and states.base_state(state) in ALIVE:
            return await self.lost(state)
        if entry is not None and entry.reason == "JobLaunchFailure":
            # the job never ran: Slurm could not open its output file in the user's home
            return self.over(state, states.launch_failed(self.job_id, self.output_path(self.job_id).rsplit("/", 1)[0]))
        for _ in range(20):  # the job reports its output's tail as it exits
            if self.report.failure:
                break
            await asyncio.sleep(0.1)
        message = end_message(state, self.job_id, self.node).replace("ended", "ended before the server started", 1)
        if self.report.failure:
            message += f" Exit code {self.report.failure.get('exit_code')}."
        message += self._output_note()
        if not state:  # accounting does not know either: the job may still be alive somewhere
            await self.cancel_quietly()
        return self.over(state, message)

    async def lost(self, state: str) -> SessionError:
        """Accounting says the job lives (``state``), but the hub's queue does not list it: the hub cannot
        see its own jobs. Never call that an end, never leave the job running: cancel it, and have the
        hub check what it can see (the check logs what fixes it)."""
        self.log.error("%s: Slurm says job %s is %s, but the hub's squeue does not list it: the hub cannot see "
                       "its sessions' jobs. Cancelling the job.", self.log_name, self.job_id, state)
        self.lost_sight()
        await self.cancel_quietly()
        return self.over("CANCELLED", states.lost_sight(self.job_id, states.base_state(state)))

    def over(self, state: str, message: str, error: type[SessionError] = EndedWhileStarting) -> SessionError:
        """The start is over without a server: keep how it ended, forget the job (nothing left for the hub's
        stop to cancel), and give the error to raise."""
        self.end(state, message)
        self.record.forget_job()
        return error(message)
