"""The spawner: a JupyterHub session as an oversubscribed Slurm batch job.

Subclasses batchspawner's ``SlurmSpawner`` and keeps its life cycle (submit,
wait while pending, wait for the port, poll, cancel) but replaces what it does
badly: the batch script is rendered only from a validated request, the job's
state is read by the hub's own user (no ``sudo squeue``), the server is reached
at the node's ``NodeAddr`` as Slurm reports it, and the API token travels in the
environment only.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import pwd
import re
import shlex
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import jinja2
from batchspawner import JobStatus, SlurmSpawner
from jupyterhub.utils import url_path_join
from sqlalchemy.orm import object_session
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from traitlets import Bool, Dict, Float, Integer, List, Unicode, default

from . import slurm
from .availability import build_table
from .cluster import (AccountsUnavailable, ClusterCache, Snapshot, shared_accounts, shared_cluster, shared_poller,
                      unix_groups)
from .releases import INTERFACE_URLS, INTERFACES, list_releases
from .request import FIELDS, InvalidRequest, Limits, ResourceRequest, from_form, parse_request
from .slurm import may_use_reservation
from .states import end_message, pending_message

_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9_./%@:=,+-]+$")


def templates_dir() -> Path:
    """The templates, inside the installed package or beside it in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "batch_script.sh.j2").exists():
            return candidate
    raise FileNotFoundError("the spawner's templates are missing from the installation")


def _sbatch_arg(value, spaces: bool = False) -> str:
    """A value for an ``#SBATCH`` line: a plain token, or the render fails."""
    text = str(value)
    ok = all(_SAFE_TOKEN.match(part) for part in text.split(" ")) if spaces else bool(_SAFE_TOKEN.match(text))
    if not ok or "\n" in text or "\r" in text:
        raise ValueError(f"refusing to put {text[:60]!r} on an #SBATCH line")
    return text


