"""Parsers of Slurm output, fed with output recorded from the local cluster
(tests/unit/fixtures/record.sh) and with odd cases seen on real clusters."""

from pathlib import Path

import pytest

from jupyterhub_slurm_interactive.slurm import commands as slurm

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_nodes_idle():
    nodes = slurm.parse_nodes(fixture("scontrol_show_node_idle.txt"))
    assert [n.name for n in nodes] == ["node01", "node02", "node03", "node04"]
    for i, n in enumerate(nodes, 1):
        assert n.addr == f"127.0.1.{i}"
        assert n.cpus == 8 and n.gpus == 2
        assert n.partitions == ("interactive",)
        assert n.cpus_alloc == 0 and n.gpus_alloc == 0 and n.memory_alloc_mb == 0
    assert [n.memory_mb for n in nodes] == [15000, 15000, 30000, 30000]
    # values with spaces do not swallow the next key
    assert nodes[0].raw["OS"].startswith("Linux ")
    assert nodes[0].raw["RealMemory"] == "15000"


def test_nodes_busy_with_gres_used():
    nodes = {n.name: n for n in slurm.parse_nodes(fixture("scontrol_show_node_busy.txt"))}
    assert nodes["node01"].gpus_alloc == 1
    assert nodes["node01"].cpus_alloc == 2
    assert nodes["node01"].memory_alloc_mb == 1500
    assert nodes["node01"].state_flags == {"MIXED"}
    assert nodes["node02"].gpus_alloc == 2
    assert nodes["node04"].gpus_alloc == 0


@pytest.mark.parametrize(
    "gres, count",
    [
        ("gpu:2", 2),
        ("gpu:a100:2", 2),
        ("gpu:2(S:0-1)", 2),
        ("gpu:a100:2(S:0-1)", 2),
        ("gpu:a100:1(IDX:0)", 1),
        ("gpu:a100:2,gpu:v100:1,nic:1", 3),
        ("gpu:a100:1(IDX:0),gpu:v100:0(IDX:N/A)", 1),
        ("gres:gpu:1", 1),
        ("gres/gpu=2", 2),
        ("nic:1", 0),
        ("gpu", 1),
        ("(null)", 0),
        ("", 0),
    ],
)
def test_gres_count(gres, count):
    assert slurm.parse_gres_count(gres) == count


def test_node_state_flags():
    line = (
        "NodeName=gpu7 CPUTot=48 CPUAlloc=0 Gres=gpu:a100:4(S:0-1) NodeAddr=10.1.0.7 State=MIXED+DRAIN* "
        "Partitions=interactive,batch RealMemory=500000 AllocMem=0 Reason=bad fan [root@2026-01-01]"
    )
    (node,) = slurm.parse_nodes(line)
    assert node.state_flags == {"MIXED", "DRAIN", "NOT_RESPONDING"}
    assert node.partitions == ("interactive", "batch")
    assert node.gpus == 4
    assert node.reason == "bad fan [root@2026-01-01]"


def test_squeue():
    entries = [e for e in slurm.parse_squeue(fixture("squeue_mixed.txt")) if e.name.startswith("fixture")]
    running = [e for e in entries if e.running]
    assert len(running) == 3 and all(e.nodes and e.time_left for e in running)
    assert running[0].start_time.startswith("20") and running[0].end_time.startswith("20")
    pending = [e for e in entries if e.pending]
    assert {e.reason for e in pending} == {"Resources", "Priority"}
    assert any(e.name == "fixture|pending" for e in pending)
    # the name may hold "|"; the comment (the hub's mark) comes after the last one
    marked = next(e for e in pending if e.name == "fixture|pending")
    assert marked.comment == "jupyterhub:bob:"
    assert all(e.comment == "(null)" for e in entries if e is not marked)
    assert all(e.start_time == "N/A" and e.nodes == "" for e in pending)
    # --states=all keeps jobs that ended a moment ago, with how they ended
    ended = slurm.parse_squeue(fixture("squeue_cancelled.txt"))
    assert {e.state for e in ended} == {"CANCELLED"}
    assert not any(e.pending or e.running for e in ended)


