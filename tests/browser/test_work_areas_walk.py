"""Work areas in JupyterLab's file browser, in Chromium: the home's "areas" folder leads to the project's work
area and the user's scratch, without the user making a link."""

import pytest

from ..integration.conftest import HUB
from .conftest import both_widths, login

pytestmark = pytest.mark.integration


def test_the_file_browser_leads_to_the_work_areas(new_page, hub, clean):
    assert hub.start("alice", {"account": "proj-b", "cores": 1, "memory": 500, "gpus": 0}).status_code in (201, 202)
    hub.wait_ready("alice")
    page = new_page()
    login(page, "alice", "alice-demo")
    page.goto(f"{HUB}/user/alice/lab/tree/areas")
    listing = page.locator(".jp-DirListing-content")
    listing.get_by_text("work-proj-b", exact=True).wait_for(timeout=120_000)
    assert listing.get_by_text("scratch", exact=True).count() == 1
    both_widths(page, "61-lab-work-areas")
    listing.get_by_text("work-proj-b", exact=True).dblclick()
    page.locator(".jp-FileBrowser-crumbs").get_by_text("work-proj-b").wait_for()
