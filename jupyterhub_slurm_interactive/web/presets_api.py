"""The user's presets through the hub's API (the form's "Save these choices as…" calls it).

``GET /hub/api/slurm-interactive/users/NAME/presets``
    The presets this user may fill the form with: the site's that their groups see, then their own.
``POST /hub/api/slurm-interactive/users/NAME/presets``
    ``{"title": TEXT, "values": {FIELD: VALUE, ...}}``: keep the user's own preset (a title of at most 60
    characters; one of the same title is replaced; at most 10). The values pass the check a start makes, with
    its messages: a value the form would refuse is 400 naming the field, and nothing is kept.
``DELETE /hub/api/slurm-interactive/users/NAME/presets/TITLE``
    Remove one of the user's own presets (204; 404 if there is none of that title).

Each needs the scope to start the user's servers (``servers!user=NAME``, which their login has).
"""

from __future__ import annotations

import json

from jupyterhub.apihandlers import APIHandler
from tornado import web

from jupyterhub_slurm_interactive.choice.request import InvalidRequest
from jupyterhub_slurm_interactive.web.access import permitted_user
from jupyterhub_slurm_interactive.web.bodies import json_object
from jupyterhub_slurm_interactive.web.interface import SessionSpawner, session_spawner


class PresetsHandler(APIHandler):
    def _spawner(self, user_name: str) -> SessionSpawner:
        user = permitted_user(self, user_name, f"servers!user={user_name}", "see or change", "presets")
        spawner = session_spawner(user.spawner)
        if spawner is None:
            raise web.HTTPError(404, "Not a user of the interactive sessions")
        return spawner

    def _answer(self, status: int, body: dict | None = None):
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body) if body is not None else None)

    async def get(self, user_name, title=None):
        spawner = self._spawner(user_name)
        self._answer(200, {"presets": [p.as_json() for p in spawner.user_presets()]})

    async def post(self, user_name, title=None):
        if title is not None:
            raise web.HTTPError(405, "POST to .../presets, with the title in the body")
        spawner = self._spawner(user_name)
        body = json_object(self.request.body, 8192)
        if not set(body) <= {"title", "values"}:
            raise web.HTTPError(400, 'The only accepted body is {"title": TEXT, "values": {FIELD: VALUE}}')
        try:
            preset = await spawner.save_preset(body.get("title"), body.get("values"))
        except InvalidRequest as e:
            self._answer(400, {"status": 400, "field": e.field, "message": f"Nothing was kept: {e.message}"})
            return
        except ValueError as e:
            self._answer(400, {"status": 400, "message": f"Nothing was kept: {e}"})
            return
        self.log.info("%s kept the preset %r", spawner.user.name, preset.title)
        self._answer(201, preset.as_json())

    async def delete(self, user_name, title=None):
        spawner = self._spawner(user_name)
        if not title or not spawner.preset_store().remove(spawner.user.name, title):  # tornado has decoded it
            raise web.HTTPError(404, "No preset of yours has that title")
        self._answer(204)


HANDLERS = [
    (r"/api/slurm-interactive/users/([^/]+)/presets", PresetsHandler),
    (r"/api/slurm-interactive/users/([^/]+)/presets/([^/]+)", PresetsHandler),
]
