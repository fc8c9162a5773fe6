"""The hub's spawn page, where a POST meets a session that already runs, and the form's token.

JupyterHub answers a form sent for a server that is running, or starting, with a bare
"400 : alice is already running" (a second tab, a form left open, a double click).
:class:`SpawnPage` takes the user to that session's card instead, where a sentence says
what happened; nothing is submitted twice.

JupyterHub also puts the form's XSRF token in the form's address (``/hub/spawn?_xsrf=…``), so a
refused form's answer, and the progress page after it, show the token in the address bar, the
history and the logs. Here the token travels in the form's body and no address carries it.
Everything else is JupyterHub's own handler.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from jupyterhub.handlers.pages import SpawnHandler
from jupyterhub.utils import url_path_join
from tornado import web
from tornado.escape import xhtml_escape


def already_url(base_url: str, server_name: str, state: str) -> str:
    """Where a Start for a session that runs (``state`` "running") or starts ("starting") lands:
    its card on "My sessions", with the sentence's key in the query."""
    # no #fragment: the browser would take the focus from the sentence to scroll to it
    query = urlencode({"already": state, "session": server_name})
    return url_path_join(base_url, "home") + f"?{query}"


def without_xsrf(url: str) -> str:
    """``url`` with no ``_xsrf`` in its query (every other parameter kept, in order)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "_xsrf"]
    return urlunsplit(parts._replace(query=urlencode(query)))


class SpawnPage(SpawnHandler):
    def render_template(self, name, sync=False, **ns):
        if name == "spawn.html" and "url" in ns:
            ns["url"] = without_xsrf(ns["url"])
            token = xhtml_escape(self.xsrf_token)
            ns["spawner_options_form"] = (f'<input type="hidden" name="_xsrf" value="{token}">'
                                          + (ns.get("spawner_options_form") or ""))
        return super().render_template(name, sync, **ns)

    def _get_pending_url(self, user, server_name):
        return without_xsrf(super()._get_pending_url(user, server_name))

    @web.authenticated
    async def post(self, user_name=None, server_name="", *rest):
        current = self.current_user
        name = user_name or current.name
        server_name = server_name or ""
        user = current if name == current.name else self.find_user(name)
        spawner = dict.get(user.spawners, server_name) if user is not None else None
        if spawner is not None and name == current.name:  # an admin starting for another goes the hub's way
            state = "running" if spawner.ready else ("starting" if spawner.pending == "spawn" else "")
            if state:
                self.log.info("%s: a Start for a session that is %s; showing its card", spawner._log_name, state)
                self.redirect(already_url(self.hub.base_url, server_name, state), status=303)
                return
        # JupyterHub 5's post takes (user_name, server_name); 6 adds display_name, from the route only
        return await super().post(user_name, server_name, *rest)


HANDLERS = [
    (r"/spawn", SpawnPage),
    (r"/spawn/([^/]+)", SpawnPage),
    (r"/spawn/([^/]+)/([^/]+)", SpawnPage),
]
