"""The runner, the one way the package runs Slurm's commands: no shell, a timeout, Slurm's own words."""

import pytest

from jupyterhub_slurm_interactive.shared import Shared
from jupyterhub_slurm_interactive.slurm.runner import SlurmError, SlurmRunner


async def test_failures_carry_slurms_message():
    runner = SlurmRunner()
    with pytest.raises(SlurmError) as e:
        await runner.run(["sh", "-c", "echo 'sbatch: error: nope' >&2; exit 1"])
    assert e.value.message == "nope" and e.value.returncode == 1 and not e.value.unreachable


async def test_a_timeout_is_an_unreachable_controller():
    with pytest.raises(SlurmError) as e:
        await SlurmRunner(timeout=0.2).run(["sleep", "5"])
    assert e.value.unreachable and "0.2 s" in e.value.message


async def test_a_missing_command_and_input():
    runner = SlurmRunner()
    with pytest.raises(SlurmError) as e:
        await runner.run(["/nonexistent/sbatch"])
    assert "cannot run" in e.value.message
    assert await runner.run(["cat"], input="hello") == "hello"
    # no shell: metacharacters are plain arguments
    assert await runner.run(["echo", "$(id)", ";", "true"]) == "$(id) ; true\n"


async def test_calls_are_counted_by_slurm_command():
    runner = SlurmRunner()
    for argv in (["true", "squeue"], ["sudo-less", "-n", "/usr/bin/sbatch"], ["true"]):
        try:
            await runner.run(argv)
        except SlurmError:
            pass
    assert runner.calls == {"squeue": 1, "sbatch": 1, "true": 1}


def test_one_shared_state_and_one_default_runner_for_the_hub():
    assert Shared.default(5) is Shared.default(30)
    assert Shared.default(30).runner.timeout == 30
    assert Shared.default().runner.on_command is not None  # every command of the hub's own is counted
    other = SlurmRunner()
    assert Shared.of(other) is Shared.of(other) is not Shared.default()
