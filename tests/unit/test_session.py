"""A session's life with no hub and no Slurm: a runner plays back recorded output, and the session is
followed from sbatch to a server that answers, through waits, failures, restarts and stops."""

import asyncio
import time

import pytest

from jupyterhub_slurm_interactive.choice.request import ResourceRequest
from jupyterhub_slurm_interactive.cluster.views import ClusterCache, JobPoller
from jupyterhub_slurm_interactive.session.life import (
    Cancelled,
    EndedWhileStarting,
    GaveUpWaiting,
    NotStarting,
    Session,
    SubmitRefused,
    Timing,
)
from jupyterhub_slurm_interactive.slurm.runner import SlurmError

from .playback import CLUSTER, DOWN, PlaybackRunner, fixture, queue_line

JOB = fixture("sbatch_parsable.txt").strip()
FAST = Timing(startup_poll_interval=0.01, queue_interval=0.01, pending_timeout=60, http_timeout=2, stop_wait=1,
              fresh_job_grace=0)


class Answering:
    """An HTTP client whose server answers at once; keeps the URLs asked."""

    def __init__(self):
        self.urls = []

    async def fetch(self, url, **kw):
        self.urls.append(url)


def asked(cores=0, memory=0, gpus=0) -> ResourceRequest:
    """A checked request (its checks are test_request's): the resources a start's messages name."""
    return ResourceRequest(cores=cores, memory=memory, gpus=gpus, hours=1, release="2026.11", ui="lab")


def make_session(answers: dict, timing: Timing = FAST, **kw):
    runner = PlaybackRunner({**CLUSTER, **answers})
    saved = []
    session = Session(user="alice", runner=runner, poller=JobPoller(runner, 0, "jupyterhub-session"),
                      cluster=ClusterCache(runner, 60), exec_prefix="sudo -n -u {username}", timing=timing,
                      output_path=lambda job: f"/home/alice/.jupyterhub-session-{job}.log",
                      save=lambda: saved.append(dict(session.to_state())), http_client=Answering(), **kw)
    return session, runner, saved


async def report_port(session, port=43210, after=0.05):
    while not session.job_id or session.node == "":
        await asyncio.sleep(0.01)
    await asyncio.sleep(after)
    session.accept_port(port)


async def test_a_start_from_sbatch_to_a_server_that_answers():
    session, runner, saved = make_session({
        "sbatch": [fixture("sbatch_parsable.txt")],
        "squeue": [queue_line("PENDING", JOB), queue_line("PENDING", JOB), queue_line("RUNNING", JOB)],
    })
    session.accept_token("secret")
    reporter = asyncio.ensure_future(report_port(session))
    ip, port = await session.start("#!/bin/bash\n", {"JUPYTERHUB_API_TOKEN": "secret"},
                                   asked(cores=1, memory=100, gpus=1), "/user/alice/")
    await reporter
    # the job ran on node01, reached at the NodeAddr Slurm reports for it
    assert (ip, port, session.node, session.job_id) == ("127.0.1.1", 43210, "node01", JOB)
    sbatch = next(r for r in runner.ran if r["command"] == "sbatch")
    assert sbatch["argv"] == ["sudo", "-n", "-u", "alice", "sbatch", "--parsable"]
    assert sbatch["input"] == "#!/bin/bash\n" and sbatch["env"] == {"JUPYTERHUB_API_TOKEN": "secret"}
    # the job ID was saved as soon as sbatch answered, before the job ran
    assert saved[0]["job_id"] == JOB and "node" not in saved[0]
    messages = [e["message"] for e in session.events]
    assert messages[:2] == ["Checking your request", f"Submitted as Slurm job {JOB}"]
    assert any("waiting for a node with 1 free gpu" in m.lower() and "(Resources)" in m for m in messages), messages
    assert any(m == f"Job {JOB} is running on node01; starting the server" for m in messages)
    assert messages[-1] == "Server answering; connecting"
    assert session.http_client.urls[0] == "http://127.0.1.1:43210/user/alice/api"
    assert not session.starting
    assert session.to_state()["token_sha256"] != "secret"


