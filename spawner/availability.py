"""The table of available computational resources.

One row per number of free GPUs on a node ("No available GPUs", "1 available
GPU", …), with the number of such nodes, their free cores and their free memory.
Only nodes of the partition that can take a job now count: nodes that are down,
drained, failing or not responding are counted apart, and so are nodes inside an
active reservation (``sinfo`` may still call those ``idle``), unless the table
is asked for that reservation, in which case only its nodes count.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .slurm import Node, Reservation

#: Node state flags that mean a node takes no new job.
UNAVAILABLE = frozenset({
    "DOWN", "DRAIN", "DRAINING", "DRAINED", "FAIL", "FAILING", "NOT_RESPONDING", "NO_RESPOND",
    "POWERED_DOWN", "POWERING_DOWN", "POWER_DOWN", "POWERING_UP", "REBOOT_REQUESTED", "REBOOT_ISSUED",
    "FUTURE", "UNKNOWN", "INVALID_REG", "INVAL", "MAINTENANCE", "MAINT", "PLANNED", "BLOCKED",
})


@dataclass(frozen=True)
class Row:
    free_gpus: int
    label: str
    nodes: int
    free_cores: int
    free_memory_mb: int


@dataclass(frozen=True)
class Table:
    rows: tuple[Row, ...]
    unavailable_nodes: int  # down, drained, failing…
    reserved_nodes: int  # inside an active reservation (and not the one asked for)
    reservation: str = ""

    @property
    def max_free_gpus(self) -> int:
        """The most GPUs free on any one node (what a session can get at once)."""
        return max((r.free_gpus for r in self.rows if r.nodes), default=0)

    def as_json(self) -> dict:
        return {
            "reservation": self.reservation,
            "rows": [asdict(r) for r in self.rows],
            "unavailable_nodes": self.unavailable_nodes,
            "reserved_nodes": self.reserved_nodes,
            "max_free_gpus": self.max_free_gpus,
        }


def gpu_label(n: int) -> str:
    if n == 0:
        return "No available GPUs"
    return f"{n} available GPU" + ("" if n == 1 else "s")


def node_available(node: Node) -> bool:
    return not (node.state_flags & UNAVAILABLE)


def build_table(nodes: list[Node], reservations: list[Reservation], partition: str,
                reservation: str = "") -> Table:
    """Compute the table for a partition, outside reservations or inside one."""
    in_partition = [n for n in nodes if partition in n.partitions]
    reserved = {name for r in reservations if r.active for name in r.nodes}
    if reservation:
        chosen = next((r for r in reservations if r.name == reservation), None)
        allowed = set(chosen.nodes) if chosen and chosen.active else set()
        candidates = [n for n in in_partition if n.name in allowed]
        reserved_apart = 0
    else:
        candidates = [n for n in in_partition if n.name not in reserved]
        reserved_apart = sum(1 for n in in_partition if n.name in reserved)
    usable = [n for n in candidates if node_available(n)]
    max_gpus = max((n.gpus for n in in_partition), default=0)
    rows = []
    for k in range(max_gpus + 1):
        group = [n for n in usable if max(n.gpus - n.gpus_alloc, 0) == k]
        rows.append(Row(
            free_gpus=k,
            label=gpu_label(k),
            nodes=len(group),
            free_cores=sum(max(n.cpus - n.cpus_alloc, 0) for n in group),
            free_memory_mb=sum(max(n.memory_mb - n.memory_alloc_mb, 0) for n in group),
        ))
    return Table(
        rows=tuple(rows),
        unavailable_nodes=len(candidates) - len(usable),
        reserved_nodes=reserved_apart,
        reservation=reservation,
    )
