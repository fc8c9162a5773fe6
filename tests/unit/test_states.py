"""What the user is told about a job, from Slurm's states and reasons."""

import time
from datetime import datetime

import pytest

from jupyterhub_slurm_interactive.session.states import end_message, expected_start, pending_message
from jupyterhub_slurm_interactive.words import duration

NOW = datetime(2026, 11, 21, 10, 0, 0)


ZONE = time.strftime("%Z")  # every time on a page names its zone


def test_waiting_for_gpus():
    text = pending_message("Resources", "2026-11-21T14:05:00", cores=2, memory=1500, gpus=2, now=NOW)
    assert text == ("Waiting for a node with 2 free GPUs, 2 free cores and 1500 MB of free memory (Resources); "
                    f"expected to start at 14:05 {ZONE}")


@pytest.mark.parametrize("reason, words", [
    ("Priority", "behind jobs with higher priority"),
    ("ReqNodeNotAvail, UnavailableNodes:node04", "waiting (ReqNodeNotAvail, UnavailableNodes:node04)"),
    ("AssocGrpGRES", "your project has reached one of its limits"),
    ("QOSMaxJobsPerUserLimit", "your project has reached one of its limits"),
    ("Reservation", "for its reservation to start"),
    ("None", "waiting to be scheduled"),
    ("SomethingNew", "waiting (SomethingNew)"),
])
def test_reasons(reason, words):
    assert words.lower() in pending_message(reason, "N/A", gpus=1).lower()


@pytest.mark.parametrize("start, text", [
    ("N/A", ""), ("", ""), ("Unknown", ""), ("2026-11-21T09:00:00", "any moment now"),
    ("2026-11-21T11:30:00", f"at 11:30 {ZONE}"), ("2026-11-22T09:00:00", f"on 2026-11-22 at 09:00 {ZONE}"),
])
def test_expected_start(start, text):
    assert expected_start(start, NOW) == text


@pytest.mark.parametrize("state, words", [
    ("TIMEOUT", "time limit"), ("CANCELLED by 1001", "cancelled outside the hub"), ("CANCELLED+", "cancelled"),
    ("NODE_FAIL", "its node node02 failed"), ("OUT_OF_MEMORY", "ran out of memory"), ("FAILED", "server failed"),
    ("", "no longer known to Slurm"), ("WEIRD", "(WEIRD)"),
])
def test_end_messages(state, words):
    text = end_message(state, "42", "node02")
    assert text.startswith("Your session (Slurm job 42) ended: ") and words in text


#: How every page writes a length of time; logic.mjs's timeLeft is held to the same table (test_lab_extension).
DURATIONS = [(0, "0 s"), (42, "42 s"), (59.9, "59 s"), (60, "1 min"), (840, "14 min"), (3600, "1 h"),
             (3660, "1 h 1 min"), (7080, "1 h 58 min"), (86400, "1 d"), (90000, "1 d 1 h"), (90060, "1 d 1 h 1 min"),
             (-5, "0 s")]


@pytest.mark.parametrize("seconds, text", DURATIONS)
def test_one_way_to_write_a_length_of_time(seconds, text):
    assert duration(seconds) == text
