"""A real browser (Debian's Chromium, driven by Playwright) against the local stack."""

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from ..integration.conftest import HUB, HUB_CA_FILE, HUB_LOGIN, Hub, clean, hub, stack  # noqa: F401  (fixtures shared with the integration tests)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
#: The identity provider the hub sends people to (HUB_LOGIN=oidc: the compose stack).
IDP_URL = os.environ.get("IDP_URL", "")
#: Where the screenshots go; the compose leg, which runs beside the local suite, keeps its own.
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS") or Path(__file__).resolve().parents[2] / "test-artifacts" / "browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser(stack):
    """Module-scoped: Playwright's sync API keeps an event loop running while it is open,
    which the asyncio tests that run later must not find."""
    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium", pytrace=False)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as home, sync_playwright() as p:
        env = {**os.environ, "HOME": home}
        if HUB_CA_FILE:
            trust_ca(home, HUB_CA_FILE)
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, env=env)
        yield b
        b.close()


def trust_ca(home: str, ca_file: str):
    """Chromium on Linux trusts the CAs of the user's NSS database: a new one in a home of its own, holding the
    hub's CA only, so that the browser verifies the hub as a person's browser that trusts the site's CA does."""
    db = f"sql:{home}/.pki/nssdb"
    os.makedirs(f"{home}/.pki/nssdb", mode=0o700)
    subprocess.run(["certutil", "-d", db, "-N", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-d", db, "-A", "-n", "hub-ca", "-t", "C,,", "-i", ca_file], check=True,
                   capture_output=True)


@pytest.fixture
def new_page(browser):
    """A fresh browser context (no cookies) per call, like a new browser window."""
    contexts = []

    def make(width=1280, height=900):
        ctx = browser.new_context(viewport={"width": width, "height": height})
        ctx.set_default_timeout(30_000)
        contexts.append(ctx)
        return ctx.new_page()

    yield make
    for ctx in contexts:
        ctx.close()


def shot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def both_widths(page, name):
    """Screenshots at desktop width and at a phone's (NAME.png, NAME-phone.png); the page is left at desktop width."""
    shot(page, name)
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, f"{name}-phone")
    page.set_viewport_size({"width": 1280, "height": 900})


def fits_a_phone(page):
    """At a phone's width (390 px) the page is no wider than the screen; the page is left at desktop width."""
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 900})


def login(page, user, password, lands=True):
    if HUB_LOGIN == "oidc":  # the hub sends people to its provider's login page
        # (once: a second trip there before logging in replaces the hub's OAuth state, and the provider answers the
        # first, which the hub refuses as a mismatch)
        if not page.url.startswith(f"{IDP_URL}/oauth2/authorize"):
            page.goto(f"{HUB}/hub/login")
        provider_login(page, user, password)
    else:
        page.goto(f"{HUB}/hub/login")
        page.fill("#username_input", user)
        page.fill("#password_input", password)
        page.click("#login_submit")
    if lands:  # where the login lands (the form, a running session, the operators' view) has rendered
        page.wait_for_url(lambda url: url.startswith(HUB) and "/hub/login" not in url)
        page.wait_for_load_state()


def provider_login(page, user, password):
    """Fill and send the provider's login form (LemonLDAP::NG's portal), where the hub has sent the page."""
    page.wait_for_selector("#userfield")
    page.fill("#userfield", user)
    page.fill("#passwordfield", password)
    page.click("#lform button[type=submit]")
