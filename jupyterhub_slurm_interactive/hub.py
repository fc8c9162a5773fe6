"""The product in a hub, by one call at the end of ``jupyterhub_config.py``::

    import jupyterhub_slurm_interactive
    jupyterhub_slurm_interactive.enable(c)

Importing the package changes nothing in JupyterHub. ``enable(c)``:

- makes :class:`~spawner.InteractiveSlurmSpawner` the spawner, unless the
  configuration names one already (a site's subclass, say);
- lands an administrator with no session of their own on the operators' view, ``/hub/sessions``
  (``c.JupyterHub.default_url``), unless the configuration sets a landing;
- adds our page templates to ``c.JupyterHub.template_paths``, after the site's own (which override ours)
  and before JupyterHub's;
- adds our API routes and pages, replacing batchspawner's port handler and JupyterHub's spawn and home pages
  (:func:`~patches.install_routes`), and on JupyterHub 6 keeps a replaced
  spawner where the hub's handlers see it (:func:`~patches.keep_replaced_spawner`) and sends a login its
  authenticator no longer confirms to log in again (:func:`~patches.stale_login_is_sent_to_log_in`);
- adds the idle culler as a hub service with its role, from ``c.IdleSessions`` (a bad limit stops the hub);
- refuses batchspawner's settings that do nothing here (:data:`settings.REFUSED`), and says which it honours;
- has ``/hub/metrics`` read the live sessions at each scrape;
- checks, as the hub starts, that it sees its sessions' jobs, and logs the fix if not;
- once the hub has started, puts what it made while starting out of the garbage collector's way
  (:func:`freeze_when_started`).
"""

from __future__ import annotations

import asyncio
import gc
import logging

from jupyterhub_slurm_interactive import patches
from jupyterhub_slurm_interactive.cluster import visibility
from jupyterhub_slurm_interactive.ops import idle
from jupyterhub_slurm_interactive.session.templating import hub_templates_path
from jupyterhub_slurm_interactive.settings import HONOURED, refuse_batchspawner_settings
from jupyterhub_slurm_interactive.shared import Shared
from jupyterhub_slurm_interactive.web.handlers import HANDLERS as API
from jupyterhub_slurm_interactive.web.home_page import HANDLERS as HOME
from jupyterhub_slurm_interactive.web.operators import HANDLERS as OPERATORS
from jupyterhub_slurm_interactive.web.operators import landing
from jupyterhub_slurm_interactive.web.spawn_page import HANDLERS as SPAWN

SPAWNER = "slurm-interactive"  # the entry point of InteractiveSlurmSpawner


def enable(c) -> None:
    """Enable interactive Slurm sessions in the hub whose configuration is ``c``. A batchspawner setting that
    does nothing here stops the hub with a ValueError naming it (settings.REFUSED)."""
    log = logging.getLogger("JupyterHub")
    for name, value in refuse_batchspawner_settings(c).items():
        log.warning("batchspawner's %s=%r is honoured as InteractiveSlurmSpawner.%s", name, value, HONOURED[name])
    if "spawner_class" not in c.JupyterHub:
        c.JupyterHub.spawner_class = SPAWNER
    if "default_url" not in c.JupyterHub:
        c.JupyterHub.default_url = landing
    ours = hub_templates_path()
    paths = [p for p in c.JupyterHub.get("template_paths", []) if p != ours]
    c.JupyterHub.template_paths = [*paths, ours]
    patches.install_routes(API, OPERATORS + SPAWN + HOME)
    patches.keep_replaced_spawner()
    patches.stale_login_is_sent_to_log_in()
    idle.configure(c)
    Shared.register_metrics()
    shared = Shared.default(timeout=c.InteractiveSlurmSpawner.get("slurm_timeout", 30))
    visibility.check_when_the_hub_starts(shared.visibility)
    freeze_when_started()


def freeze_when_started(app=None) -> bool:
    """Once the hub has started, collect once and freeze what is left (``gc.freeze``): the modules, the
    database's objects and every user's spawner made while starting live as long as the hub, and a full
    collection then scans only what came after. Without it each full collection walks every one of them
    and stops the hub's one thread for a tenth of a second or more, a few times a minute under load
    (docs/operating.md). A frozen object is still freed when nothing refers to it any more; only a cycle
    among them waits. Returns whether it was scheduled (not outside a starting hub, such as
    ``jupyterhub upgrade-db``)."""
    if app is None:
        from jupyterhub.app import JupyterHub

        app = JupyterHub.instance() if JupyterHub.initialized() else None
    started = getattr(app, "_start_future", None)
    if not isinstance(started, asyncio.Future) or started.done():
        return False
    log = logging.getLogger("JupyterHub")

    def freeze(_):
        gc.collect()
        gc.freeze()
        log.info("The hub's %d objects from its start are frozen: full collections skip them",
                 gc.get_freeze_count())

    started.add_done_callback(freeze)
    return True
