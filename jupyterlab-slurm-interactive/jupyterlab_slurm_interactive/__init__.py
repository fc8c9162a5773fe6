"""jupyterlab-slurm-interactive: what this Slurm session is and how long it has left.

A JupyterLab extension (a status-bar item, warnings before the walltime, a welcome back, open
documents saved before the hub stops the session, :mod:`.notice`, more time asked of the hub,
:mod:`.add_time`) and the server extension it asks (``GET {base_url}slurm-interactive/session``), which also
tells the hub the server's port once it listens (:mod:`.port`), and a server that Slurm stops
ends at once instead of waiting for Slurm to kill it (:mod:`.stopping`).
"""

import os

__version__ = "1.0.0"


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "jupyterlab-slurm-interactive"}]


def _jupyter_server_extension_points():
    from .stop_app import FinishRequestsOnStop

    return [{"module": "jupyterlab_slurm_interactive"},
            {"module": "jupyterlab_slurm_interactive.stop_app", "app": FinishRequestsOnStop}]


def _load_jupyter_server_extension(server_app):
    from jupyter_server.utils import url_path_join

    from .add_time import AddTimeHandler
    from .handlers import JobTimes, SavedHandler, SessionHandler, StoppingHandler
    from .notice import StopNotice

    web_app = server_app.web_app
    web_app.settings["slurm_interactive_times"] = JobTimes(os.environ.get("SLURM_JOB_ID", ""))
    web_app.settings["slurm_interactive_notice"] = StopNotice()
    base = url_path_join(web_app.settings["base_url"], "slurm-interactive")
    web_app.add_handlers(".*$", [(url_path_join(base, "session"), SessionHandler),
                                 (url_path_join(base, "stopping"), StoppingHandler),
                                 (url_path_join(base, "stopping", "saved"), SavedHandler),
                                 (url_path_join(base, "add-time"), AddTimeHandler)])

    from .port import ENABLE, report_port

    if os.environ.get(ENABLE) == "1":  # the batch script started the server on a port of its own choosing
        server_app.io_loop.add_callback(report_port, server_app)
