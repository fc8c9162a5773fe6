"""The site's identity in the compose stack: people live in the directory (service ldap), which every host
resolves them from, and log in through the OpenID Connect provider over it (service idp, LemonLDAP::NG).
Run by `make compose-test`, in Chromium where a person would click."""

import os
import re

import pytest

from ..browser.conftest import ARTIFACTS, CHROMIUM_ARGS, both_widths, browser, new_page, provider_login, shot  # noqa: F401
from ..integration.conftest import HUB, Browser, clean, hub, scontrol_job, sh, squeue, stack, wait_for  # noqa: F401
from .test_compose import compose_stack, in_container  # noqa: F401

pytestmark = pytest.mark.integration

IDP = os.environ.get("IDP_URL", "")
BASE = "dc=cluster,dc=example"
REFRESH_AGE = 30  # hub_auth_refresh_age in ansible/inventory/compose.yml


def ldap_modify(ldif: str):
    """Change the directory as its administrator does (root on the directory's host, over ldapi:///)."""
    proc = in_container("ldap", "sh", "-c", f"printf '%s' '{ldif}' | ldapmodify -Q -Y EXTERNAL -H ldapi:///")
    assert proc.returncode == 0, proc.stderr


def group_member(group: str, user: str, present: bool):
    ldap_modify(f"dn: cn={group},ou=groups,{BASE}\nchangetype: modify\n{'add' if present else 'delete'}: memberUid\n"
                f"memberUid: {user}\n")


def test_every_host_resolves_the_people_from_the_directory_with_the_same_ids():
    for host in ("hub", "slurmctld", "node01", "node02"):
        assert in_container(host, "getent", "passwd", "alice").stdout.split(":")[2:4] == ["2001", "2001"], host
        assert in_container(host, "id", "-nG", "alice").stdout.split() == ["alice", "hpcusers", "proj-a", "proj-b",
                                                                          "course"], host
        # and none of them has a local copy: the directory is the only source
        assert in_container(host, "grep", "-c", "^alice:", "/etc/passwd").stdout.strip() == "0", host
    assert in_container("hub", "getent", "passwd", "dave").returncode == 2  # the provider knows dave; the cluster does not


def test_alice_logs_in_at_the_provider_and_her_session_runs_as_her_uid_from_the_directory(new_page, hub, clean):
    page = new_page()
    page.goto(f"{HUB}/hub/spawn")
    page.wait_for_selector("#userfield")  # sent to the provider's own login page
    assert page.url.startswith(f"{IDP}/oauth2/authorize"), page.url
    assert "code_challenge=" in page.url  # authorization code with PKCE
    both_widths(page, "70-provider-login")
    provider_login(page, "alice", "alice-demo")
    page.wait_for_url(re.compile(r".*/hub/spawn.*"))
    page.wait_for_selector("#availability")
    page.select_option("#jsi-account", "proj-b")
    page.fill("#jsi-cores", "1")
    page.fill("#jsi-memory", "1000")
    page.select_option("#jsi-gpus", "0")
    page.click("#spawn_form button[type=submit]")
    page.wait_for_url(re.compile(r".*/user/alice/lab.*"), timeout=180_000)
    job = scontrol_job(hub.server("alice")["state"]["job_id"])
    assert job["UserId"] == "alice(2001)" and job["Account"] == "proj-b", job
    node = job["NodeList"]
    assert in_container(node, "pgrep", "-u", "2001", "-f", "jupyterhub-singleuser").returncode == 0
    # Stop, from the Control Panel
    page.goto(f"{HUB}/hub/home")
    card = page.locator("#jsi-card-default")
    card.locator(".jsi-stop").click()
    card.locator(".jsi-stop-confirmed").click()
    wait_for(lambda: not [j for j in squeue() if j["user"] == "alice"], 60, 1, what="alice's job to end")


