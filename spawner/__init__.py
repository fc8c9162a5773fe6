"""Interactive GPU sessions on Slurm through JupyterHub."""

from . import handlers
from .spawner import InteractiveSlurmSpawner

handlers.register()

__all__ = ["InteractiveSlurmSpawner"]
__version__ = "0.1.0"
