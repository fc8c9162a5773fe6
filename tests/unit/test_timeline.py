"""The benchmark's timeline of one spawn, read from a recorded hub log and a recorded job output."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))

from timeline import hub_milestones, job_milestones, median_milestones, slurm_waits, steps  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


def test_the_hubs_milestones_of_one_start():
    with open(FIXTURES / "timeline_hub_log.txt") as f:
        found = hub_milestones(f, "bench01")
    order = [name for name, _, _ in steps(found)]
    assert order == ["hub: certificates made", "hub: request checked, sbatch runs", "hub: sbatch answered",
                     "hub: squeue says running", "hub: port reported", "hub: port taken, JupyterHub checks",
                     "hub: start done, adding the route"]
    assert round(found["hub: sbatch answered"] - found["hub: request checked, sbatch runs"], 3) == 0.018
    assert hub_milestones(open(FIXTURES / "timeline_hub_log.txt"), "bench02") == {}  # another user's: none


def test_the_jobs_milestones_come_from_its_first_line_and_the_servers_log():
    with open(FIXTURES / "timeline_job_output.txt") as f:
        found = job_milestones(f)
    assert list(found) == ["job: batch script begins", "job: server's first log line", "job: server listens",
                           "job: server answers its first request"]
    began, first, listens = (found[k] for k in list(found)[:3])
    assert began < first < listens


def test_many_runs_make_one_median_timeline():
    runs = [{"a": 100.0, "b": 101.0, "c": 103.0}, {"a": 200.0, "b": 201.5, "c": 202.0}, {"a": 5.0, "b": 6.0}]
    merged = median_milestones(runs)
    assert merged == {"a": 0.0, "b": 1.0, "c": 2.5}
    assert steps(merged) == [("a", 0.0, 0.0), ("b", 1.0, 1.0), ("c", 2.5, 1.5)]


def test_how_long_slurm_kept_each_job_before_starting_it():
    """By the main scheduler (its pass once a second) or by backfill; jobs not asked for are ignored."""
    with open(FIXTURES / "timeline_slurmctld_log.txt") as f:
        waits = slurm_waits(f, ["3776", 3787, "3778", "9999"])
    assert waits == {"3776": 0.908, "3787": 0.198, "3778": 0.054}
