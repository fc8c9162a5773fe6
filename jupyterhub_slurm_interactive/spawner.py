"""The spawner: a JupyterHub session as an oversubscribed Slurm batch job.

``InteractiveSlurmSpawner`` keeps the site's settings (its traits, whose help is their documentation) and
JupyterHub's hooks; each hook hands the work to the module that owns it:

- what a user may choose and its bounds: :mod:`choice.choices`, checked by :mod:`choice.request`;
- the form: :mod:`web.form`; the table of free resources: :mod:`cluster.availability`;
- the batch script: :mod:`session.batch_script`;
- the job's life (submit, wait, port, answer, restart, end, stop): :mod:`session.life`;
- Slurm itself: one runner object (:mod:`slurm.runner`) and the shared views of :mod:`cluster.views`;
- the home page's card: :mod:`web.summary`.

It subclasses batchspawner's ``SlurmSpawner`` for its traits and its port protocol, and replaces what it
does badly: the script is rendered only from a validated request, the queue is read by the hub's own user
in one ``squeue`` shared by every session, the server is reached at the node's ``NodeAddr``, and the API
token travels in the environment only.
"""

from __future__ import annotations

import dataclasses
import pwd

from batchspawner import SlurmSpawner
from jupyterhub.utils import url_path_join
from sqlalchemy.orm import object_session
from tornado import web
from traitlets import Any, Bool, Dict, Float, Integer, List, TraitError, Unicode, default, observe, validate

from jupyterhub_slurm_interactive.choice import offer
from jupyterhub_slurm_interactive.choice.releases import INTERFACE_URLS, list_releases
from jupyterhub_slurm_interactive.choice.request import (
    FIELDS,
    InvalidRequest,
    ResourceRequest,
    from_form,
    parse_request,
)
from jupyterhub_slurm_interactive.cluster import reconcile
from jupyterhub_slurm_interactive.cluster.availability import build_table, fit_warning
from jupyterhub_slurm_interactive.cluster.views import shared_accounts, shared_cluster, shared_poller
from jupyterhub_slurm_interactive.cluster.visibility import JobVisibility, shared_visibility
from jupyterhub_slurm_interactive.ops import metrics, usage
from jupyterhub_slurm_interactive.session import batch_script, certs, reconcile_jobs, tokens
from jupyterhub_slurm_interactive.session.life import Cancelled, Session, SessionError, Timing
from jupyterhub_slurm_interactive.session.states import clock_time
from jupyterhub_slurm_interactive.session.templating import hub_templates_path  # noqa: F401 - the package's interface
from jupyterhub_slurm_interactive.slurm.runner import SlurmError, default_runner
from jupyterhub_slurm_interactive.web import cards, form
from jupyterhub_slurm_interactive.web.summary import session_summary

#: Refused form POSTs, shown once by the next render of the form (by user and server).
FORM_STASH = form.FormStash()


