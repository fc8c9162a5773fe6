"""Installing the package changes nothing in JupyterHub; ``enable(c)`` in the hub's configuration does it all."""

import subprocess
import sys
import textwrap

from traitlets.config import Config

IMPORT_EVERYTHING = textwrap.dedent("""
    import pkgutil, importlib
    import jupyterhub.apihandlers as api, jupyterhub.handlers as pages
    from jupyterhub.user import User
    import batchspawner  # batchspawner's own import adds its port route; ours may add nothing more

    def looks():
        return ([h[:2] for h in api.default_handlers], [h[:2] for h in pages.default_handlers],
                User.get_spawner)

    before = looks()
    import jupyterhub_slurm_interactive as package
    names = [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
             if not m.name.endswith("idle_culler_config")]  # the culler's config file, read by the culler
    for name in names:
        importlib.import_module(name)
    package.InteractiveSlurmSpawner
    assert looks() == before, "an import changed JupyterHub"
    from jupyterhub_slurm_interactive.shared import Shared
    assert Shared.collector is None and not Shared.instances, "an import made shared state"
    print(len(names))
""")


def test_importing_every_module_leaves_jupyterhub_as_it_was():
    out = subprocess.run([sys.executable, "-c", IMPORT_EVERYTHING], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 30  # every module of every layer was imported


ENABLE = textwrap.dedent("""
    import jupyterhub, jupyterhub.apihandlers as api, jupyterhub.handlers as pages
    from jupyterhub.user import User
    from traitlets.config import Config
    import jupyterhub_slurm_interactive

    c = Config()
    c.JupyterHub.template_paths = ["/site/templates"]
    c.IdleSessions.gpu_timeout = 600
    jupyterhub_slurm_interactive.enable(c)
    jupyterhub_slurm_interactive.enable(c)  # twice: nothing is added twice
    routes = [h[0] for h in api.default_handlers]
    assert routes.count("/api/batchspawner") == 1, routes
    port = dict(h[:2] for h in api.default_handlers)["/api/batchspawner"]
    assert port.__module__ == "jupyterhub_slurm_interactive.web.server_calls", port
    assert [h[0] for h in api.default_handlers].count("/api/slurm-interactive/availability") == 1
    spawn = dict(h[:2] for h in pages.default_handlers)["/spawn/([^/]+)"]
    assert spawn.__module__ == "jupyterhub_slurm_interactive.web.spawn_page", spawn
    assert "/sessions" in [h[0] for h in pages.default_handlers]
    home = dict(h[:2] for h in pages.default_handlers)["/home"]
    assert home.__module__ == "jupyterhub_slurm_interactive.web.home_page", home
    assert c.JupyterHub.spawner_class == "slurm-interactive"
    paths = c.JupyterHub.template_paths
    assert paths[0] == "/site/templates" and paths[1].endswith("templates/hub") and len(paths) == 2, paths
    assert [s["name"] for s in c.JupyterHub.services] == ["idle-culler"]
    assert [r["name"] for r in c.JupyterHub.load_roles] == ["idle-culler"]
    patched = User.get_spawner.__module__ == "jupyterhub_slurm_interactive.patches"
    assert patched == (jupyterhub.version_info[0] >= 6), (jupyterhub.version_info, patched)
    from prometheus_client import REGISTRY
    from jupyterhub_slurm_interactive.shared import Shared
    assert Shared.collector in REGISTRY._collector_to_names
""")


def test_enable_adds_the_routes_pages_templates_culler_and_metrics_once():
    out = subprocess.run([sys.executable, "-c", ENABLE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_enable_keeps_a_spawner_class_the_site_chose():
    from jupyterhub_slurm_interactive.hub import enable

    c = Config()
    c.JupyterHub.spawner_class = "mysite.SiteSpawner"
    enable(c)
    assert c.JupyterHub.spawner_class == "mysite.SiteSpawner"
    assert "services" not in c.JupyterHub


async def test_what_the_hub_made_while_starting_is_frozen_once_it_has_started():
    import asyncio
    import gc
    from types import SimpleNamespace

    from jupyterhub_slurm_interactive.hub import freeze_when_started

    assert not freeze_when_started(SimpleNamespace())  # not a starting hub (upgrade-db, generate-config)
    app = SimpleNamespace(_start_future=asyncio.get_running_loop().create_future())
    assert freeze_when_started(app)
    try:
        assert gc.get_freeze_count() == 0  # not while it starts
        app._start_future.set_result(None)
        await asyncio.wait_for(app._start_future, 5)  # its callbacks run on the loop's next turn
        await asyncio.wait_for(frozen(), 5)
    finally:
        gc.unfreeze()


async def frozen():
    import asyncio
    import gc

    while not gc.get_freeze_count():
        await asyncio.sleep(0)
