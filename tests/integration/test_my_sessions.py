"""Sessions the user controls, through the real hub and Slurm: several at once, queued for as long as the user
chooses, cancelled at once (after a hub restart too), started again, and what a finished one used."""

import asyncio
import re
import time

import pytest
import requests

from .conftest import HUB, STACKCTL, Browser, form_state, scontrol_job, sh, squeue, wait_for
from .test_releases import _execute, in_session
from .test_session_life import block_gpus, progress_messages

pytestmark = pytest.mark.integration


def job_of(hub, user, server=""):
    model = hub.server(user, server)
    assert model is not None, f"{user} has no server {server!r}"
    return model["state"]["job_id"]


def queue_states(job):
    return [j["state"] for j in squeue() if j["id"] == job]


def start(hub, user, server, **options):
    r = hub.start(user, options, server=server)
    assert r.status_code in (201, 202), r.text
    return r


def test_a_gpu_session_and_a_cpu_session_at_once_each_at_its_own_url(hub, clean):
    start(hub, "alice", "gpu", gpus=1, cores=1, memory=1000)
    start(hub, "alice", "cpu", gpus=0, cores=2, memory=1500)
    hub.wait_ready("alice", server="gpu")
    hub.wait_ready("alice", server="cpu")
    gpu_job, cpu_job = job_of(hub, "alice", "gpu"), job_of(hub, "alice", "cpu")
    assert gpu_job != cpu_job
    assert "gres/gpu=1" in scontrol_job(gpu_job)["TRES"] and "gres/gpu" not in scontrol_job(cpu_job)["TRES"]
    # each job carries the name of its own server, for the hub to match job and session after a restart
    assert scontrol_job(gpu_job)["Comment"] == "jupyterhub:alice:gpu"
    for server in ("gpu", "cpu"):
        assert hub.status_through_proxy("alice", server).status_code == 200
    # the cards say the same
    cards = {c["name"]: c for c in hub.sessions("alice")}
    assert (cards["gpu"]["phase"], cards["gpu"]["job_id"], cards["gpu"]["gpus"]) == ("running", gpu_job, 1)
    assert (cards["cpu"]["phase"], cards["cpu"]["job_id"], cards["cpu"]["cores"]) == ("running", cpu_job, 2)

    hub.stop("alice", server="gpu")
    assert not queue_states(gpu_job)
    assert queue_states(cpu_job) == ["RUNNING"]
    assert hub.status_through_proxy("alice", "cpu").status_code == 200
    assert hub.status_through_proxy("alice", "gpu").status_code != 200
    phases = {c["name"]: c["phase"] for c in hub.sessions("alice")}
    assert (phases["gpu"], phases["cpu"]) == ("ended", "running")


@pytest.mark.parametrize("name, words", [
    ("Big-GPU", "Invalid server_name"),
    ("a" * 31, "Invalid server_name"),
    ("gpu--x", "Invalid server_name"),
    ("1gpu", "Invalid server_name"),
])
def test_a_bad_session_name_is_refused_with_400_and_no_job(hub, clean, name, words):
    r = hub.start("alice", {"gpus": 0}, server=name)
    assert r.status_code == 400 and words in r.json()["message"], r.text
    assert name not in hub.all_servers("alice")
    assert not [j for j in squeue() if j["user"] == "alice"]


def test_a_session_beyond_the_limit_is_refused_with_400_and_no_job(hub, clean):
    for server in ("one", "two", "three"):  # the local stack allows 3 named sessions
        r = hub.api("PUT", f"/users/alice/servers/{server}")
        assert r.status_code in (201, 204), r.text
    r = hub.start("alice", {"gpus": 0}, server="four")
    assert r.status_code == 400 and "already has the maximum of 3 named servers" in r.json()["message"], r.text
    assert not [j for j in squeue() if j["user"] == "alice"]
    # on the page too: the form of a fourth session is an error page that says why
    page = Browser("alice").s.get(f"{HUB}/hub/spawn/alice/four", timeout=60)
    assert page.status_code == 400 and "maximum of 3 named servers" in page.text
    # and My sessions says so before anything is asked of the hub
    home = Browser("alice").s.get(f"{HUB}/hub/home", timeout=60).text
    assert 'data-limit="3"' in home and 'data-named="3"' in home and "3 of 3 named" in home


