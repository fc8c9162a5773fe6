"""The releases as a user finds them inside a session: kernels that run code, their own kernels,
the GPUs Slurm gave them, and the cluster's batch queue from the Slurm panel."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import uuid

import pytest
import requests
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from .conftest import HUB, HUB_CA_FILE, RELEASES_DIR, hub_log_tail, release_names, scontrol_job, sh, squeue, wait_for
from .conftest import release_manifest as manifest


def newest() -> str:
    return release_names()[0]


def in_session(hub, user: str, method: str, path: str, server: str = "", **kw) -> requests.Response:
    """A request to the user's session (its default one, or a named one) through the hub's proxy, with the
    user's token."""
    headers = {"Authorization": f"token {hub.user_token(user)}"}
    prefix = f"{user}/{server}" if server else user
    return requests.request(method, f"{HUB}/user/{prefix}/{path.lstrip('/')}", headers=headers, timeout=60, **kw)


async def _execute(url: str, token: str, code: str, timeout: float) -> tuple[str, str]:
    """Run code on a kernel over its channels websocket; return (stdout, error)."""
    ws = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {token}"}, connect_timeout=30,
                                                ca_certs=HUB_CA_FILE or None))
    msg_id = uuid.uuid4().hex
    ws.write_message(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": uuid.uuid4().hex,
                   "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    out, error = [], ""
    try:
        while True:
            raw = await asyncio.wait_for(ws.read_message(), timeout)
            if raw is None:
                raise AssertionError("the kernel's websocket closed")
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                error = f"{msg['content']['ename']}: {msg['content']['evalue']}"
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(out), error
    finally:
        ws.close()


def run_code(hub, user: str, kernel: str, code: str, timeout: float = 90, server: str = "") -> str:
    """Start a kernel of the session, run code in it, shut it down; the code's output."""
    r = in_session(hub, user, "POST", "api/kernels", server=server, json={"name": kernel})
    assert r.status_code == 201, r.text
    kernel_id = r.json()["id"]
    prefix = f"{user}/{server}" if server else user
    try:
        url = f"{HUB.replace('http', 'ws', 1)}/user/{prefix}/api/kernels/{kernel_id}/channels"
        out, error = asyncio.run(_execute(url, hub.user_token(user), code, timeout))
    finally:
        in_session(hub, user, "DELETE", f"api/kernels/{kernel_id}", server=server)
    assert not error, f"{kernel}: {error}"
    return out


def start(hub, user: str, **options) -> dict:
    r = hub.start(user, options)
    assert r.status_code in (201, 202), r.text
    return hub.wait_ready(user, timeout=180)


def test_a_server_starts_without_building_iri_parsers(stack):
    """jsonschema checks the "iri" format with rfc3987 when the release has it; otherwise it imports
    rfc3987-syntax, whose 35 Earley parsers cost every server about a second at start."""
    for name in release_names():
        found = sh(f"{RELEASES_DIR}/{name}/bin/python", "-c",
                   "import sys, jupyter_server.serverapp, jupyterhub.singleuser.extension; "
                   "print(sorted(m for m in sys.modules if m.startswith('rfc3987')))").stdout.strip()
        assert found == "['rfc3987']", name


def test_each_kernel_of_the_newest_release_runs_code(hub, clean):
    name = newest()
    m = manifest(name)
    start(hub, "alice", release=name)
    specs = in_session(hub, "alice", "GET", "api/kernelspecs").json()["kernelspecs"]
    assert {"python3", "data", "ir"} <= set(specs)
    assert sorted(k["name"] for k in m["kernels"]) == sorted(k for k in specs if k in {"python3", "data", "ir"})

    out = run_code(hub, "alice", "python3", "import sys; print(sys.prefix)")
    assert out.strip() == os.path.join(RELEASES_DIR, name)
    # the data-science environment is its own, with the versions its manifest lists
    out = run_code(hub, "alice", "data", "import sys, numpy, pandas, scipy, matplotlib\n"
                                         "print(sys.prefix, numpy.__version__, pandas.__version__)")
    assert out.split() == [os.path.join(RELEASES_DIR, name, "envs", "data"), m["packages"]["numpy"],
                           m["packages"]["pandas"]]
    out = run_code(hub, "alice", "ir", 'cat(6 * 7, R.version$major, "\\n")')
    assert out.split() == ["42", m["packages"]["R"].split(".")[0]]


def test_a_kernel_installed_in_the_home_appears_in_the_next_session(hub, clean):
    spec_dir = "/home/alice/.local/share/jupyter/kernels/alice-project"
    sh("mkdir", "-p", spec_dir, user="alice")
    spec = {"argv": ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Alice's project", "language": "python"}
    sh("tee", f"{spec_dir}/kernel.json", input=json.dumps(spec), user="alice")
    try:
        start(hub, "alice")
        specs = in_session(hub, "alice", "GET", "api/kernelspecs").json()["kernelspecs"]
        assert specs["alice-project"]["spec"]["display_name"] == "Alice's project"
    finally:
        shutil.rmtree(spec_dir, ignore_errors=True)


def allocated_gpu_indices(job_id: str) -> str:
    """The GPU indices Slurm gave the job, as CUDA_VISIBLE_DEVICES spells them ("" for none)."""
    detail = sh("scontrol", "-d", "-o", "show", "job", job_id).stdout
    match = re.search(r"GRES=gpu(?::\w+)?:\d+\(IDX:([\d,-]+)\)", detail)
    if not match:
        return ""
    indices = []
    for part in match.group(1).split(","):
        low, _, high = part.partition("-")
        indices += range(int(low), int(high or low) + 1)
    return ",".join(map(str, indices))


@pytest.mark.parametrize("gpus", [0, 1, 2])
def test_a_session_sees_exactly_the_gpus_slurm_gave_it(hub, clean, gpus):
    server = start(hub, "alice", gpus=gpus)
    job_id = server["state"]["job_id"]
    expected = allocated_gpu_indices(job_id)
    assert len([i for i in expected.split(",") if i]) == gpus
    out = run_code(hub, "alice", "python3", "import os; print(repr(os.environ.get('CUDA_VISIBLE_DEVICES')))")
    assert out.strip() == repr(expected)


def test_the_slurm_panel_lists_alices_jobs_and_submits_to_the_batch_partition(hub, clean):
    name = newest()
    if "jupyterlab-slurm" not in manifest(name)["packages"]:
        pytest.fail(f"the newest release {name} has no Slurm panel (jupyterlab-slurm)")
    server = start(hub, "alice", release=name)
    script = "#!/bin/bash\n#SBATCH --time=1\n#SBATCH --mem=100M\n#SBATCH --job-name=from-the-panel\n" \
             "echo ran on $(hostname) as $(id -un); sleep 5\n"
    r = in_session(hub, "alice", "PUT", "api/contents/panel-job.sh",
                   json={"type": "file", "format": "text", "content": script})
    assert r.status_code in (200, 201), r.text
    try:
        r = in_session(hub, "alice", "POST", "jupyterlab_slurm/sbatch",
                       json={"inputPath": "/home/alice/panel-job.sh", "outputPath": "/home/alice"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["success"], body
        job_id = str(body["data"]["jobId"])

        # the panel's queue shows alice's jobs: the session and the batch job
        rows = in_session(hub, "alice", "GET", "jupyterlab_slurm/squeue").json()["data"]["rows"]
        ids = {row[0] for row in rows}
        assert server["state"]["job_id"] in ids
        assert job_id in ids or not [j for j in squeue() if j["id"] == job_id]  # listed, unless already done

        def finished():
            line = sh("sacct", "-n", "-P", "-X", "-j", job_id, "-o", "Partition,User,State,NodeList").stdout.strip()
            return line if line.split("|")[2:3] == ["COMPLETED"] else None
        partition, user, _, node = wait_for(finished, 60, 1, "the batch job to complete").split("|")
        assert (partition, user) == ("batch", "alice")
        assert node in ("node05", "node06")
        with open(f"/home/alice/slurm-{job_id}.out") as f:
            assert f.read().split() == ["ran", "on", sh("hostname").stdout.strip(), "as", "alice"]
    finally:
        in_session(hub, "alice", "DELETE", "api/contents/panel-job.sh")  # its output goes with `clean`


def test_the_batch_partition_takes_plain_jobs_and_sessions_keep_to_interactive(hub, clean):
    partitions = {}
    for line in sh("sinfo", "-h", "-o", "%P|%D|%G").stdout.split():
        name, count, gres = line.split("|")
        partitions[name] = (int(count), gres)
    assert partitions["batch*"] == (2, "(null)")  # the default, two CPU-only nodes
    job = sh("sbatch", "--parsable", "-t", "1", "--mem=100M", "--wrap", "true", user="bob").stdout.strip()
    assert scontrol_job(job)["Partition"] == "batch"
    sh("scancel", job, check=False)
    server = start(hub, "bob")
    assert scontrol_job(server["state"]["job_id"])["Partition"] == "interactive"


@pytest.fixture
def broken_release():
    path = os.path.join(RELEASES_DIR, "2099.01")
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "release.json"), "w") as f:
        f.write('{"name": "2099.01", "date": ')  # cut short
    yield "2099.01"
    shutil.rmtree(path, ignore_errors=True)


def test_a_broken_release_is_left_out_and_a_request_for_it_refused(hub, clean, broken_release):
    def refused_and_named():
        # the hub reads the releases again every few seconds: the first requests may come before it
        # has seen the broken one, and are refused too (it is not an installed release yet)
        r = hub.start("bob", {"release": broken_release})
        assert r.status_code == 400, r.text
        assert "release" in r.json()["message"]
        assert hub.server("bob") is None
        return f"{RELEASES_DIR}/{broken_release}" in hub_log_tail(200)
    wait_for(refused_and_named, 20, 1, "the hub log to name the broken release")


def test_an_interface_the_release_does_not_offer_is_refused_by_name(hub, clean):
    older = [n for n in release_names() if "vscode" not in manifest(n)["interfaces"]]
    assert older, "every release offers VS Code: nothing to refuse"
    r = hub.start("bob", {"release": older[0], "ui": "vscode"})
    assert r.status_code == 400, r.text
    message = r.json()["message"]
    assert "ui" in message or "interface" in message.lower()
    assert hub.server("bob") is None
