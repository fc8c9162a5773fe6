"""What JupyterHub offers no hook for, done as small patches that name the versions they fit.

Each is applied by :func:`jupyterhub_slurm_interactive.hub.enable`, never by an import, and each is tested on
JupyterHub 5 and 6 (the suite's hub runs 6, its JupyterHub 5 leg runs 5).
"""

from __future__ import annotations

import jupyterhub
from jupyterhub.user import User

#: The JupyterHub versions these patches were written for and are tested on (pyproject's jupyterhub>=5,<7).
FITS = (5, 6)


def _major() -> int:
    return int(jupyterhub.version_info[0])


def install_routes(api: list, pages: list) -> None:
    """Put our API handlers (``api``) and pages (``pages``) into JupyterHub's own route lists, replacing any
    route of the same pattern: batchspawner's port handler (``/api/batchspawner``, which would set any
    attribute on the spawner) and JupyterHub's ``/spawn`` pages.

    JupyterHub 5 and 6 build their routes in ``JupyterHub.init_handlers`` from
    ``jupyterhub.handlers.default_handlers`` and ``jupyterhub.apihandlers.default_handlers``, after the
    configuration is loaded, and take the first match. ``c.JupyterHub.extra_handlers`` (deprecated since 3.1)
    comes after those lists, so it cannot replace a route. Calling this again changes nothing more.
    """
    from jupyterhub import apihandlers, handlers

    for routes, ours in ((apihandlers.default_handlers, api), (handlers.default_handlers, pages)):
        patterns = {pattern for pattern, *_ in ours}
        routes[:] = [h for h in routes if h[0] not in patterns] + list(ours)


def _get_spawner(self, server_name="", replace_failed=False):
    spawner = self.spawners[server_name]
    if replace_failed and spawner._failed:
        self.log.debug(f"Discarding failed spawner {spawner._log_name}")
        self.spawners.pop(server_name)
        spawner = self.spawners[server_name]  # created *and* kept by the spawner dict
    return spawner


def keep_replaced_spawner() -> bool:
    """JupyterHub 6's ``User.get_spawner(replace_failed=True)`` discards a failed spawner and creates a new
    one, but does not put the new one in ``user.spawners`` (5.x did). After any failed start (a refused
    request, a session that waited too long) the next start then runs on a spawner the hub's handlers cannot
    see: the REST API answers 201 "ready" while the job is still pending, the progress page shows nothing,
    and the port callback finds no starting server. This restores 5.x's behaviour on 6; on 5 it does nothing.
    Returns whether it patched."""
    if _major() < 6 or getattr(User.get_spawner, "__module__", "") == __name__:
        return False
    _get_spawner.__doc__ = User.get_spawner.__doc__
    User.get_spawner = _get_spawner
    return True


def stale_login_is_sent_to_log_in() -> bool:
    """JupyterHub 6's ``BaseHandler.refresh_auth`` reads ``self._token_authenticated``, which only a request
    authenticated by a token sets. When the authenticator's ``refresh_user`` answers False for a request
    authenticated by its cookie (someone taken out of the group, a grant the provider refused), the read raises
    AttributeError: the hub logs "Failed to get current user" with a traceback instead of its warning that the
    login is stale, and the person is treated as not logged in. A class default of False is what the code means
    (not token-authenticated), and the hub then says and does what it intends. On 5, which never reads it before
    setting it, this does nothing. Returns whether it patched."""
    from jupyterhub.handlers.base import BaseHandler

    if _major() < 6 or hasattr(BaseHandler, "_token_authenticated"):
        return False
    BaseHandler._token_authenticated = False
    return True
