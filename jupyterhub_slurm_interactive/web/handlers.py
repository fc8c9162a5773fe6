"""The hub's API handlers added or replaced by this package.

``GET /hub/api/slurm-interactive/availability[?reservation=NAME]``
    The table of free resources for the logged-in user, as JSON, from the hub's
    one shared view of the cluster. It needs the scope to start one's own
    servers (``servers!user=NAME``, which a user's login has): a token limited
    to reading names gets 403, and so does a call with no credentials.

``POST /hub/api/slurm-interactive/users/NAME/servers/SERVER/cancel``
``POST /hub/api/slurm-interactive/users/NAME/server/cancel`` (the default server)
    Cancel a session that is queued or starting: its job is cancelled in Slurm
    before the answer, and the start ends with the user's choices kept for the
    form. Needs the scope to start and stop the server (``servers``): another
    user's session is 403. A session that runs or has ended is 409 (a running
    one is stopped with JupyterHub's ``DELETE .../servers/SERVER``). Works for a
    session that was queued when the hub restarted.

``POST /hub/api/slurm-interactive/users/NAME/servers/SERVER/stop`` (default server: ``.../server/stop``)
    Stop a running session as JupyterHub's ``DELETE .../servers/SERVER`` does, once its open JupyterLab
    tabs have saved their documents (at most ``save_wait`` seconds; JupyterHub's own stop takes the
    session's route away first, so no tab could answer). Needs ``delete:servers``; 409 if it is not
    running. 204 once stopped, 202 while the stop goes on.

``POST /hub/api/slurm-interactive/users/NAME/servers/SERVER/idle`` (default server: ``.../server/idle``)
    The idle culler says it is about to stop this session for idleness:
    ``{"idle_seconds": <number>}``. The stop that follows says so on the
    session's card, and its open tabs save their documents before the answer. Needs the scope to stop
    the server (``delete:servers``).

``POST /hub/api/slurm-interactive/users/NAME/servers/SERVER/add-time`` (default server: ``.../server/add-time``)
    More time for a running session: ``{"minutes": <1..10080>}``. The hub, a Slurm operator, raises the
    job's time limit within the site's rules (``session.more_time``) and answers 200 with the new limit and
    end, or 409 with ``{"rule": ..., "message": ...}`` naming the rule that refused. Needs ``servers`` for
    the session, or the token of the session's own server (how JupyterLab's "Add time" asks).

``GET /hub/api/slurm-interactive/users/NAME/sessions``
    The cards of "My sessions" as JSON, one per server of the user: phase
    (queued, starting, running, stopping, ended, new), why it waits, job, node,
    resources, account, release, time left, how it ended and what it used.
    Needs ``read:servers`` for the user.

Every body must be a JSON object of at most 64 KiB; anything else, nested JSON
that would exhaust the parser included, is answered 400.
"""

from __future__ import annotations

import asyncio
import json
import time

from jupyterhub.apihandlers import APIHandler
from jupyterhub.utils import url_path_join
from tornado import web

from jupyterhub_slurm_interactive.choice.request import NAME
from jupyterhub_slurm_interactive.ops import metrics
from jupyterhub_slurm_interactive.session import more_time
from jupyterhub_slurm_interactive.session.life import NotStarting
from jupyterhub_slurm_interactive.slurm.runner import SlurmError
from jupyterhub_slurm_interactive.web import presets_api, server_calls
from jupyterhub_slurm_interactive.web.access import permitted_user, session_of
from jupyterhub_slurm_interactive.web.bodies import json_object
from jupyterhub_slurm_interactive.web.interface import SessionSpawner, session_spawner


class AvailabilityHandler(APIHandler):
    async def get(self):
        user = self.current_user
        if user is None:
            raise web.HTTPError(403, "Missing or invalid credentials")
        spawner = session_spawner(getattr(user, "spawner", None)) if getattr(user, "kind", "user") == "user" else None
        if spawner is None:
            raise web.HTTPError(403, "Only users of the interactive sessions can see the free resources")
        if not self.has_scope(f"servers!user={user.name}"):
            raise web.HTTPError(403, "This token may not start servers, so it is not shown the free resources")
        reservation = self.get_argument("reservation", "")
        if reservation and not NAME.match(reservation):
            raise web.HTTPError(400, "reservation: not a reservation name")
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        request = {k: self.get_argument(k, "")[:40] for k in ("cores", "memory", "gpus", "hours", "account")
                   if self.get_argument(k, None) is not None}
        self.finish(json.dumps(await spawner.availability(reservation, request if any(request.values()) else None)))


class CancelHandler(APIHandler):
    """Cancel a queued or starting session at once (JupyterHub itself waits a second, then stops)."""

    async def post(self, user_name, server_name=""):
        spawner = session_of(self, user_name, server_name, "servers", "cancel")
        label = f"The session {server_name!r}" if server_name else "Your default session"
        deadline = time.monotonic() + 3
        while spawner.pending == "spawn" and not spawner.session.starting and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the form's choices are being checked; the job comes next
        try:
            job = await spawner.cancel_start()
        except NotStarting:
            if spawner.ready:
                raise web.HTTPError(409, f"{label} is running: stop it instead (Stop on its card)")
            raise web.HTTPError(409, f"{label} is not queued or starting: there is nothing to cancel")
        # the start ends at its next look (at once); the hub then clears the server
        deadline = time.monotonic() + 10
        while spawner.active and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        user = spawner.user
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({
            "job_id": job, "cancelled": True, "message": spawner.session.last_end.get("message", ""),
            "form_url": url_path_join(self.hub.base_url, "spawn", user.escaped_name, server_name),
        }))


