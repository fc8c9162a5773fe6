"""The compose stack's hub on PostgreSQL (service hubdb), as a site runs it: its state in the database, its
password a secret only the database and the hub hold, a restart that keeps running, queued and named
sessions, and a JupyterHub upgrade that brings the schema up (with a dump first) before the hub starts."""

import subprocess

import pytest

from ..integration.conftest import Browser, clean, hub, scontrol_job, sh, squeue, stack, wait_for  # noqa: F401
from .test_compose import COMPOSE, _hub_answers, compose, compose_stack, in_container, job_of  # noqa: F401

pytestmark = pytest.mark.integration

PSQL = ("runuser", "-u", "postgres", "--", "psql", "-XqtA", "-d", "jupyterhub", "-c")


def sql(query: str) -> str:
    proc = in_container("hubdb", *PSQL, query)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def database_made() -> bool:
    """Whether the hub's database exists yet: a new database host makes it after it starts to answer."""
    made = in_container("hubdb", *PSQL[:-3], "-d", "postgres", "-c",
                        "SELECT count(*) FROM pg_database WHERE datname = 'jupyterhub'")
    return made.returncode == 0 and made.stdout.strip() == "1"


def restart_hub():
    compose("restart", "hub", timeout=180)
    wait_for(_hub_answers, 180, 1, what="the hub to come back")


def test_the_hub_keeps_its_state_in_postgresql(hub):
    assert Browser("alice").logged_in
    assert "alice" in sql("SELECT name FROM users").split()
    assert in_container("hub", "test", "-e", "/var/lib/jupyterhub/jupyterhub.sqlite").returncode != 0
    # the password: the hub's copy for root and the hub's group, the shared one for root only
    assert in_container("hub", "stat", "-c", "%U:%G %a", "/etc/jupyterhub/db-password").stdout.split() == [
        "root:jupyterhub", "640"]
    assert in_container("hubdb", "stat", "-c", "%U %a", "/etc/jupyterhub-db/password").stdout.split() == [
        "root", "600"]
    # the site config names the file, never the password
    password = in_container("hub", "cat", "/etc/jupyterhub/db-password").stdout.strip()
    assert len(password) >= 24
    assert password not in in_container("hub", "cat", "/etc/jupyterhub/site_config.py").stdout
    assert password not in compose("logs", "--no-color", "hub", "hubdb").stdout


def test_the_database_lets_in_the_hub_with_its_password_only(hub):
    def connect(password: str, database: str = "jupyterhub", host: str = "hubdb"):
        return in_container("hub", "env", f"PGPASSWORD={password}", "psql", "-Xqt", "-w", "-h", host, "-U",
                            "jupyterhub", "-d", database, "-c", "SELECT 1")

    password = in_container("hub", "cat", "/etc/jupyterhub/db-password").stdout.strip()
    assert connect(password).returncode == 0
    refused = connect("not-" + password)
    assert refused.returncode != 0 and "password authentication failed" in refused.stderr
    assert connect(password, database="postgres").returncode != 0  # its own database only
    # a node, on the same network, holds no password to give
    assert in_container("node01", "test", "-e", "/etc/jupyterhub/db-password").returncode != 0


def test_a_hub_restart_keeps_running_queued_and_named_sessions(hub, clean):
    # node01's GPUs taken (node02 is the course reservation's, which bob may not use), so that bob's GPU
    # session waits; from /tmp and writing nothing: the controller's working directory is no place of bob's
    blockers = [sh("sbatch", "--parsable", "-p", "interactive", "-w", "node01", "--gres=gpu:2", "-c", "1",
                   "--mem=100M", "-t", "10", "-J", "gpu-blocker", "--chdir=/tmp", "-o", "/dev/null",
                   "--wrap", "sleep 600", user="bob").stdout.strip()]
    wait_for(lambda: [j["state"] for j in squeue() if j["id"] in blockers] == ["RUNNING"], 30, 0.5,
             what="the GPU blocker to run")
    try:
        assert hub.start("alice", {"gpus": 0, "cores": 1, "memory": 500}).status_code in (201, 202)
        assert hub.start("alice", {"gpus": 0, "cores": 1, "memory": 500}, server="notes").status_code in (201, 202)
        hub.wait_ready("alice", timeout=180)
        hub.wait_ready("alice", timeout=180, server="notes")
        running, named = job_of(hub, "alice"), hub.server("alice", "notes")["state"]["job_id"]
        assert hub.start("bob", {"gpus": 1, "cores": 1, "memory": 500}).status_code in (201, 202)
        wait_for(lambda: (hub.server("bob") or {}).get("state", {}).get("job_id"), 60, 0.5,
                 what="bob's session to be submitted")
        queued = hub.server("bob")["state"]["job_id"]
        wait_for(lambda: [j["state"] for j in squeue() if j["id"] == queued] == ["PENDING"], 30, 0.5,
                 what="bob's session to wait for the GPUs")

        restart_hub()

        assert job_of(hub, "alice") == running
        assert hub.server("alice", "notes")["state"]["job_id"] == named
        wait_for(lambda: hub.status_through_proxy("alice").status_code == 200, 60, 1, what="alice's session")
        wait_for(lambda: hub.status_through_proxy("alice", "notes").status_code == 200, 60, 1,
                 what="alice's named session")
        assert hub.server("bob")["state"]["job_id"] == queued
        assert [j["state"] for j in squeue() if j["id"] == queued] == ["PENDING"]
    finally:
        sh("scancel", *blockers)
    hub.wait_ready("bob", timeout=120)
    assert job_of(hub, "bob") == queued
    wait_for(lambda: hub.status_through_proxy("bob").status_code == 200, 60, 1, what="bob's session to answer")


