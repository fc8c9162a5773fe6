"""The server side of jupyterlab-slurm-interactive: what the status-bar item shows, from the job's
environment and squeue's recorded answer."""

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "jupyterlab-slurm-interactive"))

from jupyterlab_slurm_interactive.session import gpu_count, parse_times, session_info  # noqa: E402

from .test_states import DURATIONS  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"

#: what Slurm and the batch script put in a session's environment (a 2-GPU session of alice)
ENV = {"SLURM_JOB_ID": "2174", "SLURMD_NODENAME": "node02", "SLURM_CPUS_PER_TASK": "4",
       "SLURM_MEM_PER_NODE": "8000", "CUDA_VISIBLE_DEVICES": "0,1", "SLURM_JOB_ACCOUNT": "proj-a",
       "SLURM_JOB_PARTITION": "interactive", "JUPYTERHUB_SLURM_RELEASE": "2026.11", "JUPYTERHUB_SERVER_NAME": "gpu",
       "JUPYTERHUB_SLURM_ADD_TIME": "30,60",
       "JUPYTERHUB_BASE_URL": "/", "JUPYTERHUB_SERVICE_PREFIX": "/user/alice/gpu/"}


def test_times_from_recorded_squeue():
    start, end = parse_times((FIXTURES / "squeue_start_end_running.txt").read_text())
    assert end - start == 600  # a ten-minute session
    assert start == time.mktime(time.strptime("2026-11-22T13:23:27", "%Y-%m-%dT%H:%M:%S"))


@pytest.mark.parametrize("text", ["", "N/A|N/A", "2026-11-22T13:23:21", "garbage|garbage\n"])
def test_times_unknown(text):
    start, end = parse_times(text)
    assert end is None


def test_gpus_are_those_slurm_gave():
    assert gpu_count({"CUDA_VISIBLE_DEVICES": "0,1"}) == 2
    assert gpu_count({"CUDA_VISIBLE_DEVICES": ""}) == 0  # the batch script's "no GPU asked for"
    assert gpu_count({"SLURM_GPUS_ON_NODE": "1"}) == 1
    assert gpu_count({}) == 0


def test_the_session_as_the_status_bar_shows_it():
    info = session_info(ENV, 100.0, 3700.0, 200.0)
    assert (info["job_id"], info["node"], info["cores"], info["memory_mb"], info["gpus"]) == ("2174", "node02", 4,
                                                                                              8000, 2)
    assert info["hub_url"] == "/hub/home" and info["server_name"] == "gpu"
    assert (info["started_at"], info["ends_at"], info["now"]) == (100.0, 3700.0, 200.0)
    assert info["add_time"] == [30, 60]
    assert session_info({**ENV, "JUPYTERHUB_SLURM_ADD_TIME": "60, 0,x,99999,60,15"}, None, None, 1.0)["add_time"] == [
        60, 15]  # only whole minutes from 1 to a week, each once
    assert session_info({}, None, None, 1.0)["job_id"] == ""  # not a Slurm session: nothing is made up



LOGIC = Path(__file__).parents[2] / "jupyterlab-slurm-interactive" / "src" / "logic.mjs"
CHECKS = """
import * as l from %s;
const ends = 1_800_000_000, session = {job_id: "2174", node: "node02", cores: 2, memory_mb: 4096, gpus: 1};
console.log(JSON.stringify({
  left: [l.timeLeft(7080), l.timeLeft(30), l.timeLeft(null)],
  durations: %s.map(([seconds]) => l.duration(seconds)),
  resources: [l.resources(session), l.resources({...session, cores: 1, memory_mb: 3000, gpus: 0})],
  // at load with 14 min left: the 15-minute warning; then nothing until 5 minutes; then the 5-minute one
  due: [l.warningDue(3600, new Set()), l.warningDue(840, new Set()), l.warningDue(840, new Set([15])),
        l.warningDue(240, new Set([15])), l.warningDue(240, new Set()), l.warningDue(0, new Set())],
  warning: l.walltimeWarning(840, ends),
  clock: l.clockTime(ends),
  midnight: [l.clockTime(1795392309), l.clockTime(1795392309, true)],
  welcome: [l.welcomeBack({...session, started_at: ends - 3600, now: ends}),
            l.welcomeBack({...session, started_at: ends - 30, now: ends})],
  addTime: [l.addTimeLabel(30), l.addTimeLabel(60), l.addTimeLabel(90)],
  rearmed: (() => { const s = new Set([15, 5]); l.rearmWarnings(600, s); const t = new Set([15, 5]);
                    l.rearmWarnings(2400, t); return [[...s], [...t]]; })(),
  stop: [l.stopNotice({by: "the operator ops", reason: "node02 goes into maintenance."}, true),
         l.stopNotice({by: "", reason: ""}, false)],
}));
"""


def test_the_status_bar_logic_in_node():
    """The extension's own words and when it warns, run by Node as the browser runs them."""
    import json
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: `make up` installs Node.js (the proxy and the extension's build need it)")
    script = CHECKS % (json.dumps(str(LOGIC)), json.dumps(DURATIONS))
    out = subprocess.run([node, "--input-type=module", "-e", script], env={"TZ": "UTC"},
                         capture_output=True, text=True, check=True).stdout
    got = json.loads(out)
    assert got["left"] == ["1 h 58 min", "30 s", "no time limit"]
    assert got["durations"] == [text for _, text in DURATIONS]  # the hub's own rules (words.duration)
    assert got["resources"] == ["2 cores · 4 GB · 1 GPU", "1 core · 3000 MB · no GPU"]
    assert got["due"] == [None, 15, None, 5, 5, None]
    assert got["clock"] == "08:00 UTC"
    assert got["midnight"] == ["00:05 UTC", "00:05:09 UTC"]  # two digits for the hour too, never "0:05" or "24:05"
    assert got["warning"] == ("Your session ends in 14 min, at 08:00 UTC: Slurm then stops it, and unsaved work "
                              "will be lost. Save your work now.")
    assert got["welcome"] == ["Welcome back: this is your session since 07:00 UTC (Slurm job 2174 on node02).", None]
    assert got["addTime"] == ["Add 30 min", "Add 1 h", "Add 1 h 30 min"]
    assert got["rearmed"] == [[15], []]  # 10 min left after adding: the 5-minute warning may come again
    assert got["stop"] == [
        "This session is being stopped by the operator ops: node02 goes into maintenance. Your open documents were "
        "saved first. Its kernels and terminals end now.",
        "This session is being stopped from the Hub Control Panel. Your open documents could not all be saved. Its "
        "kernels and terminals end now."]
