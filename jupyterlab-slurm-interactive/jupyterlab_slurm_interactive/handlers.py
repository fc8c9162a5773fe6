"""``GET {base_url}slurm-interactive/session``: this session, for its owner.

``squeue`` runs at most once a minute, however many tabs ask; everything else comes
from the job's environment (:mod:`.session`).

``{base_url}slurm-interactive/stopping``: the hub's word before it stops the session (POST), the tabs'
look for it (GET ``?tab=ID``) and their answer once saved (POST ``…/stopping/saved``), :mod:`.notice`.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time

from jupyter_server.base.handlers import APIHandler
from tornado import web

from .notice import MAX_WAIT
from .session import SQUEUE_FORMAT, parse_times, session_info

#: how long one answer of squeue is used
CACHE_SECONDS = 60.0


class JobTimes:
    """The job's start and end, asked of squeue at most once per ``CACHE_SECONDS``."""

    def __init__(self, job_id: str, cache_seconds: float = CACHE_SECONDS):
        self.job_id = job_id
        self.cache_seconds = cache_seconds
        self._value: tuple[float | None, float | None] = (None, None)
        self._asked_at = float("-inf")
        self._lock = asyncio.Lock()

    def forget(self):
        """The job's end has changed (time was added): the next look asks squeue again."""
        self._asked_at = float("-inf")

    async def get(self) -> tuple[float | None, float | None]:
        async with self._lock:
            if time.monotonic() - self._asked_at >= self.cache_seconds and self.job_id.isdigit():
                self._asked_at = time.monotonic()
                try:
                    process = await asyncio.create_subprocess_exec(
                        "squeue", "--noheader", f"--jobs={self.job_id}", f"--format={SQUEUE_FORMAT}",
                        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
                    out, _ = await asyncio.wait_for(process.communicate(), 10)
                except (OSError, asyncio.TimeoutError):
                    return self._value
                times = parse_times(out.decode(errors="replace"))
                if times != (None, None):
                    self._value = times
            return self._value


class SessionHandler(APIHandler):
    """GET: this session's job, node, resources and times (JSON)."""

    @web.authenticated
    async def get(self):
        times = self.settings["slurm_interactive_times"]
        started_at, ends_at = await times.get()
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(session_info(dict(os.environ), started_at, ends_at, time.time())))


#: A tab's id, as the page makes it.
_TAB = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def _body(handler: APIHandler, max_bytes: int = 8192) -> dict:
    raw = handler.request.body or b""
    if len(raw) > max_bytes:
        raise web.HTTPError(413, "Body too large")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise web.HTTPError(400, "Body must be a JSON object")
    if not isinstance(body, dict):
        raise web.HTTPError(400, "Body must be a JSON object")
    return body


def _tab(value) -> str:
    if not isinstance(value, str) or not _TAB.match(value):
        raise web.HTTPError(400, "tab: the page's id, letters, digits and hyphens")
    return value


class StoppingHandler(APIHandler):
    """GET ``?tab=ID``: whether the session is being stopped (``{"notice": null}`` or who and why).
    POST ``{"by": NAME, "reason": TEXT, "wait": SECONDS}``: the hub's word; answered once the open tabs
    have saved, or after ``wait``, with ``{"tabs": N, "saved": M}``."""

    @web.authenticated
    def get(self):
        notice = self.settings["slurm_interactive_notice"].looked(_tab(self.get_argument("tab", "")))
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps({"notice": notice}))

    @web.authenticated
    async def post(self):
        body = _body(self)
        by, reason, wait = body.get("by", ""), body.get("reason", ""), body.get("wait", 10)
        if not isinstance(by, str) or len(by) > 64 or not isinstance(reason, str) or len(reason) > 500:
            raise web.HTTPError(400, "by: at most 64 characters; reason: at most 500")
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= MAX_WAIT:
            raise web.HTTPError(400, f"wait: seconds, from 0 to {MAX_WAIT:.0f}")
        answer = await self.settings["slurm_interactive_notice"].announce(by, reason, float(wait))
        self.log.info("slurm-interactive: stopping (by %s): %d open tab(s), %d saved", by or "?",
                      answer["tabs"], answer["saved"])
        self.finish(json.dumps(answer))


class SavedHandler(APIHandler):
    """POST ``{"tab": ID, "id": NOTICE}``: this tab has saved its documents for that notice."""

    @web.authenticated
    def post(self):
        body = _body(self)
        notice_id = body.get("id")
        if not isinstance(notice_id, str):
            raise web.HTTPError(400, "id: the notice's id")
        if not self.settings["slurm_interactive_notice"].saved(_tab(body.get("tab")), notice_id):
            raise web.HTTPError(409, "No such notice")
        self.finish(json.dumps({"ok": True}))
