"""Slurm follows the directory: a member of a project's group has that project's Slurm account, and someone
who left the group loses it.

    slurm-interactive-sync-accounts --account proj-a --account proj-b [--dry-run]

Each account named is a project whose members are the group of the same name, as this host's name service
resolves it (files, LDAP through nslcd or SSSD). Accounts not named are never touched, nor are the people of
other accounts. A site runs it from a timer; it is idempotent, and ``--dry-run`` prints what it would change.

Pure: :func:`plan` turns who should be in each account and who is into :class:`Change`\\ s. The I/O is two
objects passed in, so that a test swaps them: :class:`Directory` (who is in a group) and
:class:`SlurmAccounting` (``sacctmgr``).

A group that cannot be read is never taken for an empty one: that account is left as it is, the run says so
and ends with status 1. Only the members listed in the group count (``memberUid``/``gr_mem``), not people
whose primary group it is.
"""

from __future__ import annotations

import argparse
import grp
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Change:
    """One change to Slurm's accounting: ``add`` the association (user, account), make ``account`` the user's
    ``default``, or ``remove`` the association."""
    action: str
    user: str
    account: str

    def describe(self) -> str:
        return {"add": f"add {self.user} to {self.account}",
                "default": f"make {self.account} the default account of {self.user}",
                "remove": f"remove {self.user} from {self.account}"}[self.action]


def parse_associations(text: str) -> dict[str, set[str]]:
    """``sacctmgr -nP show assoc format=account,user`` as {user: {accounts}} (account-level lines skipped)."""
    out: dict[str, set[str]] = {}
    for line in text.splitlines():
        account, _, user = line.strip().partition("|")
        if account and user:
            out.setdefault(user, set()).add(account)
    return out


def parse_defaults(text: str) -> dict[str, str]:
    """``sacctmgr -nP show user format=user,defaultaccount`` as {user: default account ('' if none)}."""
    out = {}
    for line in text.splitlines():
        user, _, default = line.strip().partition("|")
        if user:
            out[user] = default
    return out


def plan(wanted: Mapping[str, set[str]], have: Mapping[str, set[str]], defaults: Mapping[str, str]) -> list[Change]:
    """The changes that make each managed account's members ``wanted`` ({account: {users}}), given every
    user's associations now (``have``, {user: {accounts}}, all accounts) and default accounts. Adds first,
    then defaults, then removals. A user left with associations whose default is not one of them gets the
    first of them, in name order; a new user's first account is their default (Slurm does that itself)."""
    adds, removes, new_defaults = [], [], []
    after: dict[str, set[str]] = {user: set(accounts) for user, accounts in have.items()}
    for account in sorted(wanted):
        members = wanted[account]
        current = {user for user, accounts in have.items() if account in accounts}
        for user in sorted(members - current):
            adds.append(Change("add", user, account))
            after.setdefault(user, set()).add(account)
        for user in sorted(current - members):
            removes.append(Change("remove", user, account))
            after[user].discard(account)
    touched = {c.user for c in adds + removes}
    for user in sorted(touched):
        remaining = after.get(user, set())
        default = defaults.get(user, "")
        if user in defaults and remaining and default not in remaining:
            new_defaults.append(Change("default", user, sorted(remaining)[0]))
    return adds + new_defaults + removes


class Directory:
    """Who is in a group, as this host's name service says (``getent group``)."""

    def members(self, group: str) -> set[str]:
        """The group's listed members; KeyError if the group cannot be found."""
        return set(grp.getgrnam(group).gr_mem)


class SlurmAccounting:
    """Slurm's accounting through ``sacctmgr``, on this host."""

    def __init__(self, sacctmgr: str = "sacctmgr"):
        self.sacctmgr = sacctmgr

    def _run(self, *args: str) -> str:
        proc = subprocess.run([self.sacctmgr, *args], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"sacctmgr {' '.join(args)}: {(proc.stderr or proc.stdout).strip()}")
        return proc.stdout

    def accounts(self) -> set[str]:
        return {line.strip() for line in self._run("-nP", "show", "account", "format=account").splitlines()
                if line.strip()}

    def associations(self) -> dict[str, set[str]]:
        return parse_associations(self._run("-nP", "show", "assoc", "format=account,user"))

    def defaults(self) -> dict[str, str]:
        return parse_defaults(self._run("-nP", "show", "user", "format=user,defaultaccount"))

    def apply(self, change: Change) -> None:
        if change.action == "add":
            self._run("-i", "add", "user", change.user, f"account={change.account}")
        elif change.action == "default":
            self._run("-i", "modify", "user", change.user, "set", f"defaultaccount={change.account}")
        elif change.action == "remove":
            self._run("-i", "remove", "user", change.user, f"account={change.account}")
        else:
            raise ValueError(f"unknown change {change.action!r}")


def sync(accounts: Iterable[str], directory: Directory, slurm: SlurmAccounting, dry_run: bool = False,
         say=print) -> int:
    """Make Slurm's ``accounts`` follow their groups. Returns the exit status: 0 if every account could be
    read (changed or not), 1 if some were left alone, 2 if nothing could be done."""
    accounts = sorted(set(accounts))
    try:
        known = slurm.accounts()
    except RuntimeError as e:
        say(f"error: cannot read Slurm's accounts: {e}")
        return 2
    wanted, status = {}, 0
    for account in accounts:
        if account not in known:
            say(f"error: Slurm has no account {account}: create it first (sacctmgr add account {account})")
            status = 1
            continue
        try:
            wanted[account] = directory.members(account)
        except KeyError:
            say(f"error: no group {account} can be read from the directory: {account} is left as it is")
            status = 1
    try:
        changes = plan(wanted, slurm.associations(), slurm.defaults())
    except RuntimeError as e:
        say(f"error: cannot read Slurm's associations: {e}")
        return 2
    for change in changes:
        if dry_run:
            say(f"would {change.describe()}")
            continue
        try:
            slurm.apply(change)
            say(change.describe())
        except RuntimeError as e:
            say(f"error: could not {change.describe()}: {e}")
            status = 1
    if not changes:
        say(f"nothing to change: {', '.join(wanted) or 'no account'} follow{'s' if len(wanted) == 1 else ''} "
            "the directory")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="slurm-interactive-sync-accounts",
        description="Give each project's Slurm account to the members of the group of the same name, and take it "
                    "from people who left the group. Idempotent; run it from a timer.")
    parser.add_argument("--account", action="append", required=True, metavar="NAME",
                        help="a project's account, managed from the group of the same name (repeat for each)")
    parser.add_argument("--dry-run", action="store_true", help="print what would change, and change nothing")
    parser.add_argument("--sacctmgr", default="sacctmgr", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    return sync(args.account, Directory(), SlurmAccounting(args.sacctmgr), dry_run=args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