async def test_a_server_that_reports_once_listening_wakes_the_start_at_once():
    """The release's server reports its port after it listens: that report, not the next look at the
    queue, tells the start the job runs; the start asks the queue then, and leaves the check that the
    server answers to JupyterHub (which finds it at once)."""
    slow = Timing(**{**FAST.__dict__, "startup_poll_interval": 3600})  # a look at the queue never comes by itself
    session, runner, _ = make_session({
        "sbatch": [fixture("sbatch_parsable.txt")],
        "squeue": [queue_line("PENDING", JOB), queue_line("RUNNING", JOB)],
    }, timing=slow)
    session.reports_when_listening = True

    async def listening_then_report():
        while not session.job_id:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        session.accept_port(43210)
    reporter = asyncio.ensure_future(listening_then_report())
    # woken by the report: the hour-long interval would never end within wait_for's bound
    ip, port = await asyncio.wait_for(
        session.start("#!/bin/bash\n", {}, asked(cores=1, memory=100), "/user/alice/"), 10)
    await reporter
    assert (ip, port, session.node) == ("127.0.1.1", 43210, "node01")
    assert session.http_client.urls == []  # no polling of the server: JupyterHub's own check follows
    assert [e["message"] for e in session.events][-1] == "Server listening on node01; connecting"


async def test_sbatch_refusing_says_slurms_reason_and_keeps_no_job():
    refusal = SlurmError("sbatch", 1, "sbatch: error: Batch job submission failed: Invalid account or "
                                      "account/partition combination specified")
    session, runner, saved = make_session({"sbatch": [refusal]})
    with pytest.raises(SubmitRefused) as e:
        await session.start("#!/bin/bash\n", {}, asked(), "/")
    assert e.value.status == 400
    assert e.value.message == ("Slurm refused the session: Batch job submission failed: Invalid account or "
                               "account/partition combination specified")
    assert session.job_id == "" and saved == [] and not session.starting


async def test_a_job_waiting_too_long_is_cancelled_as_the_user_and_explained():
    timing = Timing(**{**FAST.__dict__, "pending_timeout": 0.05})
    session, runner, _ = make_session({"sbatch": [JOB + "\n"], "squeue": [queue_line("PENDING", JOB)],
                                       "scancel": [""]}, timing)
    with pytest.raises(GaveUpWaiting) as e:
        await session.start("#!/bin/bash\n", {}, asked(gpus=2), "/")
    assert e.value.status == 503
    assert f"Your session (Slurm job {JOB}) waited" in e.value.message
    assert "waiting for a node with 2 free gpus" in e.value.message and "was cancelled" in e.value.message
    scancel = next(r for r in runner.ran if r["command"] == "scancel")
    assert scancel["argv"] == ["sudo", "-n", "-u", "alice", "scancel", JOB]
    assert session.job_id == "" and session.last_end["state"] == "CANCELLED"


#: Looks at the queue once an hour: a start that ends soon after a cancel ended because of it.
SLOW = Timing(**{**FAST.__dict__, "startup_poll_interval": 3600, "queue_interval": 3600})


async def until(predicate):
    while not predicate():
        await asyncio.sleep(0.01)


async def test_a_queued_session_is_cancelled_at_once_and_says_so():
    session, runner, _ = make_session({"sbatch": [JOB + "\n"], "squeue": [queue_line("PENDING", JOB)],
                                       "scancel": [""]}, SLOW)
    start = asyncio.ensure_future(session.start("#!/bin/bash\n", {}, asked(gpus=2), "/"))
    await until(lambda: session.events and "Resources" in session.events[-1]["message"])
    assert await session.cancel_start() == JOB
    # the scancel ran as the user before cancel_start returned, and the start ends without its next look
    assert runner.ran[-1]["argv"] == ["sudo", "-n", "-u", "alice", "scancel", JOB]
    with pytest.raises(Cancelled) as e:
        await asyncio.wait_for(start, 5)
    assert e.value.status == 409
    assert e.value.message == f"You cancelled your session (Slurm job {JOB}) while it waited in the queue; its choices are kept."
    assert session.last_end["state"] == "CANCELLED" and session.job_id == "" and not session.starting
    assert runner.commands().count("scancel") == 1
    with pytest.raises(NotStarting):  # a second cancel, or one of a session that is not starting
        await session.cancel_start()


