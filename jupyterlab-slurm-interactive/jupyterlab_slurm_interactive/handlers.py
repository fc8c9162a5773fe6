"""``GET {base_url}slurm-interactive/session``: this session, for its owner.

``squeue`` runs at most once a minute, however many tabs ask; everything else comes
from the job's environment (:mod:`.session`).
"""

from __future__ import annotations

import asyncio
import json
import os
import time

from jupyter_server.base.handlers import APIHandler
from tornado import web

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
