"""Word by email when a session starts and ends: the form's box becomes Slurm's --mail-type, and the cluster's
own mail system delivers Slurm's mail to the user's mailbox, which this test reads."""

import os
import re

import pytest

from .conftest import Browser, wait_for

pytestmark = pytest.mark.integration

MAILBOX = "/var/mail/alice"


def mailbox_since(offset: int) -> str:
    if not os.path.exists(MAILBOX):
        return ""
    with open(MAILBOX, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def test_the_box_on_the_form_mails_when_the_session_starts_and_ends(hub, clean):
    offset = os.path.getsize(MAILBOX) if os.path.exists(MAILBOX) else 0
    alice = Browser("alice")
    assert "Email me when it starts and when it ends" in alice.form().text
    r = alice.submit({"cores": "1", "memory": "500", "gpus": "0", "hours": "1", "mail": "on"})
    assert r.status_code == 200, r.text
    hub.wait_ready("alice")
    job = hub.server("alice")["state"]["job_id"]
    began = wait_for(lambda: f"Job_id={job} " in mailbox_since(offset) and mailbox_since(offset), 60, 0.5,
                     what="Slurm's mail that the session began")
    assert f"Subject: Slurm Job_id={job} Name=jupyterhub-session Began" in began
    assert hub.server("alice")["user_options"]["mail"] is True
    hub.stop("alice")
    ended = wait_for(lambda: "Ended" in mailbox_since(offset) and mailbox_since(offset), 60, 0.5,
                     what="Slurm's mail that it ended")
    assert f"Subject: Slurm Job_id={job} Name=jupyterhub-session Ended" in ended
    # the form remembers the choice for the next session
    assert re.search(r'<input[^>]*id="jsi-mail"[^>]* checked', Browser("alice").form().text)


def test_no_box_no_mail(hub, clean):
    offset = os.path.getsize(MAILBOX) if os.path.exists(MAILBOX) else 0
    assert hub.start("alice", {"cores": 1, "memory": 500, "gpus": 0}).status_code in (201, 202)
    hub.wait_ready("alice")
    job = hub.server("alice")["state"]["job_id"]
    hub.stop("alice")
    assert f"Job_id={job} " not in mailbox_since(offset)
