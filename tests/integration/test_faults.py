"""Faults lose nothing: every session job of this hub is held by exactly one of its servers, and every
server that says it runs or waits has its job in Slurm."""

import concurrent.futures
import os
import subprocess
import time

import pytest
import requests

from .conftest import (
    STACKCTL,
    Browser,
    hub_log_since,
    hub_log_size,
    hub_log_tail,
    pgrep,
    session_output,
    sh,
    squeue,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

LIVE = ("PENDING", "CONFIGURING", "RUNNING")


def invariant(hub) -> tuple[list, list]:
    """(orphans, ghosts): this hub's live session jobs no server holds (or more than one holds), and
    servers that run or wait without their job in Slurm."""
    jobs = {j["id"]: j for j in squeue("--states=all") if j["name"] == "jupyterhub-session" and j["state"] in LIVE}
    holders: dict[str, list[str]] = {}
    ghosts = []
    for user in hub.api("GET", "/users").json():
        for name, server in (user.get("servers") or {}).items():
            job = (server.get("state") or {}).get("job_id")
            who = f"{user['name']}/{name}"
            if job:
                holders.setdefault(job, []).append(who)
            if (server.get("ready") or server.get("pending")) and job and job not in jobs:
                ghosts.append((who, job))
            if server.get("ready") and not job:
                ghosts.append((who, None))
    orphans = [(j, holders.get(j, [])) for j in jobs if len(holders.get(j, [])) != 1]
    return orphans, ghosts


def assert_invariant(hub, within: float = 30):
    wait_for(lambda: invariant(hub) == ([], []), within, 1, what="no orphan job and no ghost server")


def marked_job(user: str, mark_user: str, server: str = "") -> str:
    return sh("sbatch", "--parsable", "-p", "interactive", "-J", "jupyterhub-session", f"--comment=jupyterhub:{mark_user}:{server}",
              "-c", "1", "--mem=100M", "-t", "10", "--wrap", "sleep 600", user=user).stdout.strip()


def test_a_job_no_server_holds_is_cancelled_and_named_in_the_log(hub, clean):
    assert hub.start("bob", {}).status_code in (201, 202)  # the hub follows the queue
    hub.wait_ready("bob")
    orphan = marked_job("alice", "alice", "lost")  # as if the hub died before saving it
    wait_for(lambda: not [j for j in squeue() if j["id"] == orphan], 60, 1, what="the orphan to be cancelled")
    assert f"Session job {orphan} of alice/lost: cancelling (no server holds it)" in hub_log_tail(300)
    assert_invariant(hub)


def test_a_mark_naming_another_user_makes_the_hub_do_nothing(hub, clean):
    assert hub.start("alice", {}).status_code in (201, 202)
    hub.wait_ready("alice")
    alice_job = hub.server("alice")["state"]["job_id"]
    forged = marked_job("bob", "alice")  # bob's job claims to be alice's default server
    wait_for(lambda: f"Session job {forged}: ignored" in hub_log_tail(300), 60, 1, what="the forged mark to be seen")
    assert [j["state"] for j in squeue() if j["id"] == forged] == ["RUNNING"]  # not cancelled, not adopted
    assert hub.server("alice")["state"]["job_id"] == alice_job
    assert hub.status_through_proxy("alice").status_code == 200
    sh("scancel", forged)


def test_sessions_and_jobs_still_match_after_a_hub_restart(hub, clean):
    for user in ("alice", "bob"):
        assert hub.start(user, {}).status_code in (201, 202)
    for user in ("alice", "bob"):
        hub.wait_ready(user)
    assert_invariant(hub, 10)
    sh(STACKCTL, "restart", "hub", timeout=120)
    wait_for(lambda: hub.squeue_calls() >= 1, 60, 0.5, what="the restarted hub to look at the queue")
    assert_invariant(hub)
    hub.stop("alice")
    assert_invariant(hub)


def _pid(pattern: str) -> int:
    pids = pgrep("-f", pattern)
    assert pids, f"no process matches {pattern!r}"
    return int(pids[0])


def _answers(hub, user) -> bool:
    try:
        return hub.status_through_proxy(user).status_code == 200
    except requests.RequestException:
        return False


def test_the_proxy_killed_comes_back_with_its_routes(hub, clean):
    assert hub.start("alice", {}).status_code in (201, 202)
    hub.wait_ready("alice")
    sh("kill", "-KILL", str(_pid("configurable-http-proxy")))
    killed = time.monotonic()
    wait_for(lambda: _answers(hub, "alice"), 60, 0.5, what="alice's session to answer through a new proxy")
    print(f"proxy killed: session reachable again after {time.monotonic() - killed:.1f} s")
    assert_invariant(hub)


def worker_job(user: str, session_job: str) -> str:
    """A job on the batch nodes named as session ``session_job``'s workers are (Dask's, session.workers)."""
    return sh("sbatch", "--parsable", "-p", "batch", "-J", f"worker-of-{session_job}", "-c", "1", "--mem=100M",
              "-t", "10", "--wrap", "sleep 600", user=user).stdout.strip()


def live(job: str) -> bool:
    return any(j["id"] == job and j["state"] in LIVE for j in squeue("--states=all", f"--jobs={job}"))


def test_a_node_failing_under_a_session(hub, clean):
    assert hub.start("alice", {}).status_code in (201, 202)
    hub.wait_ready("alice")
    job = hub.server("alice")["state"]["job_id"]
    node = [j for j in squeue() if j["id"] == job][0]["nodes"]
    # the session's workers, on other nodes, and a job of bob's that takes their name
    workers, bobs = worker_job("alice", job), worker_job("bob", job)
    wait_for(lambda: live(workers) and live(bobs), 30, 0.5, what="the workers to be queued")
    sh("scontrol", "update", f"nodename={node}", "state=down", "reason=fault-test")
    failed = time.monotonic()
    try:
        wait_for(lambda: hub.server("alice") is None, 30, 0.5, what="the hub to notice the node failure")
        print(f"node failure noticed after {time.monotonic() - failed:.1f} s")
        final = [j["state"] for j in squeue("--states=all", f"--jobs={job}")]
        assert final and final[0] in ("NODE_FAIL", "CANCELLED", "FAILED"), final
        assert not [j for j in squeue() if j["id"] == job]  # not requeued elsewhere
        # no worker outlives its session, and nobody else's job is taken for one
        wait_for(lambda: not live(workers), 30, 0.5, what="the session's workers to end")
        assert live(bobs)
        page = Browser("alice").login.text  # the login lands on the form, which says how the session ended
        assert f"its node {node} failed" in page or "node failed" in page, page[:2000]
        # a failed node here registers again at once (ReturnToService); kept out as a site would keep it
        sh("scontrol", "update", f"nodename={node}", "state=drain", "reason=fault-test")
        wait_for(lambda: Browser("alice").availability().json()["unavailable_nodes"] >= 1, 20, 1,
                 what="the table to stop counting the node")
    finally:
        sh("scontrol", "update", f"nodename={node}", "state=resume", check=False)
        wait_for(lambda: "down" not in sh("sinfo", "-h", "-n", node, "-o", "%t").stdout, 60, 1,
                 what=f"{node} to come back")
    assert_invariant(hub)


def test_a_session_cancelled_outside_the_hub_ends_its_workers(hub, clean):
    """scancel by its owner (or the walltime: the same signal): the session's own script cancels its workers."""
    assert hub.start("alice", {}).status_code in (201, 202)
    hub.wait_ready("alice")
    job = hub.server("alice")["state"]["job_id"]
    workers = worker_job("alice", job)
    wait_for(lambda: live(workers), 30, 0.5, what="the worker to be queued")
    sh("scancel", job, user="alice")
    wait_for(lambda: not live(workers), 10, 0.25, what="the session's worker to end")


def test_a_stopped_controller_declares_nothing_dead_and_a_start_completes_after(hub, clean):
    assert hub.start("bob", {}).status_code in (201, 202)
    hub.wait_ready("bob")
    bob_job = hub.server("bob")["state"]["job_id"]
    assert hub.start("alice", {}).status_code in (201, 202)
    wait_for(lambda: (hub.server("alice") or {}).get("state", {}).get("job_id"), 30, 0.2, what="alice's job")
    ctld = _pid("^slurmctld")
    failed = hub.squeue_calls(failed=True)
    sh("kill", "-STOP", str(ctld))
    try:
        # the hub's squeue to the stopped controller times out (slurm_timeout): then it has judged its sessions
        wait_for(lambda: hub.squeue_calls(failed=True) > failed, 120, 1, what="an squeue of the hub to time out")
        assert hub.server("bob") is not None and hub.server("bob")["state"]["job_id"] == bob_job
        assert hub.server("alice") is not None
        assert _answers(hub, "bob")
    finally:
        sh("kill", "-CONT", str(ctld))
    resumed = time.monotonic()
    hub.wait_ready("alice", timeout=120)
    print(f"controller stopped: the start completed {time.monotonic() - resumed:.1f} s after it resumed")
    assert _answers(hub, "alice") and _answers(hub, "bob")
    assert_invariant(hub)


def test_a_start_whose_sbatch_gets_no_answer_finds_its_job_after_the_outage_and_completes(hub, clean):
    """slurmctld stopped before Start: sbatch times out, yet the controller queues the job when it comes
    back. That is no refusal: the start finds the job by its mark, adopts it and completes."""
    log_from = hub_log_size()
    ctld = _pid("^slurmctld")
    sh("kill", "-STOP", str(ctld))
    try:
        assert hub.start("bob", {}).status_code in (201, 202)
        wait_for(lambda: "sbatch got no answer for bob's session" in hub_log_since(log_from), 90, 0.5,
                 what="bob's sbatch to time out")
    finally:
        sh("kill", "-CONT", str(ctld))
    resumed = time.monotonic()
    hub.wait_ready("bob", timeout=120)
    print(f"sbatch without answer: the start completed {time.monotonic() - resumed:.1f} s after the controller resumed")
    assert _answers(hub, "bob")
    assert "found job" in hub_log_since(log_from)
    assert_invariant(hub)


def test_a_hub_that_cannot_see_its_jobs_starts_none_and_says_what_fixes_it(hub, clean):
    """The hub's user no operator (as on a fresh machine whose controller never resolved it): the form
    offers no Start and says why, the REST API answers 503, the log names the fix; once fixed, sessions
    start again without a hub restart."""
    sh("sacctmgr", "-i", "modify", "user", "jupyterhub", "set", "adminlevel=None")
    try:
        sh(STACKCTL, "restart", "hub", timeout=120)
        page = Browser("alice").form()
        assert "Sessions cannot start: this service is misconfigured" in page.text
        assert "is not a Slurm operator" in page.text and "adminlevel=Operator" in page.text
        r = hub.start("alice", {})
        assert r.status_code == 503 and "misconfigured" in r.json()["message"], r.text
        assert not [j for j in squeue() if j["user"] == "alice"]
        assert "The hub cannot see its sessions' jobs, so it starts none" in hub_log_tail(200)
    finally:
        sh("sacctmgr", "-i", "modify", "user", "jupyterhub", "set", "adminlevel=Operator")
    wait_for(lambda: "misconfigured" not in Browser("alice").form().text, 60, 2, what="the fix to be noticed")
    assert hub.start("alice", {}).status_code in (201, 202)
    hub.wait_ready("alice")


HUB_PIDFILE = "/run/jupyterhub/jupyterhub.pid"
HUB_LOG = "/var/log/jupyterhub/jupyterhub.log"


def _kill_hub_when(predicate, timeout=60):
    wait_for(predicate, timeout, 0.05, what="the moment to kill the hub")
    pid = open(HUB_PIDFILE).read().strip()
    sh("kill", "-KILL", pid)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 30, 0.05, what="the killed hub to be gone")
    sh(STACKCTL, "start", "hub", timeout=120)


