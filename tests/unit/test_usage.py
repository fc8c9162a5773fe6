"""What a finished session used, read from recorded sacct output, and the card that shows it."""

from jupyterhub_slurm_interactive.choice.request import ResourceRequest
from jupyterhub_slurm_interactive.ops.usage import (
    Usage,
    parse_cpu_seconds,
    parse_sacct,
    parse_size_mb,
    sacct_argv,
    settled,
    usage_hint,
)
from jupyterhub_slurm_interactive.slurm.commands import parse_squeue
from jupyterhub_slurm_interactive.web.cards import Flags, phase, session_card, usage_rows

from .playback import fixture


def test_sizes_and_cpu_times_as_sacct_prints_them():
    assert parse_size_mb("307200K") == 300 and parse_size_mb("2000M") == 2000 and parse_size_mb("1.5G") == 1536
    assert parse_size_mb("2000Mn") == 2000 and parse_size_mb("") == 0 and parse_size_mb("junk") == 0
    assert parse_cpu_seconds("00:20.345") == 20.345 and parse_cpu_seconds("01:02:03") == 3723
    assert parse_cpu_seconds("2-01:00:00") == 2 * 86400 + 3600 and parse_cpu_seconds("") == 0
    assert sacct_argv("42")[:4] == ["sacct", "--noheader", "--parsable2", "--jobs=42"]


def test_a_job_whose_steps_were_measured():
    u = parse_sacct(fixture("sacct_usage_gathered.txt"))
    assert u.gathered and u.final and u.cores == 2 and u.memory_mb == 2000 and u.gpus == 0
    # the load of record.sh: one core busy for 20 s of about 30, 300 MB held
    assert 28 <= u.elapsed_s <= 40 and u.limit_s == 600
    assert 17 <= u.cpu_s <= 23
    assert 0.2 < u.cpu_efficiency < 0.45
    assert 290 <= u.peak_memory_mb <= 340


def test_a_session_ended_by_scancel_counts_the_cpu_time_its_samples_saw():
    # its processes were killed, never reaped: TotalCPU knows 0.025 s, the samples 28 s
    u = parse_sacct(fixture("sacct_usage_session_cancelled.txt"))
    assert (u.job_id, u.cores, u.gpus, u.memory_mb, u.elapsed_s, u.limit_s) == ("1436", 2, 1, 2000, 41, 3600)
    assert u.cpu_s == 28 and u.peak_memory_mb == 598.2
    assert u.cpu_efficiency == 28 / (41 * 2)
    assert round(u.gpu_hours, 4) == round(41 / 3600, 4)


def test_a_session_read_before_its_steps_sent_their_figures_is_not_settled():
    # read at once after scancel: all CANCELLED, the extern step's figures in, the batch step's (the load) not
    u = parse_sacct(fixture("sacct_usage_steps_unreported.txt"))
    assert u.final and u.gathered and not u.steps_reported
    assert u.cpu_s < 1  # the sum so far is a fraction of what the session used
    assert not settled(u, since_end_s=5) and not settled(u, since_end_s=119)
    assert settled(u, since_end_s=120)  # a step silent that long never sends them: keep what there is
    assert usage_hint(u) == ""
    rows, _ = usage_rows({**u.as_json(), "recording": True})
    assert dict((label, value) for label, value, _ in rows)["CPU and memory"] == \
        "being recorded by Slurm: back in a moment"


def test_a_session_whose_steps_all_reported_is_settled_at_once():
    u = parse_sacct(fixture("sacct_usage_session_cancelled.txt"))
    assert u.steps_reported and settled(u, since_end_s=0)
    running = parse_sacct(fixture("sacct_usage_session_cancelled.txt").replace("CANCELLED by 1001", "RUNNING", 1))
    assert not settled(running, since_end_s=3600)  # a job still running is never settled


def test_a_cluster_that_gathers_nothing_says_so_instead_of_zero():
    u = parse_sacct(fixture("sacct_usage_not_gathered.txt"))
    assert u.job_id == "1321" and u.state == "CANCELLED by 1001" and u.final
    assert not u.gathered and u.cpu_efficiency is None and usage_hint(u) == ""
    rows, note = usage_rows(u.as_json())
    assert dict((label, value) for label, value, _ in rows) == {
        "Time": "10 s of 1 h asked", "CPU and memory": "not recorded by Slurm on this cluster"}


