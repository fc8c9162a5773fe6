"""Where the time of one spawn goes: the milestones of a start, read from what the hub, the job and the
benchmark each wrote down, on one clock (every process runs on this machine).

Pure functions over lines of text, so that the parsing is tested on recorded output
(tests/unit/fixtures/timeline_*.txt) with no stack:

- :func:`hub_milestones`: the hub's log (``[I 2026-11-22 18:23:48.874 JupyterHub …]`` lines);
- :func:`job_milestones`: the job's output (the batch script's first line, then the server's log);
- :func:`slurm_waits`: slurmctld's log, how long each job waited from its submission to its start;
- :func:`steps`: milestones in order, each with the time since the first and since the one before.
"""

from __future__ import annotations

import re
import statistics
from datetime import datetime

#: A log line of the hub or of a Jupyter server: level, date and time to the millisecond, the rest.
LOG_LINE = re.compile(r"^\[(?P<level>[A-Z]) (?P<stamp>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) (?P<rest>.*)$")
#: The batch script's first line: "Session 2790 on host (node01) at 2026-11-22 18:23:49.512 UTC: …"
SCRIPT_LINE = re.compile(r"^Session (?P<job>\d+) on \S+ \((?P<node>[^)]*)\) at "
                         r"(?P<stamp>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) \S+:")


def stamp_seconds(stamp: str) -> float:
    """``2026-11-22 18:23:48.874`` as epoch seconds. The hub, the servers and the batch script all write
    the local time of this one machine, so the local zone reads them all."""
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()


def _logged(lines):
    for line in lines:
        m = LOG_LINE.match(line)
        if m:
            yield stamp_seconds(m["stamp"]), m["rest"]


def hub_milestones(lines, user: str, since: float = 0.0) -> dict[str, float]:
    """The first time (epoch seconds) the hub logged each step of ``user``'s default server start, at or
    after ``since``. Steps the log does not show are absent."""
    patterns = {
        "hub: certificates made": rf"Creating certs for {re.escape(user)}:",
        "hub: request checked, sbatch runs": rf"Submitting {re.escape(user)}'s session",
        "hub: sbatch answered": rf"Submitted {re.escape(user)}'s session as job",
        "hub: squeue says running": rf"{re.escape(user)}: Job \d+ is running on",
        "hub: port reported": rf"POST /hub/api/batchspawner \({re.escape(user)}@",
        "hub: port taken, JupyterHub checks": rf"{re.escape(user)}: Server (answering|listening on)",
        "hub: start done, adding the route": rf"Adding user {re.escape(user)} to proxy",
    }
    found: dict[str, float] = {}
    for t, rest in _logged(lines):
        if t < since:
            continue
        for name, pattern in patterns.items():
            if name not in found and re.search(pattern, rest):
                found[name] = t
    return found


def job_milestones(lines) -> dict[str, float]:
    """From a job's output: when the batch script began, the server's first log line (its imports done),
    when it listened, and the first request it answered."""
    found: dict[str, float] = {}
    for line in lines:
        m = SCRIPT_LINE.match(line)
        if m and "job: batch script begins" not in found:
            found["job: batch script begins"] = stamp_seconds(m["stamp"])
            continue
        m = LOG_LINE.match(line)
        if not m:
            continue
        t, rest = stamp_seconds(m["stamp"]), m["rest"]
        found.setdefault("job: server's first log line", t)
        if "is running at" in rest:
            found.setdefault("job: server listens", t)
        elif re.search(r"\] 200 GET \S*/api\b", rest) and "job: server listens" in found:
            found.setdefault("job: server answers its first request", t)
    return found


#: A line of slurmctld's log: ``[2026-11-22T21:59:25.939] …``.
SLURMCTLD_LINE = re.compile(r"^\[(?P<stamp>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})\] (?P<rest>.*)$")
#: A batch job submitted; started by the main scheduler ("sched: Allocate JobId=…") or by backfill
#: ("sched/backfill: _start_job: Started JobId=… in …").
SUBMITTED = re.compile(r"_slurm_rpc_submit_batch_job: JobId=(\d+) ")
STARTED = re.compile(r"(?:sched: Allocate JobId=(\d+) |Started JobId=(\d+) in )")


def slurm_waits(lines, jobs) -> dict[str, float]:
    """Seconds each job of ``jobs`` spent in slurmctld between its submission and its start, read from
    slurmctld's log; a job whose two lines are not both there is absent."""
    wanted = {str(j) for j in jobs}
    submitted: dict[str, float] = {}
    waits: dict[str, float] = {}
    for line in lines:
        m = SLURMCTLD_LINE.match(line)
        if not m:
            continue
        rest = m["rest"]
        if (s := SUBMITTED.search(rest)) and s[1] in wanted:
            submitted.setdefault(s[1], stamp_seconds(m["stamp"].replace("T", " ")))
        elif (s := STARTED.search(rest)) and (job := s[1] or s[2]) in submitted and job not in waits:
            waits[job] = round(stamp_seconds(m["stamp"].replace("T", " ")) - submitted[job], 3)
    return waits


def steps(milestones: dict[str, float]) -> list[tuple[str, float, float]]:
    """(name, seconds since the first milestone, seconds since the previous one), in time order."""
    ordered = sorted(milestones.items(), key=lambda kv: kv[1])
    if not ordered:
        return []
    t0 = ordered[0][1]
    out, previous = [], t0
    for name, t in ordered:
        out.append((name, round(t - t0, 3), round(t - previous, 3)))
        previous = t
    return out


def median_milestones(runs: list[dict[str, float]]) -> dict[str, float]:
    """Many spawns' milestones as one: each milestone's median time since its run's first milestone
    (milestones missing from some runs are the median of the runs that have them)."""
    offsets: dict[str, list[float]] = {}
    for run in runs:
        if not run:
            continue
        t0 = min(run.values())
        for name, t in run.items():
            offsets.setdefault(name, []).append(t - t0)
    return {name: statistics.median(values) for name, values in offsets.items()}


def render(title: str, milestones: dict[str, float]) -> str:
    lines = [title, f"  {'milestone':<44}{'at (s)':>8}{'step (s)':>10}"]
    for name, at, step in steps(milestones):
        lines.append(f"  {name:<44}{at:>8.3f}{step:>10.3f}")
    return "\n".join(lines)
