"""My sessions in Chromium: a queued session cancelled from its progress page, a notification when one is
ready, and the home page with sessions in three states, at desktop and phone width."""

import re
import time

import pytest

from ..integration.conftest import sh, squeue, wait_for
from ..integration.test_session_life import block_gpus
from .conftest import CHROMIUM_ARGS, HUB, both_widths, login, shot  # noqa: F401

pytestmark = pytest.mark.integration


def job_of(hub, user, server=""):
    model = hub.server(user, server)
    return model["state"].get("job_id") if model else None


def fill_and_start(page, gpus: str):
    page.wait_for_selector("#jsi-gpus")
    page.select_option("#jsi-gpus", gpus)
    page.select_option("#jsi-release", index=0)
    page.select_option("#jsi-ui", "lab")
    page.click("#spawn_form button[type=submit]")


def wait_queued(page):
    """Until the progress page says the session waits in the queue, whatever Slurm's reason: a job's reason is
    None until the scheduler has looked at it, and Priority behind another job; if it never does, say what it
    showed instead."""
    try:
        page.wait_for_function("() => document.title.startsWith('⏳ Queued')", timeout=60_000)
    except Exception as error:
        shown = page.evaluate("() => (document.querySelector('#progress-message') || {}).textContent || ''")
        raise AssertionError(f"not shown as queued: {page.url} says {page.title()!r}, {shown!r}") from error


def test_a_queued_session_is_cancelled_from_its_progress_page(new_page, hub, clean):
    block_gpus()
    page = new_page()
    login(page, "bob", "bob-demo")
    page.wait_for_url(re.compile(r".*/hub/spawn.*"))
    page.goto(f"{HUB}/hub/spawn/bob/train")
    fill_and_start(page, "2")
    page.wait_for_url(re.compile(r".*/hub/spawn-pending/bob/train"))
    page.wait_for_function("() => /Resources/.test(document.querySelector('#progress-message').textContent)")
    assert page.title().startswith("⏳ Queued: your session train")
    assert page.locator("#stop-server-btn").is_hidden()  # JupyterHub's button stops the default server
    job = job_of(hub, "bob", "train")
    both_widths(page, "12-progress-queued")

    began = time.monotonic()
    page.click("#jsi-cancel")
    gone = wait_for(lambda: not [j for j in squeue() if j["id"] == job] and time.monotonic(), 10, 0.05,
                    what="the job to leave squeue")
    print(f"cancel from the progress page: job {job} left squeue {gone - began:.2f} s after the click")
    # back on the form, with why and the same choices
    page.wait_for_url(re.compile(r".*/hub/spawn/bob/train$"))
    page.wait_for_selector("#jsi-gpus")
    assert "You cancelled your session (Slurm job" in page.content()
    assert page.input_value("#jsi-gpus") == "2"
    shot(page, "13-form-after-cancel")
    assert hub.server("bob", "train") is None


def test_a_queued_session_notifies_when_it_is_ready(browser, hub, clean):
    blockers = block_gpus()
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, permissions=["notifications"])
    notified = []
    ctx.expose_function("jsiNotified", lambda title, body: notified.append((title, body)))
    ctx.add_init_script("window.Notification = class { constructor(t, o) { window.jsiNotified(t, (o || {}).body); }"
                        " static get permission() { return 'granted'; }"
                        " static requestPermission() { return Promise.resolve('granted'); } };")
    try:
        page = ctx.new_page()
        login(page, "alice", "alice-demo")
        page.wait_for_url(re.compile(r".*/hub/spawn.*"))
        page.goto(f"{HUB}/hub/spawn/alice/later")
        fill_and_start(page, "1")
        wait_queued(page)
        sh("scancel", *blockers)
        # Playwright calls jsiNotified only while it runs: wait in the page, not in time.sleep
        wait_for(lambda: page.wait_for_timeout(500) or notified, 90, 0, what="the notification that it is ready")
        assert notified[0][0] == "Your session later is ready"
        page.wait_for_url(re.compile(r".*/user/alice/later/.*"), timeout=60_000)
    finally:
        ctx.close()


