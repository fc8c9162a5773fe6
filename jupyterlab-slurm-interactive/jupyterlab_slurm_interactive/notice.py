"""The hub's word that this session is about to be stopped, and the open tabs' answer.

Before the hub cancels a running session's job (the user's Stop, an operator's, the idle culler's),
it tells the server (``POST {base_url}slurm-interactive/stopping``, with the server's own token) who
stops it and why. Every open JupyterLab tab looks every few seconds (``GET``); on the word it saves
its open documents, says so (``POST …/stopping/saved``) and shows who stopped the session and why.
The hub's POST is answered once every tab seen lately has saved, or after the wait it gave: a session
with no tab open is stopped at once. :class:`StopNotice` is the logic, with no server in it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable

#: A tab that looked within this many seconds is open (the page looks every 3 s).
OPEN_WITHIN = 10.0
#: The most the hub may ask the tabs to be waited for.
MAX_WAIT = 60.0


class StopNotice:
    def __init__(self, clock: Callable[[], float] = time.monotonic, open_within: float = OPEN_WITHIN):
        self.clock = clock
        self.open_within = open_within
        self.notice: dict | None = None
        self._looked: dict[str, float] = {}
        self._waiting_for: set[str] = set()
        self._saved: set[str] = set()
        self._all_saved = asyncio.Event()

    def looked(self, tab: str) -> dict | None:
        """A tab looks: the notice, if the session is being stopped."""
        self._looked[tab] = self.clock()
        return self.notice

    def open_tabs(self) -> set[str]:
        now = self.clock()
        return {tab for tab, at in self._looked.items() if now - at <= self.open_within}

    async def announce(self, by: str, reason: str, wait: float) -> dict:
        """The session is about to be stopped by ``by`` (for ``reason``): wait at most ``wait`` seconds
        for the open tabs to save. Returns how many tabs were open and how many saved."""
        self.notice = {"id": secrets.token_hex(8), "by": by, "reason": reason}
        self._waiting_for, self._saved = self.open_tabs(), set()
        self._all_saved = asyncio.Event()
        if self._waiting_for:
            try:
                await asyncio.wait_for(self._all_saved.wait(), timeout=max(0.0, min(wait, MAX_WAIT)))
            except asyncio.TimeoutError:
                pass
        return {"tabs": len(self._waiting_for), "saved": len(self._saved & self._waiting_for)}

    def saved(self, tab: str, notice_id: str) -> bool:
        """A tab has saved its documents for the notice ``notice_id``; False for another notice."""
        if self.notice is None or notice_id != self.notice["id"]:
            return False
        self._saved.add(tab)
        if self._waiting_for <= self._saved:
            self._all_saved.set()
        return True
