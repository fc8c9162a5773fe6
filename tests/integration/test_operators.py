"""What operators run the service with, against the real hub and Slurm: the metrics moving during a session's
life, the Grafana dashboard asking only for what the hub exports, idle GPU sessions given back by the real
jupyterhub-idle-culler, and the operators' view refusing whoever is not an admin."""

import json
import os
import re
import shutil
import subprocess
import threading
import time
from datetime import datetime

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from .conftest import HUB, Browser, pgrep, scontrol_job, sh, squeue, wait_for
from .test_releases import _execute, in_session

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DASHBOARD = os.path.join(ROOT, "ansible", "roles", "hub", "files", "grafana-dashboard.json")
HUB_PYTHON = "/opt/jupyterhub/venv/bin/python"


def scrape(hub) -> dict:
    r = hub.session.get(f"{HUB}/hub/metrics", timeout=30)
    assert r.status_code == 200, r.text
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(metrics, name, **labels):
    return metrics.get((name, tuple(sorted(labels.items()))), 0)


def test_the_metrics_move_through_a_gpu_sessions_life(hub, clean):
    assert requests.get(f"{HUB}/hub/metrics", timeout=30).status_code == 403  # authenticate_prometheus
    before = scrape(hub)
    r = hub.start("alice", {"gpus": 2, "cores": 2, "memory": 1500})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready("alice")
    during = scrape(hub)
    assert value(during, "slurm_interactive_sessions", state="running") == \
        value(before, "slurm_interactive_sessions", state="running") + 1
    assert value(during, "slurm_interactive_held_gpus") == value(before, "slurm_interactive_held_gpus") + 2
    assert value(during, "slurm_interactive_held_cores") == value(before, "slurm_interactive_held_cores") + 2
    assert value(during, "slurm_interactive_held_memory_bytes") == \
        value(before, "slurm_interactive_held_memory_bytes") + 1500 * 1024 * 1024
    assert value(during, "slurm_interactive_starts_total", outcome="ready") == \
        value(before, "slurm_interactive_starts_total", outcome="ready") + 1
    for phase in ("queue", "port", "answer"):
        assert value(during, "slurm_interactive_start_phase_seconds_count", phase=phase) == \
            value(before, "slurm_interactive_start_phase_seconds_count", phase=phase) + 1
    assert value(during, "slurm_interactive_slurm_command_seconds_count", command="sbatch") >= \
        value(before, "slurm_interactive_slurm_command_seconds_count", command="sbatch") + 1
    assert 0 <= value(during, "slurm_interactive_view_age_seconds", view="queue") < 60
    print("during the session:", {k: v for k, v in during.items() if k[0].startswith("slurm_interactive_")
                                   and k[0] in ("slurm_interactive_sessions", "slurm_interactive_held_gpus")})
    hub.stop("alice")
    after = scrape(hub)
    assert value(after, "slurm_interactive_sessions", state="running") == \
        value(before, "slurm_interactive_sessions", state="running")
    assert value(after, "slurm_interactive_held_gpus") == value(before, "slurm_interactive_held_gpus")


PROMQL_WORDS = {"sum", "by", "rate", "increase", "histogram_quantile", "le", "phase", "outcome", "command",
                "state", "view", "kind", "m", "h", "d"}


def test_every_query_of_the_grafana_dashboard_names_a_metric_the_hub_exports(hub, clean):
    exported = {name for name, _ in scrape(hub)}
    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(queries) >= 9
    for query in queries:
        names = set(re.findall(r"\b[a-zA-Z_][a-zA-Z0-9_]*\b", query)) - PROMQL_WORDS
        assert names, query
        missing = names - exported
        assert not missing, f"{query}: the hub exports no {sorted(missing)}"


def scoped_token(hub, user, scopes) -> str:
    r = hub.api("POST", f"/users/{user}/tokens", json={"note": "a culler with short limits", "expires_in": 900,
                                                        "scopes": scopes})
    assert r.status_code == 201, r.text
    return r.json()["token"]


def busy_kernel(hub, user, seconds):
    """A kernel of the user's session computing for `seconds` without printing (in a thread)."""
    r = in_session(hub, user, "POST", "api/kernels", json={"name": "python3"})
    assert r.status_code == 201, r.text
    url = f"{HUB.replace('http', 'ws', 1)}/user/{user}/api/kernels/{r.json()['id']}/channels"
    code = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass\n"
    import asyncio
    def compute():
        try:
            asyncio.run(_execute(url, hub.user_token(user), code, seconds + 60))
        except AssertionError:  # the session was stopped while it computed (the test's cleaning)
            pass

    thread = threading.Thread(target=compute, daemon=True)
    thread.start()
    return thread


def gres_used(node) -> str:
    return re.search(r"GresUsed=(\S+)", sh("scontrol", "-o", "-d", "show", "node", node).stdout).group(1)


def gpu_count(gres: str) -> int:
    return int(re.match(r"gpu:(\d+)", gres).group(1))


