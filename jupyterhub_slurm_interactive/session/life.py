"""A session's life as a Slurm job: submit, follow while pending, wait for the port, wait for the server to
answer, pick it up again after a hub restart, notice its end, stop it.

A :class:`Session` holds what the hub must remember of one session (its job, node, address, when it was
submitted, how the last one ended) and talks to Slurm only through the runner it is given, and to the
queue only through the shared poller (one ``squeue`` for every session of the hub). Neither needs a hub:
the unit tests drive a session with a runner that plays back recorded output.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import shlex
import time
from typing import Callable

from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from jupyterhub_slurm_interactive.cluster.reconcile import LIVE_STATES, pick_marked_job
from jupyterhub_slurm_interactive.cluster.views import JobPoller, SharedQuery
from jupyterhub_slurm_interactive.ops import metrics
from jupyterhub_slurm_interactive.session import states
from jupyterhub_slurm_interactive.session.outcomes import (  # noqa: F401
    Cancelled,
    EndedWhileStarting,
    GaveUpWaiting,
    NotStarting,
    SessionError,
    SubmitRefused,
    Timing,
)
from jupyterhub_slurm_interactive.session.states import clock_time, end_message, pending_message
from jupyterhub_slurm_interactive.slurm import commands as slurm
from jupyterhub_slurm_interactive.slurm.runner import SlurmError

#: States a stopped job may still be in while it leaves its node.
_LEAVING = ("RUNNING", "COMPLETING", "PENDING", "CONFIGURING")
#: States in which a job is not over: a start that gives up on such a job cancels it.
_ALIVE = LIVE_STATES | {"COMPLETING"}


class Session:
    """One session of one user: the Slurm job that runs its server, followed through its life."""

    def __init__(self, *, user: str, runner, poller: JobPoller, cluster: SharedQuery, exec_prefix: str,
                 timing: Timing | None = None, output_path: Callable[[str], str] = lambda job: "",
                 log: logging.Logger | logging.LoggerAdapter | None = None, log_name: str = "",
                 save: Callable[[], None] = lambda: None, http_client=None, mark: str = "",
                 lost_sight: Callable[[], None] = lambda: None):
        self.user = user
        self.runner = runner
        self.poller = poller
        self.cluster = cluster
        self.exec_prefix = exec_prefix
        self.timing = timing or Timing()
        self.output_path = output_path
        self.log = log or logging.getLogger(__name__)
        self.log_name = log_name or user
        self.save = save  # writes the state to the hub's database at once
        self.http_client = http_client
        self.mark = mark  # the job's comment (this hub's mark, user and server): how a lost job is found again
        self.lost_sight = lost_sight  # called when Slurm says a job lives that the hub's queue does not list
        self.ssl_options = None  # the hub's client context when sessions serve https (internal_ssl)
        # the server reports its port once it listens (the release's jupyterlab-slurm-interactive), so
        # the hub's own check that it answers finds it at once; else (batchspawner-singleuser reports
        # first, then starts the server) the start polls the server until it answers
        self.reports_when_listening = False
        # what the hub keeps (to_state / from_state)
        self.job_id = ""
        self.node = ""
        self.submitted_at = 0.0
        self.token_sha256 = ""
        self.last_end: dict = {}
        # what lives only while the hub runs
        self.ip, self.port = "", 0
        self.events: list[dict] = []
        self.requested_at = 0.0  # when this start was asked for
        self.starting = False
        self.failure_report: dict | None = None
        self.server_exited = False
        self.stopping = False
        self.cancel_requested = False
        self.idle_note: dict = {}  # the idle culler's word before it stops this session
        self._port_event = asyncio.Event()
        self._wake = asyncio.Event()  # set by a cancel: every wait of the start ends at once

    # ------------------------------------------------------------------ state
    def to_state(self) -> dict:
        state = {"job_id": self.job_id, "node": self.node, "submitted_at": self.submitted_at,
                 "token_sha256": self.token_sha256, "last_end": dict(self.last_end)}
        return {k: v for k, v in state.items() if v}

    def from_state(self, state: dict):
        self.job_id = str(state.get("job_id", "") or "")
        self.node = str(state.get("node", "") or "")
        self.submitted_at = float(state.get("submitted_at", 0) or 0)
        self.token_sha256 = str(state.get("token_sha256", "") or "")
        if isinstance(state.get("last_end"), dict):
            self.last_end = state["last_end"]

    def clear(self):
        """Forget the job (the session is over); keep how it ended."""
        self.job_id = self.node = self.token_sha256 = ""
        self.submitted_at = 0.0

    def end(self, state: str, message: str):
        self.last_end = {"job_id": self.job_id, "state": state, "message": message, "at": time.time()}

    def event(self, progress: int, message: str):
        """One step of the start, for the progress page: its message, and in its log the time it happened."""
        if not self.events or self.events[-1]["message"] != message:
            self.log.info("%s: %s", self.log_name, message)
            at = time.time()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(at))
            self.events.append({"progress": progress, "message": message, "html_message":
                                f'<time class="jsi-event-time" datetime="{stamp}">{clock_time(at)}</time> '
                                f'{html.escape(message)}'})

    async def progress(self):
        """The start's events as they come, until the server has its port and the start is over."""
        sent = 0
        while True:
            for event in self.events[sent:]:
                yield event
            sent = len(self.events)
            if not self.starting and self.port:
                return
            await asyncio.sleep(0.25)

    # ------------------------------------------------------------------ the server's callbacks
    def accept_token(self, api_token: str):
        """Remember the server's API token (as a digest) to recognise its callbacks."""
        self.token_sha256 = hashlib.sha256((api_token or "").encode()).hexdigest()

    def accept_port(self, port: int):
        self.port = port
        self._port_event.set()

    def accept_failure_report(self, report: dict):
        self.failure_report = report

    def note_server_exited(self, exit_code: int | None = None):
        """The job said its server has exited: the session is over, whatever squeue says for now."""
        self.server_exited = True
        if self.stopping:  # the signal of the hub's own scancel: the stop says how it ended
            return
        state = "COMPLETED" if exit_code == 0 else "FAILED"
        message = end_message(state, self.job_id, self.node)
        if exit_code:
            message = message[:-1] + f" (exit status {exit_code})." + self._output_note()
        self.end(state, message)

    def _output_note(self) -> str:
        """The end of the job's output (when the job sent it) and where the whole of it is."""
        note = ""
        if self.failure_report and self.failure_report.get("output_tail"):
            note += " The end of its output:\n" + self.failure_report["output_tail"].rstrip("\n")
        return note + f"\nThe whole output is in {self.output_path(self.job_id)}."

    # ------------------------------------------------------------------ starting
    async def start(self, script: str, env: dict, request: dict, base_url: str):
        """Submit the job and follow it until its server answers; return (ip, port).

        Raises :class:`SessionError` with a message for the user when it cannot be had."""
        self.requested_at = time.time()
        self.events, self.failure_report, self._port_event = [], None, asyncio.Event()
        self.ip, self.port, self.node, self.job_id = "0.0.0.0", 0, "", ""
        self.starting, self.server_exited = True, False
        self.cancel_requested, self._wake = False, asyncio.Event()
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
            self.starting = False

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

    def _as_user(self, *argv: str) -> list[str]:
        return shlex.split(self.exec_prefix.format(username=self.user)) + list(argv)

    async def submit(self, script: str, env: dict) -> str:
        """``sbatch`` the script as the user; the job ID, saved in ``job_id`` as soon as Slurm answers."""
        try:
            out = await self.runner.run(self._as_user("sbatch", "--parsable"), input=script, env=env)
        except SlurmError as e:
            if not (e.unreachable and self.mark):
                self.log.warning("sbatch refused %s's session: %s", self.user, e.message)
                raise SubmitRefused(f"Slurm refused the session: {e.message}") from e
            # no answer is not a refusal: the controller may have queued the job all the same
            self.log.warning("sbatch got no answer for %s's session (%s); looking for the job by its mark",
                             self.user, e.message)
            await self.find_submitted(e.message)
        else:
            self.job_id = slurm.parse_sbatch_job_id(out)
        self.submitted_at = time.time()
        self.log.info("Submitted %s's session as job %s", self.user, self.job_id)
        if self.cancel_requested:  # the user cancelled while sbatch ran
            await self.cancel()
            raise self._cancelled()
        return self.job_id

    async def find_submitted(self, error: str):
        """``sbatch`` got no answer (the controller away or overloaded): look in the queue for a live job
        of this user with this session's mark, and take it (the reconciler may hand it over meanwhile).
        The search goes on while Slurm does not answer (at most ``pending_timeout``), and for
        ``lost_submission_grace`` seconds once it answers again; then the job was never submitted."""
        self.event(5, "Slurm did not answer the submission in time; looking for your job in the queue")
        failed_at, answered_since = time.time(), 0.0
        while not self.job_id:
            try:
                interval = self.timing.startup_poll_interval  # an answer begun since the failure, and recent
                jobs = await self.poller.get(interval, newer_than=max(failed_at, time.time() - interval))
                answered = not self.poller.error
            except SlurmError:
                jobs, answered = {}, False
            if self.job_id:
                break  # adopted by the reconciler while the queue was read
            found = pick_marked_job(jobs.values(), self.mark, self.user) if answered else ""
            if found:
                self.job_id = found
                self.log.warning("%s: found job %s, submitted while Slurm did not answer", self.log_name, self.job_id)
                break
            now = time.monotonic()
            if answered:
                answered_since = answered_since or now
            if (answered and now - answered_since > self.timing.lost_submission_grace) or (
                    time.time() - failed_at > self.timing.pending_timeout):
                raise SubmitRefused(f"Slurm did not answer the submission ({error}), and no job of this session "
                                    "is in the queue since: the session was not submitted. Please start it again.")
            await self.pause(self.timing.startup_poll_interval)

    async def until_ready(self, request: dict, base_url: str, port_timeout: float | None = None):
        """Follow the job until it runs, its server reports its port and answers; return (ip, port)."""
        await self.until_running(request)
        running = time.time()
        metrics.START_PHASE.labels("queue").observe(max(0.0, running - self.submitted_at))
        await self.until_port(port_timeout)
        ported = time.time()
        metrics.START_PHASE.labels("port").observe(ported - running)
        self.save()
        if self.reports_when_listening:  # JupyterHub checks next that it answers, and finds it at once
            metrics.START_PHASE.labels("answer").observe(time.time() - ported)
            self.event(90, f"Server listening on {self.node}; connecting")
            return self.ip, self.port
        self.event(80, f"Server starting on {self.node}")
        await self.until_answering(base_url)
        metrics.START_PHASE.labels("answer").observe(time.time() - ported)
        self.event(95, "Server answering; connecting")
        return self.ip, self.port

    async def until_running(self, request: dict):
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
                why = pending_message(entry.reason, entry.start_time, request.get("cores", 0),
                                      request.get("memory", 0), request.get("gpus", 0))
                self.event(20, f"Job {self.job_id}: {why}")
                waited = time.time() - self.submitted_at
                if waited > self.timing.pending_timeout:
                    await self.give_up_waiting(why, waited)
            else:
                self.node = entry.nodes
                self.ip = await self.node_address(self.node)
                self.event(50, f"Job {self.job_id} is running on {self.node}; starting the server")
                return
            await self.pause(self.timing.startup_poll_interval, until=None if ported else self._port_event)

    async def give_up_waiting(self, why: str, waited: float):
        await self.cancel()
        raise self.over("CANCELLED", states.waited_too_long(self.job_id, waited, why), GaveUpWaiting)

    async def until_port(self, port_timeout: float | None = None):
        """Wait for the server to report its port through the hub's API; the job may still die meanwhile."""
        deadline = time.monotonic() + (port_timeout or float("inf"))
        while not self.port:
            if time.monotonic() > deadline:
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
        deadline = time.monotonic() + self.timing.http_timeout
        while time.monotonic() < deadline:
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

    async def failure(self, entry: slurm.QueueEntry | None) -> EndedWhileStarting:
        """The job ended while starting: say why, with the end of its output when the job sent it."""
        if self.cancel_requested:  # ended by the user's own cancel, which has said so
            return self._cancelled()
        state = entry.state if entry else await self.final_state()
        if entry is None and states.base_state(state) in _ALIVE:
            return await self.lost(state)
        if entry is not None and entry.reason == "JobLaunchFailure":
            # the job never ran: Slurm could not open its output file in the user's home
            return self.over(state, states.launch_failed(self.job_id, self.output_path(self.job_id).rsplit("/", 1)[0]))
        for _ in range(20):  # the job reports its output's tail as it exits
            if self.failure_report:
                break
            await asyncio.sleep(0.1)
        message = end_message(state, self.job_id, self.node).replace("ended", "ended before the server started", 1)
        if self.failure_report:
            message += f" Exit code {self.failure_report.get('exit_code')}."
        message += self._output_note()
        if not state:  # accounting does not know either: the job may still be alive somewhere
            await self.cancel_quietly()
        return self.over(state, message)

    async def lost(self, state: str) -> EndedWhileStarting:
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
        self.job_id = ""
        return error(message)

    async def cancel_quietly(self):
        """Cancel the job if it is still there; a job already gone (or a Slurm away) is only logged."""
        if not self.job_id:
            return
        try:
            await self.cancel()
        except SlurmError as e:
            self.log.warning("scancel of %s's job %s: %s", self.user, self.job_id, e.message)

    # ------------------------------------------------------------------ cancelling a start
    async def pause(self, seconds: float, until: asyncio.Event | None = None):
        """Wait ``seconds`` (or until ``until`` is set); a cancel by the user ends the wait at once and
        raises :class:`Cancelled`."""
        waits = [asyncio.ensure_future(self._wake.wait())]
        if until is not None:
            waits.append(asyncio.ensure_future(until.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        if self.cancel_requested:
            raise self._cancelled()

    def _cancelled(self) -> Cancelled:
        self.job_id = ""  # cancelled by the user: nothing left for the hub's stop to do
        return Cancelled(self.last_end.get("message") or "You cancelled your session before it started.")

    async def cancel_start(self) -> str:
        """The user cancels a session that is queued or starting: ``scancel`` at once, and the start
        ends (raising :class:`Cancelled`) at its next look, not at its next poll. Returns the job ID
        ("" if ``sbatch`` had not answered yet: the start cancels the job as soon as it has it)."""
        if not self.starting or self.cancel_requested:
            raise NotStarting("This session is not queued or starting")
        job, queued = self.job_id, not self.node
        self.cancel_requested = True
        self._wake.set()
        where = "while it waited in the queue" if queued else f"while its server started on {self.node}"
        self.end("CANCELLED", f"You cancelled your session{f' (Slurm job {job})' if job else ''} {where}; "
                              "its choices are kept.")
        if job:
            try:
                await self.cancel()
            except SlurmError as e:  # the job may have just ended; the start notices either way
                self.log.warning("scancel of %s's job %s: %s", self.user, job, e.message)
        return job

    # ------------------------------------------------------------------ after a hub restart
    async def resume(self, base_url: str, port_timeout: float) -> tuple[str, int] | None:
        """Where a session known from the saved state is now: (ip, port) at the node's current address, or
        None if that cannot be told. A job still starting when the hub restarted is followed to ready."""
        entry, answered = await self.job_entry(self.timing.startup_poll_interval)
        if not answered or entry is None:
            return None
        if entry.running and self.port:
            self.node = entry.nodes
            self.ip = await self.node_address(self.node)
        elif entry.pending or entry.running:
            self.log.info("%s: job %s was still starting when the hub restarted; following it",
                          self.log_name, self.job_id)
            self.events, self._port_event, self.starting, self.port = [], asyncio.Event(), True, 0
            self.cancel_requested, self._wake = False, asyncio.Event()
            try:
                await self.counted(self.until_ready({}, base_url, port_timeout=port_timeout))
            finally:
                self.starting = False
        else:
            return None
        return self.ip, self.port

    # ------------------------------------------------------------------ running
    async def job_entry(self, max_age: float) -> tuple[slurm.QueueEntry | None, bool]:
        """This session's line of the shared squeue: (entry or None, whether Slurm answered)."""
        try:
            jobs = await self.poller.get(max_age)
            if self.poller.error:
                return None, False
            if self.job_id not in jobs and self.poller.began_at < self.submitted_at:
                jobs = await self.poller.get(0, newer_than=self.submitted_at)  # that answer predates the job
                if self.poller.error:
                    return None, False
        except SlurmError as e:
            self.log.warning("Slurm did not answer about %s's job %s: %s", self.user, self.job_id, e.message)
            return None, False
        entry = jobs.get(self.job_id)
        if entry is None and time.time() - self.submitted_at < self.timing.fresh_job_grace:
            # a job just submitted is listed, even one that failed at once (--states=all):
            # missing this soon means a stale answer, not a job gone
            return None, False
        return entry, True

    async def poll(self) -> str | None:
        """None while the job pends or runs (or Slurm does not answer); else why it ended, in words."""
        if self.starting or not self.job_id:
            return None
        if self.server_exited:
            return await self.settle()
        entry, answered = await self.job_entry(self.timing.queue_interval)
        if not answered:
            return None  # never declare a session dead because slurmctld is away
        if entry is not None and (entry.pending or entry.running):
            self.node = entry.nodes or self.node
            return None
        state = entry.state if entry else await self.final_state()
        if entry is None and states.base_state(state) in _ALIVE:  # never "ended" while Slurm says it runs
            self.log.error("%s: Slurm says job %s is %s, but the hub's squeue does not list it: the hub cannot "
                           "see its sessions' jobs", self.log_name, self.job_id, state)
            self.lost_sight()
            return None
        self.end(state, end_message(state, self.job_id, self.node))
        self.job_id = ""  # ended: nothing left to cancel when the hub stops the server
        return self.last_end["message"]

    async def settle(self, within: float = 3.0) -> str:
        """The job said its server exited: how the job ended, as Slurm says once the job has left its node
        (scancel, walltime, node failure), else as the job said (a crash, the OOM killer)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                entry = (await self.poller.get(0, newer_than=time.time())).get(self.job_id)
            except SlurmError:
                break
            if entry is not None and entry.state not in _LEAVING:
                if entry.state not in ("COMPLETED", "FAILED"):  # those the job told, with its exit status
                    self.end(entry.state, end_message(entry.state, self.job_id, self.node))
                break
            await asyncio.sleep(0.2)
        self.job_id = ""
        return self.last_end.get("message") or end_message("COMPLETED")

    async def final_state(self) -> str:
        """How a job that left squeue ended, from accounting (sacct), or ""."""
        try:
            out = await self.runner.run(["sacct", "--noheader", "--parsable2", "--allocations",
                                         f"--jobs={self.job_id}", "--format=State"])
        except SlurmError:
            return ""
        return out.strip().splitlines()[0] if out.strip() else ""

    async def node_address(self, node: str) -> str:
        """The address Slurm reports for a node (NodeAddr), not what DNS may say of its name."""
        snapshot = await self.cluster.get(max_age=60)
        for n in snapshot.nodes:
            if n.name == node:
                return n.addr
        nodes = slurm.parse_nodes(await self.runner.run(["scontrol", "--oneliner", "show", "node", node]))
        if not nodes:
            raise EndedWhileStarting(f"Slurm does not know node {node}")
        return nodes[0].addr

    # ------------------------------------------------------------------ stopping
    def note_idle(self, idle_seconds: float):
        """The idle culler is about to stop this session: its stop says so, and after how long idle."""
        self.idle_note = {"at": time.time(), "idle_seconds": float(idle_seconds)}

    def _stop_message(self, job: str) -> str:
        note = self.idle_note
        recent = bool(note) and time.time() - note["at"] < 300
        return states.stopped(job, note["idle_seconds"] if recent else None)

    async def cancel(self):
        self.log.info("Cancelling %s's job %s", self.user, self.job_id)
        await self.runner.run(self._as_user("scancel", self.job_id))

    async def stop(self, now: bool = False):
        """Cancel the job; wait (at most ``stop_wait``) until it has left its node and its GPUs are free."""
        if not self.job_id:
            return
        job = self.job_id
        ended_by_itself = self.server_exited  # before the stop: the job has said how it ended
        self.stopping = True  # until the job has left: its trap's report of the signal is this stop
        try:
            await self.cancel()
            if not ended_by_itself:
                self.end("CANCELLED", self._stop_message(job))
                if self.idle_note:
                    self.last_end["idle_seconds"] = self.idle_note["idle_seconds"]
            # each look is an answer of the shared squeue begun after the previous one:
            # many stops at once still make one query at a time
            deadline = time.monotonic() + (0 if now else self.timing.stop_wait)
            while time.monotonic() < deadline:
                try:
                    entry = (await self.poller.get(0, newer_than=time.time())).get(job)
                except SlurmError:
                    break
                if entry is None or entry.state not in _LEAVING:
                    break
                await asyncio.sleep(0.05)
        finally:
            self.stopping = False
            self.idle_note = {}
