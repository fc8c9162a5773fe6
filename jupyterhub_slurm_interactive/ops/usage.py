"""What a finished session used, from Slurm accounting, against what it asked for.

Pure: :func:`parse_sacct` reads the output of :data:`sacct_argv` (one line for the
allocation, one per step), :func:`usage_hint` turns a :class:`Usage` into the
one-line advice the session's card gives. The figures are Slurm's own:

- elapsed time against the time limit (``ElapsedRaw``, ``TimelimitRaw``);
- CPU efficiency: CPU time used by every step over elapsed time × allocated
  cores. A step's CPU time is the larger of what its processes reported as they
  were reaped (``TotalCPU``) and what the samples saw (``cpu`` of
  ``TRESUsageInTot`` and ``TRESUsageInMax``): a session ends by ``scancel``, its
  processes are killed and never reaped, and only the samples know their time;
- peak memory: the largest ``MaxRSS`` of any step, against the memory asked for;
- GPU-hours held: allocated GPUs × elapsed hours, used or not.

A job's record says CANCELLED before its steps' figures are in: each step's slurmstepd sends what
it used when it ends, and on a busy node that comes seconds after the allocation's end. Until then the
step's ``TRESUsageInTot`` is empty, and the sum would be a fraction of the truth: :func:`settled` says
when the figures will not change any more.

``MaxRSS`` and ``TotalCPU`` need ``JobAcctGatherType=jobacct_gather/linux`` (or
``cgroup``) in ``slurm.conf``; without it Slurm records none, and the card says so.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from jupyterhub_slurm_interactive.slurm.commands import parse_tres

FIELDS = ("JobID", "State", "ElapsedRaw", "TimelimitRaw", "TotalCPU", "MaxRSS", "AllocCPUS", "ReqMem", "AllocTRES",
          "TRESUsageInTot", "TRESUsageInMax")


def sacct_argv(job_id: str) -> list[str]:
    """The sacct command whose output :func:`parse_sacct` reads."""
    return ["sacct", "--noheader", "--parsable2", f"--jobs={job_id}", "--format=" + ",".join(FIELDS)]


#: States of a job that will not change any more: its figures are final.
FINAL = ("COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
         "DEADLINE")

#: Seconds after a session's end past which a step that never sent its figures is taken to have none (a
#: cluster without jobacct_gather, a node that failed): the figures are then kept as they are.
RECORD_GRACE_S = 120

_SIZE = re.compile(r"^([0-9.]+)([KMGTP]?)(?:[nc])?$")
_UNITS = {"": 1 / (1024 * 1024), "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 ** 2, "P": 1024 ** 3}


def parse_size_mb(text: str) -> float:
    """A sacct size ("123456K", "2000M", "1.5G", "2000Mn") in MB; 0 if empty or unreadable."""
    m = _SIZE.match((text or "").strip())
    return float(m.group(1)) * _UNITS[m.group(2)] if m else 0.0


def parse_cpu_seconds(text: str) -> float:
    """A sacct CPU time ("01:02.345", "1:02:03", "2-01:02:03") in seconds; 0 if empty or unreadable."""
    text = (text or "").strip()
    days, _, rest = text.rpartition("-")
    parts = rest.split(":")
    try:
        values = [float(p) for p in parts]
        seconds = sum(v * 60 ** i for i, v in enumerate(reversed(values))) if 1 <= len(values) <= 3 else 0.0
        return seconds + (int(days) * 86400 if days else 0)
    except ValueError:
        return 0.0


@dataclass(frozen=True)
class Usage:
    """A finished session's figures, as Slurm accounting has them."""

    job_id: str
    state: str
    elapsed_s: int
    limit_s: int
    cpu_s: float
    cores: int
    peak_memory_mb: float
    memory_mb: float
    gpus: int
    gathered: bool  # whether Slurm recorded what the steps used (jobacct_gather)
    steps_reported: bool = True  # whether every step has sent its figures (see the module's doc)

    @property
    def final(self) -> bool:
        """The job is over: its state will not change (its steps' figures may still be on their way)."""
        return self.state.split()[0] in FINAL

    @property
    def cpu_efficiency(self) -> float | None:
        """CPU time used over elapsed time × cores (0..1), or None if it cannot be told."""
        if not self.gathered or self.elapsed_s <= 0 or self.cores <= 0:
            return None
        return min(1.0, self.cpu_s / (self.elapsed_s * self.cores))

    @property
    def gpu_hours(self) -> float:
        return self.gpus * self.elapsed_s / 3600

    def as_json(self) -> dict:
        return {**asdict(self), "cpu_efficiency": self.cpu_efficiency, "gpu_hours": round(self.gpu_hours, 3),
                "hint": usage_hint(self)}


