"""The spawner: a JupyterHub session as an oversubscribed Slurm batch job.

``InteractiveSlurmSpawner`` is JupyterHub's hooks; each hands the work to the part that owns it:

- the site's settings, and how batchspawner's carry over: :mod:`settings`;
- what is shared by every session of the hub (the runner, the views, the key pool): :mod:`shared`;
- what a user may ask for, the form and the one check of a request: :mod:`web.form_side`;
- the cards of "My sessions", the home page and the metrics: :mod:`web.card_side`;
- more time for a running session: :mod:`web.time_side`;
- the batch script: :mod:`session.batch_script`;
- the job's life (submit, wait, port, answer, restart, end, stop): :mod:`session.life`.

It subclasses batchspawner's ``SlurmSpawner`` for its port protocol, and replaces what it does badly: the
script is rendered only from a checked request, the queue is read by the hub's own user in one ``squeue``
shared by every session, the server is reached at the node's ``NodeAddr``, and the API token travels in the
environment only.
"""

from __future__ import annotations

import asyncio
import pwd

from batchspawner import SlurmSpawner
from sqlalchemy.orm import object_session
from tornado import web
from traitlets import Unicode, default, observe

from jupyterhub_slurm_interactive.choice.releases import interface_url
from jupyterhub_slurm_interactive.choice.request import ResourceRequest
from jupyterhub_slurm_interactive.cluster import reconcile
from jupyterhub_slurm_interactive.cluster.views import ClusterCache, JobPoller
from jupyterhub_slurm_interactive.cluster.visibility import JobVisibility
from jupyterhub_slurm_interactive.session import batch_script, certs, notice, reconcile_jobs, tokens
from jupyterhub_slurm_interactive.session.life import Cancelled, NotStarting, Session, SessionError, Timing
from jupyterhub_slurm_interactive.settings import SessionSettings, batchspawner_settings, carried_over
from jupyterhub_slurm_interactive.shared import Shared
from jupyterhub_slurm_interactive.web.card_side import CardSide
from jupyterhub_slurm_interactive.web.form_side import FormSide
from jupyterhub_slurm_interactive.web.time_side import TimeSide
from jupyterhub_slurm_interactive.words import clock_time


