"""slurm-interactive-kernel (jupyterlab_slurm_interactive.kernel): the kernel.json and wrapper it writes, what it
refuses, and the wrapper run for real by bash with a stand-in for Lmod's setup."""

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "jupyterlab-slurm-interactive"))

from jupyterlab_slurm_interactive import kernel  # noqa: E402


class Node:
    """A node that offers these modules and whose Pythons all have ipykernel, unless told otherwise."""

    def __init__(self, offers=("gcc/12", "blas/3.11"), python_problem=None):
        self.offers, self.problem, self.asked = set(offers), python_problem, []

    def missing_modules(self, modules):
        self.asked.append(list(modules))
        return [m for m in modules if m not in self.offers]

    def python_problem(self, python):
        return self.problem


@pytest.fixture
def lmod(tmp_path):
    """Lmod's setup as a file of shell: `module load` exports LOADED_<module> for each, as Lmod sets variables."""
    init = tmp_path / "lmod.sh"
    init.write_text('module() { [ "$1" = load ] && shift && for m in "$@"; do '
                    'export "LOADED_${m//[^A-Za-z0-9]/_}=yes"; done; }\n')
    return str(init)


def run(tmp_path, lmod, *argv, node=None):
    environ = {"HOME": str(tmp_path / "home")}
    return kernel.main(list(argv), node=node or Node(), environ=environ, lmod_init=lmod)


def test_writes_the_kernel_and_its_wrapper_in_the_users_kernels(tmp_path, lmod, capsys):
    assert run(tmp_path, lmod, "blas-py", "--modules", "gcc/12", "blas/3.11", "--python", "/usr/bin/python3") == 0
    directory = tmp_path / "home" / ".local" / "share" / "jupyter" / "kernels" / "blas-py"
    spec = json.loads((directory / "kernel.json").read_text())
    assert spec["argv"] == [str(directory / "wrapper.sh"), "{connection_file}"]
    assert spec["display_name"] == "blas-py (gcc/12 blas/3.11)" and spec["language"] == "python"
    assert spec["metadata"]["slurm_interactive"] == {"modules": ["gcc/12", "blas/3.11"], "python": "/usr/bin/python3"}
    wrapper = (directory / "wrapper.sh").read_text()
    assert f"source {lmod}\nmodule load gcc/12 blas/3.11\n" in wrapper
    assert wrapper.endswith('exec /usr/bin/python3 -m ipykernel_launcher -f "$1"\n')
    assert stat.S_IMODE((directory / "wrapper.sh").stat().st_mode) == 0o700
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert "blas-py" in capsys.readouterr().out


def test_the_wrapper_loads_the_modules_then_starts_the_python_with_the_connection_file(tmp_path, lmod):
    python = tmp_path / "python"  # stands for the Python: prints what it was given and what the modules set
    python.write_text('#!/bin/bash\necho "args=$* gcc=${LOADED_gcc_12:-} blas=${LOADED_blas_3_11:-}"\n')
    python.chmod(0o755)
    assert run(tmp_path, lmod, "k", "--modules", "gcc/12", "blas/3.11", "--python", str(python)) == 0
    wrapper = tmp_path / "home" / ".local" / "share" / "jupyter" / "kernels" / "k" / "wrapper.sh"
    out = subprocess.run([str(wrapper), "/run/kernel-1.json"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "args=-m ipykernel_launcher -f /run/kernel-1.json gcc=yes blas=yes"


def test_values_reach_the_wrapper_quoted(tmp_path, lmod):
    spec = kernel.spec_from("k", "/opt/my envs/bin/python", ["gcc/12"])
    assert "exec '/opt/my envs/bin/python' -m ipykernel_launcher" in kernel.wrapper_script(spec, lmod)


@pytest.mark.parametrize("argv, field", [
    (["../evil", "--python", "/usr/bin/python3"], "NAME"),
    (["a b", "--python", "/usr/bin/python3"], "NAME"),
    (["x" * 65, "--python", "/usr/bin/python3"], "NAME"),
    (["k", "--modules", "gcc/12;rm -rf ~", "--python", "/usr/bin/python3"], "--modules"),
    (["k", "--modules", "$(id)", "--python", "/usr/bin/python3"], "--modules"),
    (["k", "--modules", "gcc/12", "gcc/12", "--python", "/usr/bin/python3"], "--modules"),
    (["k", "--modules", "/etc/passwd", "--python", "/usr/bin/python3"], "--modules"),
    (["k", "--python", "/usr/bin/python3", "--display-name", "two\nlines"], "--display-name"),
])
def test_refuses_a_malformed_value_naming_the_option_and_writes_nothing(tmp_path, lmod, capsys, argv, field):
    assert run(tmp_path, lmod, *argv) == 2
    assert capsys.readouterr().err.startswith(f"slurm-interactive-kernel: {field}: ")
    assert not (tmp_path / "home").exists()


def test_refuses_a_module_this_node_does_not_offer(tmp_path, lmod, capsys):
    node = Node(offers=("gcc/12",))
    assert run(tmp_path, lmod, "k", "--modules", "gcc/12", "cuda/12", "--python", "/usr/bin/python3", node=node) == 2
    assert "--modules: not offered on this node: cuda/12 (see `module avail`)" in capsys.readouterr().err
    assert node.asked == [["gcc/12", "cuda/12"]] and not (tmp_path / "home").exists()


def test_refuses_a_python_without_ipykernel(tmp_path, lmod, capsys):
    node = Node(python_problem="/usr/bin/python3 has no ipykernel: install it in that environment")
    assert run(tmp_path, lmod, "k", "--python", "/usr/bin/python3", node=node) == 2
    assert "--python: /usr/bin/python3 has no ipykernel" in capsys.readouterr().err


def test_refuses_on_a_node_without_lmod(tmp_path, capsys):
    assert run(tmp_path, str(tmp_path / "no-lmod.sh"), "k", "--modules", "gcc/12") == 2
    assert "this node has no Lmod" in capsys.readouterr().err


def test_a_real_python_is_asked_for_ipykernel(tmp_path):
    node = kernel.Node(lmod_init="/nonexistent")
    assert node.python_problem(str(tmp_path / "missing")).endswith("cannot run: No such file or directory")
    assert "has no ipykernel" in node.python_problem(sys.executable if not _has_ipykernel() else "/bin/false")


def _has_ipykernel():
    try:
        import ipykernel  # noqa: F401
    except ImportError:
        return False
    return True


def test_jupyters_own_data_dir_is_followed(tmp_path):
    assert kernel.kernels_dir({"JUPYTER_DATA_DIR": str(tmp_path / "d")}) == tmp_path / "d" / "kernels"
    assert kernel.kernels_dir({"XDG_DATA_HOME": "/x", "HOME": "/h"}) == Path("/x/jupyter/kernels")
    assert kernel.kernels_dir({"HOME": "/h"}) == Path("/h/.local/share/jupyter/kernels")


def test_the_node_asks_lmod_for_each_module_and_names_the_missing(tmp_path):
    init = tmp_path / "lmod.sh"  # Lmod's is-avail: status 0 for a module the node offers
    init.write_text('module() { [ "$1" = is-avail ] && case "$2" in gcc/12|blas/3.11) true ;; *) false ;; esac; }\n')
    node = kernel.Node(lmod_init=str(init))
    assert node.missing_modules(["gcc/12", "cuda/12", "blas/3.11"]) == ["cuda/12"]
    assert node.missing_modules(["gcc/12"]) == []
