"""Who stops a session and why, said before the stop: the idle culler (after how long idle) or an operator
(with a reason). The stop's words (its end message, what the session's open tabs are told) come from here.
The owner's own Stop, and an admin's through JupyterHub's own pages, leave no note: the hub does not
know who sent those."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from jupyterhub_slurm_interactive.session import states
from jupyterhub_slurm_interactive.words import duration

#: A note older than this is not about the stop that comes now.
FRESH_SECONDS = 300


@dataclass
class StopNote:
    clock: object = time  # time(): the time module, or a test's own clock
    _note: dict = field(default_factory=dict)

    def idle(self, idle_seconds: float):
        self._note = {"at": self.clock.time(), "idle_seconds": float(idle_seconds)}

    def operator(self, name: str, reason: str):
        self._note = {"at": self.clock.time(), "operator": name, "reason": reason}

    def forget(self):
        self._note = {}

    def current(self) -> dict:
        """The note, if it was made for the stop that comes now; else {}."""
        note = self._note
        return note if note and self.clock.time() - note["at"] < FRESH_SECONDS else {}

    def kept(self) -> dict:
        """What the session's record keeps of it, beside the end's message."""
        return {k: v for k, v in self.current().items() if k in ("idle_seconds", "operator", "reason")}

    def stopped_message(self, job: str) -> str:
        note = self.current()
        return states.stopped(job, note.get("idle_seconds"), note.get("operator", ""), note.get("reason", ""))

    def cancelled_message(self, job: str, where: str) -> str:
        """A queued or starting session cancelled: by its owner, or by an operator who said why."""
        note, which = self.current(), f"your session{f' (Slurm job {job})' if job else ''}"
        if "operator" in note:
            why = note["reason"].strip().rstrip(".") or "no reason given"
            return f"The operator {note['operator']} cancelled {which} {where}: {why}. Its choices are kept."
        return f"You cancelled {which} {where}; its choices are kept."

    def notice(self) -> dict:
        """What the session's open tabs are told before the stop: by whom ("" when the hub does not know)
        and why."""
        note = self.current()
        if "operator" in note:
            return {"by": f"the operator {note['operator']}", "reason": note["reason"]}
        if "idle_seconds" in note:
            return {"by": "the idle culler", "reason": f"no activity for {duration(note['idle_seconds'])}"}
        return {"by": "", "reason": ""}