def test_a_queued_session_is_cancelled_at_once_and_the_form_keeps_its_choices(hub, clean):
    block_gpus()
    start(hub, "bob", "train", gpus=2, cores=2, memory=1200, hours=2)
    progress_messages_for(hub, "bob", "train", lambda m: "Resources" in m)
    job = job_of(hub, "bob", "train")
    assert queue_states(job) == ["PENDING"]
    assert {c["name"]: c["phase"] for c in hub.sessions("bob")}["train"] == "queued"

    began = time.monotonic()
    r = hub.cancel("bob", "train")
    answered = time.monotonic() - began
    assert r.status_code == 200, r.text
    # the job has left the queue by the time the cancel answers
    assert not queue_states(job)
    print(f"cancel of a queued session: answered in {answered:.3f} s, the job already gone from squeue")
    assert r.json()["job_id"] == job and r.json()["form_url"] == "/hub/spawn/bob/train"
    assert "You cancelled your session" in r.json()["message"]
    assert sh("sacct", "-n", "-X", "-P", "-j", job, "--format=State").stdout.startswith("CANCELLED")
    assert hub.server("bob", "train") is None
    # back on the form: why, and the same choices
    page = Browser("bob").s.get(f"{HUB}/hub/spawn/bob/train", timeout=60)
    assert page.status_code == 200 and "You cancelled your session (Slurm job" in page.text
    assert {k: form_state(page.text)["values"][k] for k in ("gpus", "cores", "memory", "hours")} == {
        "gpus": "2", "cores": "2", "memory": "1200", "hours": "2"}
    card = {c["name"]: c for c in hub.sessions("bob")}["train"]
    assert card["phase"] == "ended" and "You cancelled" in card["last_end"]


def progress_messages_for(hub, user, server, until, timeout=60):
    """The progress stream of a named server, until a message satisfies `until`."""
    import json as _json
    seen = []
    with hub.session.get(f"{HUB}/hub/api/users/{user}/servers/{server}/progress", stream=True, timeout=timeout) as r:
        assert r.status_code == 200, r.text
        for line in r.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                seen.append(_json.loads(line[5:]).get("message", ""))
                if until(seen[-1]):
                    break
    return seen


def test_what_cannot_be_cancelled_is_refused_and_nothing_changes(hub, clean):
    start(hub, "alice", "", gpus=0)
    hub.wait_ready("alice")
    job = job_of(hub, "alice")
    r = hub.cancel("alice")
    assert r.status_code == 409 and "is running: stop it instead" in r.json()["message"], r.text
    r = hub.cancel("alice", as_user="bob")  # another user's session
    assert r.status_code == 403, r.text
    r = hub.cancel("bob")  # bob has no session running or starting
    assert r.status_code == 409 and "nothing to cancel" in r.json()["message"], r.text
    r = hub.cancel("bob", "nothing-here")
    assert r.status_code == 404, r.text
    r = requests.get(f"{HUB}/hub/api/slurm-interactive/users/alice/sessions", timeout=30,
                     headers={"Authorization": f"token {hub.user_token('bob')}"})
    assert r.status_code == 403, r.text
    assert queue_states(job) == ["RUNNING"] and hub.server("alice")["ready"]


def queued_across_a_restart(hub, user: str) -> str:
    """``user``'s session queued for GPUs, then the hub restarted: the job, still pending."""
    block_gpus()
    start(hub, user, "", gpus=1)
    progress_messages(hub, user, lambda m: "Resources" in m)
    job = job_of(hub, user)
    sh(STACKCTL, "restart", "hub", timeout=120)
    assert queue_states(job) == ["PENDING"]
    return job


