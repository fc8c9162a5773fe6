"""Every screen tells the truth, in Chromium: the session inside JupyterLab (what it is, how long it has
left, a warning before its walltime), cards and the free-GPU table that follow a stop without a reload,
a warning that looks at the whole request, a failure explained on the form, a Start from a second tab,
validation for people, and the progress page's log with times and no addresses."""

import math
import re
import time
from datetime import datetime
from urllib.parse import urlsplit

import pytest

from ..integration.conftest import hub_log_tail, scontrol_job, sh, squeue, wait_for
from ..integration.test_session_life import block_gpus
from .conftest import HUB, both_widths, login, shot

pytestmark = pytest.mark.integration

ADDRESS = re.compile(r"\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b")


def job_of(hub, user, server=""):
    model = hub.server(user, server)
    return model["state"].get("job_id") if model else None


def minutes_in(text: str) -> int:
    """"1 h 58 min left" → 118"""
    h = re.search(r"(\d+) h", text)
    m = re.search(r"(\d+) min", text)
    return (int(h.group(1)) * 60 if h else 0) + (int(m.group(1)) if m else 0)


def open_form(new_page, user, path="/hub/spawn", wait_for="#jsi-gpus"):
    """A logged-in user's form, ready."""
    page = new_page()
    login(page, user, f"{user}-demo")
    page.goto(f"{HUB}{path}")
    page.wait_for_selector(wait_for)
    return page



def test_the_session_inside_jupyterlab(new_page, hub, clean):
    assert hub.start("alice", {"gpus": 1, "cores": 2, "memory": 3000, "ui": "lab"}).status_code in (201, 202)
    hub.wait_ready("alice")
    job = job_of(hub, "alice")
    page = new_page()
    login(page, "alice", "alice-demo")
    page.goto(f"{HUB}/user/alice/lab")
    item = page.locator(".jp-SlurmInteractive-status")
    item.wait_for(state="visible", timeout=120_000)  # shown once the figures are known
    text = item.inner_text()
    node = [j for j in squeue() if j["id"] == job][0]["nodes"]
    # the job squeue shows, its time left (before what a phone's width cuts), its node and resources
    assert re.fullmatch(rf"Job {job} · (\d+ h|\d+ h \d+ min|\d+ min|\d+ s) left · {node} · 2 cores · 3000 MB · 1 GPU",
                        text), text
    # a time left within a minute of Slurm's end time
    end = datetime.strptime(scontrol_job(job)["EndTime"], "%Y-%m-%dT%H:%M:%S").timestamp()
    assert abs(minutes_in(text) - (end - time.time()) / 60) <= 1, (text, end - time.time())
    both_widths(page, "30-lab-status-bar")

    # its details, with the way back to the Hub Control Panel
    item.click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for()
    assert f"Your session: Slurm job {job}" in dialog.inner_text()
    assert dialog.locator("a.jp-SlurmInteractive-hub").get_attribute("href") == "/hub/home"
    shot(page, "31-lab-session-details")
    page.keyboard.press("Escape")

    # a session of minutes: the limit shortened as an operator would, then the warning
    start = datetime.strptime(scontrol_job(job)["StartTime"], "%Y-%m-%dT%H:%M:%S").timestamp()
    minutes = math.ceil((time.time() - start) / 60) + 10
    sh("scontrol", "update", f"jobid={job}", f"timelimit={minutes}")
    page.reload()
    toast = page.get_by_text(re.compile(r"Your session ends in \d+ min"))
    toast.first.wait_for(timeout=120_000)
    assert "unsaved work will be lost" in toast.first.inner_text()
    assert "jp-mod-warn" in item.get_attribute("class")
    end = datetime.strptime(scontrol_job(job)["EndTime"], "%Y-%m-%dT%H:%M:%S").timestamp()
    assert abs(minutes_in(item.inner_text()) - (end - time.time()) / 60) <= 1
    page.wait_for_timeout(1000)  # the notification has slid in
    both_widths(page, "32-lab-walltime-warning")
    # the warning offers to save every open document at once
    save_all = page.get_by_role("button", name="Save all")
    assert save_all.count() >= 1
    save_all.first.click()


