"""Interactive GPU sessions on Slurm through JupyterHub."""

from . import compat, handlers
from .spawner import InteractiveSlurmSpawner

compat.apply()
handlers.register()

__all__ = ["InteractiveSlurmSpawner"]
__version__ = "0.1.0"
