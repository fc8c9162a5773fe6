"""The play leaves no user unknown to slurmctld: a person added to accounting before their Unix account
existed (as the hub's user once was on every fresh machine) is nobody (uid 4294967294) to slurmctld until it
is reconfigured, and the role slurm_users_known does that once the account exists."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .conftest import sh, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.faults]

ANSIBLE = Path(__file__).resolve().parents[2] / "ansible"
LATE = "late01"


def known_uid(name: str) -> str:
    out = sh("scontrol", "show", "assoc_mgr", f"users={name}", "flags=users").stdout
    line = next((line for line in out.splitlines() if line.startswith(f"UserName={name}(")), "")
    return line.split("(", 1)[1].split(")", 1)[0] if line else ""


def test_a_user_created_after_its_association_is_resolved_by_the_play():
    sh("sacctmgr", "-i", "delete", "user", LATE, check=False)
    sh("userdel", LATE, check=False)
    try:
        sh("sacctmgr", "-i", "add", "user", LATE, "account=proj-b")
        wait_for(lambda: known_uid(LATE) == "4294967294", 30, 0.5, what=f"slurmctld to hold {LATE} unresolved")
        sh("useradd", "-M", "-s", "/usr/sbin/nologin", LATE)
        assert known_uid(LATE) == "4294967294"  # the account exists now, and slurmctld still does not know it
        play = subprocess.run(
            ["ansible-playbook", "-i", "inventory/local.yml", "site.yml", "--tags", "running_controller"],
            cwd=ANSIBLE, env={**os.environ, "ANSIBLE_CONFIG": "ansible.cfg"}, capture_output=True, text=True,
            timeout=300)
        assert play.returncode == 0, play.stdout[-3000:] + play.stderr[-2000:]
        assert "changed=1" in play.stdout, play.stdout[-2000:]
        uid = sh("id", "-u", LATE).stdout.strip()
        assert known_uid(LATE) == uid
        # a second run changes nothing
        again = subprocess.run(
            ["ansible-playbook", "-i", "inventory/local.yml", "site.yml", "--tags", "running_controller"],
            cwd=ANSIBLE, env={**os.environ, "ANSIBLE_CONFIG": "ansible.cfg"}, capture_output=True, text=True,
            timeout=300)
        assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout[-2000:]
    finally:
        sh("sacctmgr", "-i", "delete", "user", LATE, check=False)
        sh("userdel", LATE, check=False)
