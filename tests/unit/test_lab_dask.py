"""jupyterlab_slurm_interactive.dask: the session's Dask certificates (mutual TLS that only they pass), the
settings its kernels get, and how long its workers may run."""

import logging
import os
import socket
import ssl
import stat
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "jupyterlab-slurm-interactive"))

from jupyterlab_slurm_interactive import dask  # noqa: E402


@pytest.mark.parametrize("seconds, text", [(0, "00:01:00"), (59, "00:01:00"), (3599, "00:59:00"),
                                           (7200, "02:00:00"), (86400 + 3660, "1-01:01:00")])
def test_a_workers_walltime_is_the_whole_minutes_the_session_has_left(seconds, text):
    assert dask.walltime(seconds) == text


def test_workers_never_run_past_the_sessions_end():
    end = time.mktime((2026, 12, 8, 1, 30, 0, 0, 0, -1))
    env = dask.end_environment(end, end - 5400.5)
    assert env["DASK_JOBQUEUE__SLURM__WALLTIME"] == "01:30:00"
    assert env["DASK_JOBQUEUE__SLURM__JOB_EXTRA_DIRECTIVES"] == "['--deadline=2026-12-08T01:30:00', '--time-min=1']"


def test_the_kernels_get_tls_everywhere_the_account_and_the_workers_name():
    files = {"ca": "/h/d/1/ca.pem", "cert": "/h/d/1/cert.pem", "key": "/h/d/1/key.pem"}
    env = dask.dask_environment(files, "worker-of-1", "proj-a", "/tmp/s/runtime")
    assert env["DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION"] == "True"
    # the release's preload holds the HTTP servers to the certificate, in this session's Dask only
    assert env["DASK_DISTRIBUTED__SCHEDULER__PRELOAD"] == env["DASK_DISTRIBUTED__WORKER__PRELOAD"] == \
        "['slurm_interactive_dask']"
    assert env["DASK_DISTRIBUTED__COMM__DEFAULT_SCHEME"] == "tls"
    for role in ("SCHEDULER", "WORKER", "CLIENT"):
        assert env[f"DASK_DISTRIBUTED__COMM__TLS__{role}__CERT"] == files["cert"]
        assert env[f"DASK_DISTRIBUTED__COMM__TLS__{role}__KEY"] == files["key"]
    assert env["DASK_DISTRIBUTED__SCHEDULER__DASHBOARD__TLS__CA_FILE"] == files["ca"]
    assert env["DASK_JOBQUEUE__SLURM__ACCOUNT"] == "proj-a"
    assert env["DASK_JOBQUEUE__SLURM__NAME"] == "worker-of-1"
    assert env["SLURM_INTERACTIVE_DASK_DASHBOARD"] == "/tmp/s/runtime/dask-dashboard.sock"
    assert env["DASK_DISTRIBUTED__DASHBOARD__LINK"] == "{JUPYTERHUB_SERVICE_PREFIX}dask-dashboard/status"
    assert "DASK_JOBQUEUE__SLURM__ACCOUNT" not in dask.dask_environment(files, "w", "", "")
    # the hub's batch script names the workers; without it, the session's job does
    assert dask.worker_job_name({"JUPYTERHUB_SLURM_WORKERS": "worker-of-9", "SLURM_JOB_ID": "9"}) == "worker-of-9"
    assert dask.worker_job_name({"SLURM_JOB_ID": "9"}) == "worker-of-9"


def handshake(server_files, client_files) -> str:
    """A TLS handshake over a socket pair, each side asking for the other's certificate as Dask does."""
    def context(purpose, files):
        ctx = ssl.create_default_context(purpose, cafile=files["ca"])
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_cert_chain(files["cert"], files["key"])
        return ctx

    a, b = socket.socketpair()
    result = {}

    def serve():
        try:
            with context(ssl.Purpose.CLIENT_AUTH, server_files).wrap_socket(a, server_side=True) as s:
                result["server"] = s.recv(2).decode()
        except (ssl.SSLError, OSError) as e:
            result["server"] = type(e).__name__
    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with context(ssl.Purpose.SERVER_AUTH, client_files).wrap_socket(b) as s:
            s.sendall(b"ok")
    except (ssl.SSLError, OSError):
        pass
    thread.join(10)
    return result.get("server", "")


def test_the_sessions_certificates_pass_each_other_and_a_stranger_does_not(tmp_path):
    mine = dask.make_certificates(str(tmp_path / "state" / "41"), valid_seconds=3600)
    other = dask.make_certificates(str(tmp_path / "state" / "42"), valid_seconds=3600)
    assert handshake(mine, mine) == "ok"
    assert handshake(mine, other) == "SSLError"  # another session's (another user's) certificate
    for path in mine.values():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "state" / "41").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "state").st_mode) == 0o700


def test_old_sessions_directories_go_and_this_ones_stays(tmp_path):
    for name in ("1", "2", "3"):
        (tmp_path / name).mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "1")
    now = time.time()
    os.utime(tmp_path / "1", (now - 8 * 86400, now - 8 * 86400))
    os.utime(tmp_path / "3", (now - 8 * 86400, now - 8 * 86400))
    assert dask.remove_old(str(tmp_path), keep="3", now=now) == ["1"]
    assert sorted(os.listdir(tmp_path)) == ["2", "3", "link"]


class App:
    log = logging.getLogger("test")


def test_the_server_prepares_the_session_before_any_kernel_starts(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    environ = {"SLURM_JOB_ID": "41", "SLURM_JOB_ACCOUNT": "proj-a", "JUPYTER_RUNTIME_DIR": "/tmp/s/runtime",
               "JUPYTERHUB_SLURM_WORKERS": "worker-of-41"}
    assert dask.prepare(App(), environ) is True
    state = tmp_path / ".local" / "state" / "jupyterhub-slurm-interactive" / "dask" / "41"
    assert environ["DASK_DISTRIBUTED__COMM__TLS__CA_FILE"] == str(state / "ca.pem")
    assert environ["DASK_JOBQUEUE__SLURM__NAME"] == "worker-of-41"
    assert dask.prepare(App(), {}) is False  # not in a Slurm job: nothing is set


def test_a_session_whose_certificates_cannot_be_written_gets_no_dask_that_listens_for_anyone(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".local").write_text("a file where a directory should be")
    monkeypatch.setenv("HOME", str(home))
    environ = {"SLURM_JOB_ID": "41"}
    assert dask.prepare(App(), environ) is False
    assert environ == {"SLURM_JOB_ID": "41", **dask.closed_environment()}  # TLS required, no certificate: no Dask


async def test_the_workers_time_follows_the_sessions_end_as_squeue_says_it():
    class Times:
        async def get(self):
            return time.time() - 60, time.time() + 3600

    environ = {}
    await dask.follow_the_end(Times(), environ)
    assert environ["DASK_JOBQUEUE__SLURM__WALLTIME"] in ("00:59:00", "01:00:00")
    assert "--deadline=" in environ["DASK_JOBQUEUE__SLURM__JOB_EXTRA_DIRECTIVES"]
