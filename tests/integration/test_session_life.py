"""A session's life through the real hub and Slurm: what it carries, why it waits, restarts,
ends from outside, the port callback, its secrets, and one poller for everyone."""

import glob
import json
import os
import stat
import threading
import time

import pytest
import requests

from .conftest import (
    HUB,
    STACKCTL,
    Browser,
    form_state,
    hub_log_tail,
    pgrep,
    scontrol_job,
    session_output,
    sh,
    squeue,
    wait_for,
)

pytestmark = pytest.mark.integration


def job_of(hub, user):
    server = hub.server(user)
    assert server is not None, f"{user} has no server"
    return server["state"]["job_id"]


def block_gpus(user="alice"):
    """Take every GPU outside the course reservation with plain jobs; return their IDs."""
    ids = [sh("sbatch", "--parsable", "-p", "interactive", "-w", node, "--gres=gpu:2", "-c", "1", "--mem=100M", "-t", "10",
              "-J", "gpu-blocker", "--wrap", "sleep 600", user=user).stdout.strip()
           for node in ("node01", "node02", "node03")]
    wait_for(lambda: len([j for j in squeue() if j["id"] in ids and j["state"] == "RUNNING"]) == 3, 30,
             what="the GPU blockers to run")
    return ids


def progress_messages(hub, user, until, timeout=60):
    """Read the hub's progress stream for a spawn until a message satisfies `until`."""
    seen = []
    with hub.session.get(f"{HUB}/hub/api/users/{user}/server/progress", stream=True, timeout=timeout) as r:
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + timeout
        for line in r.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                event = json.loads(line[5:])
                seen.append(event.get("message", ""))
                if until(event.get("message", "")) or event.get("failed") or event.get("ready"):
                    break
            if time.monotonic() > deadline:
                break
    return seen


def server_token(user):
    """The running server's API token, from its process environment (root can read it)."""
    pids = pgrep("-u", user, "-f", "jupyterhub-singleuser")
    for pid in pids:
        try:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        for item in env:
            if item.startswith(b"JUPYTERHUB_API_TOKEN="):
                return item.split(b"=", 1)[1].decode()
    raise AssertionError(f"no server process of {user} found")


def test_the_job_carries_the_request(hub, clean):
    r = hub.start("alice", {"account": "proj-b", "cores": 2, "memory": 1500, "gpus": 1, "hours": 2})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready("alice")
    f = scontrol_job(job_of(hub, "alice"))
    assert (f["Account"], f["Partition"], f["NumCPUs"], f["TimeLimit"], f["OverSubscribe"]) == (
        "proj-b", "interactive", "2", "02:00:00", "YES")
    assert "mem=1500M" in f["TRES"] and "gres/gpu=1" in f["TRES"]
    assert f["UserId"].startswith("alice(")
    assert f["Requeue"] == "0"  # never restarted elsewhere after a node failure
    # the job writes its own output, in the product's directory of the home (Slurm's own file is none)
    assert f["StdOut"] == "/dev/null"
    assert "Session " + f["JobId"] in open(session_output("alice", f["JobId"])).read()


def test_stop_cancels_the_job_and_frees_its_gpu(hub, clean):
    assert hub.start("alice", {"gpus": 2}).status_code in (201, 202)
    hub.wait_ready("alice")
    job = job_of(hub, "alice")
    node = scontrol_job(job)["NodeList"]
    r = hub.api("DELETE", "/users/alice/server")
    assert r.status_code in (202, 204)
    wait_for(lambda: hub.server("alice") is None, 10, 0.1, what="the hub to let the server go")
    # as soon as the hub says it stopped, Slurm has freed the GPUs
    states = [j["state"] for j in squeue("--states=all", f"--jobs={job}")]
    assert states and states[0] in ("CANCELLED", "COMPLETED"), states
    assert "GresUsed=gpu:0" in sh("scontrol", "-o", "-d", "show", "node", node).stdout