async def test_a_cancel_while_sbatch_runs_cancels_the_job_sbatch_then_names():
    session, runner, _ = make_session({"sbatch": [lambda: JOB + "\n"], "scancel": [""]}, SLOW)
    gate = asyncio.Event()
    real_run = runner.run

    async def slow_sbatch(argv, **kw):
        if "sbatch" in argv:
            await gate.wait()
        return await real_run(argv, **kw)

    runner.run = slow_sbatch
    start = asyncio.ensure_future(session.start("#!/bin/bash\n", {}, asked(), "/"))
    await until(lambda: session.starting)
    assert await session.cancel_start() == ""  # no job yet: nothing to scancel now
    gate.set()
    with pytest.raises(Cancelled):
        await asyncio.wait_for(start, 5)
    assert [r["argv"][-1] for r in runner.ran if r["command"] == "scancel"] == [JOB]
    assert session.last_end["message"].startswith("You cancelled your session while it waited in the queue;")


async def test_a_session_whose_server_is_starting_is_cancelled_too():
    session, runner, _ = make_session({"sbatch": [JOB + "\n"], "squeue": [queue_line("RUNNING", JOB)],
                                       "scancel": [""]}, SLOW)
    start = asyncio.ensure_future(session.start("#!/bin/bash\n", {}, asked(), "/"))
    await until(lambda: session.node)  # running on its node, waiting for the server's port
    await session.cancel_start()
    with pytest.raises(Cancelled) as e:
        await asyncio.wait_for(start, 5)
    assert "while its server started on node01" in e.value.message


async def test_only_a_starting_session_can_be_cancelled():
    session, runner, _ = make_session({})
    with pytest.raises(NotStarting):
        await session.cancel_start()
    assert runner.ran == []


async def test_a_job_ending_while_starting_says_why_with_the_end_of_its_output():
    session, runner, _ = make_session({"sbatch": [JOB + "\n"],
                                       "squeue": [queue_line("PENDING", JOB), queue_line("CANCELLED", JOB)]})

    async def report():  # the job sends the end of its output as it exits
        while not session.job_id:
            await asyncio.sleep(0.01)
        session.accept_failure_report({"exit_code": 3, "output_tail": "boom\n"})

    reporter = asyncio.ensure_future(report())
    with pytest.raises(EndedWhileStarting) as e:
        await session.start("#!/bin/bash\n", {}, asked(), "/")
    await reporter
    message = e.value.message
    assert message.startswith(f"Your session (Slurm job {JOB}) ended before the server started: "
                              "it was cancelled outside the hub")
    assert "Exit code 3. The end of its output:\nboom" in message
    assert message.endswith(f"The whole output is in /home/alice/.jupyterhub-session-{JOB}.log.")
    assert session.job_id == ""


async def test_a_job_gone_from_the_queue_is_asked_of_accounting():
    session, runner, _ = make_session({"squeue": [""], "sacct": ["TIMEOUT\n"]})
    session.from_state({"job_id": JOB, "node": "node01", "submitted_at": time.time() - 600})
    ended = await session.poll()
    assert ended == f"Your session (Slurm job {JOB}) ended: it reached its time limit (walltime)."
    assert "--jobs=" + JOB in next(r for r in runner.ran if r["command"] == "sacct")["argv"]


async def test_poll_never_declares_a_session_dead_while_slurm_is_away():
    session, runner, _ = make_session({"squeue": [DOWN]})
    session.from_state({"job_id": JOB, "submitted_at": time.time() - 600})
    assert await session.poll() is None
    assert session.job_id == JOB and session.last_end == {}


async def test_a_job_leaving_its_node_is_not_ended_until_slurm_says_how():
    """A walltime's job is COMPLETING for a moment before it is TIMEOUT: the poll waits for the word."""
    running = queue_line("RUNNING", JOB)  # the recorded line, in the states a walltime passes through
    session, _, _ = make_session({"squeue": [running.replace("|RUNNING|", "|COMPLETING|"),
                                             running.replace("|RUNNING|", "|TIMEOUT|")]})
    session.from_state({"job_id": JOB, "node": "node01", "submitted_at": time.time() - 600})
    assert await session.poll() is None and session.last_end == {}
    session.slurm.poller.expire()  # the next look of the queue
    assert await session.poll() == f"Your session (Slurm job {JOB}) ended: it reached its time limit (walltime)."


