"""Interactive GPU sessions on Slurm through JupyterHub."""

from . import compat, handlers
from .spawner import InteractiveSlurmSpawner
from .templating import hub_templates_path

compat.apply()
handlers.register()

__all__ = ["InteractiveSlurmSpawner", "hub_templates_path"]
__version__ = "0.1.0"
