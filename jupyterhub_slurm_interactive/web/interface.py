"""What the pages and the REST API ask of a session's spawner: this interface, and nothing else.

The handlers meet spawners through JupyterHub (``user.spawners``), which may hold spawners of other kinds
on a hub that offers several. :func:`session_spawner` tells ours apart by this interface; then every call is
one that :class:`SessionSpawner` declares, with its types.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from jupyterhub_slurm_interactive.choice.presets import Preset, PresetStore
from jupyterhub_slurm_interactive.choice.request import ResourceRequest
from jupyterhub_slurm_interactive.cluster.views import ClusterCache
from jupyterhub_slurm_interactive.session.life import Session
from jupyterhub_slurm_interactive.session.more_time import Added


@runtime_checkable
class SessionSpawner(Protocol):
    """A spawner of interactive Slurm sessions (InteractiveSlurmSpawner)."""

    name: str
    partition: str
    session: Session  # the job and its life: the server's callbacks, its phase, how it ended
    request: ResourceRequest | None  # the checked request of the session being started or running
    # and JupyterHub's own Spawner: user, active, ready, pending, _log_name

    async def availability(self, reservation: str = "", request: dict | None = None) -> dict:
        """The table of free resources this user may use, as JSON."""

    async def session_card(self) -> dict:
        """The session's card on "My sessions", as JSON."""

    def phase(self) -> str:
        """new, queued, starting, running, stopping or ended."""

    async def cancel_start(self) -> str:
        """Cancel a queued or starting session; its job ID. NotStarting if it is neither."""

    async def add_time(self, minutes: int, by: str) -> Added:
        """Raise a running session's time limit; session.more_time.Refused names the rule that refused."""

    def user_presets(self) -> list[Preset]:
        """The presets this user may fill the form with: the site's their groups see, then their own."""

    async def save_preset(self, title: str, values) -> Preset:
        """Keep the user's own preset once its values pass a start's check (InvalidRequest, ValueError)."""

    def preset_store(self) -> PresetStore:
        """Where the user's own presets are kept."""

    def cluster(self) -> ClusterCache:
        """The hub's shared view of the cluster."""


def session_spawner(spawner) -> SessionSpawner | None:
    """``spawner`` if it is one of ours, else None."""
    return spawner if isinstance(spawner, SessionSpawner) else None
