"""A session's API token ends with the session.

JupyterHub revokes a server's token when it stops the server, which this spawner lets it do however the
session ends (its poll leaves the token for the hub's stop to revoke). Tokens left behind by older versions
(whose poll cleared the token first) would still open the user's later sessions: they go when the next
session of that server starts.
"""

from __future__ import annotations

from jupyterhub.utils import url_path_join


def server_token_note(spawner) -> str:
    """The note JupyterHub gives a server's token: "Server at /user/alice/"."""
    base_url = spawner.server.base_url if spawner.server else url_path_join(spawner.user.url, spawner.name, "/")
    return f"Server at {base_url}"


def revoke_stale_server_tokens(spawner) -> int:
    """Delete this server's tokens other than its current one; how many went."""
    orm_user = getattr(spawner.user, "orm_user", None)
    if orm_user is None:
        return 0
    note = server_token_note(spawner)
    stale = [t for t in orm_user.api_tokens if t.note == note and not t.match(spawner.api_token)]
    for token in stale:
        spawner.db.delete(token)
    if stale:
        spawner.log.info("%s: revoked %d stale server token(s)", spawner._log_name, len(stale))
        spawner.db.commit()
    return len(stale)