class InteractiveSlurmSpawner(FormSide, CardSide, TimeSide, SessionSettings, SlurmSpawner):
    """Start each user's server as a job on the interactive Slurm partition."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        honoured, _ = batchspawner_settings(self.config)  # the refused ones stopped the hub (hub.enable)
        ours = {"extra_sbatch_options": list(self.extra_sbatch_options), "prologue": self.prologue,
                "epilogue": self.epilogue}
        for name, value in carried_over(honoured, ours).items():
            setattr(self, name, value)
        self._tie_start_timeout()
        self.shared.spawners.add(self)
        if self.internal_ssl:
            self.shared.keys.fill()  # keys for the first starts, made while the hub starts

    @observe("pending_timeout", "http_timeout")
    def _tie_start_timeout(self, change=None):
        """JupyterHub gives up a start after start_timeout: never before the session's own limits."""
        self.start_timeout = int(self.pending_timeout + self.http_timeout + 60)

    # ------------------------------------------------------------------ batchspawner's settings, ours
    exec_prefix = Unicode("sudo -n -u {username}", help="How the hub runs sbatch and scancel as the user. sudoers "
                          "must allow exactly these two commands, and keep JUPYTERHUB_* in the environment (env_keep)."
                          ).tag(config=True)

    @default("env_keep")
    def _env_keep_default(self):
        # the hub's own PATH, VIRTUAL_ENV and so on mean nothing on a backend node
        return []

    @default("apply_user_options")
    def _apply_user_options_default(self):
        # the request is checked and applied by this spawner itself (resource_request)
        return lambda spawner, user_options: None

    @default("cmd")
    def _cmd_default(self):
        return ["jupyterhub-singleuser"]

    @default("runner")
    def _runner_default(self):
        return Shared.default(self.slurm_timeout).runner

    @default("options_form")
    def _options_form_default(self):
        return lambda spawner: spawner.render_options_form()

    # ------------------------------------------------------------------ what the hub's sessions share
    @property
    def shared(self) -> Shared:
        """The hub's shared state (:mod:`shared`): one for the runner this spawner uses."""
        return Shared.of(self.runner)

    def cluster(self) -> ClusterCache:
        return self.shared.cluster(self.availability_interval)

    def poller(self) -> JobPoller:
        return self.shared.poller(self.queue_interval, self.job_name)

    def visibility(self) -> JobVisibility:
        """Whether the hub sees its sessions' jobs (:mod:`cluster.visibility`); no session starts while not."""
        return self.shared.visibility

    async def check_visibility(self):
        """A 503 that says what is wrong when the hub cannot see its sessions' jobs."""
        verdict = await self.visibility().get()
        if not verdict.ok:
            raise web.HTTPError(503, f"This service is misconfigured, so no session can start: {verdict.problem} "
                                     "The centre has been told in the hub's log.")

    def _timing(self) -> Timing:
        return Timing(startup_poll_interval=self.startup_poll_interval, queue_interval=self.queue_interval,
                      pending_timeout=self.pending_timeout,
                      http_timeout=self.http_timeout, stop_wait=self.stop_wait)

    _session: Session | None = None

    @property
    def session(self) -> Session:
        """The session's job and its life (:mod:`session.life`)."""
        if self._session is None:
            self._session = Session(
                user=self.user.name, runner=self.runner, poller=self.poller(), cluster=self.cluster(),
                exec_prefix=self.exec_prefix, timing=self._timing(), log=self.log, log_name=self._log_name,
                output_path=self._output_path, save=self._save_state,
                mark=reconcile.make_mark(self.session_mark, self.user.name, self.name),
                lost_sight=self.visibility().forget, clock=self.shared.clock)
        return self._session

    async def save_before_stop(self) -> dict:
        """The running server's open tabs save their documents and say who stops the session and why
        (session.notice). Called by our stops (the user's, an operator's, the idle culler's) before JupyterHub's
        stop takes the session's route away, after which no tab reaches it. {} when no server runs."""
        if not (self.ready and self.server is not None and self.api_token and self.save_wait > 0):
            return {}
        return await notice.tell_server(self.server.url, self.api_token, self.session.stop_notice(), self.save_wait,
                                        ssl_options=self.session.ssl_options, log=self.log)

    # batchspawner's job_id is the session's record's: batchspawner's own load_state and clear_state assign it,
    # and the session's record, loaded or cleared right after, is what counts
    job_id = property(lambda self: self.session.job_id, lambda self, value: None)

    def _output_path(self, job_id: str = "%j") -> str:
        return batch_script.output_path(self.output_file, pwd.getpwnam(self.user.name).pw_dir, job_id)

    def _save_state(self):
        """Write the state to the hub's database now (not only when start() returns)."""
        if self.orm_spawner is None:
            return
        self.orm_spawner.state = self.get_state()
        session = object_session(self.orm_spawner)
        if session is not None:
            session.commit()

    # ------------------------------------------------------------------ the session's life
    def render_batch_script(self, request: ResourceRequest, accounts: list[str] | None = None) -> str:
        settings = batch_script.SiteSettings(
            job_name=self.job_name, partition=self.partition, output_file=self.output_file,
            keep_sessions=self.output_keep_sessions, keep_days=self.output_keep_days,
            mark=reconcile.make_mark(self.session_mark, self.user.name, self.name),
            qos=self.qos, extra_directives=tuple(self.extra_sbatch_options), prologue=self.prologue,
            epilogue=self.epilogue, srun=tuple(self.srun.split()), server_cmd=tuple(self.cmd),
            server_args=tuple(self.get_args()),
            work_areas=tuple((a["name"], a["path"]) for a in self.work_areas), areas_dir=self.work_areas_dir,
            mail_user=self.mail_user)
        return batch_script.render_batch_script(request, self.release_of(request), settings,
                                                pwd.getpwnam(self.user.name).pw_dir, user=self.user.name,
                                                accounts=accounts)

    def release_of(self, request: ResourceRequest):
        release = self.shared.releases.find(self.releases_dir, request.release)
        if release is None:  # removed between the check of the request and now
            raise web.HTTPError(503, f"Release {request.release} is no longer installed; choose another")
        return release

    _saved_http_timeout = None

    async def start(self):
        if self._saved_http_timeout:
            self.http_timeout, self._saved_http_timeout = self._saved_http_timeout, None
        self.ip, self.port = "0.0.0.0", 0
        if self.server:
            self.server.port = 0
        session = self.session
        session.timing, session.ssl_options = self._timing(), certs.hub_client_context(self)
        session.accept_token(self.api_token)
        session.forget_last_end()
        reconcile_jobs.start(self)
        tokens.revoke_stale_server_tokens(self)
        await self.check_visibility()
        request = await self.resource_request()
        session.reports_when_listening = batch_script.reports_its_port(self.release_of(request))
        self.default_url = interface_url(request.ui, self.name)
        self.log.info("Submitting %s's session: %s", self.user.name, request)
        try:
            where = await session.start(self.render_batch_script(request, await self.known_accounts()),
                                        batch_script.submit_environment({**self.get_env(), **self._ssl_environment,
                                                                         **self.time_environment()}),
                                        request, self.server.base_url if self.server else "/")
            self.cluster().expire()  # the next table counts this session's GPUs and memory taken
            return where
        except Cancelled as e:
            self.log.info("%s: cancelled by the user while starting", self._log_name)
            raise web.HTTPError(e.status, e.message) from e
        except SessionError as e:
            if e.status == 400:  # what made Slurm refuse may be an association removed meanwhile
                self.shared.accounts(self.accounts_cache_seconds).forget(self.user.name)
            raise RuntimeError(e.message) if e.status == 500 else web.HTTPError(e.status, e.message) from e

    @property
    def requested_clock(self) -> str:
        """When this session's start was asked for, as every page writes a time; "" before."""
        return clock_time(self.session.requested_at) if self.session.requested_at else ""

    async def progress(self):
        """What the start is doing: submitted, pending and why, running on a node, server starting."""
        async for event in self.session.progress():
            yield event

    async def poll(self):
        """None while the job is pending or running (or Slurm does not answer); else why it ended."""
        reconcile_jobs.start(self)
        if not self.job_id and not self.session.starting:
            return 0
        ended = await self.session.poll()
        if ended is None:
            return None
        # the state is cleared by the hub's stop that follows, after it has revoked the server's token
        self.log.info("%s: %s", self._log_name, ended)
        self._forget_options()
        return 1

    async def get_url(self):
        """Where the server is now: the node's current NodeAddr. After a hub restart a session that was
        still pending is followed here until its server starts."""
        url = self.server.url if self.server else ""
        session = self.session
        if not session.port and self.server and self.server.port:
            session.port = self.server.port
        session.timing, session.ssl_options = self._timing(), certs.hub_client_context(self)
        stand_in = self._stand_in_for_the_resumed_start()
        try:
            where = await session.resume(self.server.base_url if self.server else "/", self.http_timeout,
                                         self.request)
        except Exception as e:  # noqa: BLE001 - never stop the hub from starting
            if isinstance(e, Cancelled):
                self.log.info("%s: %s", self._log_name, e)
            else:
                self.log.error("%s: could not follow job %s after the restart: %s", self._log_name, self.job_id, e)
            # the hub checks the URL next: one look, so that it stops the server it cannot reach at once
            self._saved_http_timeout, self.http_timeout = self.http_timeout, 0
            return url
        finally:
            if stand_in is not None and not stand_in.done():
                stand_in.set_result(None)
        if where is None:
            return url
        self.server.ip, self.server.port = where
        if self.internal_ssl:  # a start that had not returned before the restart left the default
            self.server.proto = "https"
        self._save_state()
        return self.server.url

    def _stand_in_for_the_resumed_start(self) -> asyncio.Future | None:
        """A future standing for a start the hub's check follows after a restart, as ``_spawn_future``.

        The hub's stop (the Control Panel's Stop, ``DELETE .../server``) interrupts a pending start by
        cancelling ``_spawn_future``, then stops the server once nothing is pending. A start resumed inside
        the hub's check has no such future, so that stop failed ("pending check") for as long as the job
        queued. Cancelling this one cancels the job; the check then stops the server, and the future left
        in its place is the one a start cancelled by the user leaves (a 409 saying so), which keeps the
        spawner for the hub's stop that follows."""
        if self._spawn_future is not None:
            return None
        stand_in = asyncio.get_running_loop().create_future()

        def settled(future: asyncio.Future):
            if self._spawn_future is not future:
                return
            self._spawn_future = None
            if not future.cancelled():
                return  # the start ended by itself: the check goes on as for any restart
            try:
                job = self.session.begin_cancel()
            except NotStarting:
                return  # it had just started, or ended
            cancelled = asyncio.get_running_loop().create_future()
            cancelled.set_exception(web.HTTPError(Cancelled.status, self.session.last_end.get("message", "")))
            self._spawn_future = cancelled
            asyncio.ensure_future(self.session.finish_cancel(job))

        stand_in.add_done_callback(settled)
        self._spawn_future = stand_in
        return stand_in

    async def stop(self, now=False):
        """Cancel the job; wait (briefly) until its GPUs are free."""
        await self.session.stop(now)
        self.cluster().expire()  # the next table shows its GPUs free
        self._forget_options()

    # ------------------------------------------------------------------ internal SSL (session.certs)
    async def create_certs(self):
        """JupyterHub's certificate for the session, naming every node address of the partition (Slurm
        picks the node later), made with a key made ahead of time and signed off the event loop."""
        names = await certs.session_alt_names(self.cluster(), self.partition, list(self.ssl_alt_names), self.log,
                                              self.check_view_max_age)
        if self.ssl_alt_names_include_local:
            names = ["DNS:localhost", "IP:127.0.0.1"] + [n for n in names if n not in ("DNS:localhost", "IP:127.0.0.1")]
        self.log.info("Creating certs for %s: %s", self._log_name, ";".join(names))
        ca = "notebooks-ca"
        paths = await certs.create_signed_pair(self.internal_certs_location, f"user-{self.user.name or 'service'}",
                                               ca, names, keys=self.shared.keys, signing=self.shared.signing)
        return {**paths, "cafile": self.internal_trust_bundles[ca]}

    _ssl_environment: dict = {}

    def move_certs(self, paths):
        """The key and certificates go to the job in its environment (the batch script writes them down)."""
        self._ssl_environment = certs.pem_environment(paths)
        return {"keyfile": "", "certfile": "", "cafile": ""}

    # ------------------------------------------------------------------ the saved state
    def clear_state(self):
        super().clear_state()
        self.session.clear()
        self.request = None

    def get_state(self):
        state = {**super().get_state(), **self.session.to_state()}
        if self.request:
            state["request"] = self.request.as_options()
        if self.last_request:
            state["last_options"] = self.last_request.as_options()
        return state

    def load_state(self, state):
        super().load_state(state)
        self.session.from_state(state)
        # a session started before the request was saved has it in JupyterHub's user_options
        self.request = ResourceRequest.from_saved(state.get("request")) or (
            ResourceRequest.from_saved(self.user_options) if self.job_id else None)
        self.last_request = ResourceRequest.from_saved(state.get("last_options")) or self.last_request

    # ------------------------------------------------------------------ My sessions
    async def cancel_start(self) -> str:
        """The user cancels this session while it is queued or starting (session.life.NotStarting if it
        is not): the job is cancelled at once, and the start ends with the user's choices kept."""
        return await self.session.cancel_start()
