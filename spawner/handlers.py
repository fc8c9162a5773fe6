"""The hub's API handlers added or replaced by this package.

``GET /hub/api/slurm-interactive/availability[?reservation=NAME]``
    The table of free resources for the logged-in user (cookie or token), as JSON,
    from the hub's one shared view of the cluster.

``POST /hub/api/batchspawner``
    The running server reports its port. Replaces batchspawner's handler, which
    sets *any* attribute the JSON names on the spawner (a user holding their
    server's token could set ``exec_prefix`` and ``batch_cancel_cmd`` and have the
    hub run a command as its own user). Here the only accepted body is
    ``{"port": <integer 1..65535>}``, with the token of the server that is
    starting; anything else is refused and changes nothing.

``POST /hub/api/slurm-interactive/failure``
    A server that failed reports the end of its job's output (the hub cannot read
    the user's files), with the same token, while its spawner is starting.
"""

from __future__ import annotations

import hashlib
import json

from jupyterhub.apihandlers import APIHandler, default_handlers
from tornado import web

from .request import NAME


class AvailabilityHandler(APIHandler):
    @web.authenticated
    async def get(self):
        user = self.current_user
        spawner = getattr(user, "spawner", None) if getattr(user, "kind", "user") == "user" else None
        if spawner is None or not hasattr(spawner, "availability"):
            raise web.HTTPError(403, "Only users of the interactive sessions can see the free resources")
        reservation = self.get_argument("reservation", "")
        if reservation and not NAME.match(reservation):
            raise web.HTTPError(400, "reservation: not a reservation name")
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(await spawner.availability(reservation)))


class _FromStartingServer(APIHandler):
    """Requests a session's server makes with its own token while its spawner starts."""

    max_body = 64 * 1024

    def starting_session(self):
        user = self.current_user
        if user is None or getattr(user, "kind", "user") != "user" or not hasattr(user, "spawners"):
            raise web.HTTPError(403, "Only a session's own server may call this")
        digest = hashlib.sha256((self.get_auth_token() or "").encode()).hexdigest()
        for spawner in user.spawners.values():
            session = getattr(spawner, "session", None)
            if session is not None and session.token_sha256 and session.token_sha256 == digest:
                if not session.starting:
                    raise web.HTTPError(409, "This server is not starting")
                return session
        raise web.HTTPError(403, "This token is not a starting server's token")

    def json_object(self) -> dict:
        if len(self.request.body or b"") > self.max_body:
            raise web.HTTPError(413, "Body too large")
        try:
            body = json.loads(self.request.body or b"")
        except ValueError:
            raise web.HTTPError(400, "Body must be a JSON object")
        if not isinstance(body, dict):
            raise web.HTTPError(400, "Body must be a JSON object")
        return body


class PortHandler(_FromStartingServer):
    @web.authenticated
    def post(self):
        body = self.json_object()
        if set(body) != {"port"}:
            raise web.HTTPError(400, 'The only accepted body is {"port": <integer 1..65535>}')
        port = body["port"]
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise web.HTTPError(400, "port must be an integer from 1 to 65535")
        self.starting_session().accept_port(port)
        self.set_status(201)
        self.finish(json.dumps({"message": "port received"}))


class FailureHandler(_FromStartingServer):
    @web.authenticated
    def post(self):
        body = self.json_object()
        if not set(body) <= {"job_id", "exit_code", "output_tail"}:
            raise web.HTTPError(400, "Unknown fields")
        code = body.get("exit_code")
        if isinstance(code, bool) or not isinstance(code, int):
            raise web.HTTPError(400, "exit_code must be an integer")
        tail = body.get("output_tail", "")
        if not isinstance(tail, str):
            raise web.HTTPError(400, "output_tail must be a string")
        session = self.starting_session()
        if str(body.get("job_id", "")) != str(session.job_id):
            raise web.HTTPError(409, "Not this session's job")
        session.accept_failure_report({"exit_code": code, "output_tail": tail[-4000:]})
        self.set_status(201)
        self.finish(json.dumps({"message": "report received"}))


HANDLERS = [
    (r"/api/slurm-interactive/availability", AvailabilityHandler),
    (r"/api/slurm-interactive/failure", FailureHandler),
    (r"/api/batchspawner", PortHandler),
]


def register():
    """Put our handlers in the hub's API, replacing batchspawner's port handler.

    The hub builds its routes from this list after loading its configuration,
    which imports the spawner class, so this runs in time.
    """
    ours = {route for route, _ in HANDLERS}
    default_handlers[:] = [h for h in default_handlers if h[0] not in ours]
    default_handlers.extend(HANDLERS)
