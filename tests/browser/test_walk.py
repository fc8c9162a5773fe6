"""The four things a user does, in a real browser (Chromium), on the real hub and Slurm:
log in, fill the form and start, come back to the same session, stop it from the Hub
Control Panel. Screenshots go to test-artifacts/browser/."""

import re

import pytest

from ..integration.conftest import scontrol_job, sh, squeue, wait_for
from ..integration.test_session_life import block_gpus
from .conftest import HUB, HUB_LOGIN, login, shot

pytestmark = pytest.mark.integration


def job_of(hub, user):
    server = hub.server(user)
    return server["state"].get("job_id") if server else None


def table_numbers(page):
    rows = page.locator("#availability tbody tr")
    return [[c.strip() for c in rows.nth(i).locator("td").all_inner_texts()] for i in range(rows.count())]


def offered_nodes() -> int:
    """Nodes of the partition that take sessions outside reservations, as sinfo says."""
    states = sh("sinfo", "-h", "-N", "-p", "interactive", "-o", "%t").stdout.split()
    return sum(1 for s in states if s in ("idle", "mix", "alloc"))


def test_log_in_start_come_back_and_stop(new_page, hub, clean):
    page = new_page()
    page.goto(f"{HUB}/hub/login")
    if HUB_LOGIN == "oidc":  # sent on to the provider's login page
        page.wait_for_selector("#userfield")
    else:
        assert page.locator("#jsi-site-name").inner_text().strip()
    shot(page, "01-login")

    # 1. log in
    login(page, "alice", "alice-demo")
    page.wait_for_url(re.compile(r".*/hub/spawn.*"))

    # 2. the form and the table of free resources, with numbers
    page.wait_for_selector("#availability")
    numbers = table_numbers(page)
    assert len(numbers) == 3 and all(row[0].isdigit() for row in numbers)
    offered = offered_nodes()
    assert sum(int(row[0]) for row in numbers) == offered  # reserved nodes are counted apart
    assert page.get_by_text("Interactive session parameters").is_visible()
    assert page.get_by_text("Available computational resources").is_visible()
    shot(page, "02-form")
    page.select_option("#jsi-account", "proj-b")
    page.fill("#jsi-cores", "2")
    page.fill("#jsi-memory", "1500")
    page.select_option("#jsi-gpus", "1")
    page.fill("#jsi-hours", "1")
    page.select_option("#jsi-release", index=0)  # the newest
    page.select_option("#jsi-ui", "lab")  # the form keeps the last choice, which may be another
    page.click("#spawn_form button[type=submit]")

    # 3. the progress page moves, then JupyterLab loads
    page.wait_for_url(re.compile(r".*/(spawn-pending|user)/alice.*"))
    if "spawn-pending" in page.url:
        page.wait_for_function("document.querySelector('#progress-log') && "
                               "document.querySelector('#progress-log').textContent.includes('Slurm job')")
        shot(page, "03-progress")
    page.wait_for_selector("#jp-main-dock-panel", timeout=90_000)
    page.wait_for_timeout(1500)
    shot(page, "04-jupyterlab")
    job = job_of(hub, "alice")
    fields = scontrol_job(job)
    assert (fields["Account"], fields["NumCPUs"], fields["TimeLimit"]) == ("proj-b", "2", "01:00:00")
    assert "mem=1500M" in fields["TRES"] and "gres/gpu=1" in fields["TRES"]
    node = fields["NodeList"]

    # 4. close the browser; a new one, log in again: the same JupyterLab, the same job
    page.context.close()
    page = new_page()
    login(page, "alice", "alice-demo")
    page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    assert "/user/alice/" in page.url
    assert job_of(hub, "alice") == job

    # 5. File → Hub Control Panel → Stop My Server
    page.click("div.lm-MenuBar-itemLabel:text-is('File')")
    with page.expect_popup() as popup:
        page.click("li.lm-Menu-item:has-text('Hub Control Panel')")
    home = popup.value
    card = home.locator("#jsi-card-default")
    card.wait_for()
    assert card.locator(".jsi-phase").inner_text().strip() == "running"
    assert card.locator(".jsi-job").inner_text().strip() == job
    assert card.locator(".jsi-node").inner_text().strip() == node
    assert card.locator(".jsi-gpus").inner_text().strip() == "1"
    assert "min" in card.locator(".jsi-time-left").inner_text()
    shot(home, "05-home")
    # Stop asks first, and says what ends; "Keep it running" keeps it
    card.locator(".jsi-stop").click()
    confirm = card.locator(".jsi-confirm")
    assert confirm.is_visible() and "unsaved work is lost" in confirm.inner_text()
    assert card.locator(".jsi-stop").get_attribute("aria-expanded") == "true"
    shot(home, "05-home-stop-asks")
    card.locator(".jsi-stop-keep").click()
    assert confirm.is_hidden() and [j for j in squeue() if j["id"] == job]
    card.locator(".jsi-stop").click()
    card.locator(".jsi-stop-confirmed").click()
    wait_for(lambda: not [j for j in squeue() if j["id"] == job], 15, 0.2, what="the job to leave squeue")
    home.wait_for_selector("#start")
    assert home.locator("#jsi-card-default .jsi-phase").inner_text().strip() == "ended"
    assert "stopped from the hub" in home.locator("#jsi-card-default .jsi-last-end").inner_text()
    assert "GresUsed=gpu:0" in sh("scontrol", "-o", "-d", "show", "node", node).stdout
    # and the table shows the GPU free again
    home.goto(f"{HUB}/hub/spawn")
    wait_for(lambda: (home.reload() or True) and sum(int(r[0]) for r in table_numbers(home)[2:]) == offered, 20, 1,
             what="the table to show the GPU free")
    shot(home, "06-home-after-stop")


