"""A server told to stop (Slurm's SIGTERM at Stop, a cancel or the walltime) ends, instead of hanging.

jupyter_server cleans up and stops its event loop at once, with requests still in flight. A request
whose work runs in a thread (``anyio.to_thread``: the contents API lists a directory that way) holds
an AnyIO worker thread that AnyIO ends only when the request's task ends; once the loop has stopped
that task never ends, and Python waits for the thread before it exits, forever. Slurm then kills the
server after ``KillWait`` (30 s by default) and keeps the job, and its GPUs, until it does.

:func:`finish_requests` is the remedy: while the loop still runs, let the requests in flight finish
(a directory listing takes a fraction of a second), cancel those that take longer than a grace
period, and wait for them to unwind. Websockets are left alone: they last as long as their page, and
jupyter_server closes them itself. It is a plain coroutine; :mod:`.stop_app` runs it as the server
stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from tornado.web import RequestHandler
from tornado.websocket import WebSocketHandler


def handler_of(task: asyncio.Task) -> RequestHandler | None:
    """The tornado handler whose request this task answers (``RequestHandler._execute``), or None."""
    coro = task.get_coro()
    frame = getattr(coro, "cr_frame", None)
    if frame is None or getattr(coro, "cr_code", None) is not RequestHandler._execute.__code__:
        return None
    handler = frame.f_locals.get("self")
    return handler if isinstance(handler, RequestHandler) else None


def requests_in_flight(tasks: Iterable[asyncio.Task]) -> list[asyncio.Task]:
    """The tasks answering HTTP requests, without websockets."""
    found = []
    for task in tasks:
        if task.done():
            continue
        handler = handler_of(task)
        if handler is not None and not isinstance(handler, WebSocketHandler):
            found.append(task)
    return found


async def finish_requests(
    grace: float = 5.0,
    unwind: float = 2.0,
    tasks: Callable[[], Iterable[asyncio.Task]] = asyncio.all_tasks,
    log: logging.Logger | None = None,
) -> tuple[int, int]:
    """Wait up to `grace` seconds for the requests in flight to finish, then cancel the rest and give
    them `unwind` seconds. Returns (finished, cancelled). A request that arrives meanwhile on an open
    connection is waited for too."""
    log = log or logging.getLogger(__name__)
    deadline = time.monotonic() + grace
    finished: set[asyncio.Task] = set()
    pending = requests_in_flight(tasks())
    while pending and time.monotonic() < deadline:
        done, _ = await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic()))
        finished |= done
        pending = requests_in_flight(tasks())
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=unwind)
        log.warning("slurm-interactive: stopping: cancelled %d request(s) still running after %.0f s",
                    len(pending), grace)
    if finished:
        log.info("slurm-interactive: stopping: %d request(s) in flight finished first", len(finished))
    return len(finished), len(pending)
