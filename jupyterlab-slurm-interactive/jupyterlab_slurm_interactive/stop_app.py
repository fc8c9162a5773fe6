"""The server extension that runs :func:`.stopping.finish_requests` when the server stops.

jupyter_server calls every extension app's ``stop_extension`` while its loop still runs, before it
shuts the kernels down and stops the loop: the moment to let requests in flight finish.
"""

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float

from .stopping import finish_requests


class FinishRequestsOnStop(ExtensionApp):
    """Lets the requests in flight finish before the server stops, so that it exits at once."""

    name = "jupyterlab_slurm_interactive_stop"
    load_other_extensions = True

    grace = Float(
        5.0,
        config=True,
        help="""Seconds a request in flight may take to finish once the server is told to stop (Slurm's
        SIGTERM). Longer ones are cancelled. Keep it well under Slurm's KillWait, after which Slurm
        kills the server anyway.""",
    )

    async def stop_extension(self):
        await finish_requests(grace=self.grace, log=self.log)
