"""The free-resources table, from recorded node and reservation records and odd cases."""

from pathlib import Path

import pytest

from jupyterhub_slurm_interactive.cluster.availability import build_table, gpu_label
from jupyterhub_slurm_interactive.cluster.views import parse_accounts
from jupyterhub_slurm_interactive.slurm import commands as slurm

FIXTURES = Path(__file__).parent / "fixtures"


def rows(table):
    return [(r.free_gpus, r.nodes, r.free_cores, r.free_memory_mb) for r in table.rows]


def recorded(name):
    return (FIXTURES / name).read_text()


def test_idle_cluster_with_the_course_reservation():
    nodes = slurm.parse_nodes(recorded("scontrol_show_node_idle.txt"))
    resv = slurm.parse_reservations(recorded("scontrol_show_reservation.txt"))
    table = build_table(nodes, resv, "interactive")
    # node04 is reserved, so three idle nodes with 2 free GPUs each
    assert rows(table) == [(0, 0, 0, 0), (1, 0, 0, 0), (2, 3, 24, 60000)]
    assert table.reserved_nodes == 1 and table.unavailable_nodes == 0
    assert table.max_free_gpus == 2
    inside = build_table(nodes, resv, "interactive", "course")
    assert rows(inside) == [(0, 0, 0, 0), (1, 0, 0, 0), (2, 1, 8, 30000)]
    assert inside.reserved_nodes == 0


def test_busy_cluster():
    nodes = slurm.parse_nodes(recorded("scontrol_show_node_busy.txt"))
    resv = slurm.parse_reservations(recorded("scontrol_show_reservation.txt"))
    table = build_table(nodes, resv, "interactive")
    # node01: 1 GPU, 2 cores and 1500 MB taken; node02, node03: both GPUs taken
    assert rows(table) == [(0, 2, 14, 44800), (1, 1, 6, 13500), (2, 0, 0, 0)]
    assert table.max_free_gpus == 1


def node(name, state="IDLE", gpus=2, used=0, cpus=8, alloc=0, mem=1000, mem_alloc=0, parts="interactive"):
    return slurm.Node(name=name, addr=name, state=state, partitions=tuple(parts.split(",")), cpus=cpus,
                      cpus_alloc=alloc, memory_mb=mem, memory_alloc_mb=mem_alloc, gpus=gpus, gpus_alloc=used)


@pytest.mark.parametrize("state", ["DOWN*", "IDLE+DRAIN", "MIXED+DRAIN", "DRAINED", "FAIL", "IDLE*",
                                   "DOWN+NOT_RESPONDING", "IDLE+POWERED_DOWN", "FUTURE", "UNKNOWN"])
def test_unavailable_nodes_are_counted_apart(state):
    table = build_table([node("a"), node("b", state=state)], [], "interactive")
    assert rows(table)[2] == (2, 1, 8, 1000)
    assert table.unavailable_nodes == 1


def test_other_partitions_typed_gpus_and_overcommitted_counts():
    nodes = slurm.parse_nodes(
        "NodeName=g1 CPUTot=48 CPUAlloc=50 RealMemory=1000 AllocMem=0 Gres=gpu:a100:4(S:0-1) "
        "GresUsed=gpu:a100:3(IDX:0-2) State=MIXED Partitions=batch,interactive NodeAddr=10.0.0.1\n"
        "NodeName=c1 CPUTot=64 CPUAlloc=0 RealMemory=9000 AllocMem=0 Gres=(null) State=IDLE Partitions=batch\n"
    )
    table = build_table(nodes, [], "interactive")
    assert [r.label for r in table.rows] == ["No available GPUs", "1 available GPU", "2 available GPUs",
                                             "3 available GPUs", "4 available GPUs"]
    assert rows(table)[1] == (1, 1, 0, 1000)  # never negative cores


def test_inactive_and_unknown_reservations():
    resv = slurm.parse_reservations(
        "ReservationName=later StartTime=2099-01-01T00:00:00 EndTime=2099-01-02T00:00:00 Nodes=n[1-2] "
        "Users=alice Accounts=(null) Flags=SPEC_NODES State=INACTIVE\n"
        "ReservationName=maint StartTime=2020-01-01T00:00:00 EndTime=2099-01-02T00:00:00 Nodes=n3 "
        "Users=root Flags=MAINT,SPEC_NODES State=ACTIVE\n"
    )
    nodes = [node("n1"), node("n2"), node("n3")]
    table = build_table(nodes, resv, "interactive")
    assert table.reserved_nodes == 1 and rows(table)[2][1] == 2
    assert build_table(nodes, resv, "interactive", "nonexistent").rows[2].nodes == 0
    assert build_table(nodes, resv, "interactive", "later").rows[2].nodes == 0  # not active yet


@pytest.mark.parametrize("hostlist, names", [
    ("node04", ["node04"]),
    ("node[01-03,07]", ["node01", "node02", "node03", "node07"]),
    ("gpu[8-10],login1", ["gpu8", "gpu9", "gpu10", "login1"]),
    ("r[1-2]n[01-02]", ["r1n01", "r1n02", "r2n01", "r2n02"]),
    ("(null)", []),
    ("", []),
])
def test_expand_hostlist(hostlist, names):
    assert slurm.expand_hostlist(hostlist) == names