def test_a_wrong_password_shows_the_login_error(new_page, stack):
    page = new_page()
    login(page, "alice", "wrong-password", lands=False)
    page.wait_for_selector(".login_error")
    assert "Invalid username or password" in page.locator(".login_error").inner_text()


def test_a_bad_value_is_shown_by_its_field(new_page, hub, clean):
    page = new_page()
    login(page, "bob", "bob-demo")
    page.wait_for_selector("#jsi-cores")
    page.fill("#jsi-memory", "1234")
    # what a client without the browser's own checks could send
    page.evaluate("() => { const c = document.querySelector('#jsi-cores');"
                  " c.removeAttribute('max'); c.type = 'text'; c.value = '99'; }")
    page.click("#spawn_form button[type=submit]")
    page.wait_for_selector("#jsi-cores-error")
    assert "from 1 to 8" in page.locator("#jsi-cores-error").inner_text()
    assert page.locator("#jsi-cores").get_attribute("class").count("is-invalid") == 1
    assert page.input_value("#jsi-memory") == "1234"
    assert page.input_value("#jsi-cores") == "99"
    shot(page, "07-form-error")
    assert not [j for j in squeue() if j["user"] == "bob"]


def test_a_session_waiting_for_gpus_shows_why(new_page, hub, clean):
    block_gpus()
    page = new_page()
    login(page, "bob", "bob-demo")
    page.wait_for_selector("#jsi-gpus")
    page.select_option("#jsi-gpus", "2")
    page.wait_for_selector("#jsi-fit-warning:not([hidden])")
    assert "No node outside reservations has 2 free GPUs right now (none is free)." in page.locator(
        "#jsi-fit-warning").inner_text()
    assert "wait in the queue" in page.locator("#jsi-fit-warning").inner_text()
    page.click("#spawn_form button[type=submit]")
    page.wait_for_url(re.compile(r".*/spawn-pending/bob.*"))
    page.wait_for_function("document.querySelector('#progress-message').textContent.includes('Resources')")
    assert "2 free GPUs" in page.locator("#progress-message").inner_text()
    shot(page, "08-waiting")
    hub.stop("bob")


def test_the_form_on_a_phone(new_page, hub, clean):
    page = new_page(width=390, height=844)
    login(page, "alice", "alice-demo")
    page.wait_for_selector("#availability")
    # nothing wider than the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    shot(page, "09-form-phone")
