"""The operators' view in Chromium: ops, a hub admin with no Slurm account, sees alice's and bob's sessions
and stops one; alice gets 403 there."""

import pytest

from ..integration.conftest import squeue, wait_for
from .conftest import HUB, both_widths, login, shot

pytestmark = pytest.mark.integration


def test_ops_sees_every_session_and_stops_one(new_page, hub, clean):
    assert hub.start("alice", {"gpus": 1, "cores": 2}).status_code in (201, 202)
    assert hub.start("bob", {"gpus": 0}, server="cpu").status_code in (201, 202)
    hub.wait_ready("alice")
    hub.wait_ready("bob", server="cpu")
    bob_job = hub.server("bob", "cpu")["state"]["job_id"]

    page = new_page()
    login(page, "ops", "ops-demo")
    assert page.url.endswith("/hub/sessions")  # an operator with no session of their own lands here
    page.goto(f"{HUB}/hub/sessions")
    rows = page.locator("#jsi-ops-sessions tbody tr")
    seen = {(r.get_attribute("data-user"), r.get_attribute("data-server")): r.get_attribute("data-phase")
            for r in rows.all()}
    assert seen[("alice", "")] == "running" and seen[("bob", "cpu")] == "running"
    alice_row = page.locator("tr[data-user=alice][data-server='']")
    assert alice_row.locator(".jsi-ops-job").inner_text() == hub.server("alice")["state"]["job_id"]
    assert "proj-" in alice_row.inner_text() and "(since" in alice_row.inner_text()
    assert page.locator(".jsi-ops-table").count() >= 2  # outside reservations, and the course reservation
    assert page.locator("#jsi-ops-link").is_visible()
    both_widths(page, "16-operators")
    # on a phone each session is a card whose Stop is in view: nothing wider than the screen
    page.set_viewport_size({"width": 390, "height": 844})
    stop = page.locator("tr[data-user=bob][data-server=cpu] .jsi-ops-stop").bounding_box()
    assert stop["x"] >= 0 and stop["x"] + stop["width"] <= 390, stop
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 900})

    # Stop leads to a page that shows the session and asks the reason bob will read
    page.click("tr[data-user=bob][data-server=cpu] .jsi-ops-stop")
    page.wait_for_selector("#jsi-ops-confirm")
    assert bob_job in page.inner_text("#jsi-ops-confirm-session")
    both_widths(page, "17-operators-stop-asks")
    page.click("#jsi-ops-confirm-stop")  # no reason: the browser's own check keeps the form
    assert page.locator("#jsi-ops-confirm").is_visible() and hub.server("bob", "cpu")["ready"]
    page.fill("#jsi-ops-reason", "node01 goes into maintenance at noon.")
    page.click("#jsi-ops-confirm-stop")
    page.wait_for_selector("#jsi-ops-stopped")
    assert "Stopped bob/cpu" in page.locator("#jsi-ops-stopped").inner_text()
    wait_for(lambda: not [j for j in squeue() if j["id"] == bob_job], 15, 0.2, what="bob's job to leave squeue")
    assert hub.server("bob", "cpu") is None and hub.server("alice")["ready"]
    shot(page, "17-operators-after-stop")

    # bob's card says who stopped it, and why
    mine = new_page()
    login(mine, "bob", "bob-demo")
    mine.goto(f"{HUB}/hub/home")
    ended = mine.locator("#jsi-card-cpu .jsi-last-end").inner_text()
    assert f"Your session (Slurm job {bob_job}) was stopped at " in ended
    assert ended.endswith("by the operator ops: node01 goes into maintenance at noon."), ended

    other = new_page()
    login(other, "alice", "alice-demo")
    response = other.goto(f"{HUB}/hub/sessions")
    assert response.status == 403
    assert other.locator("#jsi-ops-link").count() == 0