def test_a_request_in_flight_at_stop_is_answered_and_the_job_ends_before_killwait(hub, clean):
    """Stop while the server lists a big directory: jupyter_server used to stop its loop with the request
    pending, and the thread listing it kept the process alive until Slurm killed it at KillWait, the job
    and its GPU held until then. Now the listing is answered and the server exits."""
    kill_wait = int(sh("scontrol", "show", "config").stdout.split("KillWait", 1)[1].split("=", 1)[1].split()[0])
    sh("bash", "-c", "mkdir -p ~/many-files && cd ~/many-files && seq -f 'file-%05g.txt' 1 3000 | xargs touch",
       user="alice")
    try:
        assert hub.start("alice", {"gpus": 1}).status_code in (201, 202)
        hub.wait_ready("alice")
        job = job_of(hub, "alice")
        answer = {}

        def list_directory():
            r = requests.get(f"{HUB}/user/alice/api/contents/many-files?content=1", timeout=kill_wait + 30,
                             headers={"Authorization": f"token {hub.user_token('alice')}"})
            answer.update(status=r.status_code, at=time.monotonic(),
                          files=len(r.json()["content"]) if r.status_code == 200 else None)

        listing = threading.Thread(target=list_directory)
        listing.start()
        time.sleep(0.3)  # the request has reached the server, which takes a second or more to list 3000 files
        stopped_at = time.monotonic()
        assert hub.api("DELETE", "/users/alice/server").status_code in (202, 204)
        wait_for(lambda: not [j for j in squeue() if j["id"] == job], kill_wait - 5, 0.2,
                 what=f"job {job} to leave squeue before Slurm's KillWait ({kill_wait} s) kills its server")
        listing.join(kill_wait + 30)
        assert answer["at"] > stopped_at, "the listing was answered before the stop: list more files"
        assert (answer["status"], answer["files"]) == (200, 3000), answer
        output = open(session_output("alice", job)).read()
        assert "1 request(s) in flight finished first" in output
    finally:
        sh("rm", "-rf", "/home/alice/many-files")


def test_a_pending_session_says_why_and_a_hub_restart_keeps_both_sessions(hub, clean):
    blockers = block_gpus()
    assert hub.start("alice", {"gpus": 0}).status_code in (201, 202)
    hub.wait_ready("alice")
    running_job = job_of(hub, "alice")
    r = hub.start("bob", {"gpus": 1, "cores": 2})
    assert r.status_code in (201, 202), r.text
    messages = progress_messages(hub, "bob", lambda m: "Resources" in m)
    assert any("Submitted as Slurm job" in m for m in messages), messages
    assert any("waiting for a node with 1 free gpu, 2 free cores" in m.lower() and "(Resources)" in m
               for m in messages), messages
    pending_job = hub.server("bob")["state"]["job_id"]
    assert [j["state"] for j in squeue() if j["id"] == pending_job] == ["PENDING"]

    sh(STACKCTL, "restart", "hub", timeout=120)

    assert job_of(hub, "alice") == running_job
    wait_for(lambda: hub.status_through_proxy("alice").status_code == 200, 30, 0.5, what="alice's session to answer")
    assert hub.server("bob") is not None and hub.server("bob")["state"]["job_id"] == pending_job
    assert [j["state"] for j in squeue() if j["id"] == pending_job] == ["PENDING"]
    # the blockers end: bob's session starts and becomes ready, same job
    sh("scancel", *blockers)
    hub.wait_ready("bob", timeout=60)
    assert job_of(hub, "bob") == pending_job
    wait_for(lambda: hub.status_through_proxy("bob").status_code == 200, 30, 0.5, what="bob's session to answer")


def test_a_session_ended_outside_the_hub_is_noticed_and_explained(hub, clean):
    assert hub.start("alice", {}).status_code in (201, 202)
    hub.wait_ready("alice")
    job = job_of(hub, "alice")
    sh("scancel", job, user="alice")
    wait_for(lambda: hub.server("alice") is None, 40, 1, what="the hub to notice the cancelled job")
    alice = Browser("alice")
    page = alice.login.text  # the login lands on the form, which says how the session ended
    assert f"Slurm job {job}" in page and "cancelled outside the hub" in page
    assert "Interactive session parameters" in page  # the form is offered again
    assert f"Slurm job {job}" not in alice.form().text  # said once: the form opened again starts clean