def test_a_session_queued_when_the_hub_restarted_is_cancelled_at_once(hub, clean):
    job = queued_across_a_restart(hub, "bob")
    assert {c["name"]: c["phase"] for c in hub.sessions("bob")}[""] == "queued"
    r = hub.cancel("bob")
    assert r.status_code == 200, r.text
    assert not queue_states(job)
    wait_for(lambda: hub.server("bob") is None, 30, 0.25, what="the cancelled session to be gone")
    assert "You cancelled your session" in {c["name"]: c for c in hub.sessions("bob")}[""]["last_end"]


def test_a_session_queued_when_the_hub_restarted_stops_from_the_control_panel_and_starts_again(hub, clean):
    """The Control Panel's Stop is the hub's own DELETE, with the user's token. After a restart the hub follows a
    queued start inside its check of the session; that Stop interrupts it as it interrupts any pending start,
    instead of failing ('pending check') until the job runs."""
    job = queued_across_a_restart(hub, "bob")
    r = requests.delete(f"{HUB}/hub/api/users/bob/server", timeout=60,
                        headers={"Authorization": f"token {hub.user_token('bob')}"})
    assert r.status_code in (202, 204), r.text
    wait_for(lambda: hub.server("bob") is None, 30, 0.25, what="the stopped session to be gone")
    assert not queue_states(job)
    assert "You cancelled your session" in {c["name"]: c for c in hub.sessions("bob")}[""]["last_end"]
    start(hub, "bob", "", gpus=0)
    hub.wait_ready("bob")
    assert job_of(hub, "bob") != job


def test_a_session_queued_through_many_looks_starts_when_the_gpus_free_up(hub, clean):
    blockers = block_gpus()
    start(hub, "alice", "", gpus=2)
    job = job_of(hub, "alice")
    looks = hub.squeue_calls()
    wait_for(lambda: hub.squeue_calls() >= looks + 5, 120, 1, what="the hub to look at the queue five more times")
    assert queue_states(job) == ["PENDING"] and hub.server("alice") is not None
    sh("scancel", *blockers)
    hub.wait_ready("alice", timeout=90)
    assert job_of(hub, "alice") == job
    assert hub.status_through_proxy("alice").status_code == 200


FIELDS = ("Account", "Partition", "NumCPUs", "TimeLimit", "TRES", "OverSubscribe", "Comment", "JobName", "Reservation")


def test_start_again_reproduces_the_same_job(hub, clean):
    start(hub, "alice", "analysis", account="proj-b", cores=2, memory=1500, gpus=1, hours=2)
    hub.wait_ready("alice", server="analysis")
    first = scontrol_job(job_of(hub, "alice", "analysis"))
    hub.stop("alice", server="analysis")
    person = Browser("alice")
    home = person.s.get(f"{HUB}/hub/home", timeout=60).text
    card = home[home.index('id="jsi-card-analysis"'):]
    form = card[card.index('<form method="post"'):card.index("</form>")]
    action = re.search(r'action="([^"]+)"', form).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    assert action == "/hub/spawn/alice/analysis" and fields["_xsrf"]
    r = person.s.post(f"{HUB}{action}", data=fields, timeout=60)
    assert r.status_code == 200, r.text
    hub.wait_ready("alice", server="analysis")
    again = scontrol_job(job_of(hub, "alice", "analysis"))
    assert again["JobId"] != first["JobId"]
    assert {k: again.get(k) for k in FIELDS} == {k: first.get(k) for k in FIELDS}


