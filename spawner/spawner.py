"""The spawner: a JupyterHub session as an oversubscribed Slurm batch job.

Subclasses batchspawner's ``SlurmSpawner`` and keeps its life cycle (submit,
wait while pending, wait for the port, poll, cancel) but replaces what it does
badly: the batch script is rendered only from a validated request, the job's
state is read by the hub's own user (no ``sudo squeue``), the server is reached
at the node's ``NodeAddr`` as Slurm reports it, and the API token travels in the
environment only.
"""

from __future__ import annotations

import os
import pwd
import shlex
from pathlib import Path

import jinja2
from batchspawner import JobStatus, SlurmSpawner
from tornado import web
from traitlets import Dict, Integer, List, Unicode, default

from . import slurm
from .releases import INTERFACE_URLS, list_releases
from .request import InvalidRequest, Limits, ResourceRequest, parse_request

_SAFE_TOKEN = __import__("re").compile(r"^[A-Za-z0-9_./%@:=,+-]+$")


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


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
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
        "{home}/jupyterhub-session-%j.log",
        help="The job's output file; {home} is the user's home, %j the job ID. It is created "
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

    @default("cmd")
    def _cmd_default(self):
        return ["jupyterhub-singleuser"]

    # ------------------------------------------------------------------ the request
    def _user_home(self) -> str:
        return pwd.getpwnam(self.user.name).pw_dir

    async def _slurm(self, *argv: str) -> str:
        return await slurm.run(list(argv), timeout=self.slurm_timeout)

    async def user_accounts(self) -> list[str]:
        """The user's Slurm accounts, default account first."""
        out = await self._slurm(
            "sacctmgr", "--noheader", "--parsable2", "show", "associations",
            f"user={self.user.name}", "format=account",
        )
        accounts = sorted({a.strip() for a in out.splitlines() if a.strip()})
        try:
            default_out = await self._slurm(
                "sacctmgr", "--noheader", "--parsable2", "show", "user", self.user.name, "format=defaultaccount"
            )
            default_account = default_out.strip().splitlines()[0] if default_out.strip() else ""
        except slurm.SlurmError:
            default_account = ""
        if default_account in accounts:
            accounts.remove(default_account)
            accounts.insert(0, default_account)
        return accounts

    async def limits(self) -> Limits:
        """The bounds of a request, from Slurm's node and partition records."""
        nodes = [n for n in slurm.parse_nodes(await self._slurm("scontrol", "-o", "show", "node"))
                 if self.partition in n.partitions]
        part = slurm.parse_records(await self._slurm("scontrol", "-o", "show", "partition", self.partition))
        max_hours = self.max_hours or _hours(part[0].get("MaxTime", "") if part else "") or 24
        releases = list_releases(self.releases_dir)
        return Limits(
            max_cores=max((n.cpus for n in nodes), default=1),
            max_memory_mb=max((n.memory_mb for n in nodes), default=1000),
            max_gpus=max((n.gpus for n in nodes), default=0),
            max_hours=max_hours,
            accounts=tuple(await self.user_accounts()),
            reservations=(),
            releases=tuple(r.name for r in releases),
            interfaces={r.name: r.interfaces for r in releases},
        )

    def request_defaults(self) -> dict:
        releases = list_releases(self.releases_dir)
        return {
            "cores": self.default_cores,
            "memory": self.default_memory,
            "gpus": self.default_gpus,
            "hours": self.default_hours,
            "release": releases[0].name if releases else "",
        }

    async def resource_request(self) -> ResourceRequest:
        """The validated request of this spawn; a 400 naming the field if it is not acceptable."""
        try:
            limits = await self.limits()
        except slurm.SlurmError as e:
            raise web.HTTPError(503, f"Slurm cannot be asked about resources right now: {e.message}")
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

    # ------------------------------------------------------------------ state
    last_options = Dict(help="The last request that was accepted (kept across sessions).")

    def get_state(self):
        state = super().get_state()
        if self.last_options:
            state["last_options"] = dict(self.last_options)
        return state

    def load_state(self, state):
        super().load_state(state)
        if isinstance(state.get("last_options"), dict):
            self.last_options = state["last_options"]

    def clear_state(self):
        # the job is forgotten, the user's last choices are not
        last = self.last_options
        super().clear_state()
        self.last_options = last

    # ------------------------------------------------------------------ the batch script
    def render_batch_script(self, request: ResourceRequest) -> str:
        release = next(r for r in list_releases(self.releases_dir) if r.name == request.release)
        home = self._user_home()
        command = [os.path.join(release.bin_dir, "batchspawner-singleuser"), *self.cmd, *self.get_args()]
        return make_environment().get_template("batch_script.sh.j2").render(
            request=request,
            release=release,
            job_name=self.job_name,
            partition=self.partition,
            output=self.output_file.format(home=home),
            home=home,
            extra_directives=self.extra_sbatch_options,
            prologue=self.prologue,
            command=command,
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
            raise web.HTTPError(400, f"Slurm refused the session: {e.message}")
        self.job_id = slurm.parse_sbatch_job_id(out)
        self.log.info("Submitted %s's session as job %s", self.user.name, self.job_id)
        return self.job_id

    # ------------------------------------------------------------------ the job's state
    async def query_job_status(self):
        """One squeue for this job, as the hub's own user (no sudo)."""
        if not self.job_id:
            self.job_status = ""
            return JobStatus.NOTFOUND
        try:
            out = await self._slurm("squeue", "--noheader", f"--jobs={self.job_id}", f"--format={slurm.SQUEUE_FORMAT}")
        except slurm.SlurmError as e:
            if e.unreachable:
                self.log.warning("Slurm did not answer about job %s: %s", self.job_id, e.message)
                self.job_status = ""
                return JobStatus.UNKNOWN
            # "Invalid job id specified": the job is gone
            self.job_status = ""
            return JobStatus.NOTFOUND
        entries = [e for e in slurm.parse_squeue(out) if e.job_id == self.job_id]
        if not entries:
            self.job_status = ""
            return JobStatus.NOTFOUND
        entry = entries[0]
        self.job_status = f"{entry.state} {entry.nodes}".strip()
        if entry.state in slurm.RUNNING_STATES:
            return JobStatus.RUNNING
        if entry.state in slurm.PENDING_STATES:
            return JobStatus.PENDING
        return JobStatus.NOTFOUND

    def state_ispending(self):
        return self.job_status.split(" ")[0] in slurm.PENDING_STATES if self.job_status else False

    def state_isrunning(self):
        return self.job_status.split(" ")[0] in slurm.RUNNING_STATES if self.job_status else False

    def state_isunknown(self):
        return False

    def state_gethost(self):
        parts = self.job_status.split(" ")
        return parts[1] if len(parts) > 1 else ""

    async def node_address(self, node: str) -> str:
        """The address Slurm reports for a node (NodeAddr), not what DNS may say of its name."""
        nodes = slurm.parse_nodes(await self._slurm("scontrol", "-o", "show", "node", node))
        if not nodes:
            raise RuntimeError(f"Slurm does not know node {node}")
        return nodes[0].addr

    async def start(self):
        node, port = await super().start()
        self.ip = await self.node_address(node)
        self.log.info("%s's session (job %s) runs on %s at %s:%s", self.user.name, self.job_id, node, self.ip, port)
        return self.ip, port

    async def poll(self):
        status = await super().poll()
        if status is not None:
            self._forget_options()
        return status

    async def stop(self, now=False):
        await super().stop(now=now)
        self._forget_options()

    async def cancel_batch_job(self):
        argv = shlex.split(self.exec_prefix.format(username=self.user.name)) + ["scancel", self.job_id]
        self.log.info("Cancelling %s's job %s", self.user.name, self.job_id)
        await slurm.run(argv, timeout=self.slurm_timeout)


def _hours(slurm_time: str) -> int:
    """Whole hours of a Slurm time limit (``8:00:00``, ``1-12:00:00``); 0 if unlimited or unknown."""
    if not slurm_time or slurm_time.upper() in ("UNLIMITED", "INFINITE", "NONE"):
        return 0
    days = 0
    if "-" in slurm_time:
        d, slurm_time = slurm_time.split("-", 1)
        days = int(d)
    parts = [int(p) for p in slurm_time.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    h, m, s = parts
    return days * 24 + h
