"""Whether the hub can see its sessions' jobs in Slurm's queue.

The hub reads every session's state with one ``squeue`` as its own user. Where Slurm hides jobs from
other users (``PrivateData=jobs``), that user must be a Slurm operator (or administrator) whose uid
slurmctld has resolved. A hub that cannot see the jobs would start sessions blind: a job that runs
looks gone, and its start fails while the job goes on holding a node. So the hub checks, once when it
starts and again whenever a start loses sight of its job, and refuses to start sessions (saying why and
what fixes it) while the check fails.

:func:`judge` is pure, over what ``scontrol show config`` and ``scontrol show assoc_mgr`` print;
:class:`JobVisibility` asks Slurm through the runner it is given and keeps the verdict for a while.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import pwd
import re
import time
from dataclasses import dataclass

from jupyterhub_slurm_interactive.slurm.runner import SlurmError

#: The uid slurmctld gives a name it could not resolve (NO_VAL, shown as 4294967294).
UNRESOLVED_UID = 4294967294
ADMIN_LEVELS = frozenset({"Operator", "Administrator"})

_USER_RECORD = re.compile(r"^UserName=(?P<name>[^(\s]+)\((?P<uid>\d+)\).*?\bAdminLevel=(?P<level>.+?)\s*$", re.M)


@dataclass(frozen=True)
class Verdict:
    """``ok`` when the hub sees every user's jobs; else ``problem`` says why and ``fix`` what to do."""

    ok: bool
    problem: str = ""
    fix: str = ""
    checked_at: float = 0.0

    @property
    def message(self) -> str:
        return f"{self.problem} {self.fix}".strip()


def private_data(show_config: str) -> set[str]:
    """The PrivateData flags of ``scontrol show config``, lower case (empty: nothing is private)."""
    for line in show_config.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "PrivateData":
            value = value.strip()
            return set() if value.lower() in ("none", "") else {v.strip().lower() for v in value.split(",")}
    return set()


def slurm_user(show_config: str) -> str:
    """The SlurmUser of ``scontrol show config`` (``slurm(64030)`` gives "slurm")."""
    for line in show_config.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "SlurmUser":
            return value.strip().split("(")[0]
    return ""


def user_record(assoc_mgr: str, name: str) -> tuple[int, str] | None:
    """(uid as slurmctld knows it, AdminLevel) of ``name`` in ``scontrol show assoc_mgr flags=users``;
    None when slurmctld has no record of it."""
    for m in _USER_RECORD.finditer(assoc_mgr):
        if m["name"] == name:
            return int(m["uid"]), m["level"].strip()
    return None


def accounting(show_config: str) -> bool:
    """Whether slurmctld keeps accounting (AccountingStorageType is not ``accounting_storage/none``)."""
    for line in show_config.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "AccountingStorageType":
            return value.strip() not in ("", "accounting_storage/none")
    return False


def judge(hub_user: str, show_config: str, assoc_mgr: str | None, assoc_error: str = "") -> Verdict:
    """Whether ``hub_user`` sees other users' jobs, from what slurmctld says of its configuration and of
    the user, asked as that user (``assoc_mgr`` is None when slurmctld refused: ``assoc_error``)."""
    now = time.time()
    flags = private_data(show_config)
    if "jobs" not in flags and "all" not in flags:
        return Verdict(True, checked_at=now)
    if hub_user in ("root", slurm_user(show_config)):
        return Verdict(True, checked_at=now)
    where = f"Slurm hides other users' jobs (PrivateData={','.join(sorted(flags))}), and the hub's user {hub_user}"
    if not accounting(show_config):
        return Verdict(False, f"{where} cannot be made an operator: Slurm has no accounting.",
                       "Run the hub as SlurmUser, or remove 'jobs' from PrivateData in slurm.conf.", now)
    if assoc_mgr is None:  # as seen on a controller that never resolved the user's uid
        return Verdict(False, f"{where} is unknown to slurmctld, which refuses to tell it about itself "
                              f"(scontrol show assoc_mgr: {assoc_error or 'no answer'}).",
                       f"Make sure {hub_user} exists on the controller with the hub's uid and is a Slurm operator "
                       f"(sacctmgr -i add user {hub_user} account=operators adminlevel=Operator), then run "
                       "`scontrol reconfigure` on the controller.", now)
    record = user_record(assoc_mgr, hub_user)
    if record is None:
        return Verdict(False, f"{where} is not in Slurm accounting.",
                       f"Make it an operator: sacctmgr -i add user {hub_user} account=operators adminlevel=Operator "
                       "(in an account that may submit no job).", now)
    uid, level = record
    if level not in ADMIN_LEVELS:
        return Verdict(False, f"{where} is not a Slurm operator (AdminLevel={level}).",
                       f"Make it one: sacctmgr -i modify user {hub_user} set adminlevel=Operator.", now)
    if uid == UNRESOLVED_UID:
        return Verdict(False, f"{where} is an operator, but slurmctld never resolved its uid: it was added to "
                              "accounting before the user existed on the controller.",
                       "Run `scontrol reconfigure` on the controller (or restart slurmctld).", now)
    return Verdict(True, checked_at=now)


