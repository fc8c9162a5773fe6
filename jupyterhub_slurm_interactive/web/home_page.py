"""The home page ("My sessions", the Hub Control Panel): JupyterHub's own page, given the session cards.

:class:`HomePage` is JupyterHub's ``HomeHandler`` (5.x and 6.x), which renders ``home.html`` with the user's
servers; it adds ``session_cards`` (one card per session of ours, by name; the default session's only once
it has started) and ``named_sessions`` (how many named ones there are), so the template calls nothing.
"""

from __future__ import annotations

from jupyterhub.handlers.pages import HomeHandler

from jupyterhub_slurm_interactive.web.interface import session_spawner


async def session_cards(user, orm_spawners) -> tuple[list[dict], int]:
    """The cards of the user's sessions (``orm_spawners``, as the page has them), by name, and how many of
    them are named."""
    cards, named = [], 0
    for name in sorted({s.name for s in orm_spawners}):
        spawner = session_spawner(user.spawners[name])
        if spawner is None:
            continue
        card = await spawner.session_card()
        if name or card["phase"] != "new":
            cards.append(card)
        named += bool(name)
    return cards, named


class HomePage(HomeHandler):
    def render_template(self, name, sync=False, **ns):
        if name != "home.html" or sync or ns.get("user") is None:
            return super().render_template(name, sync, **ns)
        return self._with_cards(name, ns)

    async def _with_cards(self, name, ns):
        cards, named = await session_cards(ns["user"], ns.get("spawners") or ns["user"].orm_spawners.values())
        return await super().render_template(name, session_cards=cards, named_sessions=named, **ns)


HANDLERS = [(r"/home", HomePage)]
