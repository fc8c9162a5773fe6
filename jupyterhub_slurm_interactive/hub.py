"""The product in a hub, by one call at the end of ``jupyterhub_config.py``::

    import jupyterhub_slurm_interactive
    jupyterhub_slurm_interactive.enable(c)

Importing the package changes nothing in JupyterHub. ``enable(c)``:

- makes :class:`~spawner.InteractiveSlurmSpawner` the spawner, unless the
  configuration names one already (a site's subclass, say);
- adds our page templates to ``c.JupyterHub.template_paths``, after the site's own (which override ours)
  and before JupyterHub's;
- adds our API routes and pages, replacing batchspawner's port handler and JupyterHub's spawn page
  (:func:`~patches.install_routes`), and on JupyterHub 6 keeps a replaced
  spawner where the hub's handlers see it (:func:`~patches.keep_replaced_spawner`);
- adds the idle culler as a hub service with its role, from ``c.IdleSessions`` (a bad limit stops the hub);
- has ``/hub/metrics`` read the live sessions at each scrape;
- checks, as the hub starts, that it sees its sessions' jobs, and logs the fix if not.
"""

from __future__ import annotations

from jupyterhub_slurm_interactive import patches
from jupyterhub_slurm_interactive.cluster import visibility
from jupyterhub_slurm_interactive.ops import idle, metrics
from jupyterhub_slurm_interactive.session.templating import hub_templates_path
from jupyterhub_slurm_interactive.web.handlers import HANDLERS as API
from jupyterhub_slurm_interactive.web.operators import HANDLERS as OPERATORS
from jupyterhub_slurm_interactive.web.spawn_page import HANDLERS as SPAWN

SPAWNER = "slurm-interactive"  # the entry point of InteractiveSlurmSpawner


def enable(c) -> None:
    """Enable interactive Slurm sessions in the hub whose configuration is ``c``."""
    if "spawner_class" not in c.JupyterHub:
        c.JupyterHub.spawner_class = SPAWNER
    ours = hub_templates_path()
    paths = [p for p in c.JupyterHub.get("template_paths", []) if p != ours]
    c.JupyterHub.template_paths = [*paths, ours]
    patches.install_routes(API, OPERATORS + SPAWN)
    patches.keep_replaced_spawner()
    idle.configure(c)
    metrics.register()
    visibility.check_when_the_hub_starts(timeout=c.InteractiveSlurmSpawner.get("slurm_timeout", 30))
