"""The package claims JupyterHub 5 too: a second hub on the newest JupyterHub 5, beside the local stack's hub
(JupyterHub 6), with its own ports, database, job name and mark, starts a session from the form (through
JupyterHub 5's own SpawnHandler.post), reaches the release's single-user server (JupyterHub 6) through its
proxy, and stops it from the Hub Control Panel's API.

Its environment is made here (``/opt/jupyterhub5/venv``, once, then this checkout is installed into it anew):
this is the install step of the leg, not something a machine must have.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import requests

from .conftest import ADMIN_TOKEN_FILE, HUB_USER, session_output, sh, squeue, wait_for

JUPYTERHUB5 = "5.5.4"
VENV = Path("/opt/jupyterhub5/venv")
STATE = Path("/var/lib/jupyterhub5")
URL = "http://127.0.0.1:8005"
JOB_NAME = "jupyterhub5-session"
ROOT = Path(__file__).resolve().parents[2]
LOG = STATE / "jupyterhub.log"

CONFIG = f"""\
# A JupyterHub 5 hub beside the local stack's, for the tests: the stack's own configuration, on other
# ports and with its own state, job name and mark. No idle culler here: the stack's configuration ends with
# enable(c), which adds one; it is taken out again.
c = get_config()  # noqa: F821
load_subconfig("/etc/jupyterhub/jupyterhub_config.py")  # noqa: F821
c.JupyterHub.services = [s for s in c.JupyterHub.services if s["name"] != "idle-culler"]
c.JupyterHub.load_roles = [r for r in c.JupyterHub.load_roles if r["name"] != "idle-culler"]
c.JupyterHub.bind_url = "{URL}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:8085"
c.ConfigurableHTTPProxy.api_url = "https://127.0.0.1:8006"
c.JupyterHub.db_url = "sqlite:///{STATE}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{STATE}/jupyterhub_cookie_secret"
c.JupyterHub.internal_certs_location = "{STATE}/internal-ssl"
c.JupyterHub.pid_file = "{STATE}/jupyterhub.pid"
c.ConfigurableHTTPProxy.pid_file = "{STATE}/proxy.pid"
c.InteractiveSlurmSpawner.job_name = "{JOB_NAME}"
c.InteractiveSlurmSpawner.session_mark = "jupyterhub5"
# a site coming from batchspawner: its settings that mean something here are honoured
c.SlurmSpawner.req_qos = "normal"
c.SlurmSpawner.req_srun = "srun"
c.SlurmSpawner.req_epilogue = "echo the-site-epilogue-ran"
"""


def install():
    """JupyterHub 5 and this checkout in the leg's own environment (JupyterHub only when missing)."""
    python = VENV / "bin" / "python"
    have = subprocess.run([str(python), "-c", "import jupyterhub; print(jupyterhub.__version__)"],
                          capture_output=True, text=True).stdout.strip() if python.exists() else ""
    if have != JUPYTERHUB5:
        sh("/usr/bin/python3", "-m", "venv", str(VENV))
        sh(str(python), "-m", "pip", "install", "--quiet", f"jupyterhub=={JUPYTERHUB5}", "batchspawner==1.3.0",
           "jupyterhub-idle-culler==2.0.0", timeout=600)
    sh(str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(ROOT), timeout=600)


