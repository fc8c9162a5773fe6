"""A server told to stop lets its requests in flight finish (jupyterlab_slurm_interactive.stopping), so that
the threads they hold end and the process exits, instead of waiting for Slurm to kill it."""

import asyncio
import queue
import sys
import threading
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler
from tornado.websocket import WebSocketHandler, websocket_connect

sys.path.insert(0, str(Path(__file__).parents[2] / "jupyterlab-slurm-interactive"))

from jupyterlab_slurm_interactive.stopping import finish_requests, handler_of, requests_in_flight  # noqa: E402


class Worker(threading.Thread):
    """A thread like AnyIO's worker: not a daemon, and told to end only when the task that made it ends."""

    def __init__(self):
        super().__init__(name="worker like AnyIO's")
        self.jobs: queue.Queue = queue.Queue()

    def run(self):
        while (job := self.jobs.get()) is not None:
            job()

    def stop(self, _task=None):
        self.jobs.put(None)


class Listing(RequestHandler):
    """A request whose work runs in a worker thread, as the contents API lists a directory."""

    workers: list[Worker] = []
    release = threading.Event()

    async def get(self):
        worker = Worker()
        worker.start()
        self.workers.append(worker)
        asyncio.current_task().add_done_callback(worker.stop)
        done = asyncio.get_running_loop().create_future()
        loop = asyncio.get_running_loop()
        worker.jobs.put(lambda: (self.release.wait(5), loop.call_soon_threadsafe(done.set_result, "listed")))
        self.write(await done)


class Forever(RequestHandler):
    async def get(self):
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.application.settings["cancelled"].append(self.request.path)
            raise


class Events(WebSocketHandler):
    def on_message(self, message):
        self.write_message(message)


@pytest.fixture
async def server():
    Listing.workers = []
    Listing.release = threading.Event()
    app = Application([("/listing", Listing), ("/forever", Forever), ("/events", Events)], cancelled=[])
    sockets = bind_sockets(0, "127.0.0.1")
    http = HTTPServer(app)
    http.add_sockets(sockets)
    yield app, f"127.0.0.1:{sockets[0].getsockname()[1]}"
    http.stop()
    Listing.release.set()


async def until(predicate, tries=200):
    for _ in range(tries):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


async def test_a_request_in_flight_finishes_and_its_thread_ends(server):
    app, address = server
    fetch = asyncio.ensure_future(AsyncHTTPClient().fetch(f"http://{address}/listing"))
    await until(lambda: Listing.workers)
    assert len(requests_in_flight(asyncio.all_tasks())) == 1
    asyncio.get_running_loop().call_later(0.2, Listing.release.set)  # the listing takes a moment

    assert await finish_requests(grace=5) == (1, 0)

    assert (await fetch).body == b"listed"
    Listing.workers[0].join(5)
    assert not Listing.workers[0].is_alive()  # nothing left for Python to wait for at exit
    assert requests_in_flight(asyncio.all_tasks()) == []


async def test_a_request_longer_than_the_grace_is_cancelled(server):
    app, address = server
    fetch = asyncio.ensure_future(AsyncHTTPClient().fetch(f"http://{address}/forever", raise_error=False))
    await until(lambda: requests_in_flight(asyncio.all_tasks()))

    assert await finish_requests(grace=0.1, unwind=1) == (0, 1)

    assert app.settings["cancelled"] == ["/forever"]
    assert requests_in_flight(asyncio.all_tasks()) == []
    fetch.cancel()


async def test_websockets_are_left_to_the_server(server):
    app, address = server
    connection = await websocket_connect(f"ws://{address}/events")
    await connection.write_message("hello")
    assert await connection.read_message() == "hello"
    handlers = [handler_of(t) for t in asyncio.all_tasks()]
    assert any(isinstance(h, Events) for h in handlers)  # its task is there, and it is a request's

    assert await finish_requests(grace=5) == (0, 0)

    await connection.write_message("still open")
    assert await connection.read_message() == "still open"
    connection.close()


async def test_nothing_in_flight_nothing_to_wait_for():
    assert requests_in_flight(asyncio.all_tasks()) == []
    assert await finish_requests(grace=5) == (0, 0)
