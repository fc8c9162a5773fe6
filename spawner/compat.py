"""A fix for JupyterHub 6 that sessions need.

JupyterHub 6's ``User.get_spawner(replace_failed=True)`` discards a failed
spawner and creates a new one, but does not put the new one in
``user.spawners`` (5.x did). After any failed start (a refused request, a
session that waited too long) the next start then runs on a spawner the hub's
handlers cannot see: the REST API answers 201 "ready" while the job is still
pending, the progress page shows nothing, and the port callback finds no
starting server. This restores the 5.x behaviour.
"""

from __future__ import annotations

from jupyterhub.user import User


def _get_spawner(self, server_name="", replace_failed=False):
    spawner = self.spawners[server_name]
    if replace_failed and spawner._failed:
        self.log.debug(f"Discarding failed spawner {spawner._log_name}")
        self.spawners.pop(server_name)
        spawner = self.spawners[server_name]  # created *and* kept by the spawner dict
    return spawner


def apply():
    if getattr(User.get_spawner, "__module__", "") != __name__:
        _get_spawner.__doc__ = User.get_spawner.__doc__
        User.get_spawner = _get_spawner
