"""The hub's database before the hub starts: its schema brought up to the installed JupyterHub.

A JupyterHub whose schema is older than the database refuses to start ("run jupyterhub upgrade-db"). Every way
the roles start the hub (systemd's ExecStartPre, the local stack's control script, a container's command)
runs this first, as the hub's user::

    python -m jupyterhub_slurm_interactive.ops.database upgrade --config /etc/jupyterhub/jupyterhub_config.py \\
        --backup-dir /var/lib/jupyterhub/db-backups

It reads ``db_url`` and ``db_kwargs`` from the hub's own configuration, and does nothing when the schema is the
installed JupyterHub's (a new, empty database included: the hub creates it). Otherwise it keeps a copy first
(SQLite: JupyterHub's own copy beside the file; PostgreSQL: ``pg_dump`` into the backup directory, 0600) and
runs JupyterHub's ``upgrade-db``. ``status`` prints the schema's revision and the installed one, and changes
nothing. ``backup`` copies the database into the backup directory while the hub runs (SQLite's online
backup, or ``pg_dump``); docs/operating.md says how to restore either.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass

log = logging.getLogger("jupyterhub_slurm_interactive.database")


@dataclass(frozen=True)
class Schema:
    """What the database holds against what the installed JupyterHub expects."""

    found: str  # the revision in alembic_version; "" for a database without JupyterHub's tables
    head: str

    @property
    def behind(self) -> bool:
        return bool(self.found) and self.found != self.head


def hub_database(config_file: str) -> tuple[str, dict]:
    """``(db_url, db_kwargs)`` as the hub would read them from its configuration."""
    from jupyterhub.app import JupyterHub

    hub = JupyterHub()
    hub.load_config_file(config_file)
    return hub.db_url, dict(hub.db_kwargs)


def read_schema(db_url: str, db_kwargs: dict | None = None) -> Schema:
    """The schema's revision, read without changing anything (JupyterHub's own check stamps empty databases)."""
    from alembic.script import ScriptDirectory
    from jupyterhub.dbutil import _temp_alembic_ini
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(db_url, **(db_kwargs or {}))
    try:
        with _temp_alembic_ini(engine.url.render_as_string(hide_password=False)) as ini:
            import alembic.config

            head = ScriptDirectory.from_config(alembic.config.Config(ini)).get_heads()[0]
        if "alembic_version" not in inspect(engine).get_table_names():
            return Schema("", head)
        with engine.begin() as connection:
            row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
        return Schema(row[0] if row else "", head)
    finally:
        engine.dispose()


def redacted(db_url: str) -> str:
    """The URL without its password, for the log."""
    from sqlalchemy.engine import make_url

    return make_url(db_url).render_as_string(hide_password=True)


def dump_postgresql(db_url: str, backup_dir: str, *, run=subprocess.run, clock=time.time) -> str:
    """``pg_dump`` of the database into ``backup_dir`` (custom format, 0600); returns the file's path.
    The password goes to pg_dump in its environment, never on its command line."""
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    os.makedirs(backup_dir, mode=0o700, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(clock()))
    path = os.path.join(backup_dir, f"{url.database}-{stamp}.dump")
    env = dict(os.environ, PGPASSWORD=url.password or "")
    argv = ["pg_dump", "--format=custom", f"--file={path}", f"--host={url.host or 'localhost'}",
            f"--port={url.port or 5432}", f"--username={url.username}", url.database]
    old = os.umask(0o077)
    try:
        run(argv, env=env, check=True)
    finally:
        os.umask(old)
    return path


def backup_sqlite(db_url: str, backup_dir: str, *, clock=time.time) -> str:
    """A consistent copy of a SQLite database, taken while the hub may write to it (SQLite's backup API)."""
    import sqlite3

    source = db_url.split(":///", 1)[1]
    os.makedirs(backup_dir, mode=0o700, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(clock()))
    path = os.path.join(backup_dir, f"{os.path.basename(source)}-{stamp}")
    old = os.umask(0o077)
    try:
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(path) as dst:
            src.backup(dst)
    finally:
        os.umask(old)
    return path


def backup(db_url: str, backup_dir: str) -> str:
    """A copy of the hub's database in ``backup_dir``; returns its path."""
    if db_url.startswith("postgresql"):
        return dump_postgresql(db_url, backup_dir)
    if db_url.startswith("sqlite:///"):
        return backup_sqlite(db_url, backup_dir)
    raise ValueError(f"no backup for a database of this kind: {redacted(db_url)}")


def upgrade(db_url: str, db_kwargs: dict, backup_dir: str, *, schema: Schema | None = None) -> str:
    """Bring the schema to the installed JupyterHub's, keeping a copy first; returns what was done."""
    from jupyterhub import dbutil

    schema = schema or read_schema(db_url, db_kwargs)
    if not schema.behind:
        return f"the hub's database is current ({schema.head})" if schema.found else \
            "the hub's database is new: the hub creates its tables"
    copy = "JupyterHub's copy beside the file"
    if db_url.startswith("postgresql"):
        copy = dump_postgresql(db_url, backup_dir)
    dbutil.upgrade_if_needed(db_url, db_kwargs=db_kwargs, backup=True, log=log)
    return f"upgraded the hub's database {redacted(db_url)} from {schema.found} to {schema.head} (copy: {copy})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jupyterhub_slurm_interactive.ops.database",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["upgrade", "status", "backup"])
    parser.add_argument("--config", required=True, help="the hub's jupyterhub_config.py")
    parser.add_argument("--backup-dir", default="db-backups",
                        help="where copies go: before an upgrade (PostgreSQL), and on backup (default: ./db-backups)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] database: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its plugins' setup is no news to an operator
    # JupyterHub's upgrade runs the ``alembic`` command of the hub's own environment
    here = os.path.dirname(sys.executable)
    os.environ["PATH"] = here + os.pathsep + os.environ.get("PATH", "")
    try:
        db_url, db_kwargs = hub_database(args.config)
        if args.action == "backup":
            print(backup(db_url, args.backup_dir))
            return 0
        schema = read_schema(db_url, db_kwargs)
        if args.action == "status":
            print(f"{redacted(db_url)}: schema {schema.found or '(none yet)'}, this JupyterHub's {schema.head}")
            return 0
        log.info(upgrade(db_url, db_kwargs, args.backup_dir, schema=schema))
    except Exception as e:  # the hub must not start on a database in an unknown state: say why and stop
        log.error("the hub's database could not be checked or upgraded: %s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
