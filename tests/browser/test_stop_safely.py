"""No click loses work: Stop asks first, the open JupyterLab tab saves its documents before the job is
cancelled and says who stopped the session and why (the user's own Stop, an operator's with a reason),
and two named sessions do not reopen each other's tabs. Chromium against the local stack."""

import os
import pwd

import pytest

from ..integration.conftest import sh, squeue, wait_for
from .conftest import HUB, login, shot

pytestmark = pytest.mark.integration


def write_as(user: str, path: str, text: str):
    """A file in the user's home, owned by them, as they would have made it."""
    with open(path, "w") as f:
        f.write(text)
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def edit_unsaved(page, user: str, server: str, name: str, text: str):
    """Open the user's file in JupyterLab and type ``text`` at its end, without saving; return once the tab
    has looked for a word of a stop (it does as soon as JupyterLab is up, then every few seconds)."""
    base = f"{HUB}/user/{user}/{server + '/' if server else ''}"
    with page.expect_response(lambda r: "/slurm-interactive/stopping?tab=" in r.url and r.status == 200,
                              timeout=90_000):
        page.goto(f"{base}lab/tree/{name}")
    editor = page.locator(".jp-FileEditor .cm-content")
    editor.wait_for(timeout=90_000)
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.type(text)
    # JupyterLab marks the tab as changed and not saved
    page.wait_for_selector(".jp-mod-dirty", timeout=10_000)


def stopped_dialog(page) -> str:
    dialog = page.locator(".jp-Dialog", has_text="Your session is being stopped")
    dialog.wait_for(timeout=30_000)
    return dialog.inner_text()


def test_stop_from_my_sessions_saves_the_open_document_first(new_page, hub, clean):
    path = "/home/alice/stop-safely.txt"
    write_as("alice", path, "first line\n")
    assert hub.start("alice", {"ui": "lab"}).status_code in (201, 202)
    hub.wait_ready("alice")
    job = hub.server("alice")["state"]["job_id"]
    lab = new_page()
    login(lab, "alice", "alice-demo")
    edit_unsaved(lab, "alice", "", "stop-safely.txt", "typed, never saved by hand")
    shot(lab, "50-lab-unsaved")
    assert "typed" not in open(path).read()

    home = lab.context.new_page()
    home.goto(f"{HUB}/hub/home")
    card = home.locator("#jsi-card-default")
    card.locator(".jsi-stop").click()
    card.locator(".jsi-stop-confirmed").click()
    text = stopped_dialog(lab)
    assert "being stopped from the Hub Control Panel" in text and "saved first" in text, text
    shot(lab, "51-lab-stopped-saved")
    wait_for(lambda: not [j for j in squeue() if j["id"] == job], 30, 0.2, what="the job to leave squeue")
    assert open(path).read().rstrip("\n").endswith("typed, never saved by hand")
    sh("rm", "-f", path)


def test_an_operators_stop_reaches_the_open_tab_with_who_and_why(new_page, hub, clean):
    path = "/home/bob/notes.txt"
    write_as("bob", path, "notes\n")
    assert hub.start("bob", {"ui": "lab", "gpus": 0}, server="cpu").status_code in (201, 202)
    hub.wait_ready("bob", server="cpu")
    lab = new_page()
    login(lab, "bob", "bob-demo")
    edit_unsaved(lab, "bob", "cpu", "notes.txt", "more notes")

    ops = new_page()
    login(ops, "ops", "ops-demo")
    ops.goto(f"{HUB}/hub/sessions/stop?user=bob&server=cpu")
    ops.fill("#jsi-ops-reason", "The GPU nodes are drained for a firmware update.")
    ops.click("#jsi-ops-confirm-stop")
    ops.wait_for_selector("#jsi-ops-stopped")
    text = stopped_dialog(lab)
    assert ("being stopped by the operator ops: The GPU nodes are drained for a firmware update. Your open "
            "documents were saved first.") in text, text
    shot(lab, "52-lab-stopped-by-operator")
    lab.set_viewport_size({"width": 390, "height": 844})
    shot(lab, "52-lab-stopped-by-operator-phone")
    assert open(path).read().rstrip("\n").endswith("more notes")
    sh("rm", "-f", path)


def test_named_sessions_open_workspaces_of_their_own(new_page, hub, clean):
    sh("rm", "-rf", "/home/alice/.jupyter/lab/workspaces")  # JupyterLab's saved workspaces: none yet
    assert hub.start("alice", {"ui": "lab", "gpus": 0}, server="one").status_code in (201, 202)
    assert hub.start("alice", {"ui": "lab", "gpus": 0}, server="two").status_code in (201, 202)
    hub.wait_ready("alice", server="one")
    hub.wait_ready("alice", server="two")
    page = new_page()
    login(page, "alice", "alice-demo")
    page.goto(f"{HUB}/user/alice/one/")
    page.wait_for_selector("#jp-main-dock-panel", timeout=90_000)
    assert "/user/alice/one/lab/workspaces/one" in page.url
    # a terminal opened in "one", and the workspace "one" saved with it ...
    with page.expect_response(lambda r: "/lab/api/workspaces/one" in r.url and r.request.method == "PUT",
                              timeout=30_000):
        page.locator(".jp-Launcher .jp-LauncherCard", has_text="Terminal").first.click()
        page.wait_for_selector(".jp-Terminal", timeout=30_000)
    # ... is not reopened by "two", which opens its own workspace: a launcher, no terminal
    other = page.context.new_page()
    other.goto(f"{HUB}/user/alice/two/")
    other.wait_for_selector(".jp-Launcher", timeout=90_000)
    assert "/user/alice/two/lab/workspaces/two" in other.url
    assert other.locator(".jp-Terminal").count() == 0
    shot(other, "53-second-named-session")
