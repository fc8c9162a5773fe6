"""True words, and no token in an address: numbers out of bounds are refused for the real reason, by the
same check before and after sending (a request no node could ever hold is never promised a wait: its
sentences are test_availability's); a refused form and the progress page after it carry no XSRF token in
their address. Chromium, desktop and phone width."""

from urllib.parse import urlsplit

import pytest

from ..integration.conftest import squeue
from .conftest import both_widths, login

pytestmark = pytest.mark.integration

#: Whether a <select> shows its chosen option whole: the option's text, measured in the field's font, and the
#: field's padding (where the arrow is) fit in its width.
FITS = """e => {
  const style = getComputedStyle(e), ctx = document.createElement("canvas").getContext("2d");
  ctx.font = style.font;
  const text = ctx.measureText(e.options[e.selectedIndex].text).width;
  return text + parseFloat(style.paddingLeft) + parseFloat(style.paddingRight) <= e.clientWidth;
}"""


def test_impossible_numbers_are_refused_for_the_real_reason_before_and_after_sending(new_page, hub, clean):
    page = new_page()
    login(page, "bob", "bob-demo")
    page.wait_for_selector("#jsi-memory")
    # before sending: the server's own check, beside the field, as one types
    page.fill("#jsi-memory", "1000000000")
    page.wait_for_selector("#jsi-memory-error:has-text('the most a node has')")
    memory_error = page.inner_text("#jsi-memory-error")
    assert memory_error == ("Memory must be from 100 to 30,000 MB (30,000 is the most a node has); "
                            "you asked for 1,000,000,000.")
    assert page.get_attribute("#jsi-memory", "aria-invalid") == "true"
    assert "wait in the queue" not in page.inner_text("#jsi-fit-warning")  # no promise of a wait
    page.fill("#jsi-cores", "0")
    page.wait_for_selector("#jsi-cores-error:has-text('you asked for 0')")
    page.fill("#jsi-hours", "99")
    page.wait_for_selector("#jsi-hours-error:has-text('the longest a session may run')")
    both_widths(page, "54-form-true-words")
    # at a phone's width too, every header of the free table keeps its unit, and the release's name is whole
    page.set_viewport_size({"width": 390, "height": 844})
    headers = page.locator("#availability thead th").all_inner_texts()
    assert [" ".join(h.split()) for h in headers] == ["Free GPUs per node", "Nodes", "Free cores", "Free memory (MB)",
                                                      "Most free on one node (MB)"]
    assert page.locator("#jsi-release").evaluate(FITS), "the release's name is cut on a phone"
    page.set_viewport_size({"width": 1280, "height": 900})
    assert page.locator("#jsi-release").evaluate(FITS), "the release's name is cut"
    # after sending: the same sentences, nothing submitted, and no token in the address
    page.click("#spawn_form button[type=submit]")
    page.wait_for_selector("#jsi-errors")
    assert page.inner_text("#jsi-memory-error") == memory_error
    assert "_xsrf" not in page.url and urlsplit(page.url).path == "/hub/spawn"
    assert not [j for j in squeue() if j["user"] == "bob"]
    # fixed, sent again: the progress page's address carries no token either
    page.fill("#jsi-memory", "1000")
    page.fill("#jsi-cores", "1")
    page.fill("#jsi-hours", "1")
    page.wait_for_selector("#jsi-memory-error:empty", state="attached")
    page.click("#spawn_form button[type=submit]")
    page.wait_for_url(lambda url: "/spawn-pending/" in url or "/user/bob/" in url, timeout=60_000)
    assert "_xsrf" not in page.url
    hub.wait_ready("bob")

