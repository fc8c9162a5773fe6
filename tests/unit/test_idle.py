"""Idle sessions given back: the policy, the culler's hook, and the hub's settings, without a hub."""

import asyncio
import shutil
from datetime import timedelta

import pytest
from traitlets import TraitError
from traitlets.config import Config

from jupyterhub_slurm_interactive.ops.idle import (
    CULLER_CONFIG,
    SCOPES,
    IdleSessions,
    arbiter,
    configure,
    owner_of,
    should_stop,
)

GPU = {"ready": True, "pending": None, "user_options": {"gpus": 1}, "url": "/user/alice/gpu/"}
CPU = {"ready": True, "pending": None, "user_options": {"gpus": 0}, "url": "/user/alice/"}


def test_a_gpu_session_has_the_shorter_limit_and_no_limit_means_never():
    assert should_stop(601, GPU, 600, 3600) and not should_stop(599, GPU, 600, 3600)
    assert not should_stop(601, CPU, 600, 3600) and should_stop(3600, CPU, 600, 3600)
    assert not should_stop(10 ** 6, CPU, 600, 0)  # no limit for CPU sessions
    assert not should_stop(10 ** 6, {**GPU, "ready": False}, 600, 3600)  # a queued session is not idle
    assert not should_stop(10 ** 6, {**GPU, "user_options": {"gpus": "junk"}}, 600, 0)  # read as a CPU session


def test_the_owner_is_read_from_the_servers_url():
    assert owner_of(GPU) == ("alice", "gpu") and owner_of(CPU) == ("alice", "")
    assert owner_of({"url": "/prefix/user/b%40c/x/"}) == ("b@c", "x") and owner_of({}) is None


async def test_the_hook_tells_the_hub_before_a_stop_and_only_then():
    told = []

    async def notify(user, server, idle):
        told.append((user, server, idle))

    hook = arbiter(600, 3600, notify=notify)
    assert await hook(inactive=timedelta(seconds=700), inactive_limit=600, server=GPU) is True
    assert await hook(inactive=timedelta(seconds=700), inactive_limit=600, server=CPU) is False
    assert told == [("alice", "gpu", 700)]

    async def unreachable(*args):
        raise OSError("hub away")

    # the stop still happens when the note cannot be sent
    assert await arbiter(600, 3600, notify=unreachable)(inactive=timedelta(hours=1), inactive_limit=1,
                                                        server=GPU) is True


def hub_config(**idle):
    c = Config()
    c.JupyterHub.internal_ssl = True
    c.JupyterHub.internal_certs_location = "/srv/hub/internal-ssl"
    c.JupyterHub.services = [{"name": "site-admin"}]
    for key, value in idle.items():
        setattr(c.IdleSessions, key, value)
    return c


def test_the_culler_runs_as_a_service_with_only_its_scopes():
    c = hub_config(gpu_timeout=900, cpu_timeout=3600, cull_every=30)
    configure(c)
    service = c.JupyterHub.services[-1]
    assert service["name"] == "idle-culler" and "admin" not in service
    assert service["command"][:3] == [shutil.which("setpriv"), "--pdeathsig", "TERM"]  # ends with the hub
    assert service["command"][5:] == ["-m", "jupyterhub_idle_culler", "--timeout=900", "--cull-every=30",
                                      f"--config={CULLER_CONFIG}", "--ssl-enabled=true",
                                      "--internal-certs-location=/srv/hub/internal-ssl"]
    assert service["environment"] == {"SLURM_INTERACTIVE_GPU_IDLE_TIMEOUT": "900.0",
                                      "SLURM_INTERACTIVE_CPU_IDLE_TIMEOUT": "3600.0"}
    role = c.JupyterHub.load_roles[-1]
    assert role["services"] == ["idle-culler"] and role["scopes"] == SCOPES
    assert not any(s.startswith("admin") for s in role["scopes"])


def test_no_limit_at_all_runs_no_culler():
    c = hub_config()
    configure(c)
    assert [s["name"] for s in c.JupyterHub.services] == ["site-admin"]


@pytest.mark.parametrize("setting, value", [("gpu_timeout", -5), ("cpu_timeout", -0.5), ("cull_every", 0)])
def test_a_bad_limit_stops_the_hub_naming_the_setting(setting, value):
    with pytest.raises(TraitError, match=f"IdleSessions.{setting} must be"):
        configure(hub_config(**{setting: value}))


def test_the_culler_config_file_installs_the_hook(monkeypatch):
    monkeypatch.setenv("SLURM_INTERACTIVE_GPU_IDLE_TIMEOUT", "60")
    monkeypatch.setenv("SLURM_INTERACTIVE_CPU_IDLE_TIMEOUT", "0")
    c = Config()
    source = open(CULLER_CONFIG).read()
    exec(compile(source, CULLER_CONFIG, "exec"), {"get_config": lambda: c})
    hook = c.IdleCuller.cull_arbiter_hook
    assert asyncio.run(hook(inactive=timedelta(seconds=30), inactive_limit=60, server=GPU)) is False
    assert IdleSessions  # the settings class is the documentation of the limits
