"""Interactive GPU sessions on Slurm through JupyterHub.

Importing this package changes nothing in JupyterHub: a hub enables it with one call at the end of its
``jupyterhub_config.py`` (see :mod:`hub`)::

    import jupyterhub_slurm_interactive
    jupyterhub_slurm_interactive.enable(c)

The layers, each importing only those below it:

- ``slurm``: the runner of Slurm's commands and the parsing of what they print;
- ``cluster``: the hub's shared views of the cluster and the queue, what is free, what the hub can see;
- ``choice``: what a user may ask for (the request, its bounds, the releases);
- ``ops``: metrics, the idle policy, usage, the stack's self-check;
- ``session``: a session's life as a Slurm job (submit, wait, port, restart, end, stop);
- ``web``: the pages and the REST API;
- :mod:`~spawner`: JupyterHub's spawner, tying them together.
"""

from __future__ import annotations

__all__ = ["InteractiveSlurmSpawner", "enable"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # loaded when first asked for, so that importing the package imports neither JupyterHub's handlers
    # nor batchspawner (whose import adds its own route to JupyterHub's list)
    if name == "enable":
        from jupyterhub_slurm_interactive.hub import enable

        return enable
    if name == "InteractiveSlurmSpawner":
        from jupyterhub_slurm_interactive.spawner import InteractiveSlurmSpawner

        return InteractiveSlurmSpawner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
