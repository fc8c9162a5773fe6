"""The project's budget on the form, in Chromium: it follows the chosen account, and warns before a size that
Slurm would hold for the budget."""

import pytest

from ..integration.conftest import HUB
from ..integration.test_budget import gpu_budget, sshare_line
from .conftest import both_widths, fits_a_phone, login

pytestmark = pytest.mark.integration


def test_the_budget_follows_the_account_and_warns(new_page, hub, clean):
    page = new_page()
    login(page, "alice", "alice-demo")
    page.goto(f"{HUB}/hub/spawn")
    page.wait_for_selector("#jsi-budget:not([hidden])")
    page.select_option("#jsi-account", "proj-a")
    page.wait_for_function("() => document.querySelector('#jsi-budget .jsi-budget-title').textContent"
                           " === 'Budget of proj-a'")
    page.select_option("#jsi-account", "proj-b")
    page.wait_for_function("() => document.querySelector('#jsi-budget .jsi-budget-title').textContent"
                           " === 'Budget of proj-b'")
    lines = page.locator("#jsi-budget .jsi-budget-line").all_inner_texts()
    assert lines[0].split(" used")[0].endswith("of 1,000 CPU-hours") and "of 100 GPU-hours" in lines[1], lines

    line = sshare_line("proj-b")
    with gpu_budget("proj-b", int(line["used"]["gres/gpu"] + line["running"]["gres/gpu"]) + 100):
        page.select_option("#jsi-gpus", "2")
        page.fill("#jsi-hours", "2")
        warning = page.locator("#jsi-budget-warning:not([hidden])")
        warning.wait_for(timeout=30_000)
        assert "Slurm would hold it in the queue (AssocGrpGRESMinutes)" in warning.inner_text()
        both_widths(page, "58-form-budget-warning")
        fits_a_phone(page)
        # a size within the budget: the warning goes
        page.select_option("#jsi-gpus", "1")
        page.fill("#jsi-hours", "1")
        page.locator("#jsi-budget-warning").wait_for(state="hidden", timeout=30_000)
