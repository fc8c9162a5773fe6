"""Small pure parts of the pages: the operators' reason and landing, and the form's address without its token."""

from types import SimpleNamespace

import pytest

from jupyterhub_slurm_interactive.web.operators import landing, stop_reason
from jupyterhub_slurm_interactive.web.spawn_page import without_xsrf


def test_no_address_carries_the_forms_token():
    assert without_xsrf("/hub/spawn?_xsrf=2%7Cabc") == "/hub/spawn"
    assert without_xsrf("/hub/spawn/alice/gpu?next=%2Fuser%2Falice%2Fgpu%2F&_xsrf=t") == \
        "/hub/spawn/alice/gpu?next=%2Fuser%2Falice%2Fgpu%2F"
    assert without_xsrf("/hub/spawn-pending/alice") == "/hub/spawn-pending/alice"


def test_an_operators_reason_is_one_line_of_at_most_300_characters():
    assert stop_reason("  node01\n goes\tinto maintenance\x1b[31m ") == "node01 goes into maintenance"
    with pytest.raises(ValueError, match="Give the reason"):
        stop_reason(" \n\t")
    with pytest.raises(ValueError, match="at most 300 characters; this one has 301"):
        stop_reason("x" * 301)


def test_an_administrator_with_no_session_of_their_own_lands_on_the_operators_view():
    def handler(admin, active=()):
        spawners = {name: SimpleNamespace(active=True) for name in active}
        user = SimpleNamespace(admin=admin, spawners=spawners)
        return SimpleNamespace(current_user=user, hub=SimpleNamespace(base_url="/hub/"))

    assert landing(handler(admin=True)) == "/hub/sessions"
    assert landing(handler(admin=True, active=["gpu"])) == ""  # their own session: where JupyterHub sends them
    assert landing(handler(admin=False)) == ""  # everyone else: the form, or their running session
    assert landing(SimpleNamespace(current_user=None, hub=SimpleNamespace(base_url="/hub/"))) == ""