@pytest.fixture(scope="module")
def hub5(stack):
    install()
    sh("install", "-d", "-o", HUB_USER, "-g", HUB_USER, "-m", "0750", str(STATE))
    (STATE / "jupyterhub_config.py").write_text(CONFIG)
    os.chmod(STATE / "jupyterhub_config.py", 0o644)
    log = open(LOG, "ab")
    proc = subprocess.Popen(
        ["runuser", "-u", HUB_USER, "--", "env", "-i", f"PATH={VENV}/bin:/usr/local/bin:/usr/bin:/bin",
         "LANG=C.UTF-8", f"HOME={STATE}", "sh", "-c",
         f"umask 077; exec {VENV}/bin/jupyterhub -f {STATE}/jupyterhub_config.py"],
        cwd=STATE, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def healthy():
        if proc.poll() is not None:
            raise AssertionError(f"the JupyterHub 5 hub exited ({proc.returncode}):\n{LOG.read_text()[-3000:]}")
        try:
            return requests.get(f"{URL}/hub/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_for(healthy, 90, 0.5, "the JupyterHub 5 hub to answer")
        version = requests.get(f"{URL}/hub/api/", timeout=10).json()["version"]
        assert version == JUPYTERHUB5, version
        yield URL
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        sh("scancel", f"--name={JOB_NAME}", check=False)


def xsrf(html: str) -> str:
    m = re.search(r'name="_xsrf" value="([^"]+)"', html)
    return m.group(1) if m else ""


def test_a_jupyterhub_5_hub_starts_a_session_from_the_form_and_stops_it(hub5):
    with open(ADMIN_TOKEN_FILE) as f:
        admin = {"Authorization": f"token {f.read().strip()}"}
    s = requests.Session()
    login = s.get(f"{hub5}/hub/login", timeout=30)
    r = s.post(f"{hub5}/hub/login", data={"username": "alice", "password": "alice-demo", "_xsrf": xsrf(login.text)},
               timeout=60)
    assert r.status_code == 200 and "/hub/login" not in r.url, r.text[:500]
    form = s.get(f"{hub5}/hub/spawn", timeout=60)
    assert form.status_code == 200 and 'name="cores"' in form.text and "Available computational resources" in form.text
    # the form's POST goes through our page into JupyterHub 5's own SpawnHandler.post
    r = s.post(f"{hub5}/hub/spawn", timeout=60, allow_redirects=False, data={
        "_xsrf": xsrf(form.text) or s.cookies.get("_xsrf", path="/hub/"), "reservation": "", "cores": "1", "memory": "600", "gpus": "0", "hours": "1",
        "ui": "lab"})
    assert r.status_code in (302, 303), (r.status_code, r.text[:2000], LOG.read_text()[-3000:])
    assert "/hub/spawn-pending/alice" in r.headers["Location"]

    def ready():
        server = requests.get(f"{hub5}/hub/api/users/alice", headers=admin, timeout=10).json()["servers"].get("")
        assert server is not None, f"the session went away:\n{LOG.read_text()[-3000:]}"
        return server if server["ready"] else None
    server = wait_for(ready, 180, 0.5, "alice's session on the JupyterHub 5 hub")
    job = server["state"]["job_id"]
    assert [j["name"] for j in squeue("--states=all", "--jobs", job)] == [JOB_NAME]
    # batchspawner's req_qos and req_srun reached the job: its QOS, and the server as a step of its own
    assert re.search(r"\bQOS=normal\b", sh("scontrol", "show", "job", job).stdout)
    assert f"{job}.0" in sh("squeue", "--steps", "--noheader", "--format=%i", "--jobs", job).stdout
    # the release's single-user server (JupyterHub 6) answers through the JupyterHub 5 hub's proxy
    token = requests.post(f"{hub5}/hub/api/users/alice/tokens", headers=admin, json={"expires_in": 300},
                          timeout=10).json()["token"]
    status = requests.get(f"{hub5}/user/alice/api/status", headers={"Authorization": f"token {token}"}, timeout=30)
    assert status.status_code == 200, status.text[:500]
    assert requests.delete(f"{hub5}/hub/api/users/alice/server", headers=admin, timeout=60).status_code in (202, 204)
    wait_for(lambda: not [j for j in squeue("--states=all", "--jobs", job) if j["state"] in ("RUNNING", "PENDING", "COMPLETING")],
             60, 0.25, f"job {job} to end")
    # and req_epilogue ran when the server ended (here: stopped from the hub)
    output = Path(session_output("alice", job))
    wait_for(lambda: output.exists() and "the-site-epilogue-ran" in output.read_text(), 30, 0.5,
             f"the site's epilogue in {output}")
