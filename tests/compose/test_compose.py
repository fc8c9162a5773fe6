"""The stack as separate hosts (docker-compose.yml), for real: run by `make compose-test`, which
builds and starts it under its own project and port and sets HUB_URL, HUB_ADMIN_TOKEN_FILE,
SLURM_VIA (Slurm's commands run in the slurmctld container) and COMPOSE (the compose command)."""

import os
import subprocess
import time

import pytest
import requests

from ..integration.conftest import HUB, Browser, clean, hub, scontrol_job, sh, squeue, stack, wait_for  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration

COMPOSE = os.environ.get("COMPOSE", "").split()
IMAGES = ("accounting", "controller", "node", "hubdb", "hub", "directory", "identity")


@pytest.fixture(scope="module", autouse=True)
def compose_stack(stack):
    if not COMPOSE:
        pytest.fail("COMPOSE is not set: run these tests with `make compose-test`", pytrace=False)


def compose(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run([*COMPOSE, *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def in_container(service: str, *argv: str, check: bool = False) -> subprocess.CompletedProcess:
    return compose("exec", "-T", service, *argv, check=check)


def job_of(hub, user):
    return hub.server(user)["state"]["job_id"]


def test_alice_logs_in(hub):
    assert Browser("alice").logged_in
    assert not Browser("alice", "wrong").logged_in


def test_the_table_matches_sinfo_on_the_controller(hub, clean):
    rows = {r["free_gpus"]: r for r in Browser("alice").availability().json()["rows"]}
    out = sh("sinfo", "-h", "-N", "-p", "interactive",
             "-O", "NodeList:20,StateLong:20,CPUsState:20,Memory:12,AllocMem:12,Gres:20,GresUsed:40").stdout
    expected: dict[int, list] = {}
    for line in out.splitlines():
        node, state, cpus, memory, alloc_mem, gres, gres_used = line.split()
        if state not in ("idle", "mixed", "allocated"):
            continue  # reserved, down or drained: not offered outside reservations
        _, idle, _, _ = (int(x) for x in cpus.split("/"))
        free_gpus = int(gres.split(":")[-1].split("(")[0]) - int(gres_used.split(":")[-1].split("(")[0])
        expected.setdefault(free_gpus, []).append((idle, int(memory) - int(alloc_mem)))
    assert expected, out
    for free_gpus, nodes in expected.items():
        row = rows[free_gpus]
        assert (row["nodes"], row["free_cores"], row["free_memory_mb"]) == (
            len(nodes), sum(n[0] for n in nodes), sum(n[1] for n in nodes)), (row, out)
    assert sum(r["nodes"] for r in rows.values()) == sum(len(n) for n in expected.values())


def test_a_gpu_session_runs_in_a_node_container_and_survives_a_hub_restart(hub, clean):
    assert hub.start("alice", {"gpus": 1, "reservation": "course"}).status_code in (201, 202)
    hub.wait_ready("alice", timeout=180)
    job = job_of(hub, "alice")
    node = scontrol_job(job)["NodeList"]
    assert node == "node02"  # the course reservation is node02
    assert in_container(node, "pgrep", "-u", "alice", "-f", "jupyterhub-singleuser").returncode == 0
    assert in_container("hub", "pgrep", "-u", "alice", "-f", "jupyterhub-singleuser").returncode != 0
    routes = hub.api("GET", "/proxy").json()
    assert routes["/user/alice/"]["target"].startswith(f"https://{node}:")  # the address Slurm reports
    assert hub.status_through_proxy("alice").status_code == 200

    compose("restart", "hub", timeout=180)
    wait_for(lambda: _hub_answers(), 120, 1, what="the hub to come back")
    assert job_of(hub, "alice") == job
    wait_for(lambda: hub.status_through_proxy("alice").status_code == 200, 60, 1,
             what="alice's session to answer again")

    hub.stop("alice")
    wait_for(lambda: not [j for j in squeue() if j["id"] == job], 20, 0.5, what="the job to go")
    assert "GresUsed=gpu:0" in sh("scontrol", "-o", "-d", "show", "node", node).stdout


def test_work_areas_and_mail_across_the_hosts(hub, clean):
    """The work areas are the nodes' shared volumes, linked in the shared home; Slurm's mail is delivered by
    the controller's own mail system."""
    r = hub.start("alice", {"account": "proj-b", "cores": 1, "memory": 500, "gpus": 0, "mail": True})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready("alice", timeout=180)
    job = job_of(hub, "alice")
    node = scontrol_job(job)["NodeList"]
    links = sorted(in_container(node, "ls", "/home/alice/areas").stdout.split())
    assert links == ["scratch", "work-proj-a", "work-proj-b"]
    assert in_container(node, "readlink", "/home/alice/areas/work-proj-b").stdout.strip() == "/work/proj-b"
    wait_for(lambda: f"Job_id={job} " in in_container("slurmctld", "cat", "/var/mail/alice").stdout, 60, 1,
             what="Slurm's mail that the session began")
    hub.stop("alice")


def _hub_answers() -> bool:
    try:
        return requests.get(f"{HUB}/hub/health", timeout=3).status_code == 200
    except requests.RequestException:
        return False


@pytest.mark.parametrize("image", IMAGES)
def test_no_image_holds_a_munge_key_a_password_a_client_secret_or_a_key(image):
    """Nor the identity provider's configuration, which holds its signing key and the hub's client secret (the
    package's own demo configuration, with a published key, is removed)."""
    name = f"jupyterhub-slurm-interactive/{image}:latest"
    proc = subprocess.run(["docker", "run", "--rm", "--entrypoint", "find", name, "/", "-xdev",
                           "-name", "munge.key*", "-o", "-name", "*.munge", "-o", "-name", "db-password",
                           "-o", "-path", "/etc/jupyterhub-db/*", "-o", "-path", "/etc/jupyterhub/tls/*",
                           "-o", "-name", "lmConf-*.json", "-o", "-name", "oidc-client-secret", "-o", "-name", "sig.key",
                           "-o", "-path", "/etc/jupyterhub-oidc/*", "-o", "-path", "/etc/lemonldap-ng/tls/*",
                           "-o", "-name", "auth-state-key"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", proc.stdout


def test_the_munge_key_is_one_and_shared():
    keys = {s: in_container(s, "sha256sum", "/etc/munge/munge.key").stdout.split()[0]
            for s in ("slurmdbd", "slurmctld", "hub", "node01", "node02")}
    assert len(set(keys.values())) == 1, keys


def test_a_node_started_before_the_controller_waits_for_it():
    compose("stop", "slurmctld", timeout=120)
    try:
        compose("restart", "node01", timeout=120)
        wait_for(lambda: "waiting for slurmctld" in compose("logs", "--tail=20", "node01").stdout, 30, 1,
                 what="node01 to say it waits")
        time.sleep(5)
        state = subprocess.run(["docker", "inspect", "-f", "{{.State.Status}} {{.RestartCount}}",
                                compose("ps", "-q", "node01").stdout.strip()], capture_output=True, text=True).stdout
        assert state.split() == ["running", "0"], state  # waiting, not crashing in a loop
    finally:
        compose("start", "slurmctld", timeout=120)
    wait_for(lambda: _healthy("node01") and _healthy("slurmctld"), 180, 2, what="node01 to join once slurmctld is back")


def _healthy(service: str) -> bool:
    cid = compose("ps", "-q", service).stdout.strip()
    out = subprocess.run(["docker", "inspect", "-f", "{{.State.Health.Status}}", cid], capture_output=True, text=True)
    return out.stdout.strip() == "healthy"


def test_a_missing_munge_key_that_cannot_be_made_is_a_clear_error(tmp_path):
    empty = tmp_path / "munge"
    empty.mkdir()
    # the container ends by itself, saying why (a hang would be a TimeoutExpired here)
    proc = subprocess.run(["docker", "run", "--rm", "-v", f"{empty}:/etc/munge/shared:ro",
                           "jupyterhub-slurm-interactive/node:latest"], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "ERROR: cannot write a munge key into /etc/munge/shared" in proc.stderr, proc.stderr
    (empty / "munge.key").write_bytes(b"short")
    proc = subprocess.run(["docker", "run", "--rm", "-v", f"{empty}:/etc/munge/shared:ro",
                           "jupyterhub-slurm-interactive/node:latest"], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "is too short (damaged?)" in proc.stderr, proc.stderr
