"""A shared node keeps each session private: bob, in a job of his own on alice's node (the partition is
oversubscribed), subscribes and connects to every TCP port listening there while alice's kernels print a
secret, and looks for her sockets, her temporary files and her runtime files. He gets nothing of hers."""

from __future__ import annotations

import concurrent.futures
import json
from pathlib import Path

import pytest

from .conftest import release_names, sh, wait_for
from .test_releases import in_session, newest, run_code, start

pytestmark = pytest.mark.integration

PROBE = Path(__file__).with_name("neighbour_probe.py")
SECRET = "SECRET-alice"
LOUD = {  # each kernel prints the secret every 0.2 s for a while
    "python3": f"import time\nfor i in range(60):\n    print('{SECRET}-%d' % i, flush=True)\n    time.sleep(0.2)\n",
    "ir": f'for (i in 1:60) {{ cat("{SECRET}-", i, "\\n", sep=""); flush(stdout()); Sys.sleep(0.2) }}',
}


def probe_as_bob(node: str, seconds: float) -> dict:
    """The probe, run by bob in a job of his own on ``node``."""
    python = f"/opt/releases/{newest()}/bin/python"
    out = sh("srun", "--quiet", "-p", "interactive", "-w", node, "--oversubscribe", "-c", "1", "--mem=300M", "-t", "5",
             python, "-", "alice", SECRET, str(seconds), user="bob", input=PROBE.read_text(), timeout=120).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("kernel", ["python3", "ir"])
def test_a_neighbour_on_the_node_gets_nothing_of_a_session(hub, clean, kernel):
    server = start(hub, "alice", release=newest())
    node = server["state"]["node"]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        loud = pool.submit(run_code, hub, "alice", kernel, LOUD[kernel], 120)
        # once alice's kernel is busy printing, bob listens on every port
        wait_for(lambda: any(k["execution_state"] == "busy" for k in in_session(hub, "alice", "GET", "api/kernels").json()),
                 60, 0.2, what="alice's kernel to print")
        report = probe_as_bob(node, 6)
        printed = loud.result()
    print(json.dumps(report))
    assert f"{SECRET}-5" in printed  # alice's kernel did print while bob listened
    assert report["victim_processes"] > 0
    assert report["heard"] == [], report
    assert report["unix_connected"] == [], report
    assert report["opened"] == [], report


@pytest.mark.parametrize("release", release_names())
def test_a_session_listens_on_its_server_port_alone(hub, clean, release):
    """Inside alice's job, with a kernel of each language running and a forked subprocess printing: the only
    listening TCP socket of hers is the server's TLS port, and the kernels' sockets (ipykernel's subprocess
    pipe too) are Unix sockets in a directory only she can enter."""
    server = start(hub, "alice", release=release)
    job = server["state"]["job_id"]
    kernels = [in_session(hub, "alice", "POST", "api/kernels", json={"name": k}).json()["id"]
               for k in ("python3", "data", "ir")]
    forked = run_code(hub, "alice", "python3", "import multiprocessing as mp\n"
                                               "p = mp.get_context('fork').Process(target=print, args=('from a child',))\n"
                                               "p.start(); p.join()\n")
    assert forked.strip() == "from a child"  # the subprocess pipe works over its Unix socket
    # no debugger: debugpy would listen on loopback TCP for whoever connects first
    for kernel in ("python3", "data"):
        assert run_code(hub, "alice", kernel, "import importlib.util; print(importlib.util.find_spec('debugpy'))"
                        ).strip() == "None"
    try:
        def runtime_dir() -> str:  # the step joins the job's own /tmp, where the batch script made the directory
            return sh("srun", "--quiet", "--jobid", job, "--overlap", "bash", "-c",
                      'cd /tmp/jupyterhub-session.*/runtime && stat -c "%a %U" . && ls', user="alice").stdout

        # five sockets for each of the three kernels once they are up, and the Python kernels' subprocess pipes
        runtime = wait_for(lambda: (lambda out: out if out.count("-ipc-") >= 15 else None)(runtime_dir()), 60, 1,
                           what="the kernels' Unix sockets")
        # ss shows the processes of the user who runs it: the lines with a pid are alice's (but for the srun
        # that runs ss itself, which listens for its step's I/O)
        listening = sh("srun", "--quiet", "--jobid", job, "--overlap", "ss", "-Hltnp", user="alice").stdout
        mine = [line for line in listening.splitlines() if "pid=" in line and '(("srun"' not in line]
        assert len(mine) == 1 and "jupyterhub-sing" in mine[0], listening
        mode_owner, *files = runtime.strip().split("\n")
        mode, owner = mode_owner.split()
        assert int(mode, 8) & 0o077 == 0 and owner == "alice", runtime  # 1700: Jupyter adds the sticky bit
        assert any(f.startswith("kernel-pipe-") for f in files), runtime
    finally:
        for k in kernels:
            in_session(hub, "alice", "DELETE", f"api/kernels/{k}")
