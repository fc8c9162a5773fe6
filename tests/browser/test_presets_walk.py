"""Presets where a user clicks them, in Chromium: one click fills the form (then checked as typed), the user's
choices saved as a preset and used again, and removed."""

import pytest

from ..integration.conftest import HUB
from ..integration.test_presets import COURSE, no_own_presets  # noqa: F401 (a fixture)
from .conftest import both_widths, fits_a_phone, login

pytestmark = pytest.mark.integration


def values(page) -> dict:
    return page.evaluate("""() => Object.fromEntries(["reservation", "account", "cores", "memory", "gpus", "hours"]
        .map(n => [n, document.getElementById("jsi-" + n).value]))""")


def test_a_preset_fills_the_form_and_ones_own_is_saved_and_used(new_page, hub, no_own_presets):  # noqa: F811
    page = new_page()
    login(page, "alice", "alice-demo")
    page.goto(f"{HUB}/hub/spawn")
    page.wait_for_selector("#jsi-presets:not([hidden])")
    page.get_by_role("button", name=COURSE, exact=True).click()
    assert values(page) == {"reservation": "course", "account": values(page)["account"], "cores": "2",
                            "memory": "4000", "gpus": "1", "hours": "2"}
    assert page.inner_text("#jsi-preset-said").startswith(f"Filled from \u201c{COURSE}\u201d")
    page.locator("#jsi-budget:not([hidden])").wait_for()
    both_widths(page, "59-form-preset-and-budget")
    fits_a_phone(page)

    # her own: a CPU session on proj-b, saved with Enter (which must not start anything)
    page.select_option("#jsi-reservation", "")
    page.select_option("#jsi-account", "proj-b")
    page.select_option("#jsi-gpus", "0")
    page.fill("#jsi-cores", "3")
    page.fill("#jsi-hours", "1")
    page.fill("#jsi-preset-title", "CPU analysis")
    page.press("#jsi-preset-title", "Enter")
    page.get_by_text("Saved \u201cCPU analysis\u201d").wait_for()
    assert "/hub/spawn" in page.url and hub.server("alice") is None  # nothing started
    # a size the form refuses is not kept, with the form's own sentence
    page.fill("#jsi-cores", "99")
    page.fill("#jsi-preset-title", "too big")
    page.click("#jsi-preset-save")
    page.get_by_text("Nothing was kept: The number of cores must be from 1 to 8").wait_for()
    shown = page.locator("#jsi-preset-save-said")
    assert "text-danger" in shown.get_attribute("class")
    both_widths(page, "60-form-preset-refused")

    # used again from a fresh page
    page.goto(f"{HUB}/hub/spawn")
    page.get_by_role("button", name="CPU analysis", exact=True).click()
    v = values(page)
    assert (v["reservation"], v["account"], v["cores"], v["gpus"], v["hours"]) == ("", "proj-b", "3", "0", "1")
    page.get_by_role("button", name="Remove the preset CPU analysis").click()
    page.get_by_text("Removed \u201cCPU analysis\u201d.").wait_for()
    assert page.get_by_role("button", name="CPU analysis", exact=True).count() == 0
