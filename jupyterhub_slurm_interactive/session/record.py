"""What the hub keeps of a session in its database, and what the job says of itself.

:class:`JobRecord` is the saved record: the job, its node, when it was submitted, the digest of its server's
token, and how the last session ended. :class:`JobReport` is what the job told the hub through its
callbacks while it lived: that its server exited, with which status, and the end of its output.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class JobRecord:
    """One session's job as the hub's database keeps it (``to_state`` / ``from_state``)."""

    job_id: str = ""
    node: str = ""
    submitted_at: float = 0.0
    token_sha256: str = ""
    last_end: dict = field(default_factory=dict)  # job_id, state, message, at; usage once sacct is final

    def to_state(self) -> dict:
        state = {"job_id": self.job_id, "node": self.node, "submitted_at": self.submitted_at,
                 "token_sha256": self.token_sha256, "last_end": dict(self.last_end)}
        return {k: v for k, v in state.items() if v}

    def load(self, state: dict):
        """Take a saved state; anything of the wrong type counts as missing."""
        self.job_id = str(state.get("job_id", "") or "")
        self.node = str(state.get("node", "") or "")
        self.submitted_at = float(state.get("submitted_at", 0) or 0)
        self.token_sha256 = str(state.get("token_sha256", "") or "")
        if isinstance(state.get("last_end"), dict):
            self.last_end = state["last_end"]

    def new_start(self):
        """A start begins: no job and no node yet (the token's digest and how the last one ended stay)."""
        self.job_id = self.node = ""

    def submitted(self, job_id: str, at: float):
        """Slurm took the job (sbatch answered, or the job was found or handed over by its mark)."""
        self.job_id, self.submitted_at = job_id, at

    def on_node(self, node: str):
        """The job runs on ``node`` (Slurm's name of it)."""
        if node:
            self.node = node

    def forget_job(self):
        """The job is over, or was cancelled: nothing is left for the hub's stop to cancel."""
        self.job_id = ""

    def clear(self):
        """Forget the job (the session is over); keep how it ended."""
        self.job_id = self.node = self.token_sha256 = ""
        self.submitted_at = 0.0

    def ended(self, state: str, message: str, at: float):
        """How the session ended (Slurm's ``state`` and the sentence for the user)."""
        self.last_end = {"job_id": self.job_id, "state": state, "message": message, "at": at}


@dataclass
class JobReport:
    """What the job said of itself through the hub's API while it lived."""

    exited: bool = False  # the server has exited (for any reason); the job is ending
    exit_code: int | None = None
    failure: dict | None = None  # a failed server's exit code and the end of its output

    def output_note(self, output_path: str) -> str:
        """The end of the job's output (when the job sent it) and where the whole of it is."""
        note = ""
        if self.failure and self.failure.get("output_tail"):
            note += " The end of its output:\n" + self.failure["output_tail"].rstrip("\n")
        return note + f"\nThe whole output is in {output_path}."