def test_the_idle_culler_gives_back_an_idle_gpu_session_and_spares_the_others(hub, clean):
    from jupyterhub_slurm_interactive.ops.idle import SCOPES
    for user, server, gpus in (("alice", "", 1), ("alice", "cpu", 0), ("bob", "", 1)):
        assert hub.start(user, {"gpus": gpus}, server=server).status_code in (201, 202)
    for user, server in (("alice", ""), ("alice", "cpu"), ("bob", "")):
        hub.wait_ready(user, server=server)
    idle_job = hub.server("alice")["state"]["job_id"]
    idle_node = scontrol_job(idle_job)["NodeList"]
    gpus_used = gres_used(idle_node)
    busy_kernel(hub, "bob", 150)
    # the real culler, as the hub runs it, with a token of no more than its scopes and short limits
    token = scoped_token(hub, "ops", SCOPES)
    env = {**os.environ, "JUPYTERHUB_API_TOKEN": token, "JUPYTERHUB_API_URL": f"{HUB}/hub/api",
           "SLURM_INTERACTIVE_GPU_IDLE_TIMEOUT": "40", "SLURM_INTERACTIVE_CPU_IDLE_TIMEOUT": "600"}
    culler = subprocess.Popen([HUB_PYTHON, "-m", "jupyterhub_idle_culler", f"--url={HUB}/hub/api", "--timeout=40",
                               "--cull-every=5", f"--config={installed_culler_config()}"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    idle_before = scrape(hub)
    try:
        started = time.monotonic()
        wait_for(lambda: hub.server("alice") is None, 150, 1, what="the idle GPU session to be stopped")
        print(f"idle GPU session stopped {time.monotonic() - started:.0f} s after the culler started")
        assert not [j for j in squeue() if j["id"] == idle_job]
        assert gpu_count(gres_used(idle_node)) == gpu_count(gpus_used) - 1  # its GPU is free
        # the CPU session is idle past the GPU limit, but within its own: it stays
        cpu = hub.server("alice", "cpu")
        assert cpu is not None and cpu["ready"]
        # the busy kernel is activity: bob's session stays through six more passes of the culler (every 5 s)
        passes = hub.culler_passes()
        wait_for(lambda: hub.culler_passes() >= passes + 6, 90, 1, what="six more passes of the culler")
        assert hub.server("bob") is not None and hub.server("alice", "cpu") is not None
        last = hub.api("GET", "/users/alice").json()["servers"]["cpu"]["last_activity"]
        idle_for = time.time() - datetime.fromisoformat(last.replace("Z", "+00:00")).timestamp()
        print(f"alice's CPU session: idle for {idle_for:.0f} s, past the GPU limit of 40 s, and still running")
        assert idle_for > 40
    finally:
        culler.terminate()
        out, _ = culler.communicate(timeout=30)
        print(out[-3000:])
    # the card says why, when and after how long idle; the metric counted it
    card = next(c for c in hub.sessions("alice") if c["name"] == "")
    # how long idle, as every page writes a length of time (words.duration): "43 s", "2 min", "1 h 5 min"
    assert re.search(r"was stopped at \d\d:\d\d:\d\d \w+ after (\d+ (d|h|min|s) ?)+ without activity",
                     card["last_end"]), card
    assert value(scrape(hub), "slurm_interactive_idle_stops_total", kind="gpu") == \
        value(idle_before, "slurm_interactive_idle_stops_total", kind="gpu") + 1


def installed_culler_config() -> str:
    """The culler's configuration file as the hub's environment has it (the installed package)."""
    return subprocess.run([HUB_PYTHON, "-c", "from jupyterhub_slurm_interactive.ops.idle import CULLER_CONFIG; print(CULLER_CONFIG)"],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_the_hub_runs_the_culler_as_a_service_that_is_not_admin(hub, clean):
    service = hub.api("GET", "/services/idle-culler").json()
    assert service["name"] == "idle-culler"
    # the hub's Python runs the culler, under setpriv so that it ends with the hub
    assert service["command"][:3] == [shutil.which("setpriv"), "--pdeathsig", "TERM"]
    assert service["command"][5:7] == ["-m", "jupyterhub_idle_culler"]
    assert not service.get("admin")
    assert pgrep("-u", "jupyterhub", "-f", "jupyterhub_idle_culler")


def test_the_operators_view_refuses_whoever_is_not_an_admin(hub, clean):
    alice = Browser("alice")
    assert alice.s.get(f"{HUB}/hub/sessions", timeout=30).status_code == 403
    r = alice.s.post(f"{HUB}/hub/sessions", data={"user": "bob", "server": "", "_xsrf": alice.xsrf}, timeout=30)
    assert r.status_code == 403
    ops = Browser("ops", "ops-demo")
    assert ops.logged_in
    assert ops.s.get(f"{HUB}/hub/sessions", timeout=30).status_code == 200
    # a stop without the form's XSRF token is refused, and changes nothing
    assert hub.start("bob", {"gpus": 0}).status_code in (201, 202)
    hub.wait_ready("bob")
    r = ops.s.post(f"{HUB}/hub/sessions", data={"user": "bob", "server": "", "reason": "x"}, timeout=30)
    assert r.status_code == 403 and hub.server("bob")["ready"]
    assert alice.s.get(f"{HUB}/hub/sessions/stop?user=bob", timeout=30).status_code == 403
    # a stop without a reason, or with one too long, stops nothing and says why
    for reason, why in (("  \n ", "Give the reason"), ("x" * 301, "at most 300 characters")):
        r = ops.s.post(f"{HUB}/hub/sessions", data={"user": "bob", "server": "", "reason": reason, "_xsrf": ops.xsrf},
                       timeout=30)
        assert r.status_code == 400 and why in r.text and "Nothing was stopped" in r.text
        assert hub.server("bob")["ready"]