def test_partition_and_reservation():
    (part,) = slurm.parse_records(fixture("scontrol_show_partition.txt"))
    assert part["PartitionName"] == "interactive"
    assert part["OverSubscribe"] == "FORCE:5"
    assert part["MaxTime"] == "08:00:00"
    (resv,) = slurm.parse_records(fixture("scontrol_show_reservation.txt"))
    assert resv["ReservationName"] == "course"
    assert resv["Users"] == "alice" and resv["Nodes"] == "node04"


@pytest.mark.parametrize(
    "output, job_id",
    [("123\n", "123"), ("123;cluster\n", "123"), ("sbatch: warning: x\n456\n", "456")],
)
def test_sbatch_job_id(output, job_id):
    assert slurm.parse_sbatch_job_id(output) == job_id


def test_sbatch_job_id_recorded():
    assert slurm.parse_sbatch_job_id(fixture("sbatch_parsable.txt")).isdigit()


@pytest.mark.parametrize("output", ["", "Submitted batch job\n", "12a\n"])
def test_sbatch_job_id_garbage(output):
    with pytest.raises(ValueError):
        slurm.parse_sbatch_job_id(output)


def test_clean_error_and_unreachable():
    err = slurm.SlurmError(
        "sbatch",
        1,
        "sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified\n",
    )
    assert err.message == "Batch job submission failed: Invalid account or account/partition combination specified"
    assert not err.unreachable
    down = slurm.SlurmError("squeue", 1, "squeue: error: slurm_load_jobs error: Unable to contact slurm controller (connect failure)")
    assert down.unreachable


def _sections(text: str) -> dict[str, str]:
    """The recorded one-scontrol output cut at scontrol's echo of each command, as three outputs."""
    out, current = {}, None
    for line in text.splitlines(keepends=True):
        if line.startswith("scontrol: "):
            current = line[len("scontrol: "):].strip()
            out[current] = ""
        elif current:
            out[current] += line
    return out


def test_the_cluster_view_in_one_scontrol_reads_as_its_three_commands_do():
    text = fixture("scontrol_cluster_view.txt")
    view = slurm.parse_cluster_view(text)
    alone = _sections(text)
    assert view.nodes == slurm.parse_nodes(alone["show node"])
    assert view.reservations == slurm.parse_reservations(alone["show reservation"])
    assert view.partitions == {r["PartitionName"]: r for r in slurm.parse_records(alone["show partition"])}
    # what the demo cluster has: GPU nodes in interactive (one busy), a batch partition, the course reservation
    assert set(view.partitions) == {"interactive", "batch"}
    assert [r.name for r in view.reservations] == ["course"]
    assert any(n.gpus_alloc >= 1 for n in view.nodes) and all(n.name.startswith("node") for n in view.nodes)


def test_a_reservation_naming_its_partition_is_no_partition():
    view = slurm.parse_cluster_view(fixture("scontrol_cluster_view.txt"))
    (course,) = view.reservations
    assert "PartitionName" in course.raw  # as scontrol prints it (here "(null)"): a key partitions begin with
    assert set(view.partitions) == {"interactive", "batch"}
    assert not any("ReservationName" in p for p in view.partitions.values())


def test_a_cluster_with_no_reservation_has_none_in_the_view():
    # scontrol's answer when there is none (scontrol_show_reservation.txt's cluster has one), in its place
    text = fixture("scontrol_cluster_view.txt")
    alone = _sections(text)
    text = text.replace(alone["show reservation"], "No reservations in the system\n")
    view = slurm.parse_cluster_view(text)
    assert view.reservations == [] and set(view.partitions) == {"interactive", "batch"} and view.nodes


@pytest.mark.parametrize("output", ["", "scontrol: show node\nscontrol: show reservation\nscontrol: show partition\n"])
def test_an_answer_without_partitions_is_no_cluster_view(output):
    with pytest.raises(ValueError, match="no partition"):
        slurm.parse_cluster_view(output)