def test_unknown_or_garbled_output_is_no_usage():
    assert parse_sacct("") is None
    assert parse_sacct("42.batch|COMPLETED|1||00:01||1||cpu=1\n") is None  # no allocation line
    assert parse_sacct("42|COMPLETED|x|y|00:01||1|100M|cpu=1\n") is None


def usage(**kw):
    base = dict(job_id="7", state="COMPLETED", elapsed_s=3600, limit_s=4 * 3600, cpu_s=3600 * 3.6, cores=4,
                peak_memory_mb=3000, memory_mb=4000, gpus=0, gathered=True)
    return Usage(**{**base, **kw})


def test_a_hint_only_when_the_request_was_far_larger_than_the_use():
    assert usage_hint(usage()) == ""
    assert usage_hint(usage(cpu_s=3600 * 0.5, cores=8)) == (
        "Your session kept about 1 of its 8 cores busy: ask for 1 next time, and the queue will find room for you "
        "sooner.")
    assert "peak memory was 300 MB of the 16000 MB" in usage_hint(usage(peak_memory_mb=300, memory_mb=16000))
    assert "a shorter walltime" in usage_hint(usage(gpus=2, elapsed_s=1800, cpu_s=1800 * 3.6, limit_s=8 * 3600))
    assert usage_hint(usage(elapsed_s=120, cpu_s=1)) == ""  # two minutes say nothing


def test_a_card_per_phase_with_its_actions():
    pending = parse_squeue(fixture("squeue_mixed.txt"))
    waiting = next(e for e in pending if e.pending)
    running = next(e for e in pending if e.running)
    options = ResourceRequest(cores=1, memory=100, gpus=1, hours=1, account="proj-b", release="2026.11",
                              reservation="", ui="lab")
    queued = session_card("gpu", Flags(active=True, pending="spawn", starting=True), options, None, waiting,
                          job_id=waiting.job_id)
    assert queued["phase"] == "queued" and queued["actions"] == ("progress", "cancel")
    assert queued["waiting"].startswith("Waiting") and queued["job_id"] == waiting.job_id
    starting = session_card("gpu", Flags(active=True, pending="spawn", starting=True, node="node01"), options, None,
                            running, job_id=running.job_id)
    assert starting["phase"] == "starting" and starting["node"] == "node01"
    live = session_card("", Flags(active=True, ready=True, node="node01"), options, None, running,
                        job_id=running.job_id)
    assert live["phase"] == "running" and live["actions"] == ("open", "stop") and live["time_left"]
    assert live["add_time"] == []  # the site offers no steps: no button
    more = session_card("", Flags(active=True, ready=True, node="node01"), options, None, running, add_time=(30, 60))
    assert more["add_time"] == [{"minutes": 30, "label": "30 min"}, {"minutes": 60, "label": "1 h"}]
    assert session_card("gpu", Flags(active=True, pending="spawn", starting=True), options, None, waiting,
                        add_time=(30,))["add_time"] == []  # only a running session gets more time
    end = {"job_id": "1321", "state": "CANCELLED", "message": "Your session (Slurm job 1321) was stopped."}
    ended = session_card("cpu", Flags(ended=True), options, None, None, last_end=end,
                         usage=parse_sacct(fixture("sacct_usage_not_gathered.txt")).as_json())
    assert ended["phase"] == "ended" and ended["actions"] == ("form", "remove", "again")
    assert ended["last_end"] == end["message"] and ended["ended_job"] == "1321" and ended["job_id"] == ""
    # start again posts the same choices the form would
    assert dict(ended["again_fields"]) == {"reservation": "", "account": "proj-b", "cores": "1", "memory": "100",
                                           "gpus": "1", "hours": "1", "release": "2026.11", "ui": "lab",
                                           "mail": ""}
    assert session_card("x", Flags(), None, None, None)["actions"] == ("start", "remove")
    assert phase(Flags(active=True, pending="stop")) == "stopping"
    assert phase(Flags(active=True, pending="check", starting=True)) == "queued"  # followed after a hub restart


def test_idle_times_in_the_operators_view():
    from datetime import datetime, timezone

    from jupyterhub_slurm_interactive.web.operators import idle_since
    now = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)
    assert idle_since(datetime(2026, 11, 22, 9, 48), now) == "12 min (since 09:48 UTC)"
    assert idle_since(datetime(2026, 11, 22, 7, 0, tzinfo=timezone.utc), now) == "3 h (since 07:00 UTC)"
    assert idle_since(None, now) == "–"
