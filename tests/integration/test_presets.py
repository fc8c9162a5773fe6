"""Presets through the real hub: the site's seen by their groups, a user's own kept, and every hostile value
refused with the very sentence the form gives when it is typed."""

import pytest
import requests

from .conftest import HUB, Browser

pytestmark = pytest.mark.integration

COURSE, QUICK = "Course: 1 GPU for 2 h", "Quick look: 1 core, no GPU, 1 h"


def presets_api(hub, user, method="GET", body=None, title="", as_user=None):
    url = f"{HUB}/hub/api/slurm-interactive/users/{user}/presets" + (f"/{requests.utils.quote(title, safe='')}"
                                                                     if title else "")
    return requests.request(method, url, json=body, timeout=60,
                            headers={"Authorization": f"token {hub.user_token(as_user or user)}"})


@pytest.fixture
def no_own_presets(hub):
    def clear():
        for user in ("alice", "bob"):
            for p in presets_api(hub, user).json()["presets"]:
                if p["own"]:
                    assert presets_api(hub, user, "DELETE", title=p["title"]).status_code == 204
    clear()
    yield
    clear()


def test_the_sites_presets_are_seen_by_their_groups(hub, no_own_presets):
    alice = [p["title"] for p in presets_api(hub, "alice").json()["presets"]]
    bob = [p["title"] for p in presets_api(hub, "bob").json()["presets"]]
    assert alice == [COURSE, QUICK] and bob == [QUICK]  # the course's preset for the course group only
    assert presets_api(hub, "alice", as_user="bob").status_code == 403  # nor anyone else's list
    form = Browser("alice").form().text
    assert COURSE in form and "In the course reservation" in form and 'id="jsi-save-preset"' in form


def test_a_users_own_preset_is_kept_checked_and_removed(hub, no_own_presets):
    r = presets_api(hub, "alice", "POST", {"title": "  GPU training,\n 2 h ", "values": {
        "account": "proj-b", "cores": "2", "memory": "03000", "gpus": "2", "hours": "2"}})
    assert r.status_code == 201, r.text
    # as the start's check wrote them (03000 is 3000), under a one-line title
    assert r.json() == {"title": "GPU training, 2 h", "description": "", "own": True,
                        "values": {"account": "proj-b", "cores": "2", "memory": "3000", "gpus": "2", "hours": "2"}}
    assert [p["title"] for p in presets_api(hub, "alice").json()["presets"]][-1] == "GPU training, 2 h"
    # the page escapes what a title holds
    tag = "<img src=x onerror=alert(1)>"
    assert presets_api(hub, "alice", "POST", {"title": tag, "values": {"gpus": "1"}}).status_code == 201
    form = Browser("alice").form().text
    assert tag not in form and "&lt;img src=x onerror=alert(1)&gt;" in form
    assert presets_api(hub, "alice", "DELETE", title="GPU training, 2 h").status_code == 204
    assert presets_api(hub, "alice", "DELETE", title="GPU training, 2 h").status_code == 404
    assert presets_api(hub, "bob", "DELETE", title=tag, as_user="bob").status_code == 404  # alice's stays hers


@pytest.mark.parametrize("values, field", [
    ({"cores": "999"}, "cores"), ({"memory": "1000000000"}, "memory"), ({"hours": "0"}, "hours"),
    ({"account": "root"}, "account"), ({"release": "../../etc"}, "release"), ({"gpus": "x"}, "gpus"),
])
def test_hostile_values_are_refused_as_typed_ones_are(hub, no_own_presets, values, field):
    alice = Browser("alice")
    r = presets_api(hub, "alice", "POST", {"title": "hostile", "values": values})
    assert r.status_code == 400 and r.json()["field"] == field, r.text
    typed = alice.submit({"cores": "1", "memory": "500", "gpus": "0", "hours": "1", **values})
    # the same sentence the form shows by the field when the value is typed and sent
    assert r.json()["message"].removeprefix("Nothing was kept: ") in typed.text.replace("&#39;", "'"), r.text
    assert "hostile" not in [p["title"] for p in presets_api(hub, "alice").json()["presets"]]


def test_a_preset_of_a_reservation_one_may_not_use_is_refused(hub, no_own_presets):
    r = presets_api(hub, "bob", "POST", {"title": "theirs", "values": {"reservation": "course"}})
    assert r.status_code == 400 and r.json()["field"] == "reservation", r.text
    for body in ({"title": "x"}, {"title": "x", "values": {"gpus": "1"}, "extra": 1}, {"title": 7, "values": {}},
                 {"title": "y" * 61, "values": {"gpus": "1"}}):
        assert presets_api(hub, "bob", "POST", body).status_code == 400, body
