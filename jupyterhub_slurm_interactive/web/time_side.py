"""The spawner's side of "Add time": a running session's time limit raised within the site's rules
(:mod:`session.more_time`), logged and counted.
"""

from __future__ import annotations

from jupyterhub_slurm_interactive.ops import metrics
from jupyterhub_slurm_interactive.session import more_time


class TimeSide:
    """Part of InteractiveSlurmSpawner: ``session``, ``request``, ``runner``, ``cluster()``, ``poller()`` and the
    settings ``max_total_hours``, ``extend_while_others_wait`` and ``check_view_max_age`` come from the spawner."""

    def time_policy(self) -> more_time.Policy:
        return more_time.Policy(max_total_minutes=self.max_total_hours * 60,
                                while_others_wait=self.extend_while_others_wait)

    def time_environment(self) -> dict:
        """What the session's JupyterLab offers as "Add time": the site's steps in minutes, "30,60"."""
        return {"JUPYTERHUB_SLURM_ADD_TIME": ",".join(str(m) for m in self.extend_steps)}

    async def add_time(self, minutes: int, by: str) -> more_time.Added:
        """Raise the running job's time limit by ``minutes``; :class:`more_time.Refused` names the rule that
        refused. ``by`` is who asked (the user, or an operator), for the log."""
        try:
            if not (self.ready and not self.pending and self.job_id and not self.session.starting):
                raise more_time.Refused("not_running", "Only a running session gets more time; this one is not "
                                        "running.")
            snapshot = await self.cluster().recent(self.check_view_max_age)
            added = await more_time.add_time(
                self.runner, self.job_id, minutes, user=self.user.name,
                gpus=self.request.gpus if self.request else 0, policy=self.time_policy(),
                partitions=snapshot.partitions, reservations=snapshot.reservations)
        except more_time.Refused as e:
            metrics.TIME_ADDED.labels(e.rule).inc()
            self.log.info("%s: %s asked for %d min more for job %s: refused (%s): %s", self._log_name, by, minutes,
                          self.job_id, e.rule, e.message)
            raise
        metrics.TIME_ADDED.labels("added").inc()
        metrics.TIME_ADDED_MINUTES.inc(minutes)
        self.log.info("%s: %s added %d min to job %s: its time limit is now %d min", self._log_name, by, minutes,
                      added.job_id, added.limit_minutes)
        poller = self.poller()
        poller.expire()
        try:
            await poller.get()  # the cards' time left follows the new end from the answer on
        except Exception:  # noqa: BLE001 - the time was added; the cards follow at the next look
            pass
        return added