async def test_poll_follows_a_running_job():
    session, _, _ = make_session({"squeue": [queue_line("RUNNING", JOB)]})
    session.from_state({"job_id": JOB, "submitted_at": time.time() - 600})
    assert await session.poll() is None
    assert session.node == "node01"


async def test_a_job_just_submitted_is_not_taken_for_gone_by_a_stale_answer():
    session, _, _ = make_session({"squeue": [""]}, Timing(**{**FAST.__dict__, "fresh_job_grace": 10}))
    session.from_state({"job_id": JOB, "submitted_at": time.time()})
    assert await session.job_entry(0) == (None, False)


async def test_stop_cancels_and_waits_until_the_job_has_left():
    session, runner, _ = make_session({"scancel": [""], "squeue": [queue_line("RUNNING", JOB),
                                                                   queue_line("CANCELLED", JOB)]})
    session.from_state({"job_id": JOB, "node": "node01", "submitted_at": time.time() - 600})
    await session.stop()
    assert runner.commands().count("squeue") == 2  # looked until the job was no longer running
    assert session.last_end["message"] == f"Your session (Slurm job {JOB}) was stopped from the hub."


async def test_a_stop_stays_a_stop_when_the_job_reports_its_signal_before_scancel_returns():
    """scancel makes the job's trap tell the hub "exited 143" at once, often before scancel itself
    has answered: that is the hub's own stop, not a failure."""
    session, runner, _ = make_session({"squeue": [queue_line("CANCELLED", JOB)]})
    runner.answers["scancel"] = [lambda: (session.note_server_exited(143), "")[1]]
    session.from_state({"job_id": JOB, "node": "node01", "submitted_at": time.time() - 600})
    await session.stop()
    assert session.last_end["message"] == f"Your session (Slurm job {JOB}) was stopped from the hub."


async def test_a_session_says_who_stops_it_and_why():
    session, runner, _ = make_session({"scancel": [""], "squeue": [queue_line("CANCELLED", JOB)]})
    session.from_state({"job_id": JOB, "node": "node01", "submitted_at": time.time() - 600})
    # the owner's Stop (or an admin's through JupyterHub's pages): the hub does not know who
    assert session.stop_notice() == {"by": "", "reason": ""}
    session.note_idle(900)
    assert session.stop_notice() == {"by": "the idle culler", "reason": "no activity for 15 min"}
    session.note_operator("ops", "node01 goes into maintenance at noon.")
    assert session.stop_notice() == {"by": "the operator ops", "reason": "node01 goes into maintenance at noon."}
    await session.stop()
    message = session.last_end["message"]
    assert message.startswith(f"Your session (Slurm job {JOB}) was stopped at ")
    assert message.endswith(" by the operator ops: node01 goes into maintenance at noon.")
    assert session.last_end["operator"] == "ops" and session.stop_note.current() == {}
    assert session.stop_notice() == {"by": "", "reason": ""}  # said once: the next stop is not the operator's


async def test_stop_without_a_job_runs_nothing():
    session, runner, _ = make_session({})
    await session.stop()
    assert runner.ran == []


async def test_resume_after_a_restart_finds_the_server_at_its_node():
    session, _, _ = make_session({"squeue": [queue_line("RUNNING", JOB)]})
    session.from_state({"job_id": JOB, "node": "node01", "submitted_at": time.time() - 600})
    session.port = 43210  # the hub's database keeps the server's port
    assert await session.resume("/user/alice/", port_timeout=1) == ("127.0.1.1", 43210)


async def test_resume_follows_a_job_that_was_still_waiting():
    session, _, _ = make_session({"squeue": [queue_line("PENDING", JOB), queue_line("RUNNING", JOB)]})
    session.from_state({"job_id": JOB, "submitted_at": time.time() - 5})
    reporter = asyncio.ensure_future(report_port(session, 40000))
    assert await session.resume("/user/alice/", port_timeout=5) == ("127.0.1.1", 40000)
    await reporter
    assert not session.starting


