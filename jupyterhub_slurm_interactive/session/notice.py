"""The hub's word to a running session before it stops it: who stops it and why.

The session's server (our JupyterLab extension, ``jupyterlab_slurm_interactive.notice``) passes it to
its open tabs, which save their documents and say who stopped the session; its answer comes once they
have saved, or after ``wait`` seconds. A server that does not answer (an older release, a hung server)
delays the stop by ``wait`` at most, and the stop goes on.
"""

from __future__ import annotations

import json
import logging

from jupyterhub.utils import url_path_join
from tornado.httpclient import AsyncHTTPClient, HTTPRequest


async def tell_server(server_url: str, token: str, notice: dict, wait: float, *, ssl_options=None,
                      http_client=None, log: logging.Logger | logging.LoggerAdapter | None = None) -> dict:
    """POST ``notice`` ({"by", "reason"}) to the session's server at ``server_url`` with its own token; its
    answer ({"tabs": open, "saved": saved}), or {} when it gave none."""
    log = log or logging.getLogger(__name__)
    request = HTTPRequest(
        url_path_join(server_url, "slurm-interactive/stopping"), method="POST",
        body=json.dumps({**notice, "wait": wait}), follow_redirects=False,
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        request_timeout=wait + 5, connect_timeout=5, ssl_options=ssl_options)
    try:
        response = await (http_client or AsyncHTTPClient()).fetch(request, raise_error=False)
    except Exception as e:  # unreachable, TLS, timeout: the stop goes on
        log.info("The server did not take the word of its stop (%s); stopping it", e)
        return {}
    if response.code != 200:
        log.info("The server answered %s to the word of its stop; stopping it", response.code)
        return {}
    try:
        answer = json.loads(response.body)
    except ValueError:
        return {}
    if isinstance(answer, dict):
        log.info("Before the stop: %s open tab(s), %s saved their documents", answer.get("tabs"), answer.get("saved"))
        return answer
    return {}
