"""The projects' budgets: each account's limits of CPU- and GPU-minutes (Slurm's ``GrpTRESMins``), what it has
used, and what its running jobs still hold, from one ``sshare`` for every account.

Slurm (priority/multifactor) holds a job in the queue when the account's usage, plus what its running jobs may
still use, plus what the job may use, would pass a limit; the job's reason names the TRES
(``AssocGrpCPUMinutesLimit``, ``AssocGrpGRESMinutes``). The form shows the chosen account's budget and warns
before a request that Slurm would hold so (:mod:`choice.budget`). The view is shared by every user of the hub
and asked of Slurm at most once per interval, however many forms are open.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from jupyterhub_slurm_interactive.cluster.views import SharedQuery
from jupyterhub_slurm_interactive.slurm import commands as slurm

#: The TRES a budget counts, with Slurm's reason when a job would pass its limit.
TRES = {"cpu": "AssocGrpCPUMinutesLimit", "gres/gpu": "AssocGrpGRESMinutes"}
#: ``sshare``'s fields, in this order.
SSHARE_FIELDS = "Account,User,GrpTRESMins,GrpTRESRaw,TRESRunMins"


@dataclass(frozen=True)
class Budget:
    """One account's limits, usage and running jobs' remaining TRES, in TRES-minutes (cpu, gres/gpu)."""

    account: str
    limits: dict[str, int]  # only the TRES that have a limit
    used: dict[str, float]
    running: dict[str, float]

    def left(self, tres: str) -> float:
        """What a new job may still use of ``tres`` before Slurm holds it."""
        return self.limits[tres] - self.used.get(tres, 0.0) - self.running.get(tres, 0.0)


def _tres_numbers(text: str) -> dict[str, float]:
    found = {}
    for part in (text or "").split(","):
        name, _, value = part.partition("=")
        try:
            found[name.strip()] = float(value)
        except ValueError:
            continue
    return found


def parse_sshare(text: str) -> dict[str, Budget]:
    """``sshare --all --parsable2 --noheader --format=SSHARE_FIELDS`` → the accounts' own lines (no user), by name.
    An account with neither limit is left out: it has no budget."""
    budgets = {}
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) != 5 or parts[1].strip() or not parts[0].strip():
            continue
        account = parts[0].strip()
        limits = {k: int(v) for k, v in _tres_numbers(parts[2]).items() if k in TRES}
        if limits:
            used, running = _tres_numbers(parts[3]), _tres_numbers(parts[4])
            budgets[account] = Budget(account, limits, {k: used.get(k, 0.0) for k in TRES},
                                      {k: running.get(k, 0.0) for k in TRES})
    return budgets


class BudgetView(SharedQuery):
    """Every account's budget from one ``sshare``, shared, at most once per ``interval``. The hub, a Slurm
    operator, sees every account's usage however PrivateData hides it from users."""

    def __init__(self, runner, interval: float):
        super().__init__(interval)
        self.runner = runner
        self.taken_at = 0.0

    async def fetch(self) -> dict[str, Budget]:
        asked = time.time()
        out = await self.runner.run(["sshare", "--all", "--parsable2", "--noheader", f"--format={SSHARE_FIELDS}"])
        self.taken_at = asked
        return parse_sshare(out)

    async def of(self, account: str) -> Budget | None:
        """The account's budget, or None (no limit, or Slurm has never answered: the form then says nothing)."""
        try:
            return (await self.get()).get(account)
        except slurm.SlurmError:
            return None
