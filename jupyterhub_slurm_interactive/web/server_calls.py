"""The calls a session's server makes to the hub with its own token.

``POST /hub/api/batchspawner``
    The running server reports its port. Replaces batchspawner's handler, which
    sets *any* attribute the JSON names on the spawner (a user holding their
    server's token could set ``exec_prefix`` and ``batch_cancel_cmd`` and have the
    hub run a command as its own user). Here the only accepted body is
    ``{"port": <integer 1..65535>}``, with the token of the server that is
    starting; anything else is refused and changes nothing.

``POST /hub/api/slurm-interactive/failure``
    A server that failed reports the end of its job's output (the hub cannot read
    the user's files), with the same token, while its spawner is starting. Control
    characters (ANSI escapes, carriage returns) are removed before it is kept,
    logged or shown, so a job cannot forge or erase lines of the hub's log.

``POST /hub/api/slurm-interactive/exited``
    The job says its server has exited (for any reason: a crash, the OOM killer,
    scancel, the walltime), with the server's token. The hub removes the route at
    once, so that nothing else listening on the freed port of that node is sent
    the user's requests, and stops the server, which revokes its token. It answers
    before the stop is over: the job is waiting for the answer before it ends.
"""

from __future__ import annotations

import asyncio
import hashlib
import json

from jupyterhub.apihandlers import APIHandler
from tornado import web

from jupyterhub_slurm_interactive.session.life import Session
from jupyterhub_slurm_interactive.web.bodies import clean_text, json_object
from jupyterhub_slurm_interactive.web.interface import SessionSpawner, session_spawner


def token_digest(handler: APIHandler) -> str:
    """The SHA-256 of the request's token, as a session's record keeps its server's."""
    return hashlib.sha256((handler.get_auth_token() or "").encode()).hexdigest()


class _FromStartingServer(APIHandler):
    """Requests a session's server makes with its own token while its spawner starts."""

    max_body = 64 * 1024

    def own_spawner(self) -> SessionSpawner:
        """The spawner whose server holds the token of this request."""
        user = self.current_user
        if user is None or getattr(user, "kind", "user") != "user":
            raise web.HTTPError(403, "Only a session's own server may call this")
        digest = token_digest(self)
        for spawner in filter(None, map(session_spawner, user.spawners.values())):
            if spawner.session.token_sha256 and spawner.session.token_sha256 == digest:
                return spawner
        raise web.HTTPError(403, "This token is not a session server's token")

    def starting_session(self) -> Session:
        session = self.own_spawner().session
        if not session.starting:
            raise web.HTTPError(409, "This server is not starting")
        return session

    def json_object(self) -> dict:
        return json_object(self.request.body, self.max_body)


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
        # while starting, or later (a crash, the OOM killer): the form says why either way
        session = self.own_spawner().session
        if str(body.get("job_id", "")) != str(session.job_id):
            raise web.HTTPError(409, "Not this session's job")
        session.accept_failure_report({"exit_code": code, "output_tail": clean_text(tail[-4000:])})
        self.set_status(201)
        self.finish(json.dumps({"message": "report received"}))


class ExitedHandler(_FromStartingServer):
    """The job's server has exited: take its route away now, then stop it (which revokes its token)."""

    @web.authenticated
    async def post(self):
        body = self.json_object()
        if not set(body) <= {"job_id", "exit_code"}:
            raise web.HTTPError(400, "Unknown fields")
        spawner = self.own_spawner()
        if str(body.get("job_id", "")) != str(spawner.session.job_id):
            raise web.HTTPError(409, "Not this session's job")
        self.log.info("%s: the server of job %s exited; removing its route", spawner._log_name,
                      spawner.session.job_id)
        code = body.get("exit_code")
        if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
            raise web.HTTPError(400, "exit_code must be an integer")
        spawner.session.note_server_exited(code)
        if not spawner.session.starting and spawner.ready and not spawner.pending:
            # the hub's own stop, which takes the route away first, then the server and its token. Not
            # awaited: the job is waiting for this answer before it ends, and the stop asks Slurm how
            # the job ended.
            asyncio.ensure_future(self._stop(spawner))
        self.set_status(201)
        self.finish(json.dumps({"message": "stopping"}))

    async def _stop(self, spawner):
        try:
            await self.stop_single_user(spawner.user, spawner.name)
        except Exception:  # noqa: BLE001 - the poll notices the end anyway
            self.log.exception("%s: could not stop the exited server", spawner._log_name)


HANDLERS = [
    (r"/api/slurm-interactive/failure", FailureHandler),
    (r"/api/slurm-interactive/exited", ExitedHandler),
    (r"/api/batchspawner", PortHandler),
]