def parse_sacct(text: str) -> Usage | None:
    """The usage of the job whose lines ``sacct_argv`` printed; None if sacct knows no such job."""
    rows = [dict(zip(FIELDS, line.split("|"))) for line in text.splitlines() if line.count("|") == len(FIELDS) - 1]
    job = next((r for r in rows if "." not in r["JobID"]), None)
    if job is None:
        return None
    steps = [r for r in rows if r["JobID"].startswith(job["JobID"] + ".")]
    tres = parse_tres(job["AllocTRES"])
    cpu = sum(max(parse_cpu_seconds(r["TotalCPU"]), _tres_cpu(r["TRESUsageInTot"]), _tres_cpu(r["TRESUsageInMax"]))
              for r in steps) if steps else parse_cpu_seconds(job["TotalCPU"])
    rss = [parse_size_mb(r["MaxRSS"]) for r in steps if r["MaxRSS"].strip()]
    try:
        elapsed, limit = int(job["ElapsedRaw"] or 0), int(job["TimelimitRaw"] or 0) * 60
        cores = int(job["AllocCPUS"] or 0)
    except ValueError:
        return None
    return Usage(job_id=job["JobID"], state=job["State"], elapsed_s=elapsed, limit_s=limit,
                 cpu_s=round(cpu, 3), cores=cores,
                 peak_memory_mb=round(max(rss, default=0.0), 1),
                 memory_mb=parse_size_mb(job["ReqMem"]) or tres.get("mem", 0), gpus=tres.get("gres/gpu", 0),
                 gathered=bool(rss), steps_reported=all(r["TRESUsageInTot"].strip() for r in steps))


def settled(u: Usage, since_end_s: float, grace_s: float = RECORD_GRACE_S) -> bool:
    """Whether ``u``'s figures are final: the job is over, and every step has sent what it used, or
    ``grace_s`` have passed since the session ended and a step that has not never will."""
    return u.final and (u.steps_reported or since_end_s >= grace_s)


def _tres_cpu(text: str) -> float:
    """The ``cpu=`` of a TRES usage list (``cpu=00:00:28,energy=0,mem=612512K``) in seconds; 0 if absent."""
    for item in (text or "").split(","):
        key, _, value = item.partition("=")
        if key == "cpu":
            return parse_cpu_seconds(value)
    return 0.0


def usage_hint(u: Usage) -> str:
    """One line of advice when the request was far larger than the use; "" otherwise."""
    if not u.gathered or not u.steps_reported or u.elapsed_s < 300:  # a few minutes say little about a session's needs
        return ""
    efficiency = u.cpu_efficiency
    if u.cores > 1 and efficiency is not None and efficiency < 0.25:
        used = max(1, round(efficiency * u.cores))
        return (f"Your session kept about {used} of its {u.cores} cores busy: ask for "
                f"{used} next time, and the queue will find room for you sooner.")
    if u.memory_mb >= 1000 and u.peak_memory_mb < 0.25 * u.memory_mb:
        suggest = max(500, int(u.peak_memory_mb * 2 / 500 + 1) * 500)
        return (f"Your session's peak memory was {u.peak_memory_mb:.0f} MB of the {u.memory_mb:.0f} MB it held: "
                f"about {suggest} MB would have been enough.")
    if u.gpus and u.limit_s >= 4 * 3600 and u.elapsed_s < 0.25 * u.limit_s:
        return (f"It held {u.gpus} GPU{'s' if u.gpus > 1 else ''} for {u.elapsed_s / 3600:.1f} h of the "
                f"{u.limit_s / 3600:.0f} h asked: a shorter walltime may start sooner.")
    return ""
