"""Work areas: a session finds its owner's projects' work areas and scratch in the home's "areas" folder,
reachable from JupyterLab's file browser (the server's contents API), with the owners and modes the site gave."""

import os
import stat

import pytest
import requests

from .conftest import HUB, wait_for

pytestmark = pytest.mark.integration


def contents(hub, user, path, method="GET", **kw):
    return requests.request(method, f"{HUB}/user/{user}/api/contents/{path}", timeout=30,
                            headers={"Authorization": f"token {hub.user_token(user)}"}, **kw)


def test_a_session_reaches_its_work_areas_from_the_file_browser(hub, clean):
    assert hub.start("alice", {"account": "proj-b", "cores": 1, "memory": 500, "gpus": 0}).status_code in (201, 202)
    hub.wait_ready("alice")
    listing = wait_for(lambda: contents(hub, "alice", "areas").json().get("content"), 30, 0.5,
                       what="the areas folder")
    assert sorted(item["name"] for item in listing) == ["scratch", "work-proj-a", "work-proj-b"]  # all her projects
    # the project's area: written from alice's session, group-owned by the project, seen by its other member
    r = contents(hub, "alice", "areas/work-proj-b/results.txt", "PUT",
                 json={"type": "file", "format": "text", "content": "from alice's session\n"})
    assert r.status_code in (200, 201), r.text
    written = "/work/proj-b/results.txt"
    assert os.stat("/work/proj-b").st_mode & 0o7777 == 0o2770
    assert os.stat(written).st_gid == os.stat("/work/proj-b").st_gid  # setgid: the project's file
    assert stat.S_IMODE(os.stat("/scratch/alice").st_mode) == 0o700
    assert os.readlink("/home/alice/areas/scratch") == "/scratch/alice"
    os.unlink(written)


def test_no_link_where_the_user_may_not_go(hub, clean):
    # crowd01 charges proj-b but is not of its Unix group, and has no scratch: nothing to link, no folder made
    hub.ensure_user("crowd01")
    try:
        assert hub.start("crowd01", {"cores": 1, "memory": 500, "gpus": 0}).status_code in (201, 202)
        hub.wait_ready("crowd01")
        assert contents(hub, "crowd01", "").status_code == 200
        assert contents(hub, "crowd01", "areas").status_code == 404
        assert not os.path.lexists("/home/crowd01/areas")
    finally:
        hub.stop("crowd01")
