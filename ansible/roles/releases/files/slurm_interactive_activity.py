"""A busy kernel is activity: a session whose notebook computes is not idle for the hub's idle culler.

jupyter_server's ``last_activity()`` (what the session reports to the hub) counts API calls and kernel
messages, and every setting whose name ends with ``_last_activity``. A cell that computes for an hour
without printing sends no message: this extension looks at the kernels every few seconds and, while one is
busy, sets ``slurm_interactive_last_activity`` to now. Installed into every release by the releases role.
"""

from datetime import datetime, timezone

from tornado.ioloop import PeriodicCallback

LOOK_EVERY_MS = 5000


def _jupyter_server_extension_points():
    return [{"module": "slurm_interactive_activity"}]


def _load_jupyter_server_extension(serverapp):
    kernels = serverapp.kernel_manager
    settings = serverapp.web_app.settings

    def look():
        for kernel_id in list(kernels.list_kernel_ids()):
            try:
                busy = getattr(kernels.get_kernel(kernel_id), "execution_state", "") == "busy"
            except KeyError:  # shut down meanwhile
                continue
            if busy:
                settings["slurm_interactive_last_activity"] = datetime.now(timezone.utc)
                return

    settings["slurm_interactive_activity_look"] = PeriodicCallback(look, LOOK_EVERY_MS)
    settings["slurm_interactive_activity_look"].start()
    serverapp.log.info("slurm_interactive_activity: a busy kernel counts as activity")
