"""The session's server tells the hub its port once it listens on it.

The batch script starts ``jupyterhub-singleuser --port=0`` with ``JUPYTERHUB_SLURM_REPORT_PORT=1``:
the kernel gives the server a free port, and this extension sends it to the hub's port
endpoint (``POST $JUPYTERHUB_API_URL/batchspawner``, ``{"port": N}``, with the server's own
token and, with internal SSL, its certificate) once the socket listens. Nothing has to be
started before the server only to report a port, and no port is ever announced before this
session holds it, so no other job on the node can take it in between.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl

ENABLE = "JUPYTERHUB_SLURM_REPORT_PORT"
#: attempts and the pause between them while the hub does not answer (a hub restarting)
ATTEMPTS, PAUSE = 10, 2.0


def listening_port(http_server) -> int:
    """The port the server's socket listens on; 0 while it has none."""
    for sock in (getattr(http_server, "_sockets", None) or {}).values():
        try:
            return int(sock.getsockname()[1])
        except OSError:
            continue
    return 0


def report_request(environ, path: str = "batchspawner") -> tuple[str, dict, ssl.SSLContext | None]:
    """The endpoint (the report's, or ``path`` of the hub's API), the headers and the TLS context of a call to
    the hub with the server's own token, from the job's environment."""
    url = environ["JUPYTERHUB_API_URL"].rstrip("/") + "/" + path
    headers = {"Authorization": "token " + environ["JUPYTERHUB_API_TOKEN"], "Content-Type": "application/json"}
    context = None
    if environ.get("JUPYTERHUB_SSL_CERTFILE"):
        context = ssl.create_default_context(cafile=environ.get("JUPYTERHUB_SSL_CLIENT_CA") or None)
        context.load_cert_chain(environ["JUPYTERHUB_SSL_CERTFILE"], environ["JUPYTERHUB_SSL_KEYFILE"])
    return url, headers, context


async def report_port(server_app, environ=os.environ, fetch=None, wait: float = 30.0) -> int:
    """Wait until the server listens, then send its port to the hub; the port sent (0: none)."""
    log = server_app.log
    http_server = None
    for _ in range(int(wait / 0.01)):
        http_server = getattr(server_app, "http_server", None)
        port = listening_port(http_server)
        if port:
            break
        await asyncio.sleep(0.01)
    else:
        log.error("slurm-interactive: the server did not listen within %.0f s; no port reported", wait)
        return 0
    url, headers, context = report_request(environ)
    if fetch is None:
        from tornado.httpclient import AsyncHTTPClient
        fetch = AsyncHTTPClient().fetch
    body = json.dumps({"port": port})
    for attempt in range(1, ATTEMPTS + 1):
        try:
            await fetch(url, method="POST", headers=headers, body=body, ssl_options=context, request_timeout=10)
            log.info("slurm-interactive: reported port %d to the hub", port)
            return port
        except Exception as e:  # noqa: BLE001 - said in the log; the hub decides what becomes of the job
            code = getattr(e, "code", 599)
            if 400 <= code < 500:  # refused (this start was cancelled, or the token is not this session's)
                log.error("slurm-interactive: the hub refused port %d: %s", port, e)
                return 0
            log.warning("slurm-interactive: could not report port %d (attempt %d of %d): %s",
                        port, attempt, ATTEMPTS, e)
            await asyncio.sleep(PAUSE)
    log.error("slurm-interactive: the hub never answered; port %d not reported", port)
    return 0
