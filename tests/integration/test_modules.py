"""Environment modules in a session: `module` in JupyterLab's terminals, typed through the terminal's websocket as
a person types, and kernels that load modules, written by slurm-interactive-kernel, for a release's Python and
for the user's own environment."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from .conftest import HUB, HUB_CA_FILE, RELEASES_DIR, release_names, sh
from .test_releases import in_session, run_code, start

pytestmark = pytest.mark.integration


async def _type(url: str, token: str, line: str, timeout: float) -> str:
    """Type a line into a terminal over its websocket; what the terminal shows until the line is done."""
    ws = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {token}"}, connect_timeout=30,
                                             ca_certs=HUB_CA_FILE or None))
    try:
        # the end is said as $((6*7)): the terminal echoes what was typed, which must not count as the end
        ws.write_message(json.dumps(["stdin", f"{line}; echo THE-END-$((6*7))\r"]))
        shown = ""
        while "THE-END-42" not in shown:
            raw = await asyncio.wait_for(ws.read_message(), timeout)
            if raw is None:
                raise AssertionError(f"the terminal's websocket closed; it showed: {shown!r}")
            kind, *content = json.loads(raw)
            if kind == "stdout":
                shown += content[0]
        return shown
    finally:
        ws.close()


def in_terminal(hub, user: str, line: str, timeout: float = 120) -> str:
    """Open a JupyterLab terminal in the user's session, type a line, close the terminal; what it showed."""
    r = in_session(hub, user, "POST", "api/terminals")
    assert r.status_code == 200, r.text
    name = r.json()["name"]
    try:
        url = f"{HUB.replace('http', 'ws', 1)}/user/{user}/terminals/websocket/{name}"
        return asyncio.run(_type(url, hub.user_token(user), line, timeout))
    finally:
        in_session(hub, user, "DELETE", f"api/terminals/{name}")


def test_module_avail_and_load_work_in_a_terminal(hub, clean):
    start(hub, "alice")
    shown = in_terminal(hub, "alice", "module -t avail 2>&1 | grep -E '^(gcc|blas)/'; module load blas/3.11 && "
                                      'echo "CC=$CC BLAS_ROOT=$BLAS_ROOT loaded=$LOADEDMODULES python=$(command -v python)"')
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown).splitlines()]
    assert "gcc/12" in lines and "blas/3.11" in lines, shown
    # blas loads the compiler it needs; each sets what a user's build reads
    assert "CC=/usr/bin/gcc-12 BLAS_ROOT=/usr/lib/" in shown and "loaded=gcc/12:blas/3.11" in shown
    # a terminal is a login shell, whose /etc/profile sets PATH anew: the session's release is first again
    assert f"python={RELEASES_DIR}/{release_names()[0]}/bin/python" in shown, shown


def test_a_kernel_that_loads_modules_for_the_users_own_environment(hub, clean):
    """The user's own environment (python -m venv), with ipykernel: here the release's, through a .pth file,
    so that the test needs no package index. slurm-interactive-kernel writes the kernel; the session's server
    starts it on Unix sockets, and the kernel opens no TCP socket of its own (the node's IPython configuration,
    which a release's environment does not carry to the user's)."""
    release = release_names()[0]
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = sh(f"{RELEASES_DIR}/{release}/bin/python", "-c", purelib).stdout.strip()
    mine, kernel_dir = "/home/alice/envs/mine", "/home/alice/.local/share/jupyter/kernels/mine-blas"
    sh("rm", "-rf", mine, kernel_dir, user="alice")
    start(hub, "alice")
    try:
        shown = in_terminal(hub, "alice", f"python3 -m venv {mine} && echo {site} > "
                                          f'"$({mine}/bin/python -c "{purelib}")/release.pth" && '
                                          f"slurm-interactive-kernel mine-blas --modules blas/3.11 --python {mine}/bin/python")
        assert "wrote the kernel 'mine-blas'" in shown, shown
        # a module the node does not offer is refused in a sentence, and nothing is written
        refused = in_terminal(hub, "alice", "slurm-interactive-kernel other --modules cuda/12")
        assert "--modules: not offered on this node: cuda/12" in refused, refused
        check_the_kernel(hub)
    finally:
        sh("rm", "-rf", mine, kernel_dir, user="alice")


def check_the_kernel(hub):
    specs = in_session(hub, "alice", "GET", "api/kernelspecs").json()["kernelspecs"]
    assert specs["mine-blas"]["spec"]["display_name"] == "mine-blas (blas/3.11)" and "other" not in specs
    out = run_code(hub, "alice", "mine-blas", "import os, sys, json, psutil, ipykernel\n"
                                              "info = json.load(open(ipykernel.get_connection_file()))\n"
                                              "print(sys.prefix, os.environ['BLAS_ROOT'], os.environ['CC'])\n"
                                              "print(info['transport'], len(psutil.Process().net_connections('inet')))")
    first, second = out.strip().splitlines()
    assert first.split() == ["/home/alice/envs/mine", first.split()[1], "/usr/bin/gcc-12"], out
    assert first.split()[1].endswith("-linux-gnu/blas")
    assert second.split() == ["ipc", "0"], out
