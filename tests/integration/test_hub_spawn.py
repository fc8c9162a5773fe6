"""A session through the real hub: REST spawn, the proxy, Slurm, stop, hub restart."""

import os
import stat

import pytest

from .conftest import STACKCTL, hub_log_tail, scontrol_job, session_output, sh, squeue, wait_for

pytestmark = pytest.mark.integration


def job_of(hub, user):
    server = hub.server(user)
    assert server is not None, f"{user} has no server"
    return server["state"]["job_id"]


def test_spawn_with_defaults_reaches_jupyter_through_the_proxy(hub, clean):
    r = hub.start("alice", body="")
    assert r.status_code in (201, 202), r.text
    server = hub.wait_ready("alice")
    assert server["user_options"] == {"cores": 1, "memory": 2000, "gpus": 0, "hours": 1, "release": "2026.11",
                                      "ui": "lab", "account": "proj-a", "reservation": "", "mail": False}
    job = server["state"]["job_id"]

    status = hub.status_through_proxy("alice")
    assert status.status_code == 200, status.text
    assert "last_activity" in status.json()

    (entry,) = [j for j in squeue() if j["id"] == job]
    assert entry["user"] == "alice" and entry["state"] == "RUNNING"
    assert entry["partition"] == "interactive" and entry["account"] == "proj-a"
    fields = scontrol_job(job)
    assert fields["OverSubscribe"] == "YES"
    assert fields["JobName"] == "jupyterhub-session"

    # the job's output is alice's alone, and holds no token
    log = session_output("alice", job)
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
    assert hub.user_token("alice") not in open(log).read()

    hub.stop("alice")
    wait_for(lambda: not [j for j in squeue() if j["id"] == job], 10, 0.1, what="the job to leave squeue")
    assert hub.status_through_proxy("alice").status_code != 200


def test_an_empty_body_starts_with_the_defaults(hub, clean):
    assert hub.start("bob", {"cores": 3, "hours": 2}).status_code in (201, 202)
    server = hub.wait_ready("bob")
    assert (server["user_options"]["cores"], server["user_options"]["hours"]) == (3, 2)
    hub.stop("bob")
    # an empty body means the defaults, not a replay of the last request
    r = hub.start("bob", body="")
    assert r.status_code in (201, 202), r.text
    server = hub.wait_ready("bob")
    assert (server["user_options"]["cores"], server["user_options"]["hours"]) == (1, 1)
    assert server["user_options"]["account"] == "proj-b"
    assert scontrol_job(server["state"]["job_id"])["NumCPUs"] == "1"
    # the last accepted choices are kept for the form
    assert server["state"]["last_options"]["cores"] == 1


def test_the_session_survives_a_hub_restart(hub, clean):
    assert hub.start("alice").status_code in (201, 202)
    hub.wait_ready("alice")
    job = job_of(hub, "alice")
    sh(STACKCTL, "restart", "hub", timeout=120)
    # same job, same server, still answering through the (restarted) proxy
    assert job_of(hub, "alice") == job
    wait_for(lambda: hub.status_through_proxy("alice").status_code == 200, 30, 0.5,
             what="the session to answer again")
    assert [j["state"] for j in squeue() if j["id"] == job] == ["RUNNING"]
    assert "Cancelling" not in hub_log_tail(40)


def test_options_through_rest_reach_slurm(hub, clean):
    r = hub.start("alice", {"account": "proj-b", "cores": 2, "memory": 1500, "gpus": 1, "hours": 2})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready("alice")
    fields = scontrol_job(job_of(hub, "alice"))
    assert fields["Account"] == "proj-b"
    assert fields["NumCPUs"] == "2"
    assert fields["TimeLimit"] == "02:00:00"
    assert "mem=1500M" in fields["TRES"] and "gres/gpu=1" in fields["TRES"]


@pytest.mark.parametrize("options, field", [
    ({"cores": "2; id"}, "cores"),
    ({"account": "proj-a"}, "account"),  # bob has no proj-a
    ({"release": "../../etc"}, "release"),
    ({"partition": "debug"}, "partition"),
])
def test_bad_options_are_refused_with_400_and_no_job(hub, clean, options, field):
    r = hub.start("bob", options)
    assert r.status_code == 400, r.text
    assert field in r.json()["message"]
    assert not [j for j in squeue() if j["user"] == "bob"]
    assert hub.server("bob") is None
    # the refused options are not remembered as the next defaults
    assert hub.start("bob", body="").status_code in (201, 202)
    assert hub.wait_ready("bob")["user_options"]["cores"] == 1
