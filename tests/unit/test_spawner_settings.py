"""The site's settings that depend on each other, checked on the spawner class itself (no hub)."""

import pytest
from traitlets import TraitError
from traitlets.config import Config

from jupyterhub_slurm_interactive.spawner import InteractiveSlurmSpawner


def make(**settings):
    config = Config()
    for key, value in settings.items():
        owner, _, name = key.rpartition("__")
        setattr(config[owner or "InteractiveSlurmSpawner"], name, value)
    return InteractiveSlurmSpawner(config=config)


def test_a_session_may_wait_hours_and_jupyterhub_never_gives_up_first():
    spawner = make()
    assert spawner.pending_timeout == 4 * 3600
    assert spawner.start_timeout == spawner.pending_timeout + spawner.http_timeout + 60


def test_start_timeout_follows_pending_timeout_whatever_the_site_sets():
    spawner = make(Spawner__start_timeout=600, pending_timeout=7200, Spawner__http_timeout=120)
    assert spawner.start_timeout == 7200 + 120 + 60
    spawner.pending_timeout = 60
    assert spawner.start_timeout == 60 + 120 + 60


@pytest.mark.parametrize("bad", [0, -5])
def test_a_pending_timeout_that_is_not_positive_stops_the_hub_naming_the_setting(bad):
    with pytest.raises(TraitError, match="InteractiveSlurmSpawner.pending_timeout must be a positive number"):
        make(pending_timeout=bad)


def test_add_time_steps_are_minutes_each_once_in_order():
    assert make().extend_steps == [30, 60]
    assert make(extend_steps=[60, 15, 60]).extend_steps == [15, 60]
    assert make(extend_steps=[]).time_environment() == {"JUPYTERHUB_SLURM_ADD_TIME": ""}
    assert make(max_total_hours=10).time_policy().max_total_minutes == 600


@pytest.mark.parametrize("bad", [[0], [30, 10081], [-30]])
def test_add_time_steps_out_of_bounds_stop_the_hub_naming_the_setting(bad):
    with pytest.raises(TraitError, match="InteractiveSlurmSpawner.extend_steps must be minutes from 1 to 10080"):
        make(extend_steps=bad)


def test_work_areas_are_plain_paths_with_only_user_and_account_filled_in():
    areas = [{"name": "work-{account}", "path": "/work/{account}"}, {"name": "scratch", "path": "/scratch/{user}"}]
    assert make(work_areas=areas).work_areas == areas


@pytest.mark.parametrize("area", [
    {"name": "w", "path": "work"}, {"name": "w", "path": "/work/../etc"}, {"name": "../w", "path": "/work"},
    {"name": ".hidden", "path": "/work"}, {"name": "w", "path": "/work/$(id)"}, {"name": "w", "path": "/w/{home}"},
    {"name": "w", "path": "/w/{user"}, {"name": "w"}, {"name": "w", "path": "/w", "mode": "777"},
])
def test_a_bad_work_area_stops_the_hub_naming_it(area):
    with pytest.raises(TraitError, match=r"InteractiveSlurmSpawner\.work_areas\[0\]"):
        make(work_areas=[area])
    with pytest.raises(TraitError, match="work_areas"):  # not even an object: traitlets' own message
        make(work_areas=["/work"])


@pytest.mark.parametrize("folder", ["", ".areas", "a/b", "..", "{user}"])
def test_the_folder_of_the_links_is_one_plain_visible_name(folder):
    with pytest.raises(TraitError, match="work_areas_dir must be one plain folder name"):
        make(work_areas_dir=folder)


@pytest.mark.parametrize("good", ["", "{user}@example.org", "hpc-{user}", "{user}"])
def test_where_slurms_mail_goes(good):
    assert make(mail_user=good).mail_user == good


@pytest.mark.parametrize("bad", ["{user}@example.org,root", "a b@x", "{home}@x", "{account}@x", "x@y@z", "$(id)"])
def test_a_mail_address_that_is_not_one_stops_the_hub(bad):
    with pytest.raises(TraitError, match="mail_user must be an address"):
        make(mail_user=bad)