def test_a_stop_updates_the_card_and_the_table_without_a_reload(new_page, hub, clean):
    assert hub.start("alice", {"gpus": 1, "ui": "lab"}).status_code in (201, 202)
    hub.wait_ready("alice")
    job = job_of(hub, "alice")
    page = new_page()
    login(page, "alice", "alice-demo")
    page.goto(f"{HUB}/hub/home")
    page.wait_for_selector("#jsi-free:not([hidden])")
    card = page.locator("#jsi-card-default")
    assert card.get_attribute("data-phase") == "running"
    before = int(page.inner_text("#jsi-free-gpus"))
    both_widths(page, "33-home-running")
    page.evaluate("window.stillTheSamePage = true")

    began = time.monotonic()
    card.locator(".jsi-stop").click()
    card.locator(".jsi-stop-confirmed").click()
    # at once, without a reload: the card no longer says running
    page.wait_for_function("() => document.querySelector('#jsi-card-default').dataset.phase !== 'running'",
                           timeout=2000)
    assert card.locator(".jsi-phase").inner_text().strip() != "running"
    # and the table counts the GPU free as soon as Slurm has let the job go (a job spends about 1.7 s
    # COMPLETING after scancel here, a plain `sleep` job too)
    page.wait_for_function(
        "([before]) => document.querySelector('#jsi-card-default').dataset.phase === 'ended'"
        " && parseInt(document.querySelector('#jsi-free-gpus').textContent, 10) === before + 1",
        arg=[before], timeout=10_000)
    print(f"stop: card ended and the GPU counted free {time.monotonic() - began:.2f} s after the click")
    assert page.evaluate("window.stillTheSamePage") is True
    assert not [j for j in squeue() if j["id"] == job]
    assert "Running" not in card.inner_text() and f"Slurm job {job}" in card.inner_text()
    both_widths(page, "34-home-after-stop")


def test_a_session_ended_outside_the_hub_updates_its_card(new_page, hub, clean):
    assert hub.start("alice", {"ui": "lab"}).status_code in (201, 202)
    hub.wait_ready("alice")
    job = job_of(hub, "alice")
    page = new_page()
    login(page, "alice", "alice-demo")
    page.goto(f"{HUB}/hub/home")
    page.wait_for_selector("#jsi-card-default[data-phase=running]")
    page.evaluate("window.stillTheSamePage = true")
    sh("scancel", job, user="alice")  # from a terminal, as the user would
    page.wait_for_selector("#jsi-card-default[data-phase=ended]", timeout=20_000)
    assert page.evaluate("window.stillTheSamePage") is True
    assert f"Slurm job {job}" in page.inner_text("#jsi-card-default")


def test_the_warning_fits_the_whole_request(new_page, hub, clean):
    # bob's 20,000 MB can only go to the one big node outside reservations: it keeps its GPUs but not its memory
    assert hub.start("bob", {"memory": 20000, "gpus": 0}).status_code in (201, 202)
    hub.wait_ready("bob")
    page = open_form(new_page, "alice")
    page.select_option("#jsi-reservation", "")
    page.select_option("#jsi-gpus", "2")
    # the most memory free on one node with 2 free GPUs, from the table's own column
    most = int(page.locator("#availability tbody tr[data-free-gpus='2'] td").nth(3).inner_text().replace(",", ""))
    assert 0 < most < 30000
    page.fill("#jsi-memory", str(most + 1000))
    warning = page.locator("#jsi-fit-warning")
    warning.wait_for(state="visible")
    assert warning.inner_text().startswith(f"{most + 1000:,} MB of memory does not fit: the nodes with 2 free GPUs "
                                           f"outside reservations have at most {most:,} MB free right now.")
    both_widths(page, "35-form-fit-warning")
    page.fill("#jsi-memory", str(most))
    warning.wait_for(state="hidden")
    page.select_option("#jsi-gpus", "1")
    page.fill("#jsi-memory", "1000")
    page.wait_for_timeout(500)
    assert warning.is_hidden()
    # one time format, with the zone, before and after the table refreshes
    first = page.inner_text("#jsi-updated")
    assert re.fullmatch(r"\d\d:\d\d:\d\d \w+", first), first
    page.wait_for_function("(f) => document.querySelector('#jsi-updated').textContent !== f", arg=first)
    assert re.fullmatch(r"\d\d:\d\d:\d\d \w+", page.inner_text("#jsi-updated"))


def test_the_table_is_fresh_on_load(new_page, hub, clean):
    page = open_form(new_page, "alice", wait_for="#jsi-updated")
    taken = float(page.get_attribute("#jsi-updated", "data-epoch"))
    interval = float(page.get_attribute(".jsi-form", "data-refresh-seconds"))
    page.close()
    # with nobody looking, the hub's view grows older than its interval
    wait_for(lambda: time.time() - taken > interval + 1, interval + 30, 0.5, what="the hub's view to grow old")
    page = open_form(new_page, "alice", wait_for="#jsi-updated")
    again = float(page.get_attribute("#jsi-updated", "data-epoch"))
    assert again > taken + interval  # a view taken for this page, not the one of before


