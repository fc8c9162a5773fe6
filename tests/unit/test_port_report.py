"""The session's server reports its port once it listens (jupyterlab_slurm_interactive.port), and the
batch script starts it that way only for a release that has it."""

import asyncio
import json
import logging
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "jupyterlab-slurm-interactive"))

from jupyterlab_slurm_interactive.port import listening_port, report_port, report_request  # noqa: E402
from tornado.httpclient import HTTPClientError  # noqa: E402

from jupyterhub_slurm_interactive.choice.releases import Release  # noqa: E402
from jupyterhub_slurm_interactive.session.batch_script import SiteSettings, server_command  # noqa: E402

ENV = {"JUPYTERHUB_API_URL": "http://127.0.0.1:8081/hub/api/", "JUPYTERHUB_API_TOKEN": "secret-of-this-session"}


class FakeServer:
    """What report_port reads of a ServerApp: its log, its http_server and that server's sockets."""

    def __init__(self, sockets=None):
        self.log = logging.getLogger("test-port")
        self.http_server = type("HTTPServer", (), {"_sockets": sockets or {}})()


def test_the_port_is_the_one_the_socket_listens_on():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert listening_port(FakeServer({s.fileno(): s}).http_server) == s.getsockname()[1]
    assert listening_port(FakeServer().http_server) == 0
    assert listening_port(None) == 0


def test_the_report_carries_the_sessions_own_token_to_the_port_endpoint():
    url, headers, context = report_request(ENV)
    assert url == "http://127.0.0.1:8081/hub/api/batchspawner"
    assert headers["Authorization"] == "token secret-of-this-session"
    assert context is None  # no internal SSL here


def test_the_port_is_reported_only_once_the_server_listens():
    sent = []

    async def fetch(url, **kw):
        sent.append((url, json.loads(kw["body"]), kw["headers"]["Authorization"]))

    async def scenario():
        app = FakeServer()
        task = asyncio.ensure_future(report_port(app, ENV, fetch))
        await asyncio.sleep(0.05)
        assert not sent  # not listening yet: nothing announced
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            app.http_server._sockets[s.fileno()] = s
            port = await task
            assert port == s.getsockname()[1]
        return port

    port = asyncio.run(scenario())
    assert sent == [("http://127.0.0.1:8081/hub/api/batchspawner", {"port": port}, "token secret-of-this-session")]


def test_a_refusal_is_final_and_a_hub_away_is_asked_again(monkeypatch):
    import jupyterlab_slurm_interactive.port as port_module
    monkeypatch.setattr(port_module, "PAUSE", 0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        calls = []

        async def refusing(url, **kw):
            calls.append(url)
            raise HTTPClientError(409, "not starting")
        assert asyncio.run(report_port(FakeServer({1: s}), ENV, refusing)) == 0 and len(calls) == 1

        calls.clear()

        async def away_then_back(url, **kw):
            calls.append(url)
            if len(calls) < 3:
                raise ConnectionRefusedError("hub restarting")
        assert asyncio.run(report_port(FakeServer({1: s}), ENV, away_then_back)) == s.getsockname()[1]
        assert len(calls) == 3


def test_a_release_with_the_extension_starts_the_server_on_a_port_of_its_own():
    settings = SiteSettings(server_cmd=("jupyterhub-singleuser",), server_args=("--debug",))
    ours = Release("2026.11", "2026-11-21", "/opt/releases/2026.11",
                   packages={"jupyterlab-slurm-interactive": "1.0.0"})
    other = Release("2025.05", "2025-05-01", "/opt/releases/2025.05", packages={"jupyterlab": "4.4.0"})
    assert server_command(ours, settings) == ["jupyterhub-singleuser", "--port=0", "--debug"]
    assert server_command(other, settings) == ["/opt/releases/2025.05/bin/batchspawner-singleuser",
                                               "jupyterhub-singleuser", "--debug"]
