"""jupyterhub-idle-culler's configuration when the hub runs it (ops.idle): the limits of each session,
GPU sessions apart, from the environment the hub gives the service."""

from jupyterhub_slurm_interactive.ops.idle import arbiter

c = get_config()  # noqa: F821
c.IdleCuller.cull_arbiter_hook = arbiter()