class StopHandler(APIHandler):
    """Stop a running session as JupyterHub's DELETE does, after its open JupyterLab tabs have saved their
    documents (they are told while the session's route still leads to it; JupyterHub's own stop takes the
    route away first). 204 once stopped; 202 if the stop goes on (JupyterHub's slow_stop_timeout)."""

    async def post(self, user_name, server_name=""):
        spawner = session_of(self, user_name, server_name, "delete:servers", "stop")
        if not spawner.ready or spawner.pending:
            label = f"The session {server_name!r}" if server_name else "Your default session"
            raise web.HTTPError(409, f"{label} is not running: cancel a queued or starting one instead")
        saved = await spawner.save_before_stop()
        stopping = asyncio.ensure_future(self.stop_single_user(spawner.user, server_name))
        done, _ = await asyncio.wait([stopping], timeout=self.slow_stop_timeout)
        if done:
            stopping.result()
        self.set_status(204 if done else 202)
        if not done:
            self.finish(json.dumps({"tabs": saved.get("tabs", 0), "saved": saved.get("saved", 0)}))
        else:
            self.finish()


class IdleNoteHandler(APIHandler):
    """The idle culler's word before it stops a session (ops.idle)."""

    async def post(self, user_name, server_name=""):
        spawner = session_of(self, user_name, server_name, "delete:servers", "stop")
        body = json_object(self.request.body)
        if set(body) != {"idle_seconds"}:
            raise web.HTTPError(400, 'The only accepted body is {"idle_seconds": <number of seconds>}')
        idle = body["idle_seconds"]
        if isinstance(idle, bool) or not isinstance(idle, (int, float)) or not 0 <= idle < 10 * 365 * 86400:
            raise web.HTTPError(400, "idle_seconds must be a number of seconds")
        spawner.session.note_idle(idle)
        metrics.IDLE_STOPS.labels("gpu" if spawner.request and spawner.request.gpus else "cpu").inc()
        self.log.info("%s: the idle culler stops it after %.0f s without activity", spawner._log_name, idle)
        await spawner.save_before_stop()  # its open tabs save their documents while its route still leads to it
        self.set_status(201)
        self.finish(json.dumps({"message": "noted"}))


class AddTimeHandler(APIHandler):
    """More time for a running session, within the site's rules."""

    def _spawner(self, user_name: str, server_name: str) -> SessionSpawner:
        user = self.current_user
        if user is not None and getattr(user, "kind", "user") == "user" and user.name == user_name \
                and server_name in user.orm_spawners:
            own = session_spawner(user.spawners[server_name])
            if own is not None and own.session.token_sha256 == server_calls.token_digest(self):
                return own  # the session's own server, for its JupyterLab
        return session_of(self, user_name, server_name, "servers", "add time to")

    async def post(self, user_name, server_name=""):
        spawner = self._spawner(user_name, server_name)
        body = json_object(self.request.body)
        if set(body) != {"minutes"}:
            raise web.HTTPError(400, 'The only accepted body is {"minutes": <whole minutes>}')
        try:
            minutes = more_time.check_minutes(body["minutes"])
        except ValueError as e:
            raise web.HTTPError(400, str(e))
        try:
            added = await spawner.add_time(minutes, by=self.current_user.name)
        except more_time.Refused as e:
            self.set_status(409)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"status": 409, "rule": e.rule, "message": e.message}))
            return
        except SlurmError as e:
            raise web.HTTPError(503, f"Slurm did not answer, so no time was added: {e.message}")
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"job_id": added.job_id, "minutes": added.minutes, "limit_minutes": added.limit_minutes,
                                "ends_at": added.ends_at, "message": added.message()}))


class SessionsHandler(APIHandler):
    """The cards of "My sessions", as JSON."""

    async def get(self, user_name):
        user = permitted_user(self, user_name, f"read:servers!user={user_name}", "see", "sessions")
        found = []
        for name in sorted(user.orm_spawners):
            spawner = session_spawner(user.spawners[name])
            if spawner is not None:
                found.append(await spawner.session_card())
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps({"sessions": found}))


HANDLERS = [
    (r"/api/slurm-interactive/users/([^/]+)/servers/([^/]*)/cancel", CancelHandler),
    (r"/api/slurm-interactive/users/([^/]+)/server/cancel", CancelHandler),
    (r"/api/slurm-interactive/users/([^/]+)/servers/([^/]*)/stop", StopHandler),
    (r"/api/slurm-interactive/users/([^/]+)/server/stop", StopHandler),
    (r"/api/slurm-interactive/users/([^/]+)/servers/([^/]*)/idle", IdleNoteHandler),
    (r"/api/slurm-interactive/users/([^/]+)/server/idle", IdleNoteHandler),
    (r"/api/slurm-interactive/users/([^/]+)/sessions", SessionsHandler),
    (r"/api/slurm-interactive/availability", AvailabilityHandler),
    (r"/api/slurm-interactive/users/([^/]+)/servers/([^/]*)/add-time", AddTimeHandler),
    (r"/api/slurm-interactive/users/([^/]+)/server/add-time", AddTimeHandler),
    *presets_api.HANDLERS,
    *server_calls.HANDLERS,
]

