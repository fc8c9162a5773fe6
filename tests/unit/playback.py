"""A runner that plays back recorded Slurm output: handed to the code under test like the real one,
so no module function is patched.

Answers are keyed by words of the command line ("squeue", "scontrol show node"): a call gets the answers
of the key with the most words that all appear in its argv, in turn, the last one repeated. An answer is
text (standard output) or a SlurmError (the command failed). Every call is kept in ``ran``.
"""

from __future__ import annotations

from pathlib import Path

from jupyterhub_slurm_interactive.slurm.runner import SLURM_COMMANDS, SlurmError

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def queue_line(state: str, job_id: str, name: str = "jupyterhub-session", comment: str = "(null)",
               user: str = "") -> str:
    """A recorded squeue line in ``state`` (from squeue_mixed.txt), renumbered as ``job_id``, renamed and
    with ``comment`` (and ``user``, if given)."""
    for line in fixture("squeue_mixed.txt").splitlines():
        fields = line.split("|")
        if fields[1] == state:
            return "|".join([job_id, *fields[1:7], user or fields[7], name, comment]) + "\n"
    raise LookupError(f"no {state} line recorded")


DOWN = SlurmError("squeue", 1, "squeue: error: slurm_load_jobs error: Unable to contact slurm controller")


class PlaybackRunner:
    def __init__(self, answers: dict[str, list]):
        self.answers = {k: list(v) for k, v in answers.items()}
        self.ran: list[dict] = []

    def key(self, argv: list[str]) -> str | None:
        fitting = [k for k in self.answers if all(word in argv for word in k.split())]
        return max(fitting, key=lambda k: len(k.split()), default=None)

    async def run(self, argv, *, input=None, env=None, timeout=None) -> str:
        name = next((a for a in argv if a in SLURM_COMMANDS), argv[0])
        self.ran.append({"argv": list(argv), "input": input, "env": env, "command": name})
        answers = self.answers.get(self.key(argv))
        if not answers:
            raise AssertionError(f"nothing recorded for {argv}")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if callable(answer):  # what happens elsewhere while the command runs, then its output
            answer = answer()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def commands(self) -> list[str]:
        return [r["command"] for r in self.ran]


def cluster_view(nodes: str, reservations: str, partitions: str) -> str:
    """The answers of three ``scontrol -o show`` as the one ``scontrol`` of the cluster view prints them
    (scontrol_cluster_view.txt): each after scontrol's echo of its command."""
    return (f"scontrol: show node\n{nodes}scontrol: show reservation\n{reservations}"
            f"scontrol: show partition\n{partitions}scontrol: \n")


#: A cluster view as recorded: nodes (one GPU job on node01, node02 full), reservations, partitions.
CLUSTER = {
    "scontrol --details": [cluster_view(fixture("scontrol_show_node_busy.txt"),
                                        fixture("scontrol_show_reservation.txt"),
                                        fixture("scontrol_show_partition.txt"))],
}


class ManualClock:
    """``time`` for code that takes a clock: ``monotonic()`` and ``time()`` move only when told (``advance``)."""

    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
