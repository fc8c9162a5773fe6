"""Add time to a running session, through the real hub and Slurm: accepted, refused by each rule (the
partition's MaxTime, the site's cap, others waiting for its GPUs), from the REST API and from the session's own
JupyterLab, and never by anyone else."""

import re

import pytest
import requests

from .conftest import HUB, hub_log_since, hub_log_size, scontrol_job, sh, squeue, wait_for

pytestmark = pytest.mark.integration


def add_time(hub, user, minutes, as_user=None, token=None, server=""):
    path = f"users/{user}/servers/{server}/add-time" if server else f"users/{user}/server/add-time"
    return requests.post(f"{HUB}/hub/api/slurm-interactive/{path}", json={"minutes": minutes}, timeout=60,
                         headers={"Authorization": f"token {token or hub.user_token(as_user or user)}"})


def limit(job):
    return scontrol_job(job)["TimeLimit"]


def running_session(hub, user="alice", **options):
    assert hub.start(user, {"cores": 1, "memory": 500, "gpus": 1, "hours": 1, **options}).status_code in (201, 202)
    hub.wait_ready(user)
    return hub.server(user)["state"]["job_id"]


def test_time_is_added_within_the_rules_and_each_rule_refuses_by_name(hub, clean):
    job = running_session(hub)
    added_before = hub.metric("slurm_interactive_time_requests_total", outcome="added")
    offset = hub_log_size()

    r = add_time(hub, "alice", 30)
    assert r.status_code == 200, r.text
    assert limit(job) == "01:30:00"
    assert r.json()["limit_minutes"] == 90
    assert re.fullmatch(rf"30 min added: the session \(Slurm job {job}\) now ends at \d\d:\d\d:\d\d \w+\.",
                        r.json()["message"])
    # the card follows the new end at once
    card = next(c for c in hub.sessions("alice") if c["name"] == "")
    assert card["time_left"].startswith("1 h 29 min") or card["time_left"].startswith("1 h 30 min"), card
    assert [s["minutes"] for s in card["add_time"]] == [30, 60]
    assert hub.metric("slurm_interactive_time_requests_total", outcome="added") == added_before + 1
    assert f"alice added 30 min to job {job}: its time limit is now 90 min" in hub_log_since(offset)

    # the partition's MaxTime (8 h) is checked first, then the site's cap (7 h in all)
    r = add_time(hub, "alice", 8 * 60)
    assert r.status_code == 409 and r.json()["rule"] == "partition", r.text
    assert r.json()["message"] == ("No more time: 8 h more would make it 9 h 30 min, and the partition interactive "
                                   "allows at most 8 h (Slurm's MaxTime).")
    r = add_time(hub, "alice", 6 * 60)
    assert r.status_code == 409 and r.json()["rule"] == "site_cap", r.text
    assert "a session here may run at most 7 h in all" in r.json()["message"]

    # another user's job waits for GPUs on the session's node: no time is taken from them
    node = scontrol_job(job)["NodeList"]
    blocker = sh("sbatch", "--parsable", "-p", "interactive", "-w", node, "--gres=gpu:2", "-c", "1", "--mem=100M",
                 "-t", "10", "-J", "waits-for-gpus", "--wrap", "sleep 600", user="bob").stdout.strip()
    wait_for(lambda: any(j["id"] == blocker and j["reason"] == "Resources" for j in squeue()), 30,
             what="bob's job to wait for GPUs")
    r = add_time(hub, "alice", 30)
    assert r.status_code == 409 and r.json()["rule"] == "queue", r.text
    assert r.json()["message"].startswith("No more time while others wait: 1 job of other people waits in the "
                                          "partition interactive for GPUs")
    assert "bob" not in r.json()["message"]  # nobody's name or job is told
    sh("scancel", blocker)
    wait_for(lambda: not any(j["id"] == blocker and j["state"] == "PENDING" for j in squeue()), 30,
             what="bob's job to go")
    assert add_time(hub, "alice", 60).status_code == 200
    assert limit(job) == "02:30:00"
    for rule in ("partition", "site_cap", "queue"):
        assert hub.metric("slurm_interactive_time_requests_total", outcome=rule) >= 1


def test_only_the_owner_the_sessions_own_server_or_an_operator_adds_time(hub, clean):
    job = running_session(hub)
    r = add_time(hub, "alice", 30, as_user="bob")
    assert r.status_code == 403 and limit(job) == "01:00:00", r.text
    for body in ({"minutes": "30"}, {"minutes": 0}, {"minutes": 10 ** 9}, {"minutes": 30, "job": "1"}, [30]):
        r = requests.post(f"{HUB}/hub/api/slurm-interactive/users/alice/server/add-time", json=body, timeout=60,
                          headers={"Authorization": f"token {hub.user_token('alice')}"})
        assert r.status_code == 400, (body, r.text)
    assert limit(job) == "01:00:00"
    # bob's session is not running: nothing to add to
    hub.ensure_user("bob")
    r = add_time(hub, "bob", 30)
    assert r.status_code == 409 and r.json()["rule"] == "not_running", r.text

    # the session's JupyterLab asks its own server, which asks the hub with the server's token
    lab = f"{HUB}/user/alice/slurm-interactive"
    auth = {"Authorization": f"token {hub.user_token('alice')}"}
    before = requests.get(f"{lab}/session", headers=auth, timeout=30).json()
    assert before["add_time"] == [30, 60]
    r = requests.post(f"{lab}/add-time", json={"minutes": 60}, headers=auth, timeout=60)
    assert r.status_code == 200, r.text
    assert limit(job) == "02:00:00"
    after = requests.get(f"{lab}/session", headers=auth, timeout=30).json()
    assert after["ends_at"] - before["ends_at"] == 3600  # the countdown follows at once
    r = requests.post(f"{lab}/add-time", json={"minutes": 45}, headers=auth, timeout=60)
    assert r.status_code == 400 and limit(job) == "02:00:00"  # only the steps the site offers

    # an operator (the site's admin service) may add time too
    r = hub.api("POST", "/slurm-interactive/users/alice/server/add-time", json={"minutes": 30})
    assert r.status_code == 200 and limit(job) == "02:30:00", r.text