@functools.lru_cache(maxsize=2)
def make_environment(autoescape: bool = False) -> jinja2.Environment:
    """Jinja for our templates: HTML ones autoescaped, the batch script with strict quoting filters.
    One per kind for the process, so templates are compiled once."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
    )
    env.filters["sh"] = lambda v: shlex.quote(str(v))
    env.filters["sbatch_arg"] = _sbatch_arg
    return env


class InteractiveSlurmSpawner(SlurmSpawner):
    """Start each user's server as a job on the interactive Slurm partition."""

    # ------------------------------------------------------------------ site settings
    partition = Unicode(
        "interactive",
        help="The Slurm partition sessions run in: an oversubscribed partition of GPU nodes "
        "(OverSubscribe=FORCE:5 shares each core among up to five jobs).",
    ).tag(config=True)

    releases_dir = Unicode(
        "/opt/releases",
        help="The directory holding the software releases, one sub-directory each with a "
        "release.json manifest and a Python environment with jupyterhub-singleuser.",
    ).tag(config=True)

    default_cores = Integer(1, help="Cores of a session when the user does not choose.").tag(config=True)
    default_memory = Integer(2000, help="Memory of a session in MB when the user does not choose.").tag(config=True)
    default_gpus = Integer(0, help="GPUs of a session when the user does not choose.").tag(config=True)
    default_hours = Integer(1, help="Walltime of a session in hours when the user does not choose.").tag(config=True)

    max_hours = Integer(
        0,
        help="The longest session in hours. 0 means the partition's MaxTime as Slurm reports it.",
    ).tag(config=True)

    job_name = Unicode(
        "jupyterhub-session",
        help="The Slurm job name of sessions, to recognise them in squeue.",
    ).tag(config=True)

    output_file = Unicode(
        "{home}/.jupyterhub-session-%j.log",
        help="The job's output file; {home} is the user's home, %j the job ID (a dot file, out of the way in the file browser). It is created "
        "readable by its owner only.",
    ).tag(config=True)

    extra_sbatch_options = List(
        Unicode(),
        help="Further #SBATCH options for every session, e.g. ['--qos=interactive']. Each must "
        "be plain words (no quotes or shell characters).",
    ).tag(config=True)

    prologue = Unicode(
        "",
        help="Shell lines run in the job before the server starts (site-wide, not per user).",
    ).tag(config=True)

    min_memory = Integer(100, help="The least memory in MB a session may ask for.").tag(config=True)

    use_accounting = Bool(
        True,
        help="Read each user's accounts from Slurm accounting (sacctmgr). Turn off on sites without "
        "slurmdbd: then the form offers the accounts listed in `accounts`, or no account field.",
    ).tag(config=True)

    accounts = List(
        Unicode(),
        help="Accounts to offer where Slurm accounting is not used (use_accounting off, or no slurmdbd). "
        "Empty: the form has no account field and jobs use Slurm's default.",
    ).tag(config=True)

    accounts_cache_seconds = Float(
        60, help="How long a user's accounts, read from sacctmgr, are kept before asking again."
    ).tag(config=True)

    reservation_lookahead_hours = Integer(
        24, help="Reservations starting within this many hours are offered along with the active ones."
    ).tag(config=True)

    availability_interval = Float(
        5,
        help="Seconds between two looks at the cluster (nodes, reservations, partitions). However many "
        "users have the form open, Slurm is asked at most once per interval; the table in the form "
        "refreshes itself at this pace.",
    ).tag(config=True)

    queue_interval = Float(
        10.0,
        help="Seconds between two looks at the queue for the running sessions: one squeue for all of "
        "this hub's jobs, shared by every session, however many there are.",
    ).tag(config=True)

    startup_poll_interval = Float(
        0.25,
        help="Seconds between two looks at the queue while a session starts (still one squeue for "
        "all the sessions starting at that moment).",
    ).tag(config=True)

    pending_timeout = Integer(
        0,
        help="Seconds a session may wait in the queue before it is cancelled and the user told why. "
        "0 means start_timeout minus 30 seconds.",
    ).tag(config=True)

    stop_wait = Float(
        3, help="Seconds Stop waits for the cancelled job to leave the node (its GPUs are then free)."
    ).tag(config=True)

    slurm_timeout = Integer(
        30, help="Seconds to wait for a Slurm command before treating the controller as unreachable."
    ).tag(config=True)

    # ------------------------------------------------------------------ batchspawner traits
    exec_prefix = Unicode(
        "sudo -n -u {username}",
        help="How the hub runs sbatch and scancel as the user. sudoers must allow exactly "
        "these two commands, and keep JUPYTERHUB_* in the environment (env_keep).",
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

    # ------------------------------------------------------------------ the request
    def _user_home(self) -> str:
        return pwd.getpwnam(self.user.name).pw_dir

    async def _slurm(self, *argv: str) -> str:
        return await slurm.run(list(argv), timeout=self.slurm_timeout)

    def cluster(self) -> ClusterCache:
        return shared_cluster(self.availability_interval, self.slurm_timeout)

    async def account_info(self) -> tuple[list[str], bool]:
        """The user's accounts (default first), and whether they come from Slurm accounting.

        Without accounting (``use_accounting`` off, or no slurmdbd) the configured
        ``accounts`` are offered instead.
        """
        if not self.use_accounting:
            return list(self.accounts), False
        try:
            cache = shared_accounts(self.accounts_cache_seconds, self.slurm_timeout)
            return await cache.accounts(self.user.name), True
        except AccountsUnavailable:
            return list(self.accounts), False

    async def user_accounts(self) -> list[str]:
        return (await self.account_info())[0]

    def usable_reservations(self, snapshot: Snapshot, accounts) -> list[slurm.Reservation]:
        """Reservations this user may run in, active now or starting soon, not maintenance."""
        groups = unix_groups(self.user.name)
        horizon = time.time() + self.reservation_lookahead_hours * 3600
        out = []
        for r in snapshot.reservations:
            if r.maintenance or not may_use_reservation(r, self.user.name, accounts or (), groups):
                continue
            if r.partition and r.partition != self.partition:
                continue
            if not r.active and _timestamp(r.start_time) > horizon:
                continue
            if r.state.upper() not in ("ACTIVE", "INACTIVE"):
                continue
            out.append(r)
        return out

    async def limits(self, snapshot: Snapshot | None = None, accounts=None) -> Limits:
        """The bounds of a request, from Slurm's node and partition records and the site's settings."""
        snapshot = snapshot or await self.cluster().get()
        if accounts is None:
            accounts = await self.user_accounts()
        nodes = [n for n in snapshot.nodes if self.partition in n.partitions]
        part = snapshot.partitions.get(self.partition, {})
        max_hours = self.max_hours or _hours(part.get("MaxTime", "")) or 24
        releases = list_releases(self.releases_dir)
        return Limits(
            max_cores=max((n.cpus for n in nodes), default=1),
            max_memory_mb=max((n.memory_mb for n in nodes), default=1000),
            max_gpus=max((n.gpus for n in nodes), default=0),
            max_hours=max_hours,
            accounts=tuple(accounts or ()),
            reservations=tuple(r.name for r in self.usable_reservations(snapshot, accounts)),
            releases=tuple(r.name for r in releases),
            interfaces={r.name: r.interfaces for r in releases},
            min_memory_mb=self.min_memory,
        )

    async def availability(self, reservation: str = "") -> dict:
        """The table of free resources (JSON-ready), outside reservations or inside one this user may use."""
        snapshot = await self.cluster().get()
        if reservation:
            accounts = await self.user_accounts()
            if reservation not in {r.name for r in self.usable_reservations(snapshot, accounts)}:
                raise web.HTTPError(403, f"Reservation {reservation[:64]!r} is not one you may use")
        table = build_table(snapshot.nodes, snapshot.reservations, self.partition, reservation).as_json()
        table.update(taken_at=snapshot.taken_at, stale=snapshot.stale, refresh_seconds=self.availability_interval)
        return table

    def request_defaults(self) -> dict:
        releases = list_releases(self.releases_dir)
        return {
            "cores": self.default_cores,
            "memory": self.default_memory,
            "gpus": self.default_gpus,
            "hours": self.default_hours,
            "release": releases[0].name if releases else "",
        }

    async def _limits_or_503(self) -> Limits:
        try:
            return await self.limits()
        except slurm.SlurmError as e:
            raise web.HTTPError(503, f"Slurm cannot be asked about resources right now: {e.message}")

    async def resource_request(self) -> ResourceRequest:
        """The validated request of this spawn; a 400 naming the field if it is not acceptable."""
        limits = await self._limits_or_503()
        if not limits.accounts and (await self.account_info())[1]:
            raise web.HTTPError(403, f"{self.user.name} has no Slurm account to run sessions with; "
                                     "ask the centre to add you to a project")
        if not limits.releases:
            raise web.HTTPError(503, f"No software release is installed under {self.releases_dir}")
        options = self.user_options if self.user_options is not None else {}
        try:
            request = parse_request(options, limits, self.request_defaults())
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

    last_options = Dict(help="The last request that was accepted (kept across sessions, for the form).")

    # ------------------------------------------------------------------ the form
    @default("options_form")
    def _options_form_default(self):
        return lambda spawner: spawner.render_options_form()

    # The values and errors of a refused form POST, shown once by the next render. Kept
    # by user and server, not on this object: JupyterHub may render the form again
    # from another wrapper of the same server.
    _form_stash: dict = {}

    async def render_options_form(self) -> str:
        """The resource form with the table of free resources, prefilled with the last choices."""
        env = make_environment(autoescape=True)
        try:
            snapshot = await self.cluster().get()
            accounts, from_slurm = await self.account_info()
        except slurm.SlurmError as e:
            return env.get_template("form_unavailable.html.j2").render(message=e.message)
        limits = await self.limits(snapshot, accounts)
        stash = InteractiveSlurmSpawner._form_stash.pop((self.user.name, self.name), {})
        values = {**self.request_defaults(), "account": accounts[0] if accounts else "", "reservation": "", "ui": ""}
        values.update({k: v for k, v in (self.last_options or {}).items() if k in values})
        values.update(stash.get("values", {}))
        usable = {r.name: r for r in self.usable_reservations(snapshot, accounts)}
        if values.get("reservation") not in usable:
            values["reservation"] = ""
        if values.get("account") not in accounts:
            values["account"] = accounts[0] if accounts else ""
        releases = list_releases(self.releases_dir)
        if values.get("release") not in {r.name for r in releases} and releases:
            values["release"] = releases[0].name
        chosen = next((r for r in releases if r.name == values.get("release")), None)
        ui_offered = chosen.interfaces if chosen else ("lab",)
        if values.get("ui") not in ui_offered:
            values["ui"] = ui_offered[0]
        table = build_table(snapshot.nodes, snapshot.reservations, self.partition, values["reservation"])
        try:
            wanted_gpus = int(values.get("gpus") or 0)
        except (TypeError, ValueError):
            wanted_gpus = 0
        part = snapshot.partitions.get(self.partition, {})
        return env.get_template("options_form.html.j2").render(
            values=defaultdict(str, values),
            errors=defaultdict(str, stash.get("errors", {})),
            field_errors=[k for k in stash.get("errors", {}) if k in FIELDS],
            other_errors=[(k, v) for k, v in stash.get("errors", {}).items() if k not in FIELDS],
            limits=limits,
            accounts=accounts,
            default_account_first=from_slurm,
            account_field="select" if accounts else ("none" if from_slurm else "hidden"),
            reservations=[{"name": r.name, "label": _reservation_label(r)} for r in usable.values()],
            releases=releases,
            ui_choices=[(i, INTERFACES[i]) for i in ui_offered],
            interfaces_json=json.dumps({r.name: [[i, INTERFACES[i]] for i in r.interfaces] for r in releases})
            .replace("<", "\\u003c"),
            table=table,
            updated=time.strftime("%H:%M:%S", time.localtime(snapshot.taken_at)),
            refresh_seconds=self.availability_interval,
            endpoint=url_path_join(self.hub.base_url, "api/slurm-interactive/availability"),
            oversubscribe=_oversubscribe_factor(part.get("OverSubscribe", "")),
            last_end=(self.last_end or {}).get("message", ""),
            gpu_warning=wanted_gpus > table.max_free_gpus,
            gpu_warning_text=f"No node has {wanted_gpus} free GPUs right now: your session will wait in the queue."
            if wanted_gpus > table.max_free_gpus else "",
        )

    async def options_from_form(self, formdata):
        """Check a form POST; a refused one is shown again with each message by its field."""
        raw = from_form({k: v for k, v in formdata.items() if k != "_xsrf"})
        limits = await self._limits_or_503()
        try:
            request = parse_request(raw, limits, self.request_defaults())
        except InvalidRequest as e:
            InteractiveSlurmSpawner._form_stash[(self.user.name, self.name)] = {
                "values": {k: v for k, v in raw.items() if k in FIELDS and isinstance(v, str)},
                "errors": e.errors,
            }
            raise web.HTTPError(400, f"Invalid {e.field}: {e.message}")
        return request.as_options()

    # ------------------------------------------------------------------ the batch script
    def _output_path(self, job_id: str = "%j") -> str:
        return self.output_file.format(home=self._user_home()).replace("%j", job_id)

    def render_batch_script(self, request: ResourceRequest) -> str:
        release = next(r for r in list_releases(self.releases_dir) if r.name == request.release)
        home = self._user_home()
        command = [os.path.join(release.bin_dir, "batchspawner-singleuser"), *self.cmd, *self.get_args()]
        return make_environment().get_template("batch_script.sh.j2").render(
            request=request,
            release=release,
            job_name=self.job_name,
            partition=self.partition,
            output=self._output_path(),
            home=home,
            extra_directives=self.extra_sbatch_options,
            prologue=self.prologue,
            command=command,
            report_bytes=4000,
        )

    def submit_environment(self) -> dict:
        """What sbatch runs with: PATH for sudo, and the session's JUPYTERHUB_* variables,
        which sudo keeps and sbatch exports into the job. Nothing of the hub's own."""
        env = {k: v for k, v in self.get_env().items() if k.startswith("JUPYTERHUB_") or k == "JPY_API_TOKEN"}
        env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
        env["LANG"] = "C.UTF-8"
        return env

    async def submit_batch_script(self):
        request = await self.resource_request()
        self.default_url = INTERFACE_URLS.get(request.ui, "/lab")
        script = self.render_batch_script(request)
        argv = shlex.split(self.exec_prefix.format(username=self.user.name)) + ["sbatch", "--parsable"]
        self.log.info("Submitting %s's session: %s", self.user.name, request)
        try:
            out = await slurm.run(argv, input=script, env=self.submit_environment(), timeout=self.slurm_timeout)
        except slurm.SlurmError as e:
            self.log.warning("sbatch refused %s's session: %s", self.user.name, e.message)
            # what made it refuse may be an association removed meanwhile: ask again next time
            shared_accounts(self.accounts_cache_seconds, self.slurm_timeout).forget(self.user.name)
            raise web.HTTPError(400, f"Slurm refused the session: {e.message}")
        self.job_id = slurm.parse_sbatch_job_id(out)
        self.log.info("Submitted %s's session as job %s", self.user.name, self.job_id)
        return self.job_id

    # ------------------------------------------------------------------ the session's life
    token_sha256 = Unicode(help="sha256 of the server's API token, to recognise its callbacks.")
    node = Unicode(help="The node the session's job runs on.")
    submitted_at = Float(0, help="time.time() when the job was submitted.")
    last_end = Dict(help="How the last session ended: job_id, state, message, at.")

    _events: list
    _port_event: asyncio.Event | None = None
    _failure_report: dict | None = None
    _starting = False

    @property
    def starting(self) -> bool:
        """True while the session waits for its job and its server (also after a hub restart)."""
        return self._starting

    def poller(self):
        return shared_poller(self.queue_interval, self.slurm_timeout, self.job_name)

    def _event(self, progress: int, message: str):
        if not self._events or self._events[-1]["message"] != message:
            self.log.info("%s: %s", self._log_name, message)
            self._events.append({"progress": progress, "message": message})

    def _save_state(self):
        """Write the state to the hub's database now (not only when start() returns)."""
        if self.orm_spawner is None:
            return
        self.orm_spawner.state = self.get_state()
        session = object_session(self.orm_spawner)
        if session is not None:
            session.commit()

    async def job_entry(self, max_age: float):
        """This session's line of the shared squeue: (entry or None, whether Slurm answered)."""
        poller = self.poller()
        try:
            jobs = await poller.get(max_age)
            if poller.error:
                return None, False
            if self.job_id not in jobs and poller.began_at < self.submitted_at:
                jobs = await poller.get(0, newer_than=self.submitted_at)  # that answer predates the job
                if poller.error:
                    return None, False
        except slurm.SlurmError as e:
            self.log.warning("Slurm did not answer about %s's job %s: %s", self.user.name, self.job_id, e.message)
            return None, False
        entry = jobs.get(self.job_id)
        if entry is None and time.time() - self.submitted_at < 10:
            # a job just submitted is listed, even one that failed at once (--states=all):
            # missing this soon means a stale answer, not a job gone
            return None, False
        return entry, True

    _saved_http_timeout = None

    async def start(self):
        if self._saved_http_timeout:
            self.http_timeout, self._saved_http_timeout = self._saved_http_timeout, None
        self._events = []
        self._failure_report = None
        self._port_event = asyncio.Event()
        self.ip, self.port, self.node, self.job_id = "0.0.0.0", 0, "", ""
        if self.server:
            self.server.port = 0
        self.token_sha256 = hashlib.sha256((self.api_token or "").encode()).hexdigest()
        self.last_end = {}
        self._starting = True
        try:
            self._event(0, "Checking your request")
            await self.submit_batch_script()
            self.submitted_at = time.time()
            self._save_state()  # a hub restart from here on keeps the job
            self._event(10, f"Submitted as Slurm job {self.job_id}")
            return await self._until_ready()
        finally:
            self._starting = False

    async def _until_ready(self, port_timeout: float | None = None):
        """Follow the job until it runs and its server reports its port; return (ip, port)."""
        request = self.user_options or {}
        pending_timeout = self.pending_timeout or max(self.start_timeout - 30, 30)
        while True:
            entry, answered = await self.job_entry(self.startup_poll_interval)
            if not answered:
                self._event(15, "Slurm is not answering; still waiting for your job")
            elif entry is None or not (entry.pending or entry.running):
                raise await self._failure(entry)
            elif entry.pending:
                why = pending_message(entry.reason, entry.start_time, request.get("cores", 0),
                                      request.get("memory", 0), request.get("gpus", 0))
                self._event(20, f"Job {self.job_id}: {why}")
                waited = time.time() - self.submitted_at
                if waited > pending_timeout:
                    why = why.split("; expected")[0].lower()
                    await self.cancel_batch_job()
                    waited_text = f"{waited / 60:.0f} min" if waited >= 90 else f"{waited:.0f} s"
                    message = (f"Your session (Slurm job {self.job_id}) waited {waited_text} in the queue ({why}) "
                               "and was cancelled. Ask for fewer GPUs or cores (see the table of free resources), "
                               "or try again later.")
                    self._end("CANCELLED", message)
                    self.job_id = ""  # cancelled here: nothing left for stop() to do
                    raise web.HTTPError(503, message)
            else:
                self.node = entry.nodes
                self.ip = await self.node_address(self.node)
                self._event(50, f"Job {self.job_id} is running on {self.node}; starting the server")
                break
            await asyncio.sleep(self.startup_poll_interval)
        # the server reports its port through the hub's API; the job may still die meanwhile
        deadline = time.monotonic() + (port_timeout or float("inf"))
        while not self.port:
            if time.monotonic() > deadline:
                raise RuntimeError(f"The server of job {self.job_id} did not report its port "
                                   f"within {port_timeout:.0f} s")
            try:
                await asyncio.wait_for(self._port_event.wait(), timeout=1)
            except asyncio.TimeoutError:
                entry, answered = await self.job_entry(self.startup_poll_interval * 2)
                if answered and (entry is None or not entry.running):
                    raise await self._failure(entry)
        self._event(80, f"Server starting on {self.node} ({self.ip}:{self.port})")
        self._save_state()
        await self._until_answering()
        self._event(95, "Server answering; connecting")
        return self.ip, self.port

    async def _until_answering(self):
        """Poll the new server every 0.1 s until it answers, so that the hub's own check (with its
        growing back-off) finds it at the first try. Gives up quietly after http_timeout: the hub's
        check then decides."""
        client = AsyncHTTPClient()
        url = f"http://{self.ip}:{self.port}{self.server.base_url if self.server else '/'}api"
        deadline = time.monotonic() + self.http_timeout
        while time.monotonic() < deadline:
            try:
                await client.fetch(url, raise_error=False, request_timeout=2, follow_redirects=False)
                return
            except (OSError, HTTPClientError):
                pass
            entry, answered = await self.job_entry(self.queue_interval)
            if answered and entry is not None and not entry.running:
                raise await self._failure(entry)
            await asyncio.sleep(0.1)

    async def _failure(self, entry) -> Exception:
        """The job ended while starting: say why, with the end of its output when the job sent it."""
        state = entry.state if entry else await self._final_state()
        for _ in range(20):  # the job reports its output's tail as it exits
            if self._failure_report:
                break
            await asyncio.sleep(0.1)
        message = end_message(state, self.job_id, self.node).replace("ended", "ended before the server started", 1)
        if self._failure_report:
            message += f" Exit code {self._failure_report.get('exit_code')}. The end of its output:\n" + \
                       self._failure_report.get("output_tail", "")
        message += f"\nThe whole output is in {self._output_path(self.job_id)}."
        self._end(state, message)
        self.job_id = ""
        return RuntimeError(message)

    async def _final_state(self) -> str:
        """How a job that left squeue ended, from accounting (sacct), or ""."""
        try:
            out = await self._slurm("sacct", "--noheader", "--parsable2", "--allocations", f"--jobs={self.job_id}",
                                    "--format=State")
        except slurm.SlurmError:
            return ""
        return out.strip().splitlines()[0] if out.strip() else ""

    def _end(self, state: str, message: str):
        self.last_end = {"job_id": self.job_id, "state": state, "message": message, "at": time.time()}

    async def progress(self):
        """What the start is doing: submitted, pending and why, running on a node, server starting."""
        sent = 0
        while True:
            events = getattr(self, "_events", [])
            for event in events[sent:]:
                yield event
            sent = len(events)
            if not self._starting and self.port:
                return
            await asyncio.sleep(0.25)

    async def poll(self):
        """None while the job is pending or running (or Slurm does not answer); else why it ended."""
        if self._starting:
            return None
        if not self.job_id:
            return 0
        entry, answered = await self.job_entry(self.queue_interval)
        if not answered:
            return None  # never declare a session dead because slurmctld is away
        if entry is not None and (entry.pending or entry.running):
            self.node = entry.nodes or self.node
            return None
        state = entry.state if entry else await self._final_state()
        self._end(state, end_message(state, self.job_id, self.node))
        self.log.info("%s: %s", self._log_name, self.last_end["message"])
        self.clear_state()
        self._forget_options()
        return 1

    async def get_url(self):
        """Where the server is now: the node's current NodeAddr. After a hub restart a session that was
        still pending is followed here until its server starts."""
        url = self.server.url if self.server else ""
        if not self.port and self.server and self.server.port:
            self.port = self.server.port
        try:
            entry, answered = await self.job_entry(self.startup_poll_interval)
            if not answered or entry is None:
                return url
            if entry.running and self.port:
                self.node = entry.nodes
                self.ip = await self.node_address(self.node)
            elif entry.pending or entry.running:
                self.log.info("%s: job %s was still starting when the hub restarted; following it",
                              self._log_name, self.job_id)
                self._events, self._port_event, self._starting, self.port = [], asyncio.Event(), True, 0
                try:
                    await self._until_ready(port_timeout=self.http_timeout)
                finally:
                    self._starting = False
            else:
                return url
            self.server.ip, self.server.port = self.ip, self.port
            self._save_state()
            return self.server.url
        except Exception as e:  # noqa: BLE001 - never stop the hub from starting
            self.log.error("%s: could not follow job %s after the restart: %s", self._log_name, self.job_id, e)
            # the hub checks the URL next: do not let it wait minutes for a server that is gone
            self._saved_http_timeout, self.http_timeout = self.http_timeout, 1
            return url

    async def stop(self, now=False):
        """Cancel the job; wait (briefly) until its GPUs are free."""
        if self.job_id:
            job = self.job_id
            await self.cancel_batch_job()
            self._end("CANCELLED", f"Your session (Slurm job {job}) was stopped from the hub.")
            # each look is an answer of the shared squeue begun after the previous one:
            # many stops at once still make one query at a time
            deadline = time.monotonic() + (0 if now else self.stop_wait)
            while time.monotonic() < deadline:
                try:
                    entry = (await self.poller().get(0, newer_than=time.time())).get(job)
                except slurm.SlurmError:
                    break
                if entry is None or entry.state not in ("RUNNING", "COMPLETING", "PENDING", "CONFIGURING"):
                    break
                await asyncio.sleep(0.05)
        self._forget_options()

    def clear_state(self):
        last, end = self.last_options, self.last_end
        super().clear_state()
        self.last_options, self.last_end = last, end
        self.token_sha256 = self.node = ""
        self.submitted_at = 0

    def get_state(self):
        state = super().get_state()
        for key in ("token_sha256", "node", "submitted_at"):
            if getattr(self, key):
                state[key] = getattr(self, key)
        if self.last_options:
            state["last_options"] = dict(self.last_options)
        if self.last_end:
            state["last_end"] = dict(self.last_end)
        return state

    def load_state(self, state):
        super().load_state(state)
        self.token_sha256 = state.get("token_sha256", "")
        self.node = state.get("node", "")
        self.submitted_at = float(state.get("submitted_at", 0) or 0)
        if isinstance(state.get("last_options"), dict):
            self.last_options = state["last_options"]
        if isinstance(state.get("last_end"), dict):
            self.last_end = state["last_end"]

    def session_summary(self) -> dict:
        """What the home page shows of this session, from what is known now (no Slurm query)."""
        options = self.user_options or self.last_options or {}
        release = next((r for r in list_releases(self.releases_dir) if r.name == options.get("release")), None)
        entry = (self.poller().peek() or {}).get(self.job_id)
        return {
            "job_id": self.job_id,
            "node": self.node or (entry.nodes if entry else ""),
            "cores": options.get("cores", ""),
            "memory": options.get("memory", ""),
            "gpus": options.get("gpus", ""),
            "hours": options.get("hours", ""),
            "account": options.get("account", ""),
            "reservation": options.get("reservation", ""),
            "release_label": release.label if release else options.get("release", ""),
            "time_left": time_left(entry.end_time) if entry and entry.running else "",
            "last_end": (self.last_end or {}).get("message", ""),
        }

    def accept_port(self, port: int):
        """The server's port, from the callback (checked by the handler)."""
        self.port = port
        if self._port_event is not None:
            self._port_event.set()

    def accept_failure_report(self, report: dict):
        self._failure_report = report

    async def node_address(self, node: str) -> str:
        """The address Slurm reports for a node (NodeAddr), not what DNS may say of its name."""
        snapshot = await self.cluster().get(max_age=60)
        for n in snapshot.nodes:
            if n.name == node:
                return n.addr
        nodes = slurm.parse_nodes(await self._slurm("scontrol", "--oneliner", "show", "node", node))
        if not nodes:
            raise RuntimeError(f"Slurm does not know node {node}")
        return nodes[0].addr

    async def cancel_batch_job(self):
        argv = shlex.split(self.exec_prefix.format(username=self.user.name)) + ["scancel", self.job_id]
        self.log.info("Cancelling %s's job %s", self.user.name, self.job_id)
        await slurm.run(argv, timeout=self.slurm_timeout)


def time_left(end_time: str, now: float | None = None) -> str:
    """Time until a Slurm end time, in words ("1 h 5 min"); "" if unknown."""
    end = _timestamp(end_time)
    if end == float("inf"):
        return ""
    seconds = max(0, int(end - (now or time.time())))
    hours, minutes = seconds // 3600, (seconds % 3600) // 60
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def hub_templates_path() -> str:
    """The hub page templates (login, form page, home, progress) for c.JupyterHub.template_paths."""
    return str(templates_dir() / "hub")


def _reservation_label(r: slurm.Reservation) -> str:
    nodes = ", ".join(r.nodes[:4]) + (f" and {len(r.nodes) - 4} more" if len(r.nodes) > 4 else "")
    when = f"until {r.end_time.replace('T', ' ')[:16]}" if r.active else f"from {r.start_time.replace('T', ' ')[:16]}"
    return f"{r.name} ({nodes}; {when})"


def _oversubscribe_factor(text: str) -> str:
    """``FORCE:5`` → "5"; anything else → "several"."""
    _, _, count = text.partition(":")
    return count if count.isdigit() else "several"


def _timestamp(slurm_time: str) -> float:
    """Seconds since the epoch of a Slurm local time (``2026-11-21T10:52:06``); +inf if unknown."""
    try:
        return datetime.strptime(slurm_time, "%Y-%m-%dT%H:%M:%S").timestamp()
    except (TypeError, ValueError):
        return float("inf")


def _hours(slurm_time: str) -> int:
    """Whole hours of a Slurm time limit (``8:00:00``, ``1-12:00:00``); 0 if unlimited or unknown."""
    parsed = slurm.parse_duration(slurm_time or "")
    if parsed is None:
        return 0
    days, hours, _, _ = parsed
    return days * 24 + hours