async def test_resume_says_nothing_while_slurm_is_away():
    session, _, _ = make_session({"squeue": [DOWN]})
    session.from_state({"job_id": JOB, "submitted_at": time.time() - 600})
    assert await session.resume("/", port_timeout=1) is None


def test_state_round_trip_keeps_how_the_last_session_ended():
    session, _, _ = make_session({})
    session.from_state({"job_id": JOB, "node": "node01", "submitted_at": 12.5, "token_sha256": "ab",
                        "last_end": {"message": "ended"}})
    assert session.to_state() == {"job_id": JOB, "node": "node01", "submitted_at": 12.5, "token_sha256": "ab",
                                  "last_end": {"message": "ended"}}
    session.clear()
    assert session.to_state() == {"last_end": {"message": "ended"}}


async def test_a_server_that_exited_ends_as_slurm_says_once_the_job_has_left():
    session, runner, _ = make_session({"squeue": [queue_line("RUNNING", JOB), queue_line("CANCELLED", JOB)]})
    session.from_state({"job_id": JOB, "node": "node01", "submitted_at": time.time() - 600})
    session.note_server_exited(143)
    ended = await session.poll()
    assert ended == f"Your session (Slurm job {JOB}) ended: it was cancelled outside the hub (scancel by you or an administrator)."
    assert session.job_id == "" and await session.poll() is None


async def test_a_server_that_crashed_says_its_exit_status():
    session, runner, _ = make_session({"squeue": [queue_line("RUNNING", JOB), queue_line("RUNNING", JOB)]})
    session.from_state({"job_id": JOB, "node": "node01", "submitted_at": time.time() - 600})
    session.accept_failure_report({"exit_code": 137, "output_tail": "MemoryError\nKilled\n"})
    session.note_server_exited(137)
    # the end of its output and where the whole of it is, for the form's banner
    assert await session.settle(within=0.3) == (
        f"Your session (Slurm job {JOB}) ended: the server failed (exit status 137). The end of its output:\n"
        f"MemoryError\nKilled\nThe whole output is in /home/alice/.jupyterhub-session-{JOB}.log.")


async def test_a_job_slurm_could_not_launch_says_the_home_is_the_trouble():
    failed = queue_line("PENDING", JOB).replace("|PENDING||Resources|", "|FAILED|node01|JobLaunchFailure|")
    session, _, _ = make_session({"sbatch": [JOB + "\n"], "squeue": [failed]})
    with pytest.raises(EndedWhileStarting) as e:
        await session.start("#!/bin/bash\n", {}, asked(), "/")
    assert e.value.message.startswith(f"Slurm could not start your session (job {JOB}): it could not write")
    assert "in /home/alice. Is your home directory full, or not writable?" in e.value.message


# ---------------------------------------------------------------- a start that loses sight of its job, an
# sbatch that gets no answer (seen on a fresh machine and with slurmctld stopped for 40 s)

MARK = "jupyterhub:alice:"
TIMED_OUT = SlurmError("sbatch", 1, "sbatch: error: Batch job submission failed: Socket timed out on send/recv "
                                    "operation")


async def test_a_start_that_cannot_see_its_running_job_cancels_it_and_never_calls_it_ended():
    lost = []
    session, runner, _ = make_session({"sbatch": [JOB + "\n"], "squeue": [""], "sacct": ["RUNNING\n"],
                                       "scancel": [""]}, lost_sight=lambda: lost.append(True))
    with pytest.raises(EndedWhileStarting) as e:
        await session.start("#!/bin/bash\n", {}, asked(), "/")
    message = e.value.message
    assert "ended" not in message and "Slurm says it is RUNNING, but the hub cannot see it" in message
    assert "fault of the service" in message and "was cancelled" in message
    # the job was cancelled as its owner, and the hub's check of what it sees asked again
    assert ["sudo", "-n", "-u", "alice", "scancel", JOB] in [r["argv"] for r in runner.ran]
    assert lost == [True] and session.job_id == "" and session.last_end["state"] == "CANCELLED"


