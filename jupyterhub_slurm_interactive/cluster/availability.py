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

from jupyterhub_slurm_interactive.slurm.commands import Node, Reservation

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
    max_free_memory_mb: int = 0  # the most free on one of these nodes: what one session can get


@dataclass(frozen=True)
class FreeNode:
    """What one usable node has free now (no name: the form needs only the figures)."""

    cpus: int  # all its CPUs: cores are shared between sessions, up to the partition's limit
    free_cores: int
    free_memory_mb: int
    free_gpus: int


@dataclass(frozen=True)
class NodeSize:
    """What one node of the table's scope has in all, free or not, up or down: what a session there
    could ever get."""

    cpus: int
    memory_mb: int
    gpus: int


@dataclass(frozen=True)
class Table:
    rows: tuple[Row, ...]
    unavailable_nodes: int  # down, drained, failing…
    reserved_nodes: int  # inside an active reservation (and not the one asked for)
    reservation: str = ""
    free_nodes: tuple[FreeNode, ...] = ()
    sizes: tuple[NodeSize, ...] = ()

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
            "max_free_memory_mb": self.max_free_memory_mb,
        }

    @property
    def max_free_memory_mb(self) -> int:
        """The most memory free on any one node."""
        return max((r.max_free_memory_mb for r in self.rows if r.nodes), default=0)


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
    free = [FreeNode(cpus=n.cpus, free_cores=max(n.cpus - n.cpus_alloc, 0),
                     free_memory_mb=max(n.memory_mb - n.memory_alloc_mb, 0),
                     free_gpus=max(n.gpus - n.gpus_alloc, 0)) for n in usable]
    max_gpus = max((n.gpus for n in in_partition), default=0)
    rows = []
    for k in range(max_gpus + 1):
        group = [f for f in free if f.free_gpus == k]
        rows.append(Row(
            free_gpus=k,
            label=gpu_label(k),
            nodes=len(group),
            free_cores=sum(f.free_cores for f in group),
            free_memory_mb=sum(f.free_memory_mb for f in group),
            max_free_memory_mb=max((f.free_memory_mb for f in group), default=0),
        ))
    return Table(
        rows=tuple(rows),
        unavailable_nodes=len(candidates) - len(usable),
        reserved_nodes=reserved_apart,
        reservation=reservation,
        free_nodes=tuple(free),
        sizes=tuple(NodeSize(cpus=n.cpus, memory_mb=n.memory_mb, gpus=n.gpus) for n in candidates),
    )


def _whole(value) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def never_fits(table: Table, cores: int, memory_mb: int, gpus: int) -> str:
    """"" when some node of the table's scope could hold this request once it is free; else which part
    no node there could ever hold, with the most one has, in a sentence."""
    if any(n.cpus >= cores and n.memory_mb >= memory_mb and n.gpus >= gpus for n in table.sizes):
        return ""
    where = f"in reservation {table.reservation}" if table.reservation else "outside reservations"
    never = " so this session could never start there."
    if not table.sizes:
        return f"There is no node {where}, so no session can start there."
    if not any(n.gpus >= gpus for n in table.sizes):
        most = max(n.gpus for n in table.sizes)
        return f"No node {where} has {gpus} GPUs (the most is {most})," + never
    with_gpus = [n for n in table.sizes if n.gpus >= gpus]
    if not any(n.memory_mb >= memory_mb for n in with_gpus):
        most = max(n.memory_mb for n in with_gpus)
        which = f"with {gpus} GPU{'s' if gpus > 1 else ''} " if gpus else ""
        return f"No node {which}{where} has {memory_mb:,} MB of memory (the most is {most:,} MB)," + never
    most = max(n.cpus for n in with_gpus if n.memory_mb >= memory_mb)
    return f"No node {where} that has the rest has {cores} cores (the most is {most})," + never


def fit_warning(table: Table, cores, memory_mb, gpus) -> str:
    """The warning before submitting: "" when one free node (in the table's scope) can hold these
    cores, this memory and these GPUs at once; else which part does not fit, in a sentence.

    Cores count against a node's CPUs, not its free cores: the partition shares cores between
    sessions (GPUs and memory are never shared). A value that is not a number warns of nothing:
    the field's own check says what is wrong with it. A request no node of the scope could ever
    hold says so (:func:`never_fits`), instead of promising a wait."""
    cores, memory_mb, gpus = _whole(cores), _whole(memory_mb), _whole(gpus)
    if cores is None or memory_mb is None or gpus is None:
        return ""
    if table.sizes and (impossible := never_fits(table, cores, memory_mb, gpus)):
        return impossible
    nodes = table.free_nodes
    where = f"in reservation {table.reservation}" if table.reservation else "outside reservations"
    wait = " Your session would wait in the queue until one does; ask for less to start now."
    if any(n.cpus >= cores and n.free_memory_mb >= memory_mb and n.free_gpus >= gpus for n in nodes):
        return ""
    if not nodes:
        return f"No node {where} can take a session right now." + wait
    if gpus and not any(n.free_gpus >= gpus for n in nodes):
        most = max(n.free_gpus for n in nodes)
        has = "a free GPU" if gpus == 1 else f"{gpus} free GPUs"
        return (f"No node {where} has {has} right now "
                + ("(none is free)." if most == 0 else f"(at most {most} on one node).") + wait)
    with_gpus = [n for n in nodes if n.free_gpus >= gpus]
    if not any(n.free_memory_mb >= memory_mb for n in with_gpus):
        most = max(n.free_memory_mb for n in with_gpus)
        which = f"the nodes with {gpus} free GPU{'s' if gpus > 1 else ''}" if gpus else "any node"
        return (f"{memory_mb:,} MB of memory does not fit: {which} {where} "
                f"{'have' if gpus else 'has'} at most {most:,} MB free right now." + wait)
    most = max(n.cpus for n in with_gpus if n.free_memory_mb >= memory_mb)
    return f"{cores} cores do not fit: the nodes that have the rest have at most {most} cores." + wait
