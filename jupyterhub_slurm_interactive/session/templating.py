"""The Jinja environments of our templates (the form, the table, the batch script, the hub's pages).

HTML templates are autoescaped; the batch script gets strict filters instead:
``sh`` quotes a value for the shell and ``sbatch_arg`` refuses anything that is
not a plain token. One environment per kind for the process, so every template
is compiled once.
"""

from __future__ import annotations

import functools
import re
import shlex
from pathlib import Path

import jinja2

_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9_./%@:=,+-]+$")


def templates_dir() -> Path:
    """The templates, inside the installed package or beside it in a checkout."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "templates", package.parent / "templates"):
        if (candidate / "batch_script.sh.j2").exists():
            return candidate
    raise FileNotFoundError("the spawner's templates are missing from the installation")


def hub_templates_path() -> str:
    """The hub page templates (login, form page, home, progress) for c.JupyterHub.template_paths."""
    return str(templates_dir() / "hub")


def sbatch_arg(value, spaces: bool = False) -> str:
    """A value for an ``#SBATCH`` line: a plain token (or plain words with ``spaces``), or the render fails."""
    text = str(value)
    ok = all(_SAFE_TOKEN.match(part) for part in text.split(" ")) if spaces else bool(_SAFE_TOKEN.match(text))
    if not ok or "\n" in text or "\r" in text:
        raise ValueError(f"refusing to put {text[:60]!r} on an #SBATCH line")
    return text


@functools.lru_cache(maxsize=2)
def make_environment(autoescape: bool = False) -> jinja2.Environment:
    """Jinja for our templates: HTML ones autoescaped, the batch script with strict quoting filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
    )
    env.filters["sh"] = lambda v: shlex.quote(str(v))
    env.filters["sbatch_arg"] = sbatch_arg
    return env
