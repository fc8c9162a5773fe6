"""More time for a running session: the rules, and the one ``scontrol update`` that gives it.

A user may not raise their own job's time limit in Slurm; the hub, a Slurm operator, may. It does so within
the site's rules, checked in this order, and a refusal names the rule that refused:

1. ``partition``: the new limit may not pass the partition's ``MaxTime``;
2. ``site_cap``: nor the site's cap on a session's whole time (``max_total_hours``);
3. ``reservation``: a session in a reservation may not outlast it;
4. ``queue``: unless the site allows it (``extend_while_others_wait``), no time is added while another user's
   job waits in the partition for what this session holds (GPUs if it holds any, else cores and memory), so
   that time is not taken from people in the queue.

:func:`decide` is pure; :func:`add_time` asks Slurm for the job and the queue, decides, and updates the job.
"""

from __future__ import annotations

from dataclasses import dataclass

from jupyterhub_slurm_interactive.choice.choices import timestamp
from jupyterhub_slurm_interactive.slurm import commands as slurm
from jupyterhub_slurm_interactive.words import clock_time, duration

#: The rules, in the order they are checked; each names a refusal (and a label of the metric).
RULES = ("partition", "site_cap", "reservation", "queue")
#: Reasons of a pending job that waits for resources (Priority: behind others who do).
_WAITING_REASONS = frozenset({"Resources", "Priority"})
#: The most minutes one request may add (a week): anything larger is a typing error, not a request.
MAX_STEP_MINUTES = 7 * 24 * 60


@dataclass(frozen=True)
class Policy:
    """The site's rules (the spawner's settings of these names)."""

    max_total_minutes: int = 0  # 0: no cap beyond the partition's MaxTime
    while_others_wait: bool = False


@dataclass(frozen=True)
class JobTime:
    """The running job as ``scontrol show job`` reports it."""

    job_id: str
    state: str
    limit_minutes: int | None  # None: UNLIMITED
    start: float  # epoch seconds
    partition: str
    reservation: str = ""


@dataclass(frozen=True)
class Waiting:
    """A pending job of the partition, from ``squeue``."""

    job_id: str
    user: str
    reason: str
    wants_gpus: bool


class Refused(Exception):
    """A refusal: the rule (one of :data:`RULES`, or ``not_running``) and a sentence for the user."""

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule, self.message = rule, message


def minutes_of(text: str) -> int | None:
    """A Slurm duration in whole minutes (seconds rounded up); None for UNLIMITED and the like."""
    parts = slurm.parse_duration(text)
    if parts is None:
        return None
    days, hours, minutes, seconds = parts
    return days * 1440 + hours * 60 + minutes + (1 if seconds else 0)


def parse_job(text: str) -> JobTime | None:
    """``scontrol --oneliner show job N`` as a :class:`JobTime`; None if no such job."""
    records = slurm.parse_records(text)
    if not records or "JobId" not in records[0]:
        return None
    r = records[0]
    reservation = r.get("Reservation", "")
    return JobTime(job_id=r["JobId"], state=r.get("JobState", ""), limit_minutes=minutes_of(r.get("TimeLimit", "")),
                   start=timestamp(r.get("StartTime", "")), partition=r.get("Partition", ""),
                   reservation="" if reservation in ("(null)", "None") else reservation)


#: ``squeue`` format of :func:`parse_waiting`: job, user, reason, the GRES it asks for.
WAITING_FORMAT = "%i|%u|%r|%b"


def parse_waiting(text: str) -> list[Waiting]:
    """``squeue --noheader --states=PENDING --format=WAITING_FORMAT``."""
    found = []
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 4 and parts[0]:
            found.append(Waiting(parts[0], parts[1], parts[2], "gpu" in parts[3].lower()))
    return found


