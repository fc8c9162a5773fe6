"""Add time, where a user clicks it: JupyterLab's walltime warning and session details, and the session's card,
in Chromium against the real hub and Slurm. The countdown moves; a refusal says which rule refused."""

import math
import re
import time
from datetime import datetime

import pytest

from ..integration.conftest import HUB, scontrol_job, sh, squeue, wait_for
from .conftest import both_widths, fits_a_phone, login

pytestmark = pytest.mark.integration


def minutes_in(text: str) -> int:
    """"1 h 58 min left" → 118"""
    h = re.search(r"(\d+) h", text)
    m = re.search(r"(\d+) min", text)
    return (int(h.group(1)) * 60 if h else 0) + (int(m.group(1)) if m else 0)


def limit_minutes(job) -> int:
    h, m, _ = scontrol_job(job)["TimeLimit"].split(":")
    return int(h) * 60 + int(m)


def test_add_time_in_jupyterlab_and_on_the_card(new_page, hub, clean):
    assert hub.start("alice", {"gpus": 1, "cores": 1, "memory": 1000, "ui": "lab"}).status_code in (201, 202)
    hub.wait_ready("alice")
    job = hub.server("alice")["state"]["job_id"]
    # a session near its end, as an operator would shorten it: the warning comes at once
    start = datetime.strptime(scontrol_job(job)["StartTime"], "%Y-%m-%dT%H:%M:%S").timestamp()
    sh("scontrol", "update", f"jobid={job}", f"timelimit={math.ceil((time.time() - start) / 60) + 10}")
    before = limit_minutes(job)

    page = new_page()
    login(page, "alice", "alice-demo")
    page.goto(f"{HUB}/user/alice/lab")
    item = page.locator(".jp-SlurmInteractive-status")
    item.wait_for(state="visible", timeout=120_000)
    page.get_by_text(re.compile(r"Your session ends in \d+ min")).first.wait_for(timeout=120_000)
    left = minutes_in(item.inner_text())
    assert left <= 11 and "jp-mod-warn" in item.get_attribute("class")

    # the warning's own "Add 30 min"
    page.get_by_role("button", name="Add 30 min").first.click()
    page.get_by_text(re.compile(rf"30 min added: the session \(Slurm job {job}\) now ends at")).first.wait_for()
    assert limit_minutes(job) == before + 30
    page.wait_for_function("() => !document.querySelector('.jp-SlurmInteractive-status').classList.contains("
                           "'jp-mod-warn')")
    assert abs(minutes_in(item.inner_text()) - (left + 30)) <= 1, item.inner_text()
    # the warning spoke of the old end: it is gone
    page.get_by_text(re.compile(r"Your session ends in \d+ min")).first.wait_for(state="hidden")
    both_widths(page, "55-lab-time-added")

    # the session's details offer the site's steps
    item.click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for()
    assert "Need longer? Add time below." in dialog.inner_text()
    both_widths(page, "56-lab-details-add-time")
    dialog.get_by_role("button", name="Add 1 h").click()
    page.get_by_text(re.compile(r"1 h added: the session")).first.wait_for()
    assert limit_minutes(job) == before + 90
    wait_for(lambda: abs(minutes_in(item.inner_text()) - (left + 90)) <= 1, 70, what="the countdown to move")

    # the card on "My sessions": added, then refused while bob's job waits for GPUs on that node
    home = new_page()
    login(home, "alice", "alice-demo")
    home.goto(f"{HUB}/hub/home")
    card = home.locator("#jsi-card-default")
    card.locator(".jsi-add[data-minutes='30']").click()
    note = card.locator(".jsi-card-note")
    home.locator("#jsi-card-default .jsi-card-note:not([hidden])").wait_for()
    assert re.fullmatch(rf"30 min added: the session \(Slurm job {job}\) now ends at \d\d:\d\d:\d\d \w+\.",
                        note.inner_text()), note.inner_text()
    assert limit_minutes(job) == before + 120
    assert abs(minutes_in(home.locator("#jsi-card-default .jsi-time-left").inner_text()) - (left + 120)) <= 1

    node = scontrol_job(job)["NodeList"]
    blocker = sh("sbatch", "--parsable", "-p", "interactive", "-w", node, "--gres=gpu:2", "-c", "1", "--mem=100M",
                 "-t", "10", "-J", "waits-for-gpus", "--wrap", "sleep 600", user="bob").stdout.strip()
    wait_for(lambda: any(j["id"] == blocker and j["reason"] == "Resources" for j in squeue()), 30,
             what="bob's job to wait for GPUs")
    card = home.locator("#jsi-card-default")
    card.locator(".jsi-add[data-minutes='60']").click()
    error = home.locator("#jsi-card-default .jsi-card-error:not([hidden])")
    error.wait_for()
    assert error.inner_text().startswith("No more time while others wait: 1 job of other people waits in the "
                                         "partition interactive for GPUs")
    assert limit_minutes(job) == before + 120
    assert card.locator(".jsi-add[data-minutes='60']").is_enabled()  # nothing lost: it may be asked again
    assert card.locator(".jsi-card-note").is_hidden()  # the earlier "added" no longer speaks for the card
    both_widths(home, "57-home-add-time-refused")
    # on a phone the buttons stay inside the card
    fits_a_phone(home)
