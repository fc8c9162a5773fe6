"""slurm-interactive-kernel: a Jupyter kernel that loads environment modules before it starts.

The way a cluster's guide wires ``module load`` into a kernel by hand (a ``wrapper.sh`` that loads the
modules and starts the kernel, and a ``kernel.json`` that runs the wrapper), written by one command::

    slurm-interactive-kernel blas-py --modules gcc/12 blas/3.11 --python ~/envs/mine/bin/python

The kernel lands in the user's own kernels (``~/.local/share/jupyter/kernels/NAME``), where the launcher
shows it. Every input is checked before anything is written: the name, each module (Lmod must offer it on
this node) and the Python (it must run and have ipykernel). The wrapper quotes every value it holds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

#: Lmod's setup, which the wrapper sources before ``module load``: the site's module paths (/etc/lmod/modulespath)
#: and the shell functions (Debian's lmod puts it here).
LMOD_INIT = "/etc/profile.d/lmod.sh"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MODULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*(/[A-Za-z0-9._+-]+)*")
WRAPPER = "wrapper.sh"


class KernelError(ValueError):
    """An input this command refuses, with the option it came from."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class KernelSpec:
    name: str
    display_name: str
    python: str
    modules: tuple[str, ...]


def spec_from(name: str, python: str, modules=(), display_name: str | None = None) -> KernelSpec:
    """The kernel asked for, its values checked by their form (what this node offers is checked apart)."""
    if not NAME.fullmatch(name or ""):
        raise KernelError("NAME", f"{name!r} is not a kernel name: letters, digits, '.', '_' and '-', at most 64")
    for module in modules:
        if len(module) > 128 or not MODULE.fullmatch(module):
            raise KernelError("--modules", f"{module!r} is not a module name such as gcc/12")
    if len(set(modules)) != len(modules):
        raise KernelError("--modules", "a module is named twice")
    if not python or not os.path.isabs(python):
        raise KernelError("--python", f"{python!r} is not an absolute path to a Python")
    shown = display_name if display_name is not None else f"{name} ({' '.join(modules) or 'no modules'})"
    if not shown.strip() or len(shown) > 128 or any(ord(c) < 32 for c in shown):
        raise KernelError("--display-name", "must be a line of at most 128 characters")
    return KernelSpec(name=name, display_name=shown, python=python, modules=tuple(modules))


def wrapper_script(spec: KernelSpec, lmod_init: str = LMOD_INIT) -> str:
    """The script the kernel runs: Lmod's functions, the modules, then the kernel in their environment."""
    lines = [
        "#!/bin/bash",
        f"# Written by slurm-interactive-kernel for the kernel {spec.name}: loads its modules, then starts it.",
        "set -e",
        f"source {shlex.quote(lmod_init)}",
    ]
    if spec.modules:
        lines.append("module load " + " ".join(shlex.quote(m) for m in spec.modules))
    lines.append(f'exec {shlex.quote(spec.python)} -m ipykernel_launcher -f "$1"')
    return "\n".join(lines) + "\n"


def kernel_json(spec: KernelSpec, wrapper: Path) -> dict:
    return {
        "argv": [str(wrapper), "{connection_file}"],
        "display_name": spec.display_name,
        "language": "python",
        "metadata": {"slurm_interactive": {"modules": list(spec.modules), "python": spec.python}},
    }


class Node:
    """What this node offers, asked of Lmod and of the Python itself; a test passes its own."""

    def __init__(self, lmod_init: str = LMOD_INIT):
        self.lmod_init = lmod_init

    def missing_modules(self, modules) -> list[str]:
        script = (f"source {shlex.quote(self.lmod_init)} && "
                  'for m in "$@"; do module is-avail "$m" 2>/dev/null || echo "$m"; done')
        proc = subprocess.run(["bash", "-c", script, "_", *modules], capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise KernelError("--modules", f"Lmod did not answer on this node: {proc.stderr.strip()[-300:]}")
        return proc.stdout.split()

    def python_problem(self, python: str) -> str | None:
        try:
            proc = subprocess.run([python, "-c", "import ipykernel"], capture_output=True, text=True, timeout=60)
        except OSError as e:
            return f"{python} cannot run: {e.strerror}"
        if proc.returncode != 0:
            return (f"{python} has no ipykernel: install it in that environment "
                    f"({python} -m pip install ipykernel)")
        return None


def check_on(node, spec: KernelSpec, lmod_init: str = LMOD_INIT) -> None:
    if not os.path.exists(lmod_init):
        raise KernelError("--modules", f"this node has no Lmod ({lmod_init} is missing)")
    missing = node.missing_modules(spec.modules) if spec.modules else []
    if missing:
        raise KernelError("--modules", f"not offered on this node: {', '.join(missing)} (see `module avail`)")
    problem = node.python_problem(spec.python)
    if problem:
        raise KernelError("--python", problem)


def kernels_dir(environ=os.environ) -> Path:
    data = environ.get("JUPYTER_DATA_DIR") or os.path.join(
        environ.get("XDG_DATA_HOME") or os.path.join(environ.get("HOME", "~"), ".local", "share"), "jupyter")
    return Path(os.path.expanduser(data)) / "kernels"


def write(spec: KernelSpec, where: Path, lmod_init: str = LMOD_INIT) -> Path:
    """The kernel's directory with its kernel.json and wrapper, readable by the user alone."""
    directory = where / spec.name
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    wrapper = directory / WRAPPER
    wrapper.write_text(wrapper_script(spec, lmod_init))
    wrapper.chmod(0o700)
    (directory / "kernel.json").write_text(json.dumps(kernel_json(spec, wrapper), indent=1) + "\n")
    return directory


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="slurm-interactive-kernel",
                                description="Write a Jupyter kernel that loads environment modules, then starts "
                                            "a Python of your choice (it needs ipykernel).")
    p.add_argument("name", metavar="NAME", help="the kernel's name (its folder in your kernels)")
    p.add_argument("--modules", nargs="*", default=[], metavar="MODULE", help="modules to load, in order")
    p.add_argument("--python", default=sys.executable, help="the Python to start (default: this one)")
    p.add_argument("--display-name", help="the name the launcher shows")
    return p


def main(argv=None, *, node=None, environ=os.environ, lmod_init: str = LMOD_INIT) -> int:
    args = parser().parse_args(argv)
    try:
        spec = spec_from(args.name, os.path.abspath(os.path.expanduser(args.python)), args.modules, args.display_name)
        check_on(node or Node(lmod_init), spec, lmod_init)
    except KernelError as e:
        print(f"slurm-interactive-kernel: {e}", file=sys.stderr)
        return 2
    directory = write(spec, kernels_dir(environ), lmod_init)
    print(f"wrote the kernel {spec.name!r} ({spec.display_name}) in {directory}; "
          f"it shows in the launcher after a reload")
    return 0


if __name__ == "__main__":
    sys.exit(main())