class InteractiveSlurmSpawner(SlurmSpawner):
    """Start each user's server as a job on the interactive Slurm partition."""

    # ------------------------------------------------------------------ site settings
    partition = Unicode("interactive", help="The Slurm partition sessions run in: an oversubscribed partition of "
                        "GPU nodes (OverSubscribe=FORCE:5 shares each core among up to five jobs).").tag(config=True)
    releases_dir = Unicode("/opt/releases", help="The directory of the software releases, one sub-directory each "
                           "with a release.json manifest and a Python environment with jupyterhub-singleuser."
                           ).tag(config=True)
    default_cores = Integer(1, help="Cores of a session when the user does not choose.").tag(config=True)
    default_memory = Integer(2000, help="Memory of a session in MB when the user does not choose.").tag(config=True)
    default_gpus = Integer(0, help="GPUs of a session when the user does not choose.").tag(config=True)
    default_hours = Integer(1, help="Walltime of a session in hours when the user does not choose.").tag(config=True)
    max_hours = Integer(0, help="The longest session in hours. 0 means the partition's MaxTime as Slurm reports it."
                        ).tag(config=True)
    min_memory = Integer(100, help="The least memory in MB a session may ask for.").tag(config=True)
    job_name = Unicode("jupyterhub-session", help="The Slurm job name of sessions, to recognise them in squeue."
                       ).tag(config=True)
    output_file = Unicode("{home}/.jupyterhub-session-%j.log", help="The job's output file; {home} is the user's home, "
                          "%j the job ID (a dot file, out of the way in the file browser). It is created readable by "
                          "its owner only.").tag(config=True)
    extra_sbatch_options = List(Unicode(), help="Further #SBATCH options for every session, e.g. "
                                "['--qos=interactive']. Each must be plain words (no quotes or shell characters)."
                                ).tag(config=True)
    prologue = Unicode("", help="Shell lines run in the job before the server starts (site-wide, not per user)."
                       ).tag(config=True)
    use_accounting = Bool(True, help="Read each user's accounts from Slurm accounting (sacctmgr). Turn off on sites "
                          "without slurmdbd: then the form offers the accounts listed in `accounts`, or no account "
                          "field.").tag(config=True)
    accounts = List(Unicode(), help="Accounts to offer where Slurm accounting is not used (use_accounting off, or no "
                    "slurmdbd). Empty: the form has no account field and jobs use Slurm's default.").tag(config=True)
    accounts_cache_seconds = Float(60, help="How long a user's accounts, read from sacctmgr, are kept before asking "
                                   "again.").tag(config=True)
    reservation_lookahead_hours = Integer(24, help="Reservations starting within this many hours are offered along "
                                          "with the active ones.").tag(config=True)
    availability_interval = Float(5, help="Seconds between two looks at the cluster (nodes, reservations, "
                                  "partitions). However many users have the form open, Slurm is asked at most once "
                                  "per interval; the table in the form refreshes itself at this pace.").tag(config=True)
    queue_interval = Float(10.0, help="Seconds between two looks at the queue for the running sessions: one squeue "
                           "for all of this hub's jobs, shared by every session, however many there are."
                           ).tag(config=True)
    check_view_max_age = Float(60, help="Seconds: a start checks its request (the partition's limits, the "
                               "reservations this user may use) and names the nodes' addresses in its certificate "
                               "from the hub's last view of the cluster if it "
                               "is younger than this, instead of asking Slurm again first. A request it would "
                               "refuse is checked again on a view as fresh as the pages' (availability_interval), "
                               "and sbatch refuses what Slurm cannot run."
                               ).tag(config=True)
    startup_poll_interval = Float(1.0, help="Seconds between two looks at the queue while a session starts (still "
                                  "one squeue for all the sessions starting at that moment), to say why it waits. "
                                  "It does not delay a start: the server's port report is the sign that the job "
                                  "runs, and the queue is asked at once then.").tag(config=True)
    pending_timeout = Float(4 * 3600, help="Seconds a session may wait in the queue before it is cancelled and the "
                            "user told why: the longest wait the site allows (4 hours by default). The user may "
                            "close the browser meanwhile, come back to the progress page, or cancel it. JupyterHub's "
                            "start_timeout follows it (pending_timeout + http_timeout + 60 s), so the two never "
                            "disagree; setting start_timeout has no effect.").tag(config=True)
    stop_wait = Float(3, help="Seconds Stop waits for the cancelled job to leave the node (its GPUs are then free)."
                      ).tag(config=True)
    slurm_timeout = Integer(30, help="Seconds to wait for a Slurm command before treating the controller as "
                            "unreachable.").tag(config=True)
    session_mark = Unicode("jupyterhub", help="This hub's mark on its session jobs (--comment=MARK:user:server): "
                           "jobs that carry it and that no server holds are adopted by their starting server or "
                           "cancelled. Give each hub that shares a cluster its own mark.").tag(config=True)
    runner = Any(help="The object that runs Slurm's commands: ``await runner.run(argv, input=None, env=None)`` "
                 "returns the standard output or raises slurm.runner.SlurmError. Every Slurm command of the hub "
                 "goes through it. The default runs them as subprocesses of the hub; a site whose hub is not a Slurm "
                 "client may give one that runs them elsewhere, and tests give one that plays back recorded output."
                 ).tag(config=True)

    @validate("pending_timeout")
    def _valid_pending_timeout(self, proposal):
        if not proposal["value"] > 0:
            raise TraitError(f"InteractiveSlurmSpawner.pending_timeout must be a positive number of seconds, "
                             f"not {proposal['value']!r}")
        return proposal["value"]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._tie_start_timeout()
        metrics.track(self)
        if self.internal_ssl:
            certs.SESSION_KEYS.fill()  # keys for the first starts, made while the hub starts

    @observe("pending_timeout", "http_timeout")
    def _tie_start_timeout(self, change=None):
        """JupyterHub gives up a start after start_timeout: never before the session's own limits."""
        self.start_timeout = int(self.pending_timeout + self.http_timeout + 60)

    # ------------------------------------------------------------------ batchspawner traits
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
        runner = default_runner(self.slurm_timeout)
        runner.on_command = runner.on_command or metrics.observe_command
        return runner

    last_options = Dict(help="The last request that was accepted (kept across sessions, for the form).")

    # ------------------------------------------------------------------ Slurm and the session
    def cluster(self):
        view = shared_cluster(self.runner, self.availability_interval)
        metrics.track_view("cluster", view)
        return view

    def poller(self):
        view = shared_poller(self.runner, self.queue_interval, self.job_name)
        metrics.track_view("queue", view)
        return view

    def visibility(self) -> JobVisibility:
        """Whether the hub sees its sessions' jobs (:mod:`cluster.visibility`); no session starts while not."""
        return shared_visibility(self.runner, self.log)

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
                lost_sight=self.visibility().forget)
        return self._session

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

    # ------------------------------------------------------------------ what the user may choose, the form
    def offer_settings(self) -> offer.OfferSettings:
        names = [f.name for f in dataclasses.fields(offer.OfferSettings)]
        return offer.OfferSettings(**{n: getattr(self, n) for n in names if n != "accounts"},
                                   accounts=tuple(self.accounts))

    async def offer(self, max_age: float | None = None) -> offer.Offer:
        """What this user may ask for now (:mod:`choice.offer`); a 503 if Slurm was never reached."""
        try:
            return await offer.gather(self.user.name, self.runner, self.cluster(), self.offer_settings(), max_age)
        except SlurmError as e:
            raise web.HTTPError(503, f"Slurm cannot be asked about resources right now: {e.message}")

    async def availability(self, reservation: str = "", request: dict | None = None) -> dict:
        """The table of free resources (JSON-ready), outside reservations or inside one this user may use;
        with ``request`` (cores, memory, gpus as typed), whether one free node can hold it."""
        if reservation and reservation not in (await self.offer()).limits.reservations:
            raise web.HTTPError(403, f"Reservation {reservation[:64]!r} is not one you may use")
        snapshot = await self.cluster().get()
        table = build_table(snapshot.nodes, snapshot.reservations, self.partition, reservation)
        answer = table.as_json()
        answer.update(taken_at=snapshot.taken_at, stale=snapshot.stale, refresh_seconds=self.availability_interval,
                      taken_at_text=clock_time(snapshot.taken_at))
        if request is not None:
            answer["fit_warning"] = fit_warning(table, request.get("cores"), request.get("memory"),
                                                request.get("gpus"))
        return answer

    async def resource_request(self) -> ResourceRequest:
        """The validated request of this spawn; a 400 naming the field if it is not acceptable."""
        given = await self.offer(self.check_view_max_age)
        if not given.accounts and given.accounts_from_slurm:
            raise web.HTTPError(403, f"{self.user.name} has no Slurm account to run sessions with; "
                                     "ask the centre to add you to a project")
        if not given.releases:
            raise web.HTTPError(503, f"No software release is installed under {self.releases_dir}")
        try:
            try:
                request = parse_request(self.user_options or {}, given.limits, given.defaults)
            except InvalidRequest:
                # a refusal is never made on an older view: a reservation made a moment ago is known now
                given = await self.offer()
                request = parse_request(self.user_options or {}, given.limits, given.defaults)
        except InvalidRequest as e:
            self._forget_options()
            raise web.HTTPError(400, f"Invalid {e.field}: {e.message}")
        # what the session runs with, as checked (not as sent), shown by the REST API
        self.user_options = self.orm_spawner.user_options = request.as_options()
        self.last_options = request.as_options()
        return request

    def _forget_options(self):
        """JupyterHub replays a server's saved user_options when a start names none. Here a
        start without options means the defaults; the last choices live in last_options."""
        if self.orm_spawner is not None:
            self.orm_spawner.user_options = None

    @default("options_form")
    def _options_form_default(self):
        return lambda spawner: spawner.render_options_form()

    async def render_options_form(self) -> str:
        """The resource form with the table of free resources, prefilled with the last choices."""
        verdict = await self.visibility().get()
        if not verdict.ok:
            return form.render_unavailable(verdict.problem, misconfigured=verdict.fix)
        try:
            given = await offer.gather(self.user.name, self.runner, self.cluster(), self.offer_settings())
        except SlurmError as e:
            return form.render_unavailable(e.message, accounts=isinstance(e, offer.AccountsUnknown))
        return form.render_form(form.form_view(
            snapshot=given.snapshot, partition=self.partition, accounts=given.accounts,
            accounts_from_slurm=given.accounts_from_slurm, usable=given.reservations, releases=given.releases,
            limits=given.limits, defaults=given.defaults, last_options=self.last_options,
            refused=FORM_STASH.pop(self.user.name, self.name), last_end=self.session.last_end.get("message", ""),
            last_end_state=self.session.last_end.get("state", ""),
            refresh_seconds=self.availability_interval, session_name=self.name,
            endpoint=url_path_join(self.hub.base_url, "api/slurm-interactive/availability")))

    async def options_from_form(self, formdata):
        """Check a form POST; a refused one is shown again with each message by its field."""
        raw = from_form({k: v for k, v in formdata.items() if k != "_xsrf"})
        given = await self.offer()
        try:
            request = parse_request(raw, given.limits, given.defaults, blank_is_error=True)
        except InvalidRequest as e:
            values = {k: v for k, v in raw.items() if k in FIELDS and isinstance(v, str)}
            FORM_STASH.put(self.user.name, self.name, values, e.errors)
            raise web.HTTPError(400, f"Invalid {e.field}: {e.message}")
        return request.as_options()

    # ------------------------------------------------------------------ the session's life
    def render_batch_script(self, request: ResourceRequest) -> str:
        settings = batch_script.SiteSettings(
            job_name=self.job_name, partition=self.partition, output_file=self.output_file,
            mark=reconcile.make_mark(self.session_mark, self.user.name, self.name),
            extra_directives=tuple(self.extra_sbatch_options), prologue=self.prologue,
            server_cmd=tuple(self.cmd), server_args=tuple(self.get_args()))
        return batch_script.render_batch_script(request, self.release_of(request), settings,
                                                pwd.getpwnam(self.user.name).pw_dir)

    def release_of(self, request: ResourceRequest):
        return next(r for r in list_releases(self.releases_dir) if r.name == request.release)

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
        self.default_url = INTERFACE_URLS.get(request.ui, "/lab")
        self.log.info("Submitting %s's session: %s", self.user.name, request)
        try:
            where = await session.start(self.render_batch_script(request),
                                        batch_script.submit_environment({**self.get_env(), **self._ssl_environment}),
                                        request.as_options(), self.server.base_url if self.server else "/")
            self.cluster().expire()  # the next table counts this session's GPUs and memory taken
            return where
        except Cancelled as e:
            self.log.info("%s: cancelled by the user while starting", self._log_name)
            raise web.HTTPError(e.status, e.message) from e
        except SessionError as e:
            if e.status == 400:  # what made Slurm refuse may be an association removed meanwhile
                shared_accounts(self.runner, self.accounts_cache_seconds).forget(self.user.name)
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
        try:
            where = await session.resume(self.server.base_url if self.server else "/", self.http_timeout)
        except Exception as e:  # noqa: BLE001 - never stop the hub from starting
            log = self.log.info if isinstance(e, Cancelled) else self.log.error
            log("%s: could not follow job %s after the restart: %s", self._log_name, self.job_id, e)
            # the hub checks the URL next: do not let it wait minutes for a server that is gone
            self._saved_http_timeout, self.http_timeout = self.http_timeout, 1
            return url
        if where is None:
            return url
        self.server.ip, self.server.port = where
        if self.internal_ssl:  # a start that had not returned before the restart left the default
            self.server.proto = "https"
        self._save_state()
        return self.server.url

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
                                               ca, names)
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

    def get_state(self):
        state = {**super().get_state(), **self.session.to_state()}
        if self.last_options:
            state["last_options"] = dict(self.last_options)
        return state

    def load_state(self, state):
        super().load_state(state)
        self.session.from_state(state)
        if isinstance(state.get("last_options"), dict):
            self.last_options = state["last_options"]

    # ------------------------------------------------------------------ My sessions (web.cards)
    async def cancel_start(self) -> str:
        """The user cancels this session while it is queued or starting (session.life.NotStarting if it
        is not): the job is cancelled at once, and the start ends with the user's choices kept."""
        return await self.session.cancel_start()

    async def usage(self) -> dict | None:
        """What the last finished session used, from sacct; kept in the state once Slurm's figures are final."""
        end = self.session.last_end
        job = str(end.get("job_id", "") or "")
        if not job:
            return None
        if isinstance(end.get("usage"), dict):
            return end["usage"]
        try:
            found = usage.parse_sacct(await self.runner.run(usage.sacct_argv(job)))
        except SlurmError as e:
            self.log.warning("%s: sacct could not say what job %s used: %s", self._log_name, job, e.message)
            return None
        if found is None:
            return None
        figures = found.as_json()
        if found.final:
            end["usage"] = figures
            if not self.active:
                self._save_state()
        return figures

    def _flags(self) -> cards.Flags:
        session = self.session
        return cards.Flags(active=bool(self.active), ready=bool(self.ready), pending=self.pending,
                           starting=session.starting, node=session.node, ended=bool(session.last_end))

    def metrics_view(self) -> tuple[str, dict, bool] | None:
        """(phase, request, whether its job holds a node) for ops.metrics, from memory only; None for a
        spawner the hub has replaced (a failed start leaves the old object alive, on the same server)."""
        holder = getattr(getattr(self, "user", None), "spawners", None)
        if holder is None or dict.get(holder, self.name) is not self:
            return None
        entry = (self.poller().peek() or {}).get(self.job_id) if self.job_id else None
        phase = cards.phase(self._flags(), entry)
        holds = bool(self.job_id) and phase in ("starting", "running", "stopping") and bool(
            self.session.node or (entry is not None and entry.running))
        return phase, dict(self.user_options or {}), holds

    async def session_card(self) -> dict:
        """This session's card on "My sessions" (web.cards), from what the hub knows now; a finished
        session's usage is asked of sacct once."""
        session = self.session
        options = self.user_options or self.last_options or {}
        release = next((r for r in list_releases(self.releases_dir) if r.name == options.get("release")), None)
        entry = (self.poller().peek() or {}).get(self.job_id) if self.job_id else None
        flags = self._flags()
        ended = cards.phase(flags, entry) == "ended"
        return cards.session_card(self.name, flags, dict(self.last_options or options) if ended else options,
                                  release, entry, job_id=self.job_id, last_end=session.last_end,
                                  usage=await self.usage() if ended else None)

    def session_summary(self) -> dict:
        """What the home page shows of this session, from what is known now (no Slurm query)."""
        options = self.user_options or self.last_options or {}
        release = next((r for r in list_releases(self.releases_dir) if r.name == options.get("release")), None)
        entry = (self.poller().peek() or {}).get(self.job_id)
        return session_summary(options, release, entry, job_id=self.job_id, node=self.session.node,
                               last_end=self.session.last_end)
