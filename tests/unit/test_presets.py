"""Presets: the site's, checked as the hub starts and seen by their groups; each user's own, kept safely."""

import os
import stat

import pytest
from traitlets import TraitError

from jupyterhub_slurm_interactive.choice.presets import (
    MAX_OWN,
    Preset,
    PresetStore,
    clean_words,
    preset_values,
    site_presets,
    visible,
)

COURSE = {"title": "Course: 1 GPU for 2 h", "description": "In the course reservation",
          "values": {"reservation": "course", "gpus": 1, "hours": 2}, "groups": ["course"]}
QUICK = {"title": "Quick look", "values": {"cores": 1, "gpus": 0}}


def test_site_presets_and_who_sees_them():
    site = site_presets([COURSE, QUICK])
    assert site[0] == (Preset("Course: 1 GPU for 2 h", {"reservation": "course", "gpus": "1", "hours": "2"},
                              "In the course reservation"), ("course",))
    assert [p.title for p in visible(site, ["alice", "hpcusers", "course"])] == ["Course: 1 GPU for 2 h", "Quick look"]
    assert [p.title for p in visible(site, ["bob", "hpcusers"])] == ["Quick look"]


@pytest.mark.parametrize("entry, said", [
    ({"title": "x", "values": {"cores; rm -rf": 1}}, "is not a field of the form"),
    ({"title": "x", "values": {"account": "$(id)"}}, "is not a value the form holds"),
    ({"title": "x", "values": {"gpus": [1, 2]}}, "one value"),
    ({"title": "x", "values": {"gpus": True}}, "one value"),
    ({"title": "", "values": {"gpus": 1}}, "Give the preset title"),
    ({"title": "x" * 61, "values": {"gpus": 1}}, "at most 60 characters"),
    ({"title": "a\x1b[31mb", "values": {"gpus": 1}}, "control characters"),
    ({"title": "x", "values": {}}, "values must be an object"),
    ({"title": "x", "values": {"gpus": 1}, "groups": ["a b"]}, "groups must be a list"),
    ({"title": "x", "values": {"gpus": 1}, "colour": "red"}, "must be an object with"),
])
def test_a_bad_site_preset_stops_the_hub_naming_it(entry, said):
    from jupyterhub_slurm_interactive.spawner import InteractiveSlurmSpawner

    with pytest.raises(TraitError, match=r"InteractiveSlurmSpawner\.presets\[1\]: .*" if "must be an object with"
                       not in said else r"InteractiveSlurmSpawner\.presets\[1\] must be"):
        InteractiveSlurmSpawner(presets=[QUICK, entry])
    with pytest.raises(ValueError, match=said):
        site_presets([QUICK, entry])


def test_two_presets_of_one_title_are_refused():
    with pytest.raises(ValueError, match="given twice"):
        site_presets([QUICK, QUICK])


def test_titles_are_one_line():
    assert clean_words("  GPU   training\n 2 h ", "Title", 60) == "GPU training 2 h"
    assert preset_values({"memory": " 4000 ", "reservation": ""}) == {"memory": "4000", "reservation": ""}


def test_a_users_presets_are_kept_privately_and_replaced_by_title(tmp_path):
    store = PresetStore(str(tmp_path / "presets"))
    assert store.load("alice") == []
    store.save("alice", "GPU run", {"gpus": "1", "hours": "2"})
    store.save("alice", "GPU run", {"gpus": "2"})
    store.save("alice@example.org", "Mine", {"cores": "2"})  # any name JupyterHub allows is one file
    assert store.load("alice") == [Preset("GPU run", {"gpus": "2"}, own=True)]
    assert [p.title for p in store.load("alice@example.org")] == ["Mine"]
    assert stat.S_IMODE(os.stat(tmp_path / "presets").st_mode) == 0o700
    assert all(stat.S_IMODE(os.stat(tmp_path / "presets" / f).st_mode) == 0o600
               for f in os.listdir(tmp_path / "presets"))
    assert store.remove("alice", "GPU run") and not store.remove("alice", "GPU run")
    assert store.load("alice") == []


def test_at_most_ten_and_a_hand_edited_file_loses_only_what_is_not_a_preset(tmp_path):
    store = PresetStore(str(tmp_path))
    for i in range(MAX_OWN):
        store.save("bob", f"p{i}", {"cores": "1"})
    with pytest.raises(ValueError, match="the most you may keep"):
        store.save("bob", "one more", {"cores": "1"})
    store.save("bob", "p3", {"cores": "2"})  # replacing one is not one more
    (tmp_path / "bob.json").write_text('[{"title": "ok", "values": {"gpus": "1"}}, {"title": "bad", "values": '
                                       '{"x": "1"}}, 7, {"values": {}}]')
    assert [p.title for p in store.load("bob")] == ["ok"]
    (tmp_path / "bob.json").write_text("not json")
    assert store.load("bob") == []
