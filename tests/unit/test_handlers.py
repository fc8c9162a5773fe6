"""What a job may send the hub is cleaned before it is kept, logged or shown."""

from jupyterhub_slurm_interactive.web.bodies import clean_text


def test_control_characters_and_escapes_are_removed():
    forged = "ok\r[I 2026-11-22 alice] forged\x1b[2K\x1b[1A\x1b]0;title\x07\x00\x7f\x9b end\n\tnext\u2028"
    assert clean_text(forged) == "ok[I 2026-11-22 alice] forged end\n\tnext"
    assert clean_text("line one\r\nline two\n") == "line one\nline two\n"
    assert clean_text("<script>") == "<script>"  # HTML is escaped where it is shown, not here


def test_a_start_for_a_running_session_lands_on_its_card():
    from jupyterhub_slurm_interactive.web.spawn_page import already_url
    assert already_url("/hub/", "", "running") == "/hub/home?already=running&session="
    assert already_url("/base/hub/", "gpu", "starting") == "/base/hub/home?already=starting&session=gpu"
