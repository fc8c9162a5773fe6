"""What a session's Dask servers listen on: TLS that asks every peer for the session's certificate, and
the scheduler's dashboard also on a Unix socket of the session's private directory, for JupyterLab.

Every scheduler and worker of a session preloads this module: the session's server
(jupyterlab_slurm_interactive.dask) says so in the environment it gives its kernels and terminals, which
the workers' jobs inherit, beside distributed.comm.require-encryption and the session's certificates. Their
comms are TLS with client authentication by those; their HTTP servers (the dashboard, /metrics, the workers' pages)
are not: distributed wraps them in TLS that asks nothing of the client, so anyone on a node could read
the task graph, the data's names and the logs. Imported before a server starts its HTTP server, this
makes that server ask for a certificate of the session's CA, and refuse to start without TLS.
"""

import logging
import os
import socket
import ssl

import dask
from distributed.node import ServerNode
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_unix_socket

log = logging.getLogger("distributed.slurm_interactive")

_start_http_server = ServerNode.start_http_server


def dashboard_socket_path(environ=os.environ) -> str | None:
    """Where the session's server proxies the dashboard from (jupyterlab_slurm_interactive.dask sets it)."""
    return environ.get("SLURM_INTERACTIVE_DASK_DASHBOARD") or None


def start_http_server(self, routes, dashboard_address, default_port=0, ssl_options=None):
    """ServerNode.start_http_server, whose TLS asks for the client's certificate; no plain HTTP port."""
    if not dask.config.get("distributed.scheduler.dashboard.tls.cert") and ssl_options is None:
        raise RuntimeError("this session's Dask servers serve HTTP only over TLS, and no certificate is "
                           "configured (distributed.scheduler.dashboard.tls.cert)")
    _start_http_server(self, routes, dashboard_address, default_port=default_port, ssl_options=ssl_options)
    context = self.http_server.ssl_options
    if not isinstance(context, ssl.SSLContext):
        self.http_server.stop()
        raise RuntimeError("this session's Dask servers serve HTTP only over TLS")
    # no connection is accepted before the loop runs again: every one meets this
    context.verify_mode = ssl.CERT_REQUIRED
    if type(self).__name__ == "Scheduler":
        _serve_dashboard_on_the_session_socket(self)


def _serve_dashboard_on_the_session_socket(scheduler):
    """The first scheduler of the session also serves its dashboard on the session's socket (plain HTTP:
    only this user can enter the directory); a second one keeps the first one's there."""
    path = dashboard_socket_path()
    if not path or not os.path.isdir(os.path.dirname(path)):
        return
    if _answers(path):  # bind_unix_socket would take the path from under it
        log.info("The dashboard stays on TLS only: another scheduler of this session serves on %s", path)
        return
    try:
        sock = bind_unix_socket(path, mode=0o600)
    except OSError as e:  # another scheduler of this session serves there
        log.info("The dashboard stays on TLS only: %s is taken (%s)", path, e)
        return
    server = HTTPServer(scheduler.http_application)
    server.add_socket(sock)
    scheduler.slurm_interactive_dashboard = server
    log.info("Dashboard also on %s, for JupyterLab", path)


def _answers(path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def dask_setup(server):
    """Nothing more to do once the server runs: the import did it."""


async def dask_teardown(server):
    unix = getattr(server, "slurm_interactive_dashboard", None)
    if unix is not None:
        unix.stop()
        path = dashboard_socket_path()
        if path:
            try:
                os.unlink(path)
            except OSError:
                pass


ServerNode.start_http_server = start_http_server