def test_my_sessions_with_three_sessions_in_three_states(new_page, hub, clean):
    # one ended (with what it used), one running, one queued behind the GPU blockers
    assert hub.start("alice", {"gpus": 0, "cores": 1, "memory": 1000}).status_code in (201, 202)
    hub.wait_ready("alice")
    hub.stop("alice")
    assert hub.start("alice", {"gpus": 0, "cores": 2, "memory": 1500}, server="cpu").status_code in (201, 202)
    hub.wait_ready("alice", server="cpu")
    block_gpus()
    assert hub.start("alice", {"gpus": 2}, server="gpu").status_code in (201, 202)
    wait_for(lambda: {c["name"]: c["phase"] for c in hub.sessions("alice")}.get("gpu") == "queued", 30, 0.5,
             what="the GPU session to be queued")

    page = new_page()
    login(page, "alice", "alice-demo")
    page.goto(f"{HUB}/hub/home")
    phases = {card.get_attribute("data-server"): card.get_attribute("data-phase")
              for card in page.locator(".jsi-card").all()}
    assert phases == {"": "ended", "cpu": "running", "gpu": "queued"}
    assert page.locator("#jsi-card-cpu .jsi-node").inner_text().startswith("node")
    assert "Waiting for a node with 2 free GPUs" in page.locator("#jsi-card-gpu .jsi-waiting").inner_text()
    assert page.locator("#jsi-card-default .jsi-again").is_visible()
    wait_for(lambda: (page.reload() or True) and page.locator("#jsi-card-default .jsi-usage").count(), 30, 1,
             what="the ended card to show what it used")
    both_widths(page, "14-my-sessions")

    # a bad name is explained by its field, and nothing is asked of the hub
    page.fill("#jsi-new-name", "Big GPU")
    page.click("#jsi-new-button")
    assert "lowercase" in page.locator("#jsi-new-error").inner_text()
    assert page.get_attribute("#jsi-new-name", "aria-invalid") == "true"
    shot(page, "15-my-sessions-bad-name")

    # Cancel on the queued card: the job leaves the queue, and the card says so where it is (no reload)
    job = job_of(hub, "alice", "gpu")
    page.evaluate("window.stillTheSamePage = true")
    page.click("#jsi-card-gpu .jsi-cancel")
    page.wait_for_selector("#jsi-card-gpu[data-phase=ended]")
    assert not [j for j in squeue() if j["id"] == job]
    assert "You cancelled your session" in page.inner_text("#jsi-card-gpu")
    assert page.evaluate("window.stillTheSamePage") is True
    # Stop on the running card
    cpu_job = job_of(hub, "alice", "cpu")
    page.click("#jsi-card-cpu .jsi-stop")
    page.click("#jsi-card-cpu .jsi-stop-confirmed")
    page.wait_for_function("() => document.querySelector('#jsi-card-cpu').dataset.phase === 'ended'")
    assert not [j for j in squeue() if j["id"] == cpu_job]


def test_my_sessions_tells_when_a_queued_session_starts(browser, hub, clean):
    """While "My sessions" is open, a queued session that starts is told by a notification, once allowed there."""
    blockers = block_gpus()
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    notified = []
    ctx.expose_function("jsiNotified", lambda title, body: notified.append((title, body)))
    # a browser that has not been asked yet; the card's button asks
    ctx.add_init_script("window.jsiAllowed = 'default'; window.Notification = class {"
                        " constructor(t, o) { window.jsiNotified(t, (o || {}).body); }"
                        " static get permission() { return window.jsiAllowed; }"
                        " static requestPermission() { window.jsiAllowed = 'granted'; return Promise.resolve('granted'); } };")
    try:
        assert hub.start("alice", {"gpus": 2}, server="gpu").status_code in (201, 202)
        wait_for(lambda: {c["name"]: c["phase"] for c in hub.sessions("alice")}.get("gpu") == "queued", 30, 0.5,
                 what="the session to queue")
        page = ctx.new_page()
        login(page, "alice", "alice-demo")
        page.goto(f"{HUB}/hub/home")
        card = page.locator("#jsi-card-gpu")
        card.locator(".jsi-notify").click()
        card.get_by_text("You will be told here when it starts").wait_for()
        assert card.locator(".jsi-notify").is_hidden()
        both_widths(page, "62-home-tell-me-when-it-starts")
        sh("scancel", *blockers)
        wait_for(lambda: page.wait_for_timeout(500) or notified, 90, 0, what="the notification that it started")
        assert notified[0] == ("Your session gpu is ready", "It runs: open it from My sessions.")
    finally:
        ctx.close()
