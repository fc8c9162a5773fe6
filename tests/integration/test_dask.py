"""Dask onto the batch nodes: SLURMCluster() in a session's data-science notebook, with no arguments, grows onto
the batch partition as the session's user and account; nobody else gets into its cluster; its dashboard is
the session's own, through the session's server; and its workers end with the session."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time

import pytest
import requests

from ..browser.conftest import both_widths, browser, login, new_page, shot  # noqa: F401
from .conftest import HUB, HUB_CA_FILE, RELEASES_DIR, scontrol_job, sh, squeue, wait_for
from .test_releases import _execute, in_session, newest, start

pytestmark = pytest.mark.integration

GROW = """
from dask_jobqueue import SLURMCluster
from dask.distributed import Client
cluster = SLURMCluster()
cluster.scale(2)
client = Client(cluster)
client.wait_for_workers(2, timeout=300)
print(client.submit(sum, range(101)).result())
print(cluster.scheduler_address)
print(cluster.scheduler.http_server.port)
print(",".join(sorted(job.job_id for job in cluster.workers.values())))
print(cluster.dashboard_link)
print(sorted(w["host"] for w in client.scheduler_info()["workers"].values()))
"""

STRANGER = """
import sys
from dask.distributed import Client
from distributed.security import Security
address = sys.argv[1]
for name, security in (("none", None), ("his own", Security.temporary())):
    try:
        Client(address, security=security, timeout=15).close()
        print(name, "GOT IN")
    except Exception as e:
        print(name, "refused:", type(e).__name__)
"""


def execute(hub, kernel_id: str, code: str, timeout: float = 360) -> str:
    url = f"{HUB.replace('http', 'ws', 1)}/user/alice/api/kernels/{kernel_id}/channels"
    # in a thread of its own: the browser's driver runs an event loop in this one
    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        out, error = thread.submit(asyncio.run, _execute(url, hub.user_token("alice"), code, timeout)).result()
    assert not error, f"{error}\n{out}"
    return out


def sacct(jobs: str) -> list[list[str]]:
    out = sh("sacct", "-X", "-n", "-P", f"--jobs={jobs}", "--format=JobID,Partition,User,Account,JobName").stdout
    return sorted(line.split("|") for line in out.splitlines() if line.strip())


def test_slurmcluster_grows_onto_the_batch_nodes_privately_and_ends_with_the_session(hub, clean, new_page):
    start(hub, "alice", release=newest(), account="proj-a")
    session_job = next(j["id"] for j in squeue("--user=alice", "--name=jupyterhub-session") if j["state"] == "RUNNING")
    r = in_session(hub, "alice", "POST", "api/kernels", json={"name": "data"})
    assert r.status_code == 201, r.text
    kernel_id = r.json()["id"]

    total, address, dashboard_port, jobs, link, hosts = execute(hub, kernel_id, GROW).strip().splitlines()
    assert total == "5050"
    assert address.startswith("tls://"), address  # TLS, with the session's certificates
    workers = jobs.split(",")
    assert len(workers) == 2
    # the workers are batch jobs, as alice, charged to the session's account, named after the session
    # (accounting has them once slurmctld's records of their start reach it)
    expected = sorted([w, "batch", "alice", "proj-a", f"worker-of-{session_job}"] for w in workers)
    wait_for(lambda: sacct(jobs) == expected, 30, 0.5, what=f"sacct to show the workers as {expected}")
    # each may run the time the session has left, and never past its end
    ends = scontrol_job(session_job)["EndTime"]
    for worker in map(scontrol_job, workers):
        assert worker.get("Deadline") == ends and worker["EndTime"] <= ends, (worker.get("Deadline"), worker["EndTime"], ends)
    assert link == "/user/alice/dask-dashboard/status"

    # bob, on the node, reaches alice's scheduler: without a certificate, or with one of his own, he is refused
    stranger = sh(f"{RELEASES_DIR}/{newest()}/bin/python", "-c", STRANGER, address, user="bob",
                  check=False, timeout=120)
    assert "none refused" in stranger.stdout and "his own refused" in stranger.stdout, stranger.stdout + stranger.stderr
    assert "GOT IN" not in stranger.stdout
    # and its dashboard's TCP port asks him for a certificate he does not have
    knock = sh("curl", "-sk", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}",
               f"https://127.0.0.1:{dashboard_port}/status", user="bob", check=False)
    assert knock.stdout in ("000", ""), knock.stdout  # no HTTP answer: the TLS handshake failed

    # alice opens the dashboard through her session's server; bob's login does not open it
    page = in_session(hub, "alice", "GET", "dask-dashboard/status")
    assert page.status_code == 200 and "Dask" in page.text, page.status_code
    plots = in_session(hub, "alice", "GET", "dask-dashboard/individual-plots.json")
    assert plots.status_code == 200 and "Task Stream" in plots.text
    bobs = requests.get(f"{HUB}/user/alice/dask-dashboard/status", timeout=30, allow_redirects=False,
                        verify=HUB_CA_FILE or True, headers={"Authorization": f"token {hub.user_token('bob')}"})
    assert bobs.status_code in (302, 403, 404), bobs.status_code

    # in Chromium, while the workers compute: the dashboard draws, and JupyterLab's Dask panel opens its plots
    execute(hub, kernel_id, "import time\nbusy = client.map(lambda x: (time.sleep(0.25), x)[1], range(240))")
    page = new_page()
    login(page, "alice", "alice-demo")
    page.goto(f"{HUB}/user/alice/dask-dashboard/status", timeout=120_000)
    page.locator("canvas").first.wait_for(timeout=120_000)
    both_widths(page, "83-dask-dashboard")
    # JupyterLab's own layout, not the one an earlier session of alice's left in her workspace (?reset)
    page.goto(f"{HUB}/user/alice/lab?reset", timeout=120_000)
    page.click("li[data-id='dask-dashboard-launcher']", timeout=120_000)
    page.click("button:has-text('Task Stream')", timeout=120_000)
    page.frame_locator("iframe[src*='task-stream']").last.locator("canvas").first.wait_for(timeout=120_000)
    shot(page, "84-dask-panel")

    # Stop from the hub: no worker job is left within 10 s
    stopped = time.monotonic()
    hub.stop("alice")
    wait_for(lambda: not [j for j in squeue("--user=alice") if j["name"] == f"worker-of-{session_job}"],
             timeout=max(1.0, 10 - (time.monotonic() - stopped)), interval=0.25, what="alice's workers to end")
