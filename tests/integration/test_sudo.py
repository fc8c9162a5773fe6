"""The hub's user may sudo sbatch and scancel as the people who use the hub, and nothing else."""

import os
import stat

import pytest

from .conftest import HUB_USER, sh, squeue, wait_for

pytestmark = pytest.mark.integration


def as_hub(*argv, env=None):
    """Run a command as the hub's user, with only the environment given."""
    base = ["runuser", "-u", HUB_USER, "--", "env", "-i", "PATH=/usr/bin:/bin"]
    base += [f"{k}={v}" for k, v in (env or {}).items()]
    return sh(*base, *argv, check=False)


def test_hub_user_submits_and_cancels_as_alice(clean):
    submitted = as_hub("sudo", "-n", "-u", "alice", "sbatch", "--parsable", "-t", "1", "--mem=100M",
                       "--chdir=/home/alice", "--wrap", "sleep 60")
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.strip()
    assert [j["user"] for j in squeue() if j["id"] == job] == ["alice"]
    cancelled = as_hub("sudo", "-n", "-u", "alice", "scancel", job)
    assert cancelled.returncode == 0, cancelled.stderr
    wait_for(lambda: not [j for j in squeue() if j["id"] == job and j["state"] != "COMPLETING"], 10,
             what="the job to go")


@pytest.mark.parametrize("target", ["root", "slurm", "nobody", HUB_USER])
def test_hub_user_cannot_sudo_as_root_or_a_system_account(stack, target):
    for argv in (["sbatch", "--version"], ["true"], ["id"]):
        proc = as_hub("sudo", "-n", "-u", target, *argv)
        assert proc.returncode != 0, (target, argv)


@pytest.mark.parametrize("argv", [["/bin/sh", "-c", "id"], ["bash"], ["id"], ["squeue"], ["scontrol", "show", "job"],
                                  ["sacctmgr", "show", "user"], ["-s"], ["-i"]])
def test_hub_user_cannot_run_anything_else_as_alice(stack, argv):
    proc = as_hub("sudo", "-n", "-u", "alice", *argv)
    assert proc.returncode != 0, argv


def test_sudo_keeps_only_the_session_variables_and_a_private_umask(clean):
    env = {"JUPYTERHUB_API_TOKEN": "test-token-value", "LD_PRELOAD": "/tmp/evil.so", "HUB_SECRET": "x"}
    proc = as_hub("sudo", "-n", "-u", "alice", "sbatch", "--parsable", "-t", "1", "--mem=100M",
                  "--chdir=/home/alice", "--output=/home/alice/sudo-env-test-%j.log",
                  "--wrap", "env; umask", env=env)
    assert proc.returncode == 0, proc.stderr
    job = proc.stdout.strip()
    wait_for(lambda: not [j for j in squeue() if j["id"] == job], 30, what="the job to finish")
    path = f"/home/alice/sudo-env-test-{job}.log"
    try:
        out = open(path).read()
        assert "JUPYTERHUB_API_TOKEN=test-token-value" in out
        assert "LD_PRELOAD" not in out and "HUB_SECRET" not in out
        assert "USER=alice" in out and "HOME=/home/alice" in out
        assert out.strip().splitlines()[-1] == "0077"
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode == 0o600, oct(mode)
    finally:
        os.unlink(path)