@pytest.mark.parametrize("moment", ["submitted", "queued", "port reported"])
def test_the_hub_killed_during_a_start_leaves_no_job_behind(hub, clean, moment):
    blockers = []
    if moment == "queued":
        blockers = [sh("sbatch", "--parsable", "-p", "interactive", "-w", n, "--gres=gpu:2", "-c", "1", "--mem=100M", "-t", "10",
                       "-J", "gpu-blocker", "--wrap", "sleep 600", user="alice").stdout.strip()
                    for n in ("node01", "node02", "node03")]
        wait_for(lambda: len([j for j in squeue() if j["id"] in blockers and j["state"] == "RUNNING"]) == 3, 30,
                 what="the GPU blockers to run")
    log_before = os.path.getsize(HUB_LOG)
    assert hub.start("alice", {"gpus": 2 if moment == "queued" else 0}).status_code in (201, 202)

    def reached():
        with open(HUB_LOG, errors="replace") as f:
            f.seek(log_before)
            new = f.read()
        if moment == "submitted":
            return any(j["user"] == "alice" and j["name"] == "jupyterhub-session" for j in squeue())
        if moment == "queued":
            return "alice: Job" in new and "waiting for a node" in new.lower()
        return "alice: Server listening on" in new

    try:
        _kill_hub_when(reached)
        restarted = time.monotonic()
        if moment == "queued":
            sh("scancel", *blockers)
        # the session goes on, or ends with a message: never a job left behind
        wait_for(lambda: (hub.server("alice") or {}).get("ready") or hub.server("alice") is None, 120, 1,
                 what="alice's session to be ready or gone")
        assert_invariant(hub, 60)
        # nor a process: the killed hub's idle culler ended with it, and only the new hub's runs
        cullers = wait_for(lambda: (lambda found: found if len(found) == 1 else None)(
            pgrep("-f", "-x", ".*-m jupyterhub_idle_culler .*")), 20, 0.5,
            what="exactly one idle culler, the new hub's")
        assert len(cullers) == 1
        outcome = "ready" if hub.server("alice") else "ended"
        print(f"hub killed ({moment}): session {outcome}, no orphan, {time.monotonic() - restarted:.1f} s after restart")
    finally:
        if blockers:
            sh("scancel", *blockers, check=False)


