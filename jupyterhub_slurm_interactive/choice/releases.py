"""The catalogue of software releases a session can run.

A release is a directory under ``releases_dir`` holding a Python environment and
a ``release.json`` manifest, written at deployment::

    {"name": "2026.11", "date": "2026-11-21", "python": "3.11.2",
     "interfaces": ["lab", "notebook", "vscode", "desktop"],
     "kernels": [{"name": "python3", "display_name": "Python 3", "language": "python"}, ...],
     "packages": {"jupyterlab": "4.6.6", "jupyterhub": "6.1.1", "R": "4.2.2", ...}}

Only directories with a valid manifest and a ``jupyterhub-singleuser`` are
offered. Names are matched exactly against the catalogue, never joined into a
path from user input.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from urllib.parse import quote

from jupyterhub_slurm_interactive.choice.request import NAME

log = logging.getLogger(__name__)

#: The interfaces a release may offer, in the order they are shown.
INTERFACES = {"lab": "JupyterLab", "notebook": "Jupyter Notebook", "vscode": "VS Code", "desktop": "Desktop"}
#: Where each interface opens (VS Code and the desktop through jupyter-server-proxy's routes).
INTERFACE_URLS = {"lab": "/lab", "notebook": "/tree", "vscode": "/vscode/", "desktop": "/desktop/"}


def interface_url(ui: str, session_name: str = "") -> str:
    """Where a session of interface ``ui`` opens. A named session's JupyterLab opens a workspace of its
    own name, so that two sessions of one user (one home) do not reopen each other's tabs and kernels;
    the default session keeps JupyterLab's default workspace."""
    url = INTERFACE_URLS.get(ui, "/lab")
    if url == "/lab" and session_name:
        return f"/lab/workspaces/{quote(session_name, safe='')}"
    return url


@dataclass(frozen=True)
class Release:
    name: str
    date: str
    path: str
    python: str = ""
    interfaces: tuple[str, ...] = ("lab",)
    kernels: tuple[str, ...] = ()
    packages: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def bin_dir(self) -> str:
        return os.path.join(self.path, "bin")

    @property
    def label(self) -> str:
        return f"{self.name} (released {self.date})" if self.date else self.name


def load_release(path: str) -> Release | None:
    """Read one release directory; None (and a warning) if it is not a usable release."""
    manifest = os.path.join(path, "release.json")
    try:
        with open(manifest, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        log.warning("Ignoring release %s: unreadable manifest (%s)", path, e)
        return None
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not NAME.match(name) or name != os.path.basename(path.rstrip("/")):
        log.warning("Ignoring release %s: its manifest names it %r", path, name)
        return None
    if not os.access(os.path.join(path, "bin", "jupyterhub-singleuser"), os.X_OK):
        log.warning("Ignoring release %s: no bin/jupyterhub-singleuser", path)
        return None
    declared = data.get("interfaces") if isinstance(data.get("interfaces"), list) else ["lab"]
    unknown = [i for i in declared if not isinstance(i, str) or i not in INTERFACES]
    if unknown:
        log.warning("Release %s declares interfaces this hub does not know, left out: %s", path, unknown)
    interfaces = tuple(i for i in INTERFACES if i in declared)
    if not interfaces:
        log.warning("Ignoring release %s: its manifest offers no interface", path)
        return None
    packages = data.get("packages") if isinstance(data.get("packages"), dict) else {}
    kernels = data.get("kernels") if isinstance(data.get("kernels"), list) else []
    return Release(
        name=name,
        date=str(data.get("date", "")),
        path=os.path.realpath(path),
        python=str(data.get("python", "")),
        interfaces=interfaces,
        kernels=tuple(k["display_name"] for k in kernels
                      if isinstance(k, dict) and isinstance(k.get("display_name"), str) and k["display_name"]),
        packages={str(k): str(v) for k, v in packages.items()},
    )


class ReleaseShelf:
    """The installed releases, read again every ``ttl`` seconds, so a release installed or removed shows
    without restarting the hub; one shelf per hub (:class:`~shared.Shared`)."""

    def __init__(self, ttl: float = 5.0, clock=time):
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[str, tuple[float, tuple[Release, ...]]] = {}

    def releases(self, releases_dir: str) -> list[Release]:
        """The releases under ``releases_dir``, newest first (by date, then name)."""
        hit = self._entries.get(releases_dir)
        if hit and self.clock.monotonic() - hit[0] < self.ttl:
            return list(hit[1])
        releases = list_releases(releases_dir)
        self._entries[releases_dir] = (self.clock.monotonic(), tuple(releases))
        return releases

    def find(self, releases_dir: str, name: str) -> Release | None:
        """The release of that name, or None if it is not installed (any more)."""
        return next((r for r in self.releases(releases_dir) if r.name == name), None)


def list_releases(releases_dir: str) -> list[Release]:
    """The installed releases, newest first (by date, then name), read from the disk now."""
    try:
        entries = sorted(os.listdir(releases_dir))
    except OSError as e:
        log.error("Cannot list the releases in %s: %s", releases_dir, e)
        return []
    releases = [r for r in (load_release(os.path.join(releases_dir, e)) for e in entries) if r]
    return sorted(releases, key=lambda r: (r.date, r.name), reverse=True)
