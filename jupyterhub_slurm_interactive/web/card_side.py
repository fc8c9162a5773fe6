"""The spawner's side of "My sessions", the home page and the metrics: a session's phase, card and summary
from what the hub knows now (its flags, the session's record, the request, the shared queue), and what a
finished session used.
"""

from __future__ import annotations

from jupyterhub_slurm_interactive.choice.releases import Release
from jupyterhub_slurm_interactive.choice.request import ResourceRequest
from jupyterhub_slurm_interactive.ops import usage
from jupyterhub_slurm_interactive.slurm.commands import QueueEntry
from jupyterhub_slurm_interactive.slurm.runner import SlurmError
from jupyterhub_slurm_interactive.web import cards


class CardSide:
    """Part of InteractiveSlurmSpawner: ``session``, ``request``, ``last_request``, ``shared`` and
    ``poller()`` come from the spawner."""

    def _flags(self) -> cards.Flags:
        session = self.session
        return cards.Flags(active=bool(self.active), ready=bool(self.ready), pending=self.pending,
                           starting=session.starting, node=session.node, ended=bool(session.last_end))

    def _entry(self) -> QueueEntry | None:
        """This session's line of the last answer of the shared squeue (no query)."""
        return (self.poller().peek() or {}).get(self.job_id) if self.job_id else None

    def _release(self, request: ResourceRequest | None) -> Release | None:
        return self.shared.releases.find(self.releases_dir, request.release) if request else None

    def phase(self) -> str:
        """The session's phase as its card names it: new, queued, starting, running, stopping or ended."""
        return cards.phase(self._flags(), self._entry())

    async def usage(self) -> dict | None:
        """What the last finished session used, from sacct; kept in the state once Slurm's figures are final."""
        end = self.session.last_end
        job = str(end.get("job_id", "") or "")
        if not job:
            return None
        if isinstance(end.get("usage"), dict):
            return end["usage"]
        try:
            found = usage.parse_sacct(await self.runner.run(usage.sacct_argv(job)))
        except SlurmError as e:
            self.log.warning("%s: sacct could not say what job %s used: %s", self._log_name, job, e.message)
            return None
        if found is None:
            return None
        figures = found.as_json()
        if usage.settled(found, self.session.clock.time() - float(end.get("at") or 0)):
            end["usage"] = figures
        elif not found.steps_reported:
            figures["recording"] = True  # its steps' figures are on their way: the card says so, not a low sum
            if not self.active:
                self._save_state()
        return figures

    def metrics_view(self) -> tuple[str, ResourceRequest | None, bool] | None:
        """(phase, request, whether its job holds a node) for ops.metrics, from memory only; None for a
        spawner the hub has replaced (a failed start leaves the old object alive, on the same server)."""
        holder = getattr(getattr(self, "user", None), "spawners", None)
        if holder is None or dict.get(holder, self.name) is not self:
            return None
        entry = self._entry()
        phase = cards.phase(self._flags(), entry)
        holds = bool(self.job_id) and phase in ("starting", "running", "stopping") and bool(
            self.session.node or (entry is not None and entry.running))
        return phase, self.request, holds

    async def session_card(self) -> dict:
        """This session's card on "My sessions" (web.cards), from what the hub knows now; a finished
        session's usage is asked of sacct once."""
        entry, flags = self._entry(), self._flags()
        ended = cards.phase(flags, entry) == "ended"
        request = (self.last_request or self.request) if ended else (self.request or self.last_request)
        return cards.session_card(self.name, flags, request, self._release(request), entry, job_id=self.job_id,
                                  last_end=self.session.last_end, usage=await self.usage() if ended else None,
                                  add_time=tuple(self.extend_steps))
