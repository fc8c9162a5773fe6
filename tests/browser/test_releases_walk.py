"""What a user finds in each interface of a release, clicked through in Chromium."""

import json
import re

from ..integration.conftest import release_manifest, release_names
from .conftest import HUB, login, shot


def newest_release() -> dict:
    return release_manifest(release_names()[0])


def start_from_the_form(page, release: str, ui: str, width: int = 1280):
    login(page, "alice", "alice-demo")
    page.wait_for_url(re.compile(r".*/hub/spawn.*"))
    page.select_option("#jsi-release", release)
    # the interfaces follow the release chosen
    offered = page.locator("#jsi-ui option").evaluate_all("options => options.map(o => o.value)")
    assert ui in offered, offered
    page.select_option("#jsi-ui", ui)
    page.click("#spawn_form button[type=submit]")
    page.wait_for_url(re.compile(r".*/(spawn-pending|user)/alice.*"))


def test_the_launcher_shows_the_kernels_and_tools_and_the_dashboard_opens(new_page, hub, clean):
    release = newest_release()
    page = new_page()
    start_from_the_form(page, release["name"], "lab")
    page.wait_for_selector("#jp-main-dock-panel", timeout=90_000)
    # what JupyterLab restored of earlier sessions (open tabs and panels) is put aside
    page.goto(f"{HUB}/user/alice/lab?reset")
    page.wait_for_selector(".jp-Launcher", timeout=60_000)
    labels = [t.strip() for t in page.locator(".jp-LauncherCard-label").all_inner_texts()]
    for kernel in release["kernels"]:
        assert kernel["display_name"] in labels, (kernel, labels)
    assert "Terminal" in labels
    assert any(label.startswith("VS Code") for label in labels), labels
    # (a tool that opens in a window of its own is labelled "NAME [↗]")
    assert any(label.startswith("Desktop") for label in labels) == ("desktop" in release["interfaces"]), labels
    assert "Slurm Dashboard" in labels
    page.wait_for_timeout(1000)
    shot(page, "11-launcher")

    # the resources dashboard: CPU and memory charts (GPUs where NVML exists)
    page.click(".jp-SideBar .lm-TabBar-tab[title='GPU Dashboards']")
    # the site's default (once a second), not the extension's ten times a second
    assert re.search(r"updated\s+every\s+1000\s*ms", page.locator("#gpu-dashboard").inner_text(), re.I)
    page.locator(".gpu-dashboard-button:visible", has_text="Machine Resources").first.click()
    widget = page.locator("#machine-resource-widget")
    widget.wait_for(state="visible")
    assert re.search(r"cpu utilization", widget.inner_text(), re.I)
    assert re.search(r"memory usage", widget.inner_text(), re.I)
    page.wait_for_timeout(2500)  # a few points plotted
    assert widget.locator("svg").count() > 0
    shot(page, "12-dashboard")


def test_vscode_opens_the_workbench(new_page, hub, clean):
    release = newest_release()
    assert "vscode" in release["interfaces"]
    page = new_page()
    start_from_the_form(page, release["name"], "vscode")
    page.wait_for_selector(".monaco-workbench", timeout=120_000)
    assert re.search(r"/user/alice/vscode/", page.url)
    # the user's own home opens trusted: its files listed, no "Do you trust the authors" dialog, no
    # Restricted Mode (releases_vscode_workspace_trust)
    page.wait_for_selector(".explorer-folders-view .monaco-list-row", timeout=60_000)
    assert page.locator(".monaco-dialog-box").count() == 0
    assert page.get_by_text("Do you trust the authors").count() == 0
    assert page.get_by_text("Restricted Mode").count() == 0
    shot(page, "13-vscode")


def test_notebook_opens_notebook_7(new_page, hub, clean):
    release = newest_release()
    page = new_page()
    start_from_the_form(page, release["name"], "notebook")
    page.wait_for_selector("#main-panel", timeout=90_000)
    assert re.search(r"/user/alice/tree", page.url)
    config = json.loads(page.locator("#jupyter-config-data").text_content())
    assert config["appName"] == "Jupyter Notebook" and config["appVersion"].startswith("7.")
    page.wait_for_timeout(1000)
    shot(page, "14-notebook")


def test_the_form_shows_what_each_release_has(new_page, hub, clean):
    release = newest_release()
    for width, name in ((1280, "15-release-tools"), (390, "16-release-tools-phone")):
        page = new_page(width=width)
        login(page, "alice", "alice-demo")
        page.wait_for_url(re.compile(r".*/hub/spawn.*"))
        details = page.locator(f".jsi-release-tools[data-release='{release['name']}']")
        details.locator("summary").click()
        text = details.inner_text()
        for kernel in release["kernels"]:
            assert kernel["display_name"] in text
        assert f"jupyterlab {release['packages']['jupyterlab']}" in text
        assert "VS Code" in text
        shot(page, name)