def test_a_jupyterhub_upgrade_brings_the_schema_up_first_and_keeps_the_sessions(hub, clean):
    assert hub.start("alice", {"gpus": 0, "cores": 1, "memory": 500}).status_code in (201, 202)
    hub.wait_ready("alice", timeout=180)
    job = job_of(hub, "alice")
    head = sql("SELECT version_num FROM alembic_version")

    # the database as the JupyterHub before this one left it: one revision back, with the hub stopped
    compose("stop", "hub", timeout=120)
    try:
        downgrade = (
            "import subprocess\n"
            "from jupyterhub.dbutil import _temp_alembic_ini\n"
            "pw = open('/etc/jupyterhub-db/password').read().strip()\n"
            "with _temp_alembic_ini(f'postgresql+psycopg2://jupyterhub:{pw}@hubdb:5432/jupyterhub') as ini:\n"
            "    subprocess.run(['/opt/jupyterhub/venv/bin/alembic', '-c', ini, 'downgrade', '-1'], check=True)\n")
        compose("run", "--rm", "--no-deps", "hub", "/opt/jupyterhub/venv/bin/python", "-c", downgrade, timeout=180)
        older = sql("SELECT version_num FROM alembic_version")
        assert older and older != head
    finally:
        compose("start", "hub", timeout=180)
    wait_for(_hub_answers, 180, 1, what="the hub to come back on the older schema")

    assert sql("SELECT version_num FROM alembic_version") == head
    log = compose("logs", "--no-color", "hub").stdout
    assert f"from {older} to {head}" in log and "upgraded the hub's database" in log
    dumps = in_container("hub", "sh", "-c", "ls /var/lib/jupyterhub/db-backups/*.dump").stdout.split()
    assert dumps, "no dump was made before the upgrade"
    assert in_container("hub", "stat", "-c", "%U %a", dumps[-1]).stdout.split() == ["jupyterhub", "600"]
    assert job_of(hub, "alice") == job
    wait_for(lambda: hub.status_through_proxy("alice").status_code == 200, 60, 1, what="alice's session")


def _project() -> str:
    return COMPOSE[COMPOSE.index("-p") + 1]


def test_the_hubs_database_rebuilt_from_a_dump_keeps_the_sessions(hub, clean):
    """docs/operating.md's restore, done once: the dump the hub's backup makes, the database host lost with
    its data, a new one, the dump restored into it, and the session still there."""
    assert hub.start("alice", {"gpus": 0, "cores": 1, "memory": 500}).status_code in (201, 202)
    hub.wait_ready("alice", timeout=180)
    job = job_of(hub, "alice")
    made = in_container("hub", "runuser", "-u", "jupyterhub", "--", "/opt/jupyterhub/venv/bin/python", "-m",
                        "jupyterhub_slurm_interactive.ops.database", "backup", "--config",
                        "/etc/jupyterhub/jupyterhub_config.py", "--backup-dir", "/var/lib/jupyterhub/db-backups")
    assert made.returncode == 0, made.stderr
    dump = made.stdout.strip().splitlines()[-1]
    assert dump.endswith(".dump")

    compose("stop", "hub", timeout=120)
    try:
        compose("rm", "-f", "-s", "hubdb", timeout=120)
        volume = f"{_project()}_hubdb-data"
        removed = subprocess.run(["docker", "volume", "rm", volume], capture_output=True, text=True)
        assert removed.returncode == 0, removed.stderr
        compose("up", "-d", "--no-deps", "hubdb", timeout=180)
        wait_for(database_made, 120, 1, what="a new database host")
        assert in_container("hubdb", *PSQL, "SELECT 1 FROM users").returncode != 0  # empty: no tables yet
        restore = ("PGPASSWORD=$(cat /etc/jupyterhub-db/password) pg_restore --no-owner --exit-on-error "
                   f"-h hubdb -U jupyterhub -d jupyterhub {dump}")
        compose("run", "--rm", "--no-deps", "hub", "sh", "-c", restore, timeout=180)
    finally:
        compose("start", "hub", timeout=180)
    wait_for(_hub_answers, 180, 1, what="the hub on the restored database")

    assert "alice" in sql("SELECT name FROM users").split()
    assert job_of(hub, "alice") == job
    wait_for(lambda: hub.status_through_proxy("alice").status_code == 200, 60, 1, what="alice's session")