def test_a_session_that_fails_explains_itself_on_the_form(new_page, hub, clean):
    assert hub.start("alice", {"ui": "lab"}).status_code in (201, 202)
    hub.wait_ready("alice")
    job = job_of(hub, "alice")
    sh("pkill", "-KILL", "-u", "alice", "-f", "singleuser")  # what the OOM killer does
    wait_for(lambda: hub.server("alice") is None, 30, 0.25, what="the hub to see the server exit")
    page = new_page()
    login(page, "alice", "alice-demo")  # lands on the form: no session runs
    assert urlsplit(page.url).path == "/hub/spawn"
    banner = page.locator("#jsi-last-end")
    text = banner.inner_text()
    assert f"Your session (Slurm job {job}) ended: the server failed (exit status 137)." in text
    assert "The end of its output:" in text and "The server exited with status 137" in text
    assert re.search(rf"The whole output is in /home/alice/\S*{job}\S*\.log\.", text), text
    assert "alert-warning" in banner.get_attribute("class")
    both_widths(page, "36-form-after-failure")
    # said once: the form opened again starts clean, and the card keeps how it ended, with the output's place
    page.goto(f"{HUB}/hub/spawn")
    assert page.locator("#jsi-last-end").count() == 0
    page.goto(f"{HUB}/hub/home")
    card = page.locator("#jsi-card-default").inner_text()
    assert f"Slurm job {job}" in card and re.search(r"/home/alice/\S*\.log", card), card


def test_start_in_a_second_tab_lands_on_the_running_session(new_page, hub, clean):
    page = open_form(new_page, "alice")
    # meanwhile, from a second tab, the session starts
    second = page.context.new_page()
    second.goto(f"{HUB}/hub/spawn")
    second.wait_for_selector("#jsi-gpus")
    second.select_option("#jsi-ui", "lab")
    second.click("#spawn_form button[type=submit]")
    hub.wait_ready("alice")
    job = job_of(hub, "alice")
    # back in the first tab, Start: its card, with a sentence, never a raw 400
    page.bring_to_front()
    page.click("#spawn_form button[type=submit]")
    page.wait_for_url(re.compile(r".*/hub/home$"))
    said = page.locator("#jsi-already")
    said.wait_for(state="visible")
    assert said.inner_text().startswith("Your default session is already running")
    assert "400" not in page.content() and page.locator("#jsi-card-default[data-phase=running]").is_visible()
    assert [j["id"] for j in squeue() if j["user"] == "alice"] == [job]  # nothing submitted twice
    assert page.evaluate("document.activeElement.id") == "jsi-already"
    both_widths(page, "37-home-already-running")


def test_validation_speaks_by_each_field(new_page, hub, clean):
    page = open_form(new_page, "bob", wait_for="#jsi-cores")
    page.fill("#jsi-cores", "")
    page.fill("#jsi-hours", "99")
    page.click("#spawn_form button[type=submit]")  # the browser's pop-ups do not stop it: the server speaks
    page.wait_for_selector("#jsi-errors")
    assert page.evaluate("document.activeElement.id") == "jsi-errors"
    cores = page.locator("#jsi-cores")
    assert cores.get_attribute("aria-invalid") == "true"
    assert cores.get_attribute("aria-describedby").startswith("jsi-cores-error ")
    assert page.inner_text("#jsi-cores-error") == "Enter a whole number of cores, from 1 to 8."
    assert page.inner_text("#jsi-hours-error").startswith("Time must be from 1 to")
    assert page.input_value("#jsi-hours") == "99"  # what was typed is kept
    assert page.locator("#jsi-errors a[href='#jsi-cores']").is_visible()
    assert not [j for j in squeue() if j["user"] == "bob"]
    both_widths(page, "38-form-errors")
    # the skip link is the first thing the keyboard reaches
    page.goto(f"{HUB}/hub/home")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to main content"
    shot(page, "39-skip-link")


def test_the_progress_page_shows_times_and_no_addresses(new_page, hub, clean):
    block_gpus()
    page = open_form(new_page, "bob", "/hub/spawn/bob/wait")
    page.select_option("#jsi-gpus", "2")
    page.click("#spawn_form button[type=submit]")
    page.wait_for_url(re.compile(r".*/hub/spawn-pending/bob/wait"))
    page.wait_for_function("() => document.querySelectorAll('#progress-log .progress-log-event').length >= 3")
    page.click("#progress-details summary")
    entries = page.locator("#progress-log .progress-log-event").all_inner_texts()
    assert all(re.match(r"\d\d:\d\d:\d\d \w+ \S", e) for e in entries), entries
    assert not re.search(r"\d\d:\d\d:\d\d", page.inner_text("#progress-message"))  # the latest step, once
    both_widths(page, "40-progress-with-times")
    page.click("#jsi-cancel")
    page.wait_for_url(re.compile(r".*/hub/spawn/bob/wait$"))
    # the steps of a start that runs name the node, never an address (the hub logs each step it shows)
    sh("scancel", "--name=gpu-blocker")
    assert hub.start("bob", {"ui": "lab"}).status_code in (201, 202)
    hub.wait_ready("bob")
    steps = [line for line in hub_log_tail(400).splitlines() if "] bob: " in line]  # the session's own lines
    assert any("bob: Server listening on node" in line for line in steps), steps
    assert not [line for line in steps if ADDRESS.search(line.split(" bob: ", 1)[1])], steps
