"""What Slurm's commands print, parsed.

Plain functions over text, tested against output recorded from a real cluster
(``tests/unit/fixtures``). Running the commands is the runner's job
(:mod:`slurm.runner`); its :class:`SlurmError` is re-exported here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from jupyterhub_slurm_interactive.slurm.runner import SlurmError, clean_error  # noqa: F401 - part of this module's interface

#: Job states in which a session is waiting to start.
PENDING_STATES = frozenset({"PENDING", "CONFIGURING", "REQUEUED", "RESV_DEL_HOLD", "REQUEUE_HOLD", "SUSPENDED"})
#: The state in which a session's server may be running.
RUNNING_STATES = frozenset({"RUNNING"})

# --------------------------------------------------------------------------- parsers


def split_top_level(text: str, opening: str, closing: str) -> list[str]:
    """Split on the commas outside brackets: ``gpu:2(S:0-1),nic:1`` or ``n[1-2,4],m1``."""
    depth, part, parts = 0, "", []
    for ch in text:
        depth += (ch == opening) - (ch == closing)
        if ch == "," and depth == 0:
            parts.append(part)
            part = ""
        else:
            part += ch
    parts.append(part)
    return parts


def parse_duration(text: str) -> tuple[int, int, int, int] | None:
    """A Slurm duration (``1-02:03:04``, ``2:03:04``, ``3:04``) as (days, hours, minutes, seconds);
    None for UNLIMITED, INVALID, N/A or anything else."""
    try:
        days = 0
        if "-" in text:
            d, text = text.split("-", 1)
            days = int(d)
        parts = [int(p) for p in text.split(":")]
    except (TypeError, ValueError):
        return None
    if not 1 <= len(parts) <= 3:
        return None
    while len(parts) < 3:
        parts.insert(0, 0)
    return (days, *parts)

_KEY = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_:/.]*)=")


def parse_key_values(line: str) -> dict[str, str]:
    """Parse one record of ``scontrol -o show node|job|partition|reservation``.

    Values may contain spaces (``OS=Linux 6.1 #1 SMP``); a value runs up to the
    next ``Key=`` that follows white space.
    """
    record: dict[str, str] = {}
    matches = list(_KEY.finditer(line))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(line)
        record[m.group(1)] = line[m.end():end].strip()
    return record


def parse_records(text: str) -> list[dict[str, str]]:
    """Parse the one-line-per-record output of ``scontrol -o show …``."""
    return [parse_key_values(line) for line in text.splitlines() if "=" in line]


def parse_sbatch_job_id(output: str) -> str:
    """The job ID from ``sbatch --parsable`` (``123`` or ``123;cluster``)."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    if not lines:
        raise ValueError("sbatch printed no job ID")
    job_id = lines[-1].split(";")[0]
    if not job_id.isdigit():
        raise ValueError(f"sbatch printed {lines[-1]!r}, not a job ID")
    return job_id


def parse_gres_count(gres: str, name: str = "gpu") -> int:
    """Count the ``name`` generic resources in a Gres/GresUsed/TresPerNode string.

    Handles ``gpu:2``, typed ``gpu:a100:2``, ``gpu:2(S:0-1)``, ``gpu:a100:1(IDX:0)``,
    ``gres:gpu:1``, ``gres/gpu=2``, lists like ``gpu:a100:2,gpu:v100:1,nic:1`` and
    ``(null)``.
    """
    total = 0
    if not gres or gres in ("(null)", "N/A"):
        return 0
    for item in split_top_level(gres, "(", ")"):
        item = re.sub(r"\(.*\)$", "", item.strip())
        if item.startswith("gres:"):
            item = item[len("gres:"):]
        elif item.startswith("gres/"):
            item = item[len("gres/"):].replace("=", ":", 1)
        fields = item.split(":")
        if fields[0] != name:
            continue
        if len(fields) == 1:
            total += 1
        elif fields[-1].isdigit():
            total += int(fields[-1])
        else:  # gpu:a100 with no count means one
            total += 1
    return total


@dataclass
class Node:
    """A node as ``scontrol show node`` reports it."""

    name: str
    addr: str
    state: str
    partitions: tuple[str, ...]
    cpus: int
    cpus_alloc: int
    memory_mb: int
    memory_alloc_mb: int
    gpus: int
    gpus_alloc: int
    reason: str = ""
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def state_flags(self) -> set[str]:
        """``MIXED+DRAIN`` → {"MIXED", "DRAIN"}; a trailing ``*`` (not responding) is ``NOT_RESPONDING``."""
        state = self.state.upper()
        flags = set()
        if state.endswith("*"):
            flags.add("NOT_RESPONDING")
            state = state.rstrip("*")
        flags.update(s for s in state.split("+") if s)
        return flags


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(str(value).rstrip("M"))
    except (TypeError, ValueError):
        return default


def parse_nodes(text: str) -> list[Node]:
    """Parse ``scontrol -o show node`` (add ``-d`` to get GresUsed)."""
    return [_node(r) for r in parse_records(text) if "NodeName" in r]


def _node(r: dict[str, str]) -> Node:
    gres_used = r.get("GresUsed", "")
    if gres_used:
        gpus_alloc = parse_gres_count(gres_used)
    else:  # without -d, AllocTRES carries gres/gpu=N
        gpus_alloc = _tres(r.get("AllocTRES", "")).get("gres/gpu", 0)
    return Node(
        name=r["NodeName"],
        addr=r.get("NodeAddr") or r["NodeName"],
        state=r.get("State", "UNKNOWN"),
        partitions=tuple(p for p in r.get("Partitions", "").split(",") if p),
        cpus=_int(r.get("CPUTot")),
        cpus_alloc=_int(r.get("CPUAlloc")),
        memory_mb=_int(r.get("RealMemory")),
        memory_alloc_mb=_int(r.get("AllocMem")),
        gpus=parse_gres_count(r.get("Gres", "")),
        gpus_alloc=gpus_alloc,
        reason=r.get("Reason", ""),
        raw=r,
    )


def _tres(text: str) -> dict[str, int]:
    """``cpu=2,mem=1500M,gres/gpu=1`` → {"cpu": 2, "mem": 1500, "gres/gpu": 1} (memory in MB)."""
    out = {}
    for item in text.split(","):
        if "=" not in item:
            continue
        key, value = item.split("=", 1)
        mult = 1
        if value.endswith("G"):
            mult, value = 1024, value[:-1]
        elif value.endswith("T"):
            mult, value = 1024 * 1024, value[:-1]
        elif value.endswith("M"):
            value = value[:-1]
        try:
            out[key] = int(float(value) * mult)
        except ValueError:
            continue
    return out


#: The public name of the TRES parser (``AllocTRES`` of sacct, ``TRES`` of scontrol).
parse_tres = _tres


@dataclass(frozen=True)
class QueueEntry:
    """One line of ``squeue`` in :data:`SQUEUE_FORMAT`."""

    job_id: str
    state: str
    nodes: str
    reason: str
    start_time: str  # actual, or expected for a pending job ("N/A" when unknown)
    end_time: str
    time_left: str
    user: str
    name: str
    comment: str = ""  # this hub's mark on its session jobs (MARK:user:server)

    @property
    def pending(self) -> bool:
        return self.state in PENDING_STATES

    @property
    def running(self) -> bool:
        return self.state in RUNNING_STATES


#: The ``squeue --format`` this module parses: fields separated by ``|``, the job name last.
SQUEUE_FORMAT = "%i|%T|%N|%r|%S|%e|%L|%u|%j|%k"


def parse_squeue(text: str) -> list[QueueEntry]:
    """Parse ``squeue --noheader --format=SQUEUE_FORMAT``.

    The job name and the comment are the last two fields and are chosen by whoever submits: either may
    contain "|". The comment is taken after the last "|" (this hub's marks never contain one), the name
    is what lies between; a hostile name or comment can only confuse its own job's entry."""
    entries = []
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 10 or not parts[0]:
            continue
        entries.append(QueueEntry(*parts[:8], name="|".join(parts[8:-1]), comment=parts[-1]))
    return entries


def expand_hostlist(hostlist: str) -> list[str]:
    """Expand a Slurm host list: ``node[01-03,07],gpu1`` → node01 node02 node03 node07 gpu1.

    Handles zero padding and several bracket groups (``r[1-2]n[01-02]``).
    """
    if not hostlist or hostlist in ("(null)", "N/A"):
        return []
    names: list[str] = []
    for part in (p.strip() for p in split_top_level(hostlist, "[", "]")):
        if not part:
            continue
        m = re.match(r"^([^\[]*)\[([^\]]+)\](.*)$", part)
        if not m:
            names.append(part)
            continue
        prefix, ranges, rest = m.groups()
        for item in ranges.split(","):
            if "-" in item:
                lo, hi = item.split("-", 1)
                width = len(lo)
                for i in range(int(lo), int(hi) + 1):
                    names.extend(prefix + str(i).zfill(width) + tail for tail in (expand_hostlist(rest) or [""]))
            else:
                names.extend(prefix + item + tail for tail in (expand_hostlist(rest) or [""]))
    return names


@dataclass
class Reservation:
    """A reservation as ``scontrol show reservation`` reports it."""

    name: str
    state: str
    start_time: str
    end_time: str
    nodes: tuple[str, ...]
    users: tuple[str, ...]
    accounts: tuple[str, ...]
    groups: tuple[str, ...]
    flags: frozenset[str]
    partition: str = ""
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def active(self) -> bool:
        return self.state.upper() == "ACTIVE"

    @property
    def maintenance(self) -> bool:
        return "MAINT" in self.flags


def _names(value: str) -> tuple[str, ...]:
    if not value or value in ("(null)", "N/A"):
        return ()
    return tuple(v for v in value.split(",") if v)


def parse_reservations(text: str) -> list[Reservation]:
    """Parse ``scontrol -o show reservation`` (or its "No reservations" answer)."""
    return [_reservation(r) for r in parse_records(text) if "ReservationName" in r]


def _reservation(r: dict[str, str]) -> Reservation:
    return Reservation(
        name=r["ReservationName"],
        state=r.get("State", ""),
        start_time=r.get("StartTime", ""),
        end_time=r.get("EndTime", ""),
        nodes=tuple(expand_hostlist(r.get("Nodes", ""))),
        users=_names(r.get("Users", "")),
        accounts=_names(r.get("Accounts", "")),
        groups=_names(r.get("Groups", "")),
        flags=frozenset(_names(r.get("Flags", ""))),
        partition=r.get("PartitionName", "") if r.get("PartitionName") != "(null)" else "",
        raw=r,
    )


#: What one ``scontrol --oneliner --details`` reads from its standard input for the cluster view: one
#: process for the three answers, where three processes at once competed with the hub for the machine.
CLUSTER_VIEW_INPUT = "show node\nshow reservation\nshow partition\n"


@dataclass
class ClusterView:
    """The answers to :data:`CLUSTER_VIEW_INPUT`: nodes, reservations, and partitions by name."""

    nodes: list[Node]
    reservations: list[Reservation]
    partitions: dict[str, dict[str, str]]


def parse_cluster_view(text: str) -> ClusterView:
    """Parse the output of ``scontrol -o -d`` fed :data:`CLUSTER_VIEW_INPUT`. Each record is of the kind its
    first key names (a reservation names its partition too, so only the first key tells). The lines scontrol
    echoes (``scontrol: show node``) and "No reservations in the system" carry none. An output with no
    partition is no view of a cluster: ValueError, so that the last view is kept rather than emptied."""
    kinds: dict[str, list[dict[str, str]]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("scontrol:"):
            record = parse_key_values(line)
            kinds.setdefault(next(iter(record), ""), []).append(record)
    if not kinds.get("PartitionName"):
        raise ValueError("scontrol answered with no partition: " + (text.strip()[:200] or "nothing"))
    return ClusterView(
        nodes=[_node(r) for r in kinds.get("NodeName", [])],
        reservations=[_reservation(r) for r in kinds.get("ReservationName", [])],
        partitions={r["PartitionName"]: r for r in kinds["PartitionName"]},
    )


def may_use_reservation(resv: Reservation, user: str, accounts, groups) -> bool:
    """Whether a user may run in a reservation, by name, account or group.

    ``Users=-bob`` style lists exclude the named users and admit everyone else.
    """
    if any(u.startswith("-") for u in resv.users):
        if f"-{user}" in resv.users:
            return False
        return True
    if any(a.startswith("-") for a in resv.accounts):
        return not any(f"-{a}" in resv.accounts for a in accounts)
    if user in resv.users:
        return True
    if set(accounts) & set(resv.accounts):
        return True
    if set(groups) & set(resv.groups):
        return True
    return False
