"""The hub's database brought to the installed JupyterHub's schema before the hub starts (ops.database), on
real SQLite files made by JupyterHub's own models and migrations."""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest
from jupyterhub import orm
from jupyterhub.dbutil import _temp_alembic_ini

from jupyterhub_slurm_interactive.ops import database


def _downgrade(url: str, revision: str) -> None:
    with _temp_alembic_ini(url) as ini:
        subprocess.run([os.path.join(os.path.dirname(sys.executable), "alembic"), "-c", ini, "downgrade", revision],
                       check=True, capture_output=True)


@pytest.fixture
def hub_db(tmp_path):
    """A database as the current JupyterHub makes it, with a user in it."""
    url = f"sqlite:///{tmp_path}/jupyterhub.sqlite"
    db = orm.new_session_factory(url)()
    db.add(orm.User(name="alice"))
    db.commit()
    db.close()
    return url


def _config(tmp_path, url):
    path = tmp_path / "jupyterhub_config.py"
    path.write_text(f"c = get_config()\nc.JupyterHub.db_url = {url!r}\n")
    return str(path)


def test_a_current_database_is_left_alone(tmp_path, hub_db):
    schema = database.read_schema(hub_db)
    assert schema.found == schema.head and not schema.behind
    assert "current" in database.upgrade(hub_db, {}, str(tmp_path / "backups"))
    assert glob.glob(str(tmp_path / "jupyterhub.sqlite.*")) == []  # no copy when nothing changes


def test_a_new_database_is_left_for_the_hub_to_create(tmp_path):
    url = f"sqlite:///{tmp_path}/new.sqlite"
    schema = database.read_schema(url)
    assert schema.found == "" and not schema.behind
    assert "new" in database.upgrade(url, {}, str(tmp_path))


def test_an_older_schema_is_copied_then_upgraded_and_keeps_its_users(tmp_path, hub_db):
    head = database.read_schema(hub_db).head
    _downgrade(hub_db, "-1")  # as the JupyterHub before this one left it
    older = database.read_schema(hub_db)
    assert older.behind and older.found != head

    assert database.main(["upgrade", "--config", _config(tmp_path, hub_db)]) == 0

    assert database.read_schema(hub_db).found == head
    assert len(glob.glob(str(tmp_path / "jupyterhub.sqlite.*"))) == 1  # JupyterHub's own copy, before
    db = orm.new_session_factory(hub_db)()
    assert [u.name for u in db.query(orm.User)] == ["alice"]


def test_status_changes_nothing(tmp_path, hub_db, capsys):
    _downgrade(hub_db, "-1")
    before = database.read_schema(hub_db)
    assert database.main(["status", "--config", _config(tmp_path, hub_db)]) == 0
    assert database.read_schema(hub_db) == before
    out = capsys.readouterr().out
    assert before.found in out and before.head in out


def test_a_database_that_cannot_be_read_stops_the_start_with_a_reason(tmp_path, caplog):
    config = _config(tmp_path, "postgresql://jupyterhub:secret-pw@127.0.0.1:1/jupyterhub")
    assert database.main(["upgrade", "--config", config]) == 1
    assert "could not be checked or upgraded" in caplog.text
    assert "secret-pw" not in caplog.text


def test_a_postgresql_dump_is_private_and_its_password_stays_off_the_command_line(tmp_path):
    seen = {}

    def run(argv, env, check):
        seen.update(argv=argv, env=env)
        path = next(a.split("=", 1)[1] for a in argv if a.startswith("--file="))
        with open(path, "w") as f:
            f.write("dump")

    path = database.dump_postgresql("postgresql://jupyterhub:s3cret@hubdb:5432/jupyterhub", str(tmp_path / "b"),
                                    run=run, clock=lambda: 0)
    assert path.endswith("jupyterhub-19700101-000000.dump")
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert oct(os.stat(tmp_path / "b").st_mode & 0o777) == "0o700"
    assert not any("s3cret" in a for a in seen["argv"]) and seen["env"]["PGPASSWORD"] == "s3cret"
    assert "--host=hubdb" in seen["argv"] and seen["argv"][-1] == "jupyterhub"


def test_a_sqlite_backup_is_a_private_consistent_copy(tmp_path, hub_db, capsys):
    assert database.main(["backup", "--config", _config(tmp_path, hub_db),
                          "--backup-dir", str(tmp_path / "backups")]) == 0
    path = capsys.readouterr().out.strip()
    assert path.startswith(str(tmp_path / "backups" / "jupyterhub.sqlite-"))
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    copy = orm.new_session_factory(f"sqlite:///{path}")()
    assert [u.name for u in copy.query(orm.User)] == ["alice"]
    assert database.read_schema(f"sqlite:///{path}") == database.read_schema(hub_db)
