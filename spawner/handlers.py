"""The hub's API handlers added by this package.

``GET /hub/api/slurm-interactive/availability[?reservation=NAME]``
    The table of free resources for the logged-in user (cookie or token), as JSON.
    Answered from the hub's one shared view of the cluster: however many users
    ask, Slurm is asked at most once per ``availability_interval``.
"""

from __future__ import annotations

import json
import re

from jupyterhub.apihandlers import APIHandler, default_handlers
from tornado import web

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class AvailabilityHandler(APIHandler):
    @web.authenticated
    async def get(self):
        user = self.current_user
        spawner = getattr(user, "spawner", None) if getattr(user, "kind", "user") == "user" else None
        if spawner is None or not hasattr(spawner, "availability"):
            raise web.HTTPError(403, "Only users of the interactive sessions can see the free resources")
        reservation = self.get_argument("reservation", "")
        if reservation and not _NAME.match(reservation):
            raise web.HTTPError(400, "reservation: not a reservation name")
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(await spawner.availability(reservation)))


HANDLERS = [(r"/api/slurm-interactive/availability", AvailabilityHandler)]


def register():
    """Add our handlers to the hub's API (once; the hub builds its routes after loading config)."""
    for route in HANDLERS:
        if route not in default_handlers:
            default_handlers.append(route)
