"""Idle sessions given back: GPUs are few, so a GPU session idle for long is stopped sooner than a CPU one.

The work is done by ``jupyterhub-idle-culler`` (2.x), run by the hub as a managed
service with only the scopes it needs (it is not admin). This module gives it:

- the policy, a plain function (:func:`should_stop`): a GPU session may stay idle
  ``gpu_timeout`` seconds, a CPU-only one ``cpu_timeout``; 0 means no limit;
- the culler's ``cull_arbiter_hook`` (:func:`arbiter`), which applies the policy
  and, before the culler stops a session, tells the hub why, so that the
  session's card can say when it was stopped and after how long idle;
- the hub's configuration (:class:`IdleSessions`, :func:`configure`): the
  limits as traits, checked when the hub starts, and the service and its role.

"Idle" is JupyterHub's ``last_activity`` of the server: the browser's traffic
through the proxy, and the session's own reports, which count a kernel that is
busy (the releases' ``slurm_interactive_activity`` server extension).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from urllib.parse import unquote

from traitlets import Float, Integer, TraitError, Unicode, validate
from traitlets.config import Configurable

#: Where the culler process finds the limits (set by :meth:`IdleSessions.service`).
GPU_ENV, CPU_ENV = "SLURM_INTERACTIVE_GPU_IDLE_TIMEOUT", "SLURM_INTERACTIVE_CPU_IDLE_TIMEOUT"

#: The culler's scopes: read who has which server and since when idle, stop servers. Nothing else.
SCOPES = ["list:users", "read:users:activity", "read:servers", "delete:servers"]


def limit_for(server: dict, gpu_timeout: float, cpu_timeout: float) -> float:
    """The idle limit of this session in seconds (0: none), by whether it holds GPUs."""
    try:
        gpus = int((server.get("user_options") or {}).get("gpus") or 0)
    except (TypeError, ValueError):
        gpus = 0
    return gpu_timeout if gpus > 0 else cpu_timeout


def should_stop(inactive_seconds: float, server: dict, gpu_timeout: float, cpu_timeout: float) -> bool:
    """Whether a session idle this long is stopped: only a ready one, only past its own limit."""
    limit = limit_for(server, gpu_timeout, cpu_timeout)
    if not limit or not server.get("ready") or server.get("pending"):
        return False
    return inactive_seconds >= limit


_SERVER_URL = re.compile(r"/user/([^/]+)/(?:([^/]+)/)?$")


def owner_of(server: dict) -> tuple[str, str] | None:
    """(user, server name) from a server model's ``url`` (``/user/alice/gpu/``)."""
    m = _SERVER_URL.search(server.get("url") or "")
    return (unquote(m.group(1)), unquote(m.group(2) or "")) if m else None


def arbiter(gpu_timeout: float | None = None, cpu_timeout: float | None = None, *, notify=None):
    """The culler's ``cull_arbiter_hook``: the policy above, and a note to the hub before a stop.

    ``notify(user, server, idle_seconds)`` (a coroutine function) tells the hub; the default posts to the
    hub's API with the culler's own token."""
    gpu = float(os.environ.get(GPU_ENV, 0)) if gpu_timeout is None else gpu_timeout
    cpu = float(os.environ.get(CPU_ENV, 0)) if cpu_timeout is None else cpu_timeout
    notify = notify or _notify_hub

    async def cull_arbiter(*, inactive, inactive_limit, server, **kwargs):
        seconds = inactive.total_seconds()
        if not should_stop(seconds, server, gpu, cpu):
            return False
        owner = owner_of(server)
        if owner is not None:
            try:
                await notify(owner[0], owner[1], seconds)
            except Exception as e:  # noqa: BLE001 - the stop matters more than its note
                print(f"could not tell the hub why {owner} is stopped: {e}", file=sys.stderr)
        return True

    return cull_arbiter


