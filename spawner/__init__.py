"""Interactive GPU sessions on Slurm through JupyterHub."""

from .spawner import InteractiveSlurmSpawner

__all__ = ["InteractiveSlurmSpawner"]
__version__ = "0.1.0"
