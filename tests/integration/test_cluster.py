"""The local Slurm cluster is what the design says: real daemons, real accounting."""

import pytest

from jupyterhub_slurm_interactive.slurm import commands as slurm

from .conftest import sh, squeue, wait_for

pytestmark = pytest.mark.integration


def nodes():
    return slurm.parse_nodes(sh("scontrol", "-o", "show", "node").stdout)


def test_four_nodes_with_two_gpus_in_the_interactive_partition(stack):
    found = [n for n in nodes() if "interactive" in n.partitions]
    assert [n.name for n in found] == ["node01", "node02", "node03", "node04"]
    assert all(n.gpus == 2 and n.cpus == 8 for n in found)
    # every node has its own address, which is not its name
    assert len({n.addr for n in found}) == 4
    assert all(n.addr != n.name for n in found)
    (part,) = slurm.parse_records(sh("scontrol", "-o", "show", "partition", "interactive").stdout)
    assert part["OverSubscribe"] == "FORCE:5"
    assert part["MaxTime"] == "08:00:00"
    # a plain sbatch goes to the compute nodes (partition batch), never to the sessions' nodes
    assert part["Default"] == "NO"
    (batch,) = slurm.parse_records(sh("scontrol", "-o", "show", "partition", "batch").stdout)
    assert (batch["Default"], batch["Nodes"]) == ("YES", "node[05-06]")


def test_a_submitted_session_is_scheduled_at_the_next_pass(stack):
    """Not up to batch_sched_delay (3 s by default) later: sessions started together each wait for a person."""
    config = {key.strip(): value.strip() for key, value in (line.split(" = ", 1) for line in
              sh("scontrol", "show", "config").stdout.splitlines() if " = " in line)}
    assert "batch_sched_delay=0" in config["SchedulerParameters"].split(",")


def test_two_jobs_each_taking_every_core_share_a_node(clean):
    ids = [sh("sbatch", "--parsable", "-p", "interactive", "-w", "node01", "-c", "8", "--mem=500M", "-t", "5", "--oversubscribe",
              "--wrap", "sleep 300", user="alice").stdout.strip() for _ in range(2)]
    running = wait_for(lambda: [j for j in squeue() if j["id"] in ids and j["state"] == "RUNNING"]
                       if len([j for j in squeue() if j["id"] in ids and j["state"] == "RUNNING"]) == 2 else None,
                       30, what="both jobs to run")
    assert {j["nodes"] for j in running} == {"node01"}


def test_a_gpu_job_waits_for_resources_when_every_gpu_is_taken(clean):
    # node04 is reserved for the course: bob can use node01..node03 only
    for node in ("node01", "node02", "node03"):
        sh("sbatch", "--parsable", "-p", "interactive", "-w", node, "--gres=gpu:2", "-c", "1", "--mem=100M", "-t", "5",
           "--wrap", "sleep 300", user="bob")
    wait_for(lambda: len([j for j in squeue() if j["state"] == "RUNNING"]) == 3, 30, what="three GPU jobs to run")
    job = sh("sbatch", "--parsable", "-p", "interactive", "--gres=gpu:1", "-c", "1", "--mem=100M", "-t", "5", "--wrap", "sleep 300",
             user="bob").stdout.strip()
    entry = wait_for(lambda: next((j for j in squeue() if j["id"] == job and j["reason"] not in ("None", "")), None),
                     30, what="the scheduler to give a reason")
    assert entry["state"] == "PENDING"
    assert entry["reason"] == "Resources"


def test_slurm_refuses_an_account_the_user_does_not_have(clean):
    proc = sh("sbatch", "-p", "interactive", "-A", "proj-a", "-t", "1", "--wrap", "true", user="bob", check=False)
    assert proc.returncode != 0
    assert "Invalid account" in proc.stderr
    assert not [j for j in squeue() if j["user"] == "bob"]


def test_associations_of_the_demo_users(stack):
    def accounts(user):
        out = sh("sacctmgr", "-nP", "show", "assoc", f"user={user}", "format=account").stdout
        return sorted(set(out.split()))
    assert accounts("alice") == ["proj-a", "proj-b"]
    assert accounts("bob") == ["proj-b"]
    assert sh("sacctmgr", "-nP", "show", "user", "alice", "format=defaultaccount").stdout.strip() == "proj-a"
    config = dict(line.split(" = ", 1) for line in sh("scontrol", "show", "config").stdout.splitlines()
                  if " = " in line)
    enforce = set(config["AccountingStorageEnforce"].strip().split(","))
    assert {"associations", "limits", "safe"} <= enforce


def test_only_alice_may_use_the_course_reservation(clean):
    (resv,) = slurm.parse_records(sh("scontrol", "-o", "show", "reservation", "course").stdout)
    assert resv["Users"] == "alice" and resv["Nodes"] == "node04"
    refused = sh("sbatch", "-p", "interactive", "--reservation=course", "-t", "1", "--wrap", "true", user="bob", check=False)
    assert refused.returncode != 0 and "Access denied" in refused.stderr
    job = sh("sbatch", "--parsable", "-p", "interactive", "--reservation=course", "-t", "1", "--mem=100M", "--wrap", "sleep 30",
             user="alice").stdout.strip()
    entry = wait_for(lambda: next((j for j in squeue() if j["id"] == job and j["state"] == "RUNNING"), None), 30,
                     what="alice's job in the reservation to run")
    assert entry["nodes"] == "node04"