def test_a_session_reaching_its_walltime_is_noticed_and_explained(hub, clean):
    assert hub.start("alice", {}).status_code in (201, 202)
    hub.wait_ready("alice")
    job = job_of(hub, "alice")
    token = server_token("alice")
    sh("scontrol", "update", f"jobid={job}", "timelimit=00:00:01")
    wait_for(lambda: hub.server("alice") is None, 120, 1, what="the hub to notice the walltime")
    page = Browser("alice").login.text
    assert f"Slurm job {job}" in page and "time limit" in page
    # the session's token ended with it
    assert requests.get(f"{HUB}/hub/api/user", headers={"Authorization": f"token {token}"},
                        timeout=10).status_code == 403


def test_a_server_failing_at_start_shows_the_end_of_its_output(hub, clean):
    broken = "/opt/releases/0000.00-broken"
    os.makedirs(f"{broken}/bin", exist_ok=True)
    try:
        for name in ("jupyterhub-singleuser", "batchspawner-singleuser"):
            path = f"{broken}/bin/{name}"
            with open(path, "w") as f:
                f.write("#!/bin/sh\necho 'boom: this release cannot start' >&2\nexit 3\n")
            os.chmod(path, 0o755)
        with open(f"{broken}/release.json", "w") as f:
            json.dump({"name": "0000.00-broken", "date": "2000-01-01", "interfaces": ["lab"], "packages": {}}, f)
        # the hub reads the releases again every few seconds
        wait_for(lambda: "0000.00-broken" in form_state(Browser("bob").form().text)["options"]["release"], 15, 1,
                 what="the hub to see the new release")
        r = hub.start("bob", {"release": "0000.00-broken"})
        assert r.status_code in (201, 202, 500), r.text
        wait_for(lambda: hub.server("bob") is None, 60, 0.5, what="the failed session to go")
        page = Browser("bob").login.text
        assert "boom: this release cannot start" in page
        assert "Exit code 3" in page
        # a failed start leaves no token behind
        assert not [t for t in hub.api("GET", "/users/bob/tokens").json()["api_tokens"]
                    if t["note"] == "Server at /user/bob/"]
    finally:
        sh("rm", "-rf", broken)


def test_the_port_callback_accepts_only_a_port_from_the_starting_server(hub, clean):
    assert hub.start("alice", {}).status_code in (201, 202)
    hub.wait_ready("alice")
    job = job_of(hub, "alice")
    token = server_token("alice")
    url = f"{HUB}/hub/api/batchspawner"

    def post(body, tok=token, raw=None):
        return requests.post(url, data=raw if raw is not None else json.dumps(body),
                             headers={"Authorization": f"token {tok}"}, timeout=30)

    marker = "/tmp/jsi-port-callback-attack"
    if os.path.exists(marker):
        os.unlink(marker)
    attack = {"exec_prefix": "", "batch_cancel_cmd": f"touch {marker}"}
    for body in (attack, {"port": 8888, **attack}, {"port": 8888, "ip": "10.0.0.1"}, {"port": 0},
                 {"port": 65536}, {"port": -1}, {"port": "8888"}, {"port": 8888.0}, {"port": True},
                 {"port": None}, [8888], "8888", {}):
        assert post(body).status_code == 400, body
    assert post(None, raw="not json").status_code == 400
    # a valid port, but the server is not starting any more: refused
    assert post({"port": 8888}).status_code == 409
    # alice's own token (not the server's) is not accepted either
    assert post({"port": 8888}, tok=hub.user_token("alice")).status_code == 403
    # nothing changed: the session still answers where it was, and stops normally
    assert hub.status_through_proxy("alice").status_code == 200
    hub.stop("alice")
    wait_for(lambda: not [j for j in squeue() if j["id"] == job], 10, what="the job to go")
    assert not os.path.exists(marker)
    assert "batch_cancel_cmd" not in hub_log_tail(200) or "touch" not in hub_log_tail(200)


