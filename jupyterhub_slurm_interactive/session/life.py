"""A session's life as a Slurm job: start it (:mod:`session.start`), pick it up again after a hub restart,
notice its end, cancel its start, stop it.

A :class:`Session` holds what the hub must remember of one session (its :class:`~session.record.JobRecord`),
what the job said of itself (:class:`~session.record.JobReport`), and one phase
(:class:`~session.phase.Phase`). It talks to Slurm only through its :class:`~session.job.SlurmJob` (the
runner and the shared views it is given) and reads the time from the clock it is given. Neither needs a
hub: the unit tests drive a session with a runner that plays back recorded output.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import time
from typing import Callable

from jupyterhub_slurm_interactive.choice.request import ResourceRequest
from jupyterhub_slurm_interactive.cluster.views import JobPoller, SharedQuery
from jupyterhub_slurm_interactive.session import states
from jupyterhub_slurm_interactive.session.job import SlurmJob
from jupyterhub_slurm_interactive.session.outcomes import (  # noqa: F401
    Cancelled,
    EndedWhileStarting,
    GaveUpWaiting,
    NotStarting,
    SessionError,
    SubmitRefused,
    Timing,
)
from jupyterhub_slurm_interactive.session.phase import Phase
from jupyterhub_slurm_interactive.session.record import JobRecord, JobReport
from jupyterhub_slurm_interactive.session.start import ALIVE, Starting
from jupyterhub_slurm_interactive.session.states import end_message
from jupyterhub_slurm_interactive.session.stop_note import StopNote
from jupyterhub_slurm_interactive.slurm.commands import QueueEntry
from jupyterhub_slurm_interactive.slurm.runner import SlurmError
from jupyterhub_slurm_interactive.words import clock_time

#: States a stopped job may still be in while it leaves its node.
_LEAVING = ("RUNNING", "COMPLETING", "PENDING", "CONFIGURING")


class Session(Starting):
    """One session of one user: the Slurm job that runs its server, followed through its life."""

    def __init__(self, *, user: str, runner, poller: JobPoller, cluster: SharedQuery, exec_prefix: str,
                 timing: Timing | None = None, output_path: Callable[[str], str] = lambda job: "",
                 log: logging.Logger | logging.LoggerAdapter | None = None, log_name: str = "",
                 save: Callable[[], None] = lambda: None, http_client=None, mark: str = "",
                 lost_sight: Callable[[], None] = lambda: None, clock=time):
        self.user = user
        self.log = log or logging.getLogger(__name__)
        self.log_name = log_name or user
        self.clock = clock  # time() and monotonic(): the time module, or a test's own clock
        self.slurm = SlurmJob(user=user, runner=runner, poller=poller, cluster=cluster, exec_prefix=exec_prefix,
                              log=self.log, clock=clock)
        self.timing = timing or Timing()
        self.output_path = output_path
        self.save = save  # writes the state to the hub's database at once
        self.http_client = http_client
        self.mark = mark  # the job's comment (this hub's mark, user and server): how a lost job is found again
        self.lost_sight = lost_sight  # called when Slurm says a job lives that the hub's queue does not list
        self.ssl_options = None  # the hub's client context when sessions serve https (internal_ssl)
        # the server reports its port once it listens (the release's jupyterlab-slurm-interactive), so
        # the hub's own check that it answers finds it at once; else (batchspawner-singleuser reports
        # first, then starts the server) the start polls the server until it answers
        self.reports_when_listening = False
        self.record = JobRecord()  # what the hub keeps (to_state / from_state)
        self.phase = Phase.IDLE
        # what lives only while the hub runs
        self.report = JobReport()
        self.ip, self.port = "", 0
        self.events: list[dict] = []
        self.requested_at = 0.0  # when this start was asked for
        self.stop_note = StopNote(clock)  # who stops this session and why (the idle culler, an operator), said first
        self._port_event = asyncio.Event()
        self._wake = asyncio.Event()  # set by a cancel: every wait of the start ends at once

    # ------------------------------------------------------------------ the record, read
    job_id = property(lambda self: self.record.job_id)
    node = property(lambda self: self.record.node)
    submitted_at = property(lambda self: self.record.submitted_at)
    token_sha256 = property(lambda self: self.record.token_sha256)
    last_end = property(lambda self: self.record.last_end)

    @property
    def starting(self) -> bool:
        """A start is under way (queued or starting, also one resumed after a hub restart)."""
        return self.phase.starting

    # ------------------------------------------------------------------ phase
    def _move(self, new: Phase):
        self.phase = self.phase.to(new)

    def _begin(self, phase: Phase):
        """A start begins (or is resumed after a restart) at ``phase``, with nothing of the last one."""
        self._move(phase)
        self.requested_at = self.requested_at if phase is Phase.QUEUED else self.clock.time()
        self.events, self.report, self._port_event, self._wake = [], JobReport(), asyncio.Event(), asyncio.Event()
        self.port = 0
        if phase is Phase.SUBMITTING:
            self.ip = "0.0.0.0"

    # ------------------------------------------------------------------ state
    def to_state(self) -> dict:
        return self.record.to_state()

    def from_state(self, state: dict):
        self.record.load(state)

    def clear(self):
        """Forget the job (the session is over); keep how it ended."""
        self.record.clear()

    def end_news(self, within: float) -> dict:
        """How the last session ended, once, and only within ``within`` seconds of its end: a fresh login hours
        later is not greeted by a stop it does not remember. Marks it told (the caller saves the state)."""
        end = self.last_end
        if not end or end.get("told") or self.clock.time() - float(end.get("at") or 0) > within:
            return {}
        end["told"] = True
        return end

    def forget_last_end(self):
        """A new start: the last session's end is no longer news."""
        self.record.last_end = {}

    def adopt(self, job_id: str):
        """The reconciler found this starting session's job by its mark (sbatch had not answered)."""
        if self.starting and not self.job_id:
            self.record.submitted(job_id, self.clock.time())

    def end(self, state: str, message: str):
        self.record.ended(state, message, self.clock.time())

    def event(self, progress: int, message: str):
        """One step of the start, for the progress page: its message, and in its log the time it happened."""
        if not self.events or self.events[-1]["message"] != message:
            self.log.info("%s: %s", self.log_name, message)
            at = self.clock.time()
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
        self.record.token_sha256 = hashlib.sha256((api_token or "").encode()).hexdigest()

    def accept_port(self, port: int):
        self.port = port
        self._port_event.set()

    def accept_failure_report(self, report: dict):
        self.report.failure = report

    def note_server_exited(self, exit_code: int | None = None):
        """The job said its server has exited: the session is over, whatever squeue says for now."""
        self.report.exited, self.report.exit_code = True, exit_code
        if self.phase is Phase.STOPPING:  # the signal of the hub's own scancel: the stop says how it ended
            return
        state = "COMPLETED" if exit_code == 0 else "FAILED"
        message = end_message(state, self.job_id, self.node)
        if exit_code:
            message = message[:-1] + f" (exit status {exit_code})." + self._output_note()
        self.end(state, message)

    def _output_note(self) -> str:
        return self.report.output_note(self.output_path(self.job_id))

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
        if self.phase is Phase.CANCELLING:
            raise self._cancelled()

    def _cancelled(self) -> Cancelled:
        self.record.forget_job()  # cancelled by the user: nothing left for the hub's stop to do
        return Cancelled(self.last_end.get("message") or "You cancelled your session before it started.")

    async def cancel_start(self) -> str:
        """The user cancels a session that is queued or starting: ``scancel`` at once, and the start
        ends (raising :class:`Cancelled`) at its next look, not at its next poll. Returns the job ID
        ("" if ``sbatch`` had not answered yet: the start cancels the job as soon as it has it)."""
        job = self.begin_cancel()
        await self.finish_cancel(job)
        return job

    async def finish_cancel(self, job: str):
        """``scancel`` of a start's job after :meth:`begin_cancel` (none if ``sbatch`` had not answered)."""
        if job:
            try:
                await self.slurm.cancel(job)
            except SlurmError as e:  # the job may have just ended; the start notices either way
                self.log.warning("scancel of %s's job %s: %s", self.user, job, e.message)

    def begin_cancel(self) -> str:
        """What a cancel does before it waits for ``scancel``: the start is told to end at its next look, and
        why it ended is written (``last_end``). The job ID; NotStarting if the session is not starting."""
        if self.phase not in (Phase.SUBMITTING, Phase.QUEUED, Phase.LAUNCHING):
            raise NotStarting("This session is not queued or starting")
        job, queued = self.job_id, not self.node
        self._move(Phase.CANCELLING)
        self._wake.set()
        where = "while it waited in the queue" if queued else f"while its server started on {self.node}"
        self.end("CANCELLED", self.stop_note.cancelled_message(job, where))
        self.last_end.update(self.stop_note.kept())
        self.stop_note.forget()
        return job

    async def cancel(self):
        await self.slurm.cancel(self.job_id)

    async def cancel_quietly(self):
        """Cancel the job if it is still there; a job already gone (or a Slurm away) is only logged."""
        if not self.job_id:
            return
        try:
            await self.cancel()
        except SlurmError as e:
            self.log.warning("scancel of %s's job %s: %s", self.user, self.job_id, e.message)

    # ------------------------------------------------------------------ after a hub restart
    async def resume(self, base_url: str, port_timeout: float,
                     request: ResourceRequest | None = None) -> tuple[str, int] | None:
        """Where a session known from the saved state is now: (ip, port) at the node's current address, or
        None if that cannot be told. A job still starting when the hub restarted is followed to ready (saying
        why it waits, with the saved ``request``)."""
        entry, answered = await self.job_entry(self.timing.startup_poll_interval)
        if not answered or entry is None:
            return None
        if entry.running and self.port:
            self.record.on_node(entry.nodes)
            self.ip = await self.slurm.node_address(self.node)
        elif entry.pending or entry.running:
            self.log.info("%s: job %s was still starting when the hub restarted; following it",
                          self.log_name, self.job_id)
            self._begin(Phase.QUEUED)
            try:
                await self.counted(self.until_ready(request, base_url, port_timeout=port_timeout))
            finally:
                self._move(Phase.IDLE)
        else:
            return None
        return self.ip, self.port

    # ------------------------------------------------------------------ running
    async def job_entry(self, max_age: float) -> tuple[QueueEntry | None, bool]:
        """This session's line of the shared squeue: (entry or None, whether Slurm answered)."""
        return await self.slurm.entry(self.job_id, self.submitted_at, max_age, self.timing.fresh_job_grace)

    async def poll(self) -> str | None:
        """None while the job pends or runs (or Slurm does not answer); else why it ended, in words."""
        if self.starting or not self.job_id:
            return None
        if self.report.exited:
            return await self.settle()
        entry, answered = await self.job_entry(self.timing.queue_interval)
        if not answered:
            return None  # never declare a session dead because slurmctld is away
        if entry is not None and (entry.pending or entry.running):
            self.record.on_node(entry.nodes)
            return None
        if entry is not None and entry.state == "COMPLETING":
            return None  # leaving its node: how it ended (a walltime's TIMEOUT, ...) is known at the next look
        state = entry.state if entry else await self.slurm.final_state(self.job_id)
        if entry is None and states.base_state(state) in ALIVE:  # never "ended" while Slurm says it runs
            self.log.error("%s: Slurm says job %s is %s, but the hub's squeue does not list it: the hub cannot "
                           "see its sessions' jobs", self.log_name, self.job_id, state)
            self.lost_sight()
            return None
        self.end(state, end_message(state, self.job_id, self.node))
        self.record.forget_job()  # ended: nothing left to cancel when the hub stops the server
        return self.last_end["message"]

    async def settle(self, within: float = 3.0) -> str:
        """The job said its server exited: how the job ended, as Slurm says once the job has left its node
        (scancel, walltime, node failure), else as the job said (a crash, the OOM killer)."""
        deadline = self.clock.monotonic() + within
        while self.clock.monotonic() < deadline:
            try:
                entry = await self.slurm.fresh_entry(self.job_id)
            except SlurmError:
                break
            if entry is not None and entry.state not in _LEAVING:
                if entry.state not in ("COMPLETED", "FAILED"):  # those the job told, with its exit status
                    self.end(entry.state, end_message(entry.state, self.job_id, self.node))
                break
            await asyncio.sleep(0.2)
        self.record.forget_job()
        return self.last_end.get("message") or end_message("COMPLETED")

    # ------------------------------------------------------------------ stopping
    def note_idle(self, idle_seconds: float):
        """The idle culler is about to stop this session: its stop says so, and after how long idle."""
        self.stop_note.idle(idle_seconds)

    def note_operator(self, operator: str, reason: str):
        """An operator is about to stop (or cancel) this session: its end says who, and why."""
        self.stop_note.operator(operator, reason)

    def stop_notice(self) -> dict:
        """What the session's open tabs are told before the stop (session.stop_note)."""
        return self.stop_note.notice()

    async def stop(self, now: bool = False):
        """Cancel the job; wait (at most ``stop_wait``) until it has left its node and its GPUs are free."""
        if not self.job_id:
            return
        job = self.job_id
        ended_by_itself = self.report.exited  # before the stop: the job has said how it ended
        self._move(Phase.STOPPING)  # until the job has left: its trap's report of the signal is this stop
        try:
            await self.cancel()
            if not ended_by_itself:
                self.end("CANCELLED", self.stop_note.stopped_message(job))
                self.last_end.update(self.stop_note.kept())
            # each look is an answer of the shared squeue begun after the previous one:
            # many stops at once still make one query at a time
            deadline = self.clock.monotonic() + (0 if now else self.timing.stop_wait)
            while self.clock.monotonic() < deadline:
                try:
                    entry = await self.slurm.fresh_entry(job)
                except SlurmError:
                    break
                if entry is None or entry.state not in _LEAVING:
                    break
                await asyncio.sleep(0.05)
        finally:
            self._move(Phase.IDLE)
            self.stop_note.forget()