def hub_user_name() -> str:
    """The user the hub (and so its runner's commands) runs as."""
    return pwd.getpwuid(os.geteuid()).pw_name


class JobVisibility:
    """The verdict on whether the hub sees its jobs, asked of Slurm at most once per ``ttl`` seconds
    while it holds (``retry`` while it does not, so that a fix is noticed without a hub restart)."""

    def __init__(self, runner, user: str | None = None, ttl: float = 300.0, retry: float = 15.0,
                 log: logging.Logger | None = None):
        self.runner = runner
        self.user = user or hub_user_name()
        self.ttl, self.retry = ttl, retry
        self.log = log or logging.getLogger(__name__)
        self.checks = 0
        self._verdict: Verdict | None = None
        self._inflight: asyncio.Future | None = None

    def forget(self):
        """Something suggests the hub lost sight of its jobs: the next caller asks Slurm again."""
        self._verdict = None

    def peek(self) -> Verdict | None:
        return self._verdict

    async def get(self) -> Verdict:
        """The last verdict while it is fresh; else one check, shared by every caller of that moment. A
        verdict that the hub sees its jobs is still answered while its check runs behind it (no page waits
        for it); one that it does not, or none (forget), waits. A Slurm that does not answer gives no
        verdict against the hub (the caller meets that on its own)."""
        v = self._verdict
        if v is not None and time.time() - v.checked_at < (self.ttl if v.ok else self.retry):
            return v
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._check())
            self._inflight.add_done_callback(lambda _: setattr(self, "_inflight", None))
        if v is not None and v.ok:
            return v
        return await asyncio.shield(self._inflight)

    async def settled(self) -> None:
        """Once the check under way, if any, is over."""
        if self._inflight is not None:
            await asyncio.shield(self._inflight)

    async def _check(self) -> Verdict:
        self.checks += 1
        refused = ""
        try:
            config = await self.runner.run(["scontrol", "show", "config"])
            try:
                assoc = await self.runner.run(["scontrol", "show", "assoc_mgr", f"users={self.user}", "flags=users"])
            except SlurmError as e:
                if e.unreachable:
                    raise
                assoc, refused = None, e.message
        except SlurmError as e:  # no verdict from a Slurm that does not answer; a failing one stands
            before = self._verdict
            if before is not None and not before.ok:
                self._verdict = dataclasses.replace(before, checked_at=time.time())
            else:
                self._verdict = Verdict(True, problem=f"not checked: {e.message}",
                                        checked_at=time.time() - self.ttl + self.retry)
            return self._verdict
        before, verdict = self._verdict, judge(self.user, config, assoc, refused)
        self._verdict = verdict
        if not verdict.ok:
            self.log.error("The hub cannot see its sessions' jobs, so it starts none: %s", verdict.message)
        elif before is not None and not before.ok:
            self.log.warning("The hub sees its sessions' jobs again: sessions may start")
        return verdict


def check_when_the_hub_starts(check: JobVisibility):
    """Check once, as the hub starts, and log an error naming the fix if the hub cannot see its jobs.
    Called while JupyterHub loads its configuration (inside its event loop); outside a running loop
    (``jupyterhub upgrade-db``, ``--generate-config``) it does nothing."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return loop.create_task(check.get())