async def _notify_hub(user: str, server: str, idle_seconds: float):
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest

    api = os.environ["JUPYTERHUB_API_URL"].rstrip("/")
    path = f"users/{user}/servers/{server}/idle" if server else f"users/{user}/server/idle"
    await AsyncHTTPClient().fetch(HTTPRequest(
        f"{api}/slurm-interactive/{path}", method="POST", body=json.dumps({"idle_seconds": round(idle_seconds)}),
        headers={"Authorization": f"token {os.environ['JUPYTERHUB_API_TOKEN']}"}, request_timeout=30))


class IdleSessions(Configurable):
    """How long sessions may stay idle before they are stopped (c.IdleSessions in jupyterhub_config.py)."""

    gpu_timeout = Float(0, help="Seconds a session holding GPUs may stay idle before it is stopped and its GPUs "
                        "given back. 0: no limit.").tag(config=True)
    cpu_timeout = Float(0, help="Seconds a session without GPUs may stay idle before it is stopped; usually "
                        "longer than gpu_timeout. 0: no limit.").tag(config=True)
    cull_every = Integer(60, help="Seconds between two looks of the idle culler at every session.").tag(config=True)
    setpriv = Unicode(shutil.which("setpriv") or "", help="util-linux's setpriv, which starts the culler so "
                      "that it receives SIGTERM when the hub's process ends, however it ends. Empty: the culler is "
                      "started directly (and outlives a hub that is killed).").tag(config=True)
    python = Unicode(sys.executable, help="The Python that runs jupyterhub-idle-culler (the hub's own)."
                     ).tag(config=True)

    @validate("gpu_timeout", "cpu_timeout")
    def _non_negative(self, proposal):
        value = proposal["value"]
        if not value >= 0:
            raise TraitError(f"IdleSessions.{proposal['trait'].name} must be 0 (no limit) or a positive number "
                             f"of seconds, not {value!r}")
        return value

    @validate("cull_every")
    def _positive(self, proposal):
        if proposal["value"] <= 0:
            raise TraitError(f"IdleSessions.cull_every must be a positive number of seconds, not {proposal['value']!r}")
        return proposal["value"]

    @property
    def enabled(self) -> bool:
        return bool(self.gpu_timeout or self.cpu_timeout)

    def service(self, internal_ssl: bool = False, internal_certs_location: str = "") -> dict:
        """The hub-managed service that runs the culler."""
        shortest = min(t for t in (self.gpu_timeout, self.cpu_timeout) if t)
        command = [self.python, "-m", "jupyterhub_idle_culler", f"--timeout={int(shortest)}",
                   f"--cull-every={self.cull_every}", f"--config={CULLER_CONFIG}"]
        if self.setpriv:
            # the culler ends with the hub that started it: a hub that crashed (or was killed) and was
            # started again would otherwise leave it running beside the new one, one more per restart
            command = [self.setpriv, "--pdeathsig", "TERM", "--", *command]
        if internal_ssl:
            command += ["--ssl-enabled=true", f"--internal-certs-location={internal_certs_location}"]
        return {"name": "idle-culler", "command": command,
                "environment": {GPU_ENV: str(self.gpu_timeout), CPU_ENV: str(self.cpu_timeout)}}

    def role(self) -> dict:
        return {"name": "idle-culler", "description": "Stop sessions idle past their limit (ops.idle)",
                "scopes": list(SCOPES), "services": ["idle-culler"]}


#: The culler's own configuration file: it installs :func:`arbiter` as its hook.
CULLER_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "idle_culler_config.py")


def configure(c) -> IdleSessions:
    """Add the culler service and its role to a hub's configuration ``c``, from ``c.IdleSessions``. A bad
    limit raises TraitError naming the setting, and the hub does not start."""
    settings = IdleSessions(config=c)
    if settings.enabled:
        internal_ssl = bool(c.JupyterHub.get("internal_ssl", False))
        location = c.JupyterHub.get("internal_certs_location", "internal-ssl")
        service, role = settings.service(internal_ssl, location), settings.role()
        # called again (a configuration loaded twice), the culler is still one service with one role
        c.JupyterHub.services = [s for s in c.JupyterHub.get("services", []) if s.get("name") != service["name"]
                                 ] + [service]
        c.JupyterHub.load_roles = [r for r in c.JupyterHub.get("load_roles", []) if r.get("name") != role["name"]
                                   ] + [role]
    return settings