def test_someone_outside_the_users_group_or_the_cluster_is_refused_in_a_sentence(new_page, hub):
    page = new_page()
    page.goto(f"{HUB}/hub/home")
    provider_login(page, "carol", "carol-demo")
    page.wait_for_selector("text=not in the group hpcusers")
    text = page.inner_text("body")
    assert "403" in text and "carol signed in, but is not in the group hpcusers of people who may use this service" in text
    assert "Traceback" not in text and "500" not in text
    both_widths(page, "71-refused-not-in-hpcusers")
    page = new_page()
    page.goto(f"{HUB}/hub/home")
    provider_login(page, "dave", "dave-demo")
    page.wait_for_selector("text=has no account on this cluster")
    assert "dave signed in, but has no account on this cluster" in page.inner_text("body")
    shot(page, "72-refused-no-account")
    assert not hub.api("GET", "/users/carol").ok or not hub.api("GET", "/users/carol").json().get("servers")
    assert not [j for j in squeue() if j["user"] in ("carol", "dave")]


def test_someone_taken_out_of_the_group_is_refused_at_their_first_request_after_the_refresh_age(new_page, hub):
    page = new_page()
    page.goto(f"{HUB}/hub/home")
    provider_login(page, "alice", "alice-demo")
    page.wait_for_url(re.compile(r".*/hub/(home|spawn).*"))
    group_member("hpcusers", "alice", present=False)
    try:
        # within the refresh age her login still stands; after it, her next page asks the provider again
        assert page.goto(f"{HUB}/hub/home").status == 200

        def refused():
            response = page.goto(f"{HUB}/hub/home")
            return response.status == 403 and "not in the group hpcusers" in page.inner_text("body")

        wait_for(refused, REFRESH_AGE + 60, 2, what="alice's first page after the refresh age to be refused")
        text = page.inner_text("body")
        assert "alice signed in, but is not in the group hpcusers" in text and "Traceback" not in text
        both_widths(page, "74-refused-after-leaving-the-group")
    finally:
        group_member("hpcusers", "alice", present=True)
    # back in the group, she is let in again
    assert Browser("alice").logged_in


def test_after_logout_the_provider_asks_for_the_password_again(new_page, hub):
    page = new_page()
    page.goto(f"{HUB}/hub/home")
    provider_login(page, "bob", "bob-demo")
    page.wait_for_url(re.compile(r".*/hub/(home|spawn).*"))
    page.goto(f"{HUB}/hub/logout")
    # the provider's session ends too: back at the hub, the provider asks for the password, not just a click
    page.wait_for_load_state()
    if page.locator("#lform").count() == 0 and page.locator("form").count():  # a provider asking to confirm
        page.locator("form button[type=submit]").first.click()
        page.wait_for_load_state()
    page.goto(f"{HUB}/hub/home")
    page.wait_for_selector("#passwordfield")
    assert page.url.startswith(IDP), page.url
    shot(page, "73-after-logout")


def test_slurm_follows_the_directory(hub):
    """bob leaves proj-b's group: the sync takes the account from him, and gives it back when he returns."""
    sync = ["/opt/jupyterhub/venv/bin/slurm-interactive-sync-accounts", "--account", "proj-a", "--account", "proj-b"]

    def accounts(user):
        return set(sh("sacctmgr", "-nP", "show", "assoc", f"user={user}", "format=account").stdout.split())

    assert accounts("bob") == {"proj-b"}
    group_member("proj-b", "bob", present=False)
    try:
        dry = in_container("hub", *sync, "--dry-run")
        assert dry.returncode == 0 and dry.stdout.strip() == "would remove bob from proj-b", dry.stdout
        assert accounts("bob") == {"proj-b"}
        assert in_container("hub", *sync).stdout.strip() == "remove bob from proj-b"
        assert accounts("bob") == set()
    finally:
        group_member("proj-b", "bob", present=True)
    assert in_container("hub", *sync).stdout.strip() == "add bob to proj-b"
    assert accounts("bob") == {"proj-b"}
    assert "nothing to change" in in_container("hub", *sync).stdout