async def test_a_running_session_the_queue_no_longer_lists_is_not_declared_ended_while_slurm_says_it_runs():
    lost = []
    session, runner, _ = make_session({"squeue": [""], "sacct": ["RUNNING\n"]}, lost_sight=lambda: lost.append(1))
    session.from_state({"job_id": JOB, "node": "node01", "submitted_at": time.time() - 600})
    assert await session.poll() is None
    assert session.job_id == JOB and session.last_end == {} and lost == [1]
    assert "scancel" not in runner.commands()


async def test_a_start_that_gives_up_on_a_job_accounting_does_not_know_cancels_it():
    session, runner, _ = make_session({"sbatch": [JOB + "\n"], "squeue": [""], "sacct": [""], "scancel": [""]})
    with pytest.raises(EndedWhileStarting):
        await session.start("#!/bin/bash\n", {}, asked(), "/")
    assert "scancel" in runner.commands() and session.job_id == ""


async def test_a_server_that_never_reports_its_port_has_its_job_cancelled():
    session, runner, _ = make_session({"squeue": [queue_line("RUNNING", JOB)], "scancel": [""]})
    session.from_state({"job_id": JOB, "submitted_at": time.time() - 5})
    with pytest.raises(EndedWhileStarting) as e:
        await session.until_ready({}, "/", port_timeout=0.2)
    assert "did not report its port" in e.value.message and "was cancelled" in e.value.message
    assert "scancel" in runner.commands() and session.job_id == ""


async def test_an_sbatch_without_answer_is_no_refusal_the_job_is_found_by_its_mark_and_the_start_completes():
    mine = queue_line("RUNNING", JOB, comment=MARK, user="alice")
    strangers = queue_line("RUNNING", "999", comment="jupyterhub:alice:", user="bob")  # bob forged alice's mark
    session, runner, saved = make_session({
        "sbatch": [TIMED_OUT],
        "squeue": [DOWN, DOWN, strangers, strangers + mine],  # the controller away, then back with the job
    }, mark=MARK)
    reporter = asyncio.ensure_future(report_port(session))
    ip, port = await session.start("#!/bin/bash\n", {}, asked(), "/user/alice/")
    await reporter
    assert (session.job_id, ip, port) == (JOB, "127.0.1.1", 43210)
    assert saved and saved[0]["job_id"] == JOB  # kept at once, as after an answered sbatch
    assert any("did not answer the submission" in e["message"] for e in session.events)
    assert runner.commands().count("sbatch") == 1  # never submitted twice


async def test_an_sbatch_without_answer_whose_job_never_appears_says_it_was_not_submitted():
    timing = Timing(**{**FAST.__dict__, "lost_submission_grace": 0.05})
    session, runner, _ = make_session({"sbatch": [TIMED_OUT], "squeue": [DOWN, ""]}, timing, mark=MARK)
    with pytest.raises(SubmitRefused) as e:
        await session.start("#!/bin/bash\n", {}, asked(), "/")
    assert "no job of this session is in the queue" in e.value.message and "start it again" in e.value.message
    assert session.job_id == "" and not session.starting


async def test_a_submission_slurm_refuses_outright_is_a_refusal_at_once():
    refused = SlurmError("sbatch", 1, "sbatch: error: Batch job submission failed: Invalid qos specification")
    session, runner, _ = make_session({"sbatch": [refused]}, mark=MARK)
    with pytest.raises(SubmitRefused):
        await session.start("#!/bin/bash\n", {}, asked(), "/")
    assert "squeue" not in runner.commands()


def test_how_the_last_session_ended_is_said_once_and_only_soon_after():
    session, _, _ = make_session({})
    session.record.ended("CANCELLED", "Your session (Slurm job 7) was stopped from the hub.", time.time() - 60)
    assert session.end_news(900)["message"].startswith("Your session (Slurm job 7)")
    assert session.end_news(900) == {}  # said once
    assert session.last_end["told"] is True  # and saved so with the state
    session.record.ended("CANCELLED", "Your session (Slurm job 8) was stopped from the hub.", time.time() - 4 * 3600)
    assert session.end_news(900) == {}  # a fresh login hours later is not greeted by it
    assert session.last_end["job_id"] == "" and "job 8" in session.last_end["message"]  # the card keeps it