@pytest.mark.parametrize("away", ["slurmdbd", "mariadb"])
def test_accounting_away_the_form_still_opens_and_says_what_it_cannot_know(hub, clean, away):
    # a newcomer: given a Slurm account after the hub last read the site's associations
    newcomer_name = "crowd29" if away == "slurmdbd" else "crowd30"
    sh("sacctmgr", "-i", "delete", "user", f"name={newcomer_name}", check=False)
    sh(STACKCTL, "restart", "hub", timeout=120)  # a hub that has read no accounts yet
    assert hub.start("bob", {}).status_code in (201, 202)  # the hub reads the site's associations...
    hub.wait_ready("bob")
    assert "jsi-account" in Browser("alice").form().text  # ...and knows alice's from them
    sh("sacctmgr", "-i", "add", "user", newcomer_name, "account=proj-b", "defaultaccount=proj-b")
    sh(STACKCTL, "stop", away, timeout=60)
    try:
        page = Browser("alice").form().text
        assert 'name="account"' in page and "proj-a" in page
        # the newcomer is asked about alone: accounting cannot say, and the form says so
        subprocess.run(["chpasswd"], input=f"{newcomer_name}:{newcomer_name}-test\n", text=True, check=True)
        newcomer = Browser(newcomer_name, f"{newcomer_name}-test")
        assert newcomer.logged_in
        page = newcomer.form().text
        if away == "slurmdbd":
            assert "Your Slurm accounts cannot be read right now" in page, page[-3000:]
        else:  # slurmdbd may still answer from what it holds: then the form simply opens
            assert "Your Slurm accounts cannot be read right now" in page or 'name="account"' in page
        assert _answers(hub, "bob")
    finally:
        sh(STACKCTL, "start", away, timeout=120)
        sh(STACKCTL, "start", "slurmdbd", timeout=120)
        if newcomer_name not in sh("sacctmgr", "-nP", "show", "assoc", "account=proj-b", "format=user").stdout.split():
            sh("sacctmgr", "-i", "add", "user", newcomer_name, "account=proj-b", "defaultaccount=proj-b")
    assert_invariant(hub)


