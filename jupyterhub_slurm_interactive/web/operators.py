"""The operators' view, ``/hub/sessions``: every session of every user, and the partition's free GPUs.

For hub admins only (others get 403). Each row is a session's card
(:mod:`web.cards`) with its user, server and how long it has been idle; its Stop
leads to ``/hub/sessions/stop``, which shows the session and asks the reason (the
user is shown it, on their card and in their open JupyterLab tabs); the form POST
(XSRF-checked by the hub) then stops it as JupyterHub's own stop does. Below, the
free-resource table outside reservations and in each reservation, from the hub's
shared view of the cluster (no extra Slurm query).
"""

from __future__ import annotations

from datetime import datetime, timezone

from jupyterhub import orm
from jupyterhub.handlers import BaseHandler
from jupyterhub.utils import url_path_join
from tornado import web

from jupyterhub_slurm_interactive.choice.request import NAME
from jupyterhub_slurm_interactive.cluster.availability import build_table
from jupyterhub_slurm_interactive.session.life import NotStarting
from jupyterhub_slurm_interactive.web.bodies import clean_text
from jupyterhub_slurm_interactive.web.interface import session_spawner
from jupyterhub_slurm_interactive.words import clock_time, duration

#: The longest reason an operator may give (the user reads it on their card).
MAX_REASON = 300


def stop_reason(text: str) -> str:
    """An operator's reason as the user is shown it: one line, without escapes or control characters;
    ValueError when empty or longer than :data:`MAX_REASON`."""
    reason = " ".join(clean_text(text or "").split())
    if not reason:
        raise ValueError("Give the reason: the user is shown it on their session's card.")
    if len(reason) > MAX_REASON:
        raise ValueError(f"The reason has at most {MAX_REASON} characters; this one has {len(reason)}.")
    return reason


def landing(handler) -> str:
    """Where a login lands when it names no page (``JupyterHub.default_url``): an administrator with no
    session of their own on this page, where their work is; everyone else where JupyterHub sends them
    (their running session, or the form)."""
    user = handler.current_user
    if user is not None and getattr(user, "admin", False) and not any(s.active for s in user.spawners.values()):
        return url_path_join(handler.hub.base_url, "sessions")
    return ""


def idle_since(last_activity: datetime | None, now: datetime | None = None) -> str:
    """"12 min (since 10:30 UTC)" from JupyterHub's naive-UTC last_activity; "–" if never."""
    if last_activity is None:
        return "–"
    when = last_activity if last_activity.tzinfo else last_activity.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return f"{duration(max(0.0, (now - when).total_seconds()))} (since {when:%H:%M} UTC)"


class SessionsPage(BaseHandler):
    """GET lists every session; POST stops one (user and server in the form)."""

    def _require_admin(self):
        user = self.current_user
        if user is None or not user.admin:
            raise web.HTTPError(403, "Only the hub's administrators see every session")
        return user

    @web.authenticated
    async def get(self):
        admin = self._require_admin()
        rows = []
        active = self.db.query(orm.Spawner).filter(orm.Spawner.server_id.isnot(None))
        for orm_spawner in sorted(active, key=lambda s: (s.user.name, s.name)):
            user = self.users[orm_spawner.user]
            spawner = session_spawner(user.spawners[orm_spawner.name])
            if spawner is None:
                continue
            card = await spawner.session_card()
            rows.append({**card, "user": user.name, "idle": idle_since(orm_spawner.last_activity)})
        tables, taken_at = await self._tables(admin)
        html = await self.render_template(
            "sessions.html", rows=rows, tables=tables, taken_at=taken_at,
            gpus_held=sum(int(r["gpus"] or 0) for r in rows if r["phase"] in ("starting", "running")),
            stopped=self.get_argument("stopped", ""), problem=self.get_argument("problem", ""),
            stop_url=url_path_join(self.hub.base_url, "sessions"))
        self.finish(html)

    async def _tables(self, admin):
        """The free-resource tables of the whole partition: outside reservations, then each reservation."""
        spawner = session_spawner(admin.spawner)  # any session spawner has the site's settings and the shared view
        if spawner is None:
            return [], None
        snapshot = await spawner.cluster().get(max_age=1)  # an operator's look is rare: a fresh one
        tables = [build_table(snapshot.nodes, snapshot.reservations, spawner.partition, "")]
        for reservation in snapshot.reservations:
            if reservation.active and reservation.partition in ("", spawner.partition):
                tables.append(build_table(snapshot.nodes, snapshot.reservations, spawner.partition, reservation.name))
        return tables, clock_time(snapshot.taken_at) if snapshot.taken_at else ""

    def _session_of(self, name: str, server: str):
        """The session ``name``/``server``, its spawner and its label; 400 or 404 if there is none."""
        if not NAME.match(name) or (server and not NAME.match(server)):
            raise web.HTTPError(400, "Not a user or server name")
        user = self.find_user(name)
        if user is None or server not in user.orm_spawners:
            raise web.HTTPError(404, f"No session {name}/{server}")
        spawner = session_spawner(user.spawners[server])
        label = f"{name}/{server}" if server else name
        if spawner is None:
            raise web.HTTPError(404, f"{label} is not an interactive Slurm session")
        return user, spawner, label

    @web.authenticated
    async def post(self):
        admin = self._require_admin()
        name, server = self.get_body_argument("user", ""), self.get_body_argument("server", "")
        here = url_path_join(self.hub.base_url, "sessions")
        user, spawner, label = self._session_of(name, server)
        if not spawner.active or spawner.pending == "stop":
            self.redirect(f"{here}?problem={label} is not running")
            return
        try:
            reason = stop_reason(self.get_body_argument("reason", ""))
        except ValueError as e:  # nothing is stopped: the page again, with what was typed and why
            await self._confirm(user, spawner, problem=str(e), typed=self.get_body_argument("reason", "")[:1000])
            return
        self.log.info("%s stops %s's session %r from the operators' view: %s", admin.name, name, server, reason)
        spawner.session.note_operator(admin.name, reason)
        if spawner.pending:
            # queued or starting: cancelled at once, as the user's own Cancel does
            try:
                await spawner.cancel_start()
            except NotStarting:
                self.redirect(f"{here}?problem={label} is between two states: try again in a moment")
                return
        else:
            await spawner.save_before_stop()  # while the route still leads to it: JupyterHub's stop removes it
            await self.stop_single_user(user, server)
        self.redirect(f"{here}?stopped={label}")

    async def _confirm(self, user, spawner, problem: str = "", typed: str = ""):
        card = await spawner.session_card()
        self.set_status(400 if problem else 200)
        self.finish(await self.render_template(
            "sessions_stop.html", row={**card, "user": user.name}, problem=problem, typed=typed,
            max_reason=MAX_REASON, stop_url=url_path_join(self.hub.base_url, "sessions"),
            back_url=url_path_join(self.hub.base_url, "sessions")))


class StopPage(SessionsPage):
    """GET ``/hub/sessions/stop?user=NAME&server=SERVER``: the session, and the reason its user will read."""

    @web.authenticated
    async def get(self):
        self._require_admin()
        user, spawner, label = self._session_of(self.get_argument("user", ""), self.get_argument("server", ""))
        if not spawner.active or spawner.pending == "stop":
            self.redirect(url_path_join(self.hub.base_url, "sessions") + f"?problem={label} is not running")
            return
        await self._confirm(user, spawner)


HANDLERS = [(r"/sessions", SessionsPage), (r"/sessions/stop", StopPage)]
