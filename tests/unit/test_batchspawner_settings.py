"""A batchspawner configuration carried over: the settings that mean something here are honoured and reach
the batch script, checked as our own are; the others stop the hub with a message naming each."""

import pytest
from traitlets import TraitError
from traitlets.config import Config

from jupyterhub_slurm_interactive.choice.releases import Release
from jupyterhub_slurm_interactive.choice.request import ResourceRequest
from jupyterhub_slurm_interactive.hub import enable
from jupyterhub_slurm_interactive.session.batch_script import SiteSettings, render_batch_script
from jupyterhub_slurm_interactive.settings import HONOURED, REFUSED, batchspawner_settings
from jupyterhub_slurm_interactive.spawner import InteractiveSlurmSpawner

RELEASE = Release(name="2026.11", date="2026-11-21", path="/opt/releases/2026.11", python="3.11",
                  interfaces=("lab",), kernels=(), packages={"jupyterlab-slurm-interactive": "0.1.0"})
REQUEST = ResourceRequest(cores=2, memory=1500, gpus=1, hours=3, release="2026.11", ui="lab")


def spawner_from(config: Config) -> InteractiveSlurmSpawner:
    return InteractiveSlurmSpawner(config=config)


def test_every_setting_batchspawner_has_is_honoured_or_refused():
    import batchspawner

    theirs = {name for name, trait in batchspawner.SlurmSpawner.class_traits(config=True).items()
              if name.startswith(("req_", "batch_", "state_")) or name == "batchspawner_singleuser_cmd"}
    assert theirs <= set(HONOURED) | set(REFUSED), sorted(theirs - set(HONOURED) - set(REFUSED))
    assert not set(HONOURED) & set(REFUSED)


def test_the_honoured_settings_reach_the_batch_script():
    c = Config()
    c.SlurmSpawner.req_partition = "gpu-interactive"
    c.SlurmSpawner.req_qos = "normal"
    c.SlurmSpawner.req_options = "--mail-type=NONE --nice=10"
    c.SlurmSpawner.req_prologue = "module load cuda"
    c.SlurmSpawner.req_epilogue = "echo bye"
    c.SlurmSpawner.req_srun = "srun --cpu-bind=none"
    c.InteractiveSlurmSpawner.extra_sbatch_options = ["--constraint=a100"]
    c.InteractiveSlurmSpawner.prologue = "export SITE=1"
    sp = spawner_from(c)
    assert sp.partition == "gpu-interactive" and sp.qos == "normal" and sp.srun == "srun --cpu-bind=none"
    assert sp.extra_sbatch_options == ["--constraint=a100", "--mail-type=NONE", "--nice=10"]
    assert sp.prologue == "module load cuda\nexport SITE=1" and sp.epilogue == "echo bye"
    script = render_batch_script(REQUEST, RELEASE, SiteSettings(
        partition=sp.partition, qos=sp.qos, extra_directives=tuple(sp.extra_sbatch_options), prologue=sp.prologue,
        epilogue=sp.epilogue, srun=tuple(sp.srun.split())), "/home/alice")
    lines = script.splitlines()
    for line in ("#SBATCH --partition=gpu-interactive", "#SBATCH --qos=normal", "#SBATCH --mail-type=NONE",
                 "#SBATCH --nice=10", "#SBATCH --constraint=a100", "module load cuda", "echo bye"):
        assert line in lines, line
    assert any(line.startswith("srun --cpu-bind=none jupyterhub-singleuser --port=0") for line in lines)
    # the epilogue runs once, whether the server ends by itself or the job is signalled
    assert script.count("run_epilogue\n") == 2 and script.index("echo bye") < script.index("on_signal()")


def test_req_srun_empty_keeps_the_server_in_the_batch_step_and_its_default_changes_nothing():
    assert spawner_from(Config()).srun == ""  # batchspawner's default "srun" is not carried over unset
    c = Config()
    c.SlurmSpawner.req_srun = ""
    assert spawner_from(c).srun == ""


@pytest.mark.parametrize("name,value", [
    ("req_qos", "normal; rm -rf ~"), ("req_partition", "a b"), ("req_options", "--x=$(id)"), ("req_srun", "srun|sh"),
])
def test_an_honoured_setting_is_checked_as_our_own(name, value):
    c = Config()
    c.SlurmSpawner[name] = value
    with pytest.raises(TraitError, match=f"InteractiveSlurmSpawner.{HONOURED[name]}"):
        spawner_from(c)


def test_our_own_settings_are_checked_when_set():
    with pytest.raises(TraitError, match="qos must be one plain word"):
        InteractiveSlurmSpawner(qos="a b")
    with pytest.raises(TraitError, match="is not an sbatch option"):
        InteractiveSlurmSpawner(extra_sbatch_options=["qos=x"])


def test_the_settings_that_do_nothing_stop_the_hub_naming_each_and_what_to_use():
    c = Config()
    c.BatchSpawnerBase.req_memory = "4G"
    c.SlurmSpawner.batch_script = "#!/bin/sh\n{cmd}"
    c.InteractiveSlurmSpawner.req_runtime = "8:00:00"
    c.SlurmSpawner.req_qos = "normal"  # honoured: not named
    with pytest.raises(ValueError) as e:
        enable(c)
    message = str(e.value)
    assert "c.BatchSpawnerBase.req_memory: memory is each user's choice" in message
    assert "c.SlurmSpawner.batch_script:" in message and "c.InteractiveSlurmSpawner.req_runtime:" in message
    assert "req_qos" not in message
    assert batchspawner_settings(c)[0] == {"req_qos": "normal"}
