"""Who may act on whose sessions: the request's token or login, its scopes, and the user or session it names.

A request about another user's session is 403, not JupyterHub's 404: the name is in the URL the caller typed,
so nothing is revealed by saying it may not.
"""

from __future__ import annotations

from jupyterhub.apihandlers import APIHandler
from tornado import web

from jupyterhub_slurm_interactive.web.interface import SessionSpawner, session_spawner


def permitted_user(handler: APIHandler, user_name: str, scope: str, doing: str, what: str):
    """JupyterHub's user USER, if the request holds ``scope`` (403 if not, 404 if there is no such user)."""
    if handler.current_user is None:
        raise web.HTTPError(403, "Missing or invalid credentials")
    if not handler.has_scope(scope):
        raise web.HTTPError(403, f"You may not {doing} {user_name[:64]}'s {what}")
    user = handler.find_user(user_name)
    if user is None:
        raise web.HTTPError(404, f"No user {user_name[:64]!r}")
    return user


def session_of(handler: APIHandler, user_name: str, server_name: str, scope: str, doing: str) -> SessionSpawner:
    """The spawner of USER/SERVER, if the request's token or login holds ``scope`` for it."""
    wanted = f"{scope}!server={user_name}/{server_name}" if server_name else f"{scope}!user={user_name}"
    user = permitted_user(handler, user_name, wanted, doing, "sessions")
    if server_name not in user.orm_spawners:
        raise web.HTTPError(404, f"{user.name} has no session named {server_name[:64]!r}")
    spawner = session_spawner(user.spawners[server_name])
    if spawner is None:
        raise web.HTTPError(404, "Not an interactive Slurm session")
    return spawner