def decide(job: JobTime, minutes: int, *, user: str, gpus: int, policy: Policy,
           partition_max_minutes: int | None, reservation_end: float | None, waiting: list[Waiting]) -> int:
    """The job's new time limit in minutes, or :class:`Refused` naming the rule."""
    if job.state != "RUNNING":
        raise Refused("not_running", f"Only a running session gets more time; job {job.job_id} is "
                      f"{job.state.lower() or 'unknown to Slurm'}.")
    if job.limit_minutes is None:
        raise Refused("partition", f"Job {job.job_id} has no time limit: it needs no more time.")
    new = job.limit_minutes + minutes
    asked = f"{duration(minutes * 60)} more would make it {duration(new * 60)}"
    if partition_max_minutes is not None and new > partition_max_minutes:
        raise Refused("partition", f"No more time: {asked}, and the partition {job.partition} allows at most "
                      f"{duration(partition_max_minutes * 60)} (Slurm's MaxTime).")
    if policy.max_total_minutes and new > policy.max_total_minutes:
        raise Refused("site_cap", f"No more time: {asked}, and a session here may run at most "
                      f"{duration(policy.max_total_minutes * 60)} in all, with the time added.")
    if reservation_end is not None and job.start + new * 60 > reservation_end:
        raise Refused("reservation", f"No more time: {asked}, past the end of the reservation {job.reservation} "
                      f"at {clock_time(reservation_end)}.")
    if not policy.while_others_wait:
        kind = "GPUs" if gpus else "cores and memory"
        others = [w for w in waiting if w.user != user and w.reason in _WAITING_REASONS and w.wants_gpus == bool(gpus)]
        if others:
            jobs = f"{len(others)} job{'s' if len(others) != 1 else ''}"
            raise Refused("queue", f"No more time while others wait: {jobs} of other people "
                          f"{'wait' if len(others) != 1 else 'waits'} in the partition {job.partition} for "
                          f"{kind}, which this session holds. Try again later, or save your work.")
    return new


def check_minutes(value) -> int:
    """The minutes a request asks for: a whole number from 1 to :data:`MAX_STEP_MINUTES`; else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_STEP_MINUTES:
        raise ValueError(f"minutes must be a whole number from 1 to {MAX_STEP_MINUTES}")
    return value


@dataclass(frozen=True)
class Added:
    """Time given: the new limit and the job's new end."""

    job_id: str
    minutes: int
    limit_minutes: int
    ends_at: float

    def message(self) -> str:
        return (f"{duration(self.minutes * 60)} added: the session (Slurm job {self.job_id}) now ends at "
                f"{clock_time(self.ends_at)}.")


async def add_time(runner, job_id: str, minutes: int, *, user: str, gpus: int, policy: Policy,
                   partitions: dict[str, dict], reservations: list[slurm.Reservation]) -> Added:
    """Ask Slurm for the job (and, under the queue rule, the partition's pending jobs), decide, and set the
    new limit with ``scontrol update``. :class:`Refused` by a rule; SlurmError if Slurm does not answer."""
    job = parse_job(await runner.run(["scontrol", "--oneliner", "show", "job", job_id]))
    if job is None:
        raise Refused("not_running", f"Slurm no longer knows job {job_id}: the session has ended.")
    maximum = minutes_of(partitions.get(job.partition, {}).get("MaxTime", ""))
    resv = next((r for r in reservations if r.name == job.reservation), None) if job.reservation else None
    resv_end = timestamp(resv.end_time) if resv else None
    waiting = []
    if not policy.while_others_wait:
        waiting = parse_waiting(await runner.run(["squeue", "--noheader", "--states=PENDING",
                                                  f"--partition={job.partition}", f"--format={WAITING_FORMAT}"]))
    new = decide(job, minutes, user=user, gpus=gpus, policy=policy, partition_max_minutes=maximum,
                 reservation_end=resv_end if resv_end != float("inf") else None, waiting=waiting)
    await runner.run(["scontrol", "update", f"JobId={job.job_id}", f"TimeLimit={new}"])
    return Added(job.job_id, minutes, new, job.start + new * 60)
