"""``POST {base_url}slurm-interactive/add-time`` ``{"minutes": N}``: more time for this session.

A user may not raise their own job's time limit in Slurm; the hub may, within the site's rules. So this asks
the hub (``POST $JUPYTERHUB_API_URL/slurm-interactive/users/USER/servers/NAME/add-time``) with the server's
own token, over the hub's TLS, and passes its answer on: the new end, or the rule that refused. The minutes
must be one of the steps the site offers (``JUPYTERHUB_SLURM_ADD_TIME``, set by the hub at submission).
"""

from __future__ import annotations

import json
import os
from urllib.parse import quote

from jupyter_server.base.handlers import APIHandler
from tornado import web
from tornado.ioloop import IOLoop

from .port import report_request
from .session import steps


def hub_path(environ) -> str:
    """This session's add-time route in the hub's API."""
    user = quote(environ.get("JUPYTERHUB_USER", ""), safe="")
    server = environ.get("JUPYTERHUB_SERVER_NAME", "")
    where = f"servers/{quote(server, safe='')}" if server else "server"
    return f"slurm-interactive/users/{user}/{where}/add-time"


class AddTimeHandler(APIHandler):
    """POST ``{"minutes": N}``: the hub's answer, passed on (200 with the new end, 409 naming the rule)."""

    @web.authenticated
    async def post(self):
        try:
            body = json.loads(self.request.body or b"")
        except (ValueError, RecursionError):
            body = None
        offered = steps(os.environ)
        minutes = body.get("minutes") if isinstance(body, dict) else None
        if isinstance(minutes, bool) or minutes not in offered:
            raise web.HTTPError(400, f"minutes: one of {offered}" if offered else "This site offers no more time")
        url, headers, context = report_request(os.environ, hub_path(os.environ))
        fetch = self.settings.get("slurm_interactive_fetch")
        if fetch is None:
            from tornado.httpclient import AsyncHTTPClient
            fetch = AsyncHTTPClient().fetch
        try:
            response = await fetch(url, method="POST", headers=headers, body=json.dumps({"minutes": minutes}),
                                   ssl_options=context, request_timeout=30, raise_error=False)
        except Exception as e:  # noqa: BLE001 - the user is told; nothing changed
            self.log.warning("slurm-interactive: the hub did not answer a request for more time: %s", e)
            raise web.HTTPError(502, "The hub did not answer, so no time was added. Try again in a moment.")
        try:
            answer = json.loads(response.body or b"{}")
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if response.code == 200:
            self.settings["slurm_interactive_times"].forget()  # the next look asks Slurm for the new end
            if self.settings.get("slurm_interactive_dask"):  # Dask's workers may run to the new end
                from .dask import follow_the_end

                IOLoop.current().add_callback(follow_the_end, self.settings["slurm_interactive_times"])
        answer.setdefault("message", f"The hub answered {response.code}: no time was added.")
        self.set_status(response.code if response.code in (200, 400, 403, 404, 409, 503) else 502)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({k: answer[k] for k in ("message", "rule", "ends_at", "limit_minutes", "minutes")
                                if k in answer}))