def test_who_may_use_a_reservation():
    (course,) = slurm.parse_reservations(recorded("scontrol_show_reservation.txt"))
    assert course.nodes == ("node04",) and course.active and not course.maintenance
    assert slurm.may_use_reservation(course, "alice", ["proj-a"], [])
    assert not slurm.may_use_reservation(course, "bob", ["proj-b"], ["bob"])
    by_account = slurm.Reservation("r", "ACTIVE", "", "", (), (), ("proj-b",), (), frozenset())
    assert slurm.may_use_reservation(by_account, "bob", ["proj-b"], [])
    assert not slurm.may_use_reservation(by_account, "alice", ["proj-a"], [])
    by_group = slurm.Reservation("r", "ACTIVE", "", "", (), (), (), ("physics",), frozenset())
    assert slurm.may_use_reservation(by_group, "carol", [], ["physics"])
    all_but_bob = slurm.Reservation("r", "ACTIVE", "", "", (), ("-bob",), (), (), frozenset())
    assert slurm.may_use_reservation(all_but_bob, "alice", [], [])
    assert not slurm.may_use_reservation(all_but_bob, "bob", [], [])


def test_no_reservations_answer():
    assert slurm.parse_reservations("No reservations in the system\n") == []


def test_accounts_default_first():
    assert parse_accounts(recorded("sacctmgr_assoc_alice.txt"), recorded("sacctmgr_user_alice.txt")) == ["proj-a", "proj-b"]
    assert parse_accounts("proj-b\nproj-a\n", "proj-b\n") == ["proj-b", "proj-a"]
    assert parse_accounts("", "") == []


def test_labels():
    assert [gpu_label(n) for n in range(3)] == ["No available GPUs", "1 available GPU", "2 available GPUs"]


def free(*nodes):
    from jupyterhub_slurm_interactive.cluster.availability import FreeNode, Table
    return Table(rows=(), unavailable_nodes=0, reserved_nodes=0,
                 free_nodes=tuple(FreeNode(cpus=c, free_cores=c, free_memory_mb=m, free_gpus=g) for c, m, g in nodes))


def test_the_fit_warning_asks_for_one_node_that_holds_the_whole_request():
    from jupyterhub_slurm_interactive.cluster.availability import fit_warning
    # the finding: every free 2-GPU node has 15000 MB, the request 2 GPUs and 20000 MB
    table = free((8, 15000, 2), (8, 15000, 2), (8, 30000, 0))
    assert fit_warning(table, 2, 15000, 2) == ""
    assert fit_warning(table, 8, 30000, 0) == ""  # cores count against a node's CPUs: they are shared
    assert fit_warning(table, 2, 20000, 2) == (
        "20,000 MB of memory does not fit: the nodes with 2 free GPUs outside reservations have at most 15,000 MB "
        "free right now. Your session would wait in the queue until one does; ask for less to start now.")
    assert fit_warning(table, 1, 2000, 3).startswith("No node outside reservations has 3 free GPUs right now "
                                                     "(at most 2 on one node).")
    assert fit_warning(free((8, 1000, 0)), 1, 2000, 1).startswith("No node outside reservations has a free GPU "
                                                                  "right now (none is free).")
    assert fit_warning(table, 1, 40000, 0).startswith("40,000 MB of memory does not fit: any node outside "
                                                      "reservations has at most 30,000 MB free")
    assert fit_warning(table, 16, 1000, 0).startswith("16 cores do not fit: the nodes that have the rest have at "
                                                      "most 8 cores.")
    assert fit_warning(free(), 1, 100, 0).startswith("No node outside reservations can take a session right now.")
    assert fit_warning(table, "", "abc", 1) == ""  # the field's own check speaks of those


def test_rows_give_the_most_memory_free_on_one_node():
    nodes = slurm.parse_nodes(recorded("scontrol_show_node_idle.txt"))
    resv = slurm.parse_reservations(recorded("scontrol_show_reservation.txt"))
    table = build_table(nodes, resv, "interactive")
    assert [r.max_free_memory_mb for r in table.rows] == [0, 0, 30000]
    assert table.max_free_memory_mb == 30000 and table.as_json()["max_free_memory_mb"] == 30000


def test_a_request_no_node_could_ever_hold_says_so_with_the_most_there_is():
    from jupyterhub_slurm_interactive.cluster.availability import fit_warning
    nodes = slurm.parse_nodes(recorded("scontrol_show_node_busy.txt"))
    resv = slurm.parse_reservations(recorded("scontrol_show_reservation.txt"))
    table = build_table(nodes, resv, "interactive")
    # the finding: 1,000,000,000 MB was promised a wait "until one does"
    assert fit_warning(table, 1, 1_000_000_000, 0) == (
        "No node outside reservations has 1,000,000,000 MB of memory (the most is 30,000 MB), "
        "so this session could never start there.")
    assert fit_warning(table, 1, 1000, 3) == (
        "No node outside reservations has 3 GPUs (the most is 2), so this session could never start there.")
    assert fit_warning(table, 9, 1000, 0) == (
        "No node outside reservations that has the rest has 9 cores (the most is 8), "
        "so this session could never start there.")
    # the course reservation holds node04 alone (30,000 MB): more is never, less merely waits or fits
    inside = build_table(nodes, resv, "interactive", "course")
    assert "in reservation course has 40,000 MB" in fit_warning(inside, 1, 40000, 0)
    assert "could never" not in fit_warning(table, 2, 15000, 2)