def test_no_readable_file_and_no_hub_log_line_holds_a_servers_token(hub, clean):
    home = "/home/alice"
    mode = stat.S_IMODE(os.stat(home).st_mode)
    os.chmod(home, 0o755)  # the usual home of many sites: everyone may enter
    try:
        assert hub.start("alice", {}).status_code in (201, 202)
        hub.wait_ready("alice")
        token = server_token("alice")
        assert len(token) >= 32
        leaks = []
        # the jobs' own /tmp lie under job_container/tmpfs's base path on the host
        for top in (home, "/tmp", "/var/tmp", "/dev/shm", "/var/spool/slurm-jobtmp"):
            for path in glob.glob(f"{top}/**", recursive=True):
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode) or st.st_size > 5_000_000:
                    continue
                if not readable_by_others(path):
                    continue
                try:
                    if token.encode() in open(path, "rb").read():
                        leaks.append(path)
                except OSError:
                    continue
        assert not leaks, leaks
        # the server's runtime files (jpserver-*-open.html holds the token) are in the session's private
        # directory on the node, not in the home
        assert not glob.glob(f"{home}/.local/share/jupyter/runtime/jpserver-*")
        job = hub.server("alice")["state"]["job_id"]
        modes = sh("srun", "--quiet", "--jobid", job, "--overlap", "bash", "-c",
                   'stat -c "%a %U %n" /tmp/jupyterhub-session.* /tmp/jupyterhub-session.*/runtime '
                   '/tmp/jupyterhub-session.*/runtime/jpserver-*', user="alice").stdout.splitlines()
        assert len(modes) >= 4 and all(int(m.split()[0], 8) & 0o077 == 0 and m.split()[1] == "alice"
                                       for m in modes), modes
        logs = glob.glob("/var/log/jupyterhub/*.log")
        assert logs and not any(token in open(p, errors="replace").read() for p in logs)
    finally:
        os.chmod(home, mode)


def readable_by_others(path: str) -> bool:
    """Could a user who is neither the owner nor in the group read this file?"""
    if not os.stat(path).st_mode & stat.S_IROTH:
        return False
    parent = os.path.dirname(path)
    while parent not in ("/", ""):
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return False
        parent = os.path.dirname(parent)
    return True


def test_one_squeue_per_interval_however_many_sessions(hub, clean):
    for user in ("alice", "bob"):
        assert hub.start(user, {}).status_code in (201, 202)
    for user in ("alice", "bob"):
        hub.wait_ready(user)
    sh("sdiag", "-r")
    looks = hub.squeue_calls()
    wait_for(lambda: hub.squeue_calls() >= looks + 3, 90, 0.5, what="three more looks of the hub at the queue")
    queries = job_queries()
    # one squeue per look for both sessions (stock batchspawner: one per session per poll); the one sdiag
    # may count from before its reset, and one more may be under way
    assert 1 <= queries <= 3 + 2, queries


def job_queries() -> int:
    """Job queries (squeue, scontrol show job) slurmctld answered since `sdiag -r`."""
    import re
    out = sh("sdiag").stdout
    m = re.search(r"^\s*REQUEST_JOB_INFO\s*\(\s*\d+\)\s*count:(\d+)", out, re.M)
    return int(m.group(1)) if m else 0


def test_sessions_survive_a_controller_outage(hub, clean):
    assert hub.start("alice", {}).status_code in (201, 202)
    hub.wait_ready("alice")
    job = job_of(hub, "alice")
    failed = hub.squeue_calls(failed=True)
    sh(STACKCTL, "stop", "slurmctld")
    try:
        # the hub has asked twice and been refused: each session's poll has seen Slurm away
        wait_for(lambda: hub.squeue_calls(failed=True) >= failed + 2, 90, 0.5, what="two squeue of the hub to fail")
        assert hub.server("alice") is not None and hub.server("alice")["ready"]
        assert hub.status_through_proxy("alice").status_code == 200
    finally:
        sh(STACKCTL, "start", "slurmctld", timeout=60)
    def answered():  # the hub's squeue that Slurm answered
        return hub.squeue_calls() - hub.squeue_calls(failed=True)

    before = answered()
    wait_for(lambda: answered() > before, 60, 0.5, what="Slurm to answer the hub's squeue again")
    assert job_of(hub, "alice") == job
    assert hub.status_through_proxy("alice").status_code == 200