def test_a_home_that_cannot_be_written_fails_fast_and_says_so(hub, clean):
    home, outputs = "/home/alice", session_output("alice", 0).rsplit("/", 1)[0]
    sh("mkdir", "-p", "-m", "0700", outputs, user="alice")
    mode = os.stat(home).st_mode & 0o7777
    os.chmod(home, 0o500)
    os.chmod(outputs, 0o500)  # neither the home nor the session's own directory takes a file
    try:
        started = time.monotonic()
        hub.start("alice", {})
        wait_for(lambda: hub.server("alice") is None, 30, 0.5, what="the start to fail")
        print(f"unwritable home: start failed after {time.monotonic() - started:.1f} s")
        page = Browser("alice").login.text
        assert "Is your home directory full, or not writable?" in page
    finally:
        os.chmod(outputs, 0o700)
        os.chmod(home, mode)
    assert_invariant(hub)


def test_a_crowd_presses_start_at_once_then_stop(hub, clean):
    users = [f"crowd{i:02d}" for i in range(1, 31)]
    for u in users:
        hub.ensure_user(u)
    try:
        with concurrent.futures.ThreadPoolExecutor(30) as pool:
            answers = list(pool.map(lambda u: hub.start(u, {"memory": 200}), users))
        assert all(r.status_code in (201, 202, 400, 403, 503) for r in answers), [r.status_code for r in answers]
        for u, r in zip(users, answers):
            if r.status_code >= 400:
                assert r.json().get("message"), (u, r.text)  # a clear refusal
        started = [u for u, r in zip(users, answers) if r.status_code in (201, 202)]
        pressed = time.monotonic()
        wait_for(lambda: all((hub.server(u) or {}).get("ready") or hub.server(u) is None for u in started), 300, 2,
                 what="every start to settle")
        ready = sum(1 for u in started if hub.server(u))
        print(f"crowd: {ready} of 30 ready, {30 - len(started)} refused, settled in {time.monotonic() - pressed:.0f} s")
        per_user = {}
        for j in squeue():
            if j["name"] == "jupyterhub-session":
                per_user[j["user"]] = per_user.get(j["user"], 0) + 1
        assert all(n == 1 for n in per_user.values()), per_user  # nobody got two jobs
        assert_invariant(hub, 60)
        with concurrent.futures.ThreadPoolExecutor(30) as pool:
            list(pool.map(lambda u: hub.api("DELETE", f"/users/{u}/server"), users))
        wait_for(lambda: not [j for j in squeue() if j["user"] in users], 120, 1, what="the crowd's jobs to go")
        assert_invariant(hub, 60)
    finally:
        for u in users:
            sh("scancel", "-u", u, check=False)