def test_the_used_resources_card_matches_sacct_for_a_known_load(hub, clean):
    start(hub, "alice", "load", gpus=1, cores=2, memory=2000)
    hub.wait_ready("alice", server="load")
    job = job_of(hub, "alice", "load")
    # one core busy for a measured time, and 400 MB held while it is; the kernel stays until the stop
    r = in_session(hub, "alice", "POST", "api/kernels", server="load", json={"name": "python3"})
    assert r.status_code == 201, r.text
    url = f"{HUB.replace('http', 'ws', 1)}/user/alice/load/api/kernels/{r.json()['id']}/channels"
    code = ("import time\nheld = b'x' * (400 << 20)\nt0 = time.process_time()\nend = time.time() + 25\n"
            "while time.time() < end:\n    pass\nprint(round(time.process_time() - t0, 1))")
    out, error = asyncio.run(_execute(url, hub.user_token("alice"), code, 90))
    assert not error, error
    busy = float(out.strip())
    from jupyterhub_slurm_interactive.ops.usage import parse_cpu_seconds, parse_size_mb

    def sampled_cpu(tres):  # "cpu=00:00:28,mem=..." → 28
        return next((parse_cpu_seconds(t[4:]) for t in tres.split(",") if t.startswith("cpu=")), 0)

    def samples_saw_the_load():  # Slurm samples a job every JobAcctGatherFrequency: one after the load
        rows = [line.split("|") for line in sh("sstat", "-n", "-P", "-a", "-j", job,
                                               "--format=TRESUsageInTot,MaxRSS").stdout.splitlines() if "|" in line]
        cpu = sum(sampled_cpu(r[0]) for r in rows)
        rss = max((parse_size_mb(r[1]) for r in rows if r[1]), default=0)
        return cpu >= busy * 0.9 and rss >= 400

    wait_for(samples_saw_the_load, 60, 1, what="Slurm's samples of the job to see the busy core and the 400 MB")
    hub.stop("alice", server="load")
    # its figures are kept once Slurm has them all: until then the card says they are being recorded
    card = wait_for(lambda: next((c for c in hub.sessions("alice") if c["name"] == "load" and c.get("usage")
                                  and not c["usage"].get("recording")), None),
                    60, 1, what="the card to show what the session used")
    usage = card["usage"]
    sacct = sh("sacct", "-n", "-P", "-j", job,
               "--format=JobID,ElapsedRaw,TotalCPU,MaxRSS,AllocCPUS,TRESUsageInTot,TRESUsageInMax").stdout
    rows = [line.split("|") for line in sacct.splitlines()]
    allocation = next(r for r in rows if r[0] == job)
    # each step's CPU time: what it reported when reaped, or what the samples saw (a scancel kills, nobody reaps)
    steps = [r for r in rows if r[0].startswith(job + ".")]
    cpu = sum(max(parse_cpu_seconds(r[2]), sampled_cpu(r[5]), sampled_cpu(r[6])) for r in steps)
    assert usage["job_id"] == job and usage["gathered"]
    assert usage["elapsed_s"] == int(allocation[1]) and usage["cores"] == int(allocation[4]) == 2
    assert usage["cpu_s"] == pytest.approx(cpu, abs=0.01)
    assert usage["peak_memory_mb"] == pytest.approx(max(parse_size_mb(r[3]) for r in steps if r[3]), abs=0.1)
    # and Slurm saw the load: the busy core, the 400 MB
    assert usage["cpu_s"] >= busy * 0.9
    assert usage["peak_memory_mb"] >= 400
    assert usage["memory_mb"] == 2000 and usage["gpus"] == 1 and usage["gpu_hours"] > 0
    assert usage["cpu_efficiency"] == pytest.approx(usage["cpu_s"] / (usage["elapsed_s"] * 2), abs=0.01)
    # the page shows the same figures
    home = Browser("alice").s.get(f"{HUB}/hub/home", timeout=60).text
    assert f"{usage['cpu_efficiency'] * 100:.0f} % of 2 cores" in home
    assert f"{usage['peak_memory_mb']:.0f} MB of 2000 MB" in home
