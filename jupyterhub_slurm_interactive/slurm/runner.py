"""The one way this package talks to Slurm: a runner object that runs a command.

Every Slurm command the hub runs (``scontrol``, ``squeue``, ``sacctmgr``,
``sacct``, and ``sbatch``/``scancel`` through sudo) goes through
:meth:`SlurmRunner.run`. The spawner holds one runner (its ``runner`` trait) and
hands it to everything that asks Slurm something, so the boundary can be
swapped without patching: a test passes a runner that plays back recorded
output, and a site whose hub is not a Slurm client may pass one that runs the
commands elsewhere (say, over ssh on a login node).
"""

from __future__ import annotations

import asyncio
import re
import time

_UNREACHABLE = re.compile(
    r"Unable to contact slurm controller|Socket timed out on send/recv|"
    r"Connection refused|Communication connection failure|Zero Bytes were transmitted",
    re.IGNORECASE,
)


class SlurmError(RuntimeError):
    """A Slurm command failed; ``message`` is what Slurm said, without noise."""

    def __init__(self, command: str, returncode: int | None, message: str):
        self.command = command
        self.returncode = returncode
        self.message = clean_error(message)
        super().__init__(f"{command}: {self.message}")

    @property
    def unreachable(self) -> bool:
        """True when the controller could not be reached (not the job's fault)."""
        return bool(_UNREACHABLE.search(self.message)) or self.returncode is None


def clean_error(stderr: str) -> str:
    """Slurm's error text without the ``sbatch: error:`` prefixes, one line per message."""
    lines = []
    for line in stderr.strip().splitlines():
        line = re.sub(r"^\s*(?:sbatch|scancel|squeue|scontrol|sacctmgr|sacct|sinfo|sudo):\s*(?:error:\s*)?", "", line)
        line = line.strip()
        if line and line not in lines:
            lines.append(line)
    return "; ".join(lines) or "no message"


#: The commands counted by name in :attr:`SlurmRunner.calls` (others count under their first word).
SLURM_COMMANDS = frozenset({"sbatch", "scancel", "squeue", "scontrol", "sacct", "sacctmgr", "sinfo"})


class SlurmRunner:
    """Runs Slurm's commands as subprocesses of the hub: no shell, a timeout, Slurm's own message on failure.

    ``calls`` counts the commands run, by command name (for tests and benchmarks). ``on_command``, if set,
    is called after each with ``(name, seconds, failed)``: the hub's metrics (``ops.metrics.observe_command``).
    """

    def __init__(self, timeout: float = 30, on_command=None):
        self.timeout = timeout
        self.calls: dict[str, int] = {}
        self.on_command = on_command

    async def run(self, argv: list[str], *, input: str | None = None, env: dict | None = None,
                  timeout: float | None = None) -> str:
        """Run ``argv`` and return its standard output; :class:`SlurmError` on a non-zero exit or a timeout."""
        timeout = self.timeout if timeout is None else timeout
        command = " ".join(argv[:4])
        name = next((a.rsplit("/", 1)[-1] for a in argv if a.rsplit("/", 1)[-1] in SLURM_COMMANDS), argv[0])
        self.calls[name] = self.calls.get(name, 0) + 1
        began, failed = time.monotonic(), True
        try:
            out = await self._run(argv, command, input, env, timeout)
            failed = False
            return out
        finally:
            if self.on_command is not None:
                self.on_command(name, time.monotonic() - began, failed)

    async def _run(self, argv, command, input, env, timeout) -> str:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
        except OSError as e:
            raise SlurmError(command, None, f"cannot run {argv[0]}: {e.strerror}") from e
        try:
            out, err = await asyncio.wait_for(proc.communicate(input.encode() if input is not None else None), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise SlurmError(command, None, f"no answer within {timeout:g} s (Socket timed out on send/recv)")
        if proc.returncode != 0:
            raise SlurmError(command, proc.returncode, err.decode(errors="replace"))
        return out.decode(errors="replace")
