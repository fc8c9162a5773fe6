"""An ordinary user of the same cluster as the attacker: a freed port on a shared node, tokens that outlive
their session, forged log lines, parser bombs, and tokens used beyond their scopes."""

import glob
import json
import re
import subprocess
import threading
import time

import pytest
import requests

from .conftest import HUB, Browser, hub_log_tail, pgrep, sh, squeue, wait_for
from .test_session_life import job_of, server_token

pytestmark = pytest.mark.integration


def server_pid(user: str) -> int:
    pids = pgrep("-u", user, "-f", "jupyterhub-singleuser")
    assert pids, f"no server process of {user}"
    return int(pids[0])


def routes(hub) -> dict:
    return hub.api("GET", "/proxy").json()


class Squatter:
    """bob listening on a node's address and port, as a job of his on that node could; keeps what it is sent."""

    def __init__(self, address: str, port: int):
        code = ("import socket,sys\n"
                "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                f"s.bind(({address!r}, {port})); s.listen(16); print('bound', flush=True)\n"
                "s.settimeout(1)\n"
                "while True:\n"
                "    try:\n        c, _ = s.accept()\n    except socket.timeout:\n        continue\n"
                "    c.settimeout(2)\n"
                "    try:\n        data = c.recv(65536)\n    except OSError:\n        data = b''\n"
                "    sys.stdout.write(repr(data) + '\\n'); sys.stdout.flush()\n"
                "    c.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Length: 7\\r\\n\\r\\nsquat!\\n'); c.close()\n")
        self.proc = subprocess.Popen(["runuser", "-u", "bob", "--", "python3", "-c", code],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.bound = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("bound"):
                self.bound.set()
            else:
                self.lines.append(line)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def test_a_port_freed_by_a_dead_server_serves_nobody_the_users_requests(hub, clean):
    """The squatting attack: alice's server dies, bob binds its port on the same node at once."""
    assert hub.start("alice", {}).status_code in (201, 202)
    hub.wait_ready("alice")
    job = job_of(hub, "alice")
    target = routes(hub)["/user/alice/"]["target"]
    address, port = target.split("//")[1].rsplit(":", 1)
    port = int(port.split("/")[0])
    token = hub.user_token("alice")
    browser = Browser("alice")
    assert browser.logged_in
    # her browser has been to the session, so it holds the session's cookie too
    assert browser.s.get(f"{HUB}/user/alice/api/status", timeout=30).status_code == 200
    sh("kill", "-KILL", str(server_pid("alice")))
    killed = time.monotonic()
    squatter = None
    for _ in range(200):  # bind the moment the port is free
        try:
            squatter = Squatter(address, port)
            if squatter.bound.wait(2):
                break
            squatter.stop()
        except OSError:
            pass
        time.sleep(0.01)
    assert squatter is not None and squatter.bound.is_set(), "bob could not bind the freed port"
    try:
        # alice keeps using her session's URL, with her token and with her browser's cookies
        deadline, gone = time.monotonic() + 5, None
        while time.monotonic() < deadline:
            requests.get(f"{HUB}/user/alice/api/status", headers={"Authorization": f"token {token}"}, timeout=5,
                         allow_redirects=False)
            browser.s.get(f"{HUB}/user/alice/lab", timeout=5, allow_redirects=False)
            if gone is None and "/user/alice/" not in routes(hub):
                gone = time.monotonic()
            time.sleep(0.05)
        assert gone is not None, "the route stayed"
        seen = "".join(squatter.lines)
        assert token not in seen, "bob received alice's token"
        for cookie in browser.s.cookies:
            assert cookie.value not in seen, f"bob received alice's cookie {cookie.name}"
        print(f"route gone {gone - killed:.2f} s after the server was killed")
    finally:
        squatter.stop()
    wait_for(lambda: hub.server("alice") is None, 30, 0.25, what="the hub to let the dead session go")
    wait_for(lambda: not [j for j in squeue() if j["id"] == job], 30, what="the job to end")
    assert "ended" in Browser("alice").login.text  # the login lands on the form, which says how it ended


def test_a_sessions_token_ends_with_the_session_ended_outside_the_hub(hub, clean):
    assert hub.start("alice", {}).status_code in (201, 202)
    hub.wait_ready("alice")
    old = server_token("alice")

    def me(tok):
        return requests.get(f"{HUB}/hub/api/user", headers={"Authorization": f"token {tok}"}, timeout=10)

    assert me(old).status_code == 200
    sh("scancel", job_of(hub, "alice"), user="alice")
    wait_for(lambda: hub.server("alice") is None, 40, 0.5, what="the hub to notice the cancelled job")
    assert me(old).status_code == 403
    # nor does it open the next session
    assert hub.start("alice", {}).status_code in (201, 202)
    hub.wait_ready("alice")
    r = requests.get(f"{HUB}/user/alice/api/status", headers={"Authorization": f"token {old}"}, timeout=10,
                     allow_redirects=False)
    assert r.status_code in (302, 403), r.status_code
    assert requests.post(f"{HUB}/user/alice/api/kernels", headers={"Authorization": f"token {old}"},
                         timeout=10, allow_redirects=False).status_code in (302, 403)
    # and the user holds one server token: the running session's
    tokens = [t for t in hub.api("GET", "/users/alice/tokens").json()["api_tokens"]
              if t["note"] == "Server at /user/alice/"]
    assert len(tokens) == 1, tokens


def test_reports_are_cleaned_and_malformed_bodies_refused(hub, clean):
    blocker = [sh("sbatch", "--parsable", "-p", "interactive", "-w", n, "--gres=gpu:2", "-c", "1", "--mem=100M", "-t", "10", "-J",
                  "gpu-blocker", "--wrap", "sleep 600", user="alice").stdout.strip() for n in ("node01", "node02",
                                                                                              "node03")]
    wait_for(lambda: len([j for j in squeue() if j["id"] in blocker and j["state"] == "RUNNING"]) == 3, 30,
             what="the GPU blockers to run")
    try:
        assert hub.start("bob", {"gpus": 2}).status_code in (201, 202)
        wait_for(lambda: any(j["user"] == "bob" and j["state"] == "PENDING" for j in squeue()), 30,
                 what="bob's session to wait")
        token = wait_for(lambda: _token_of_pending("bob"), 10, what="bob's server token")
        job = hub.server("bob")["state"]["job_id"]
        url = f"{HUB}/hub/api/slurm-interactive/failure"
        headers = {"Authorization": f"token {token}"}
        forged = "ok\r[I 2026-11-22 alice] forged line\x1b[2K\x1b[1A\x1b]0;title\x07\x00end\n\tnext"
        r = requests.post(url, headers=headers, timeout=10,
                          data=json.dumps({"job_id": job, "exit_code": 1, "output_tail": forged}))
        assert r.status_code == 201, r.text
        for body in ("[" * 50000, "{" * 50000, '{"a":' * 12000):  # deep, and under the 64 KiB limit
            for path in ("failure", "exited"):
                r = requests.post(f"{HUB}/hub/api/slurm-interactive/{path}", headers=headers, data=body, timeout=10)
                assert r.status_code == 400, (path, r.status_code)
            r = requests.post(f"{HUB}/hub/api/batchspawner", headers=headers, data=body, timeout=10)
            assert r.status_code == 400, r.status_code
        # the start then fails (its job is gone), and the report's tail reaches the hub's log and the user
        sh("scancel", job)
        wait_for(lambda: hub.server("bob") is None, 60, 0.5, what="bob's failed start to end")
        log = hub_log_tail(400)
        assert "ok[I 2026-11-22 alice] forged lineend" in log, "the report never reached the log"
        assert "\x1b[2K" not in log and "\x1b]0;title" not in log and "\r[I 2026-11-22 alice]" not in log
        page = Browser("bob").login.text
        assert "forged lineend" in page and "\x1b" not in page
    finally:
        sh("scancel", *blocker, check=False)
        hub.stop("bob")


def _token_of_pending(user):
    """The token of a session still in the queue, from the job's environment as slurmctld keeps it (root)."""
    jobs = [j for j in squeue() if j["user"] == user and j["state"] == "PENDING"]
    if not jobs:
        return None
    job = jobs[0]["id"]
    for path in glob.glob(f"/var/spool/slurmctld/hash.*/job.{job}/environment"):
        for item in open(path, "rb").read().split(b"\0"):
            if item.startswith(b"JUPYTERHUB_API_TOKEN="):
                return item.split(b"=", 1)[1].decode()
    return None


def test_the_availability_api_asks_for_the_scope_to_start_servers(hub, clean):
    assert requests.get(f"{HUB}/hub/api/slurm-interactive/availability", timeout=10,
                        allow_redirects=False).status_code == 403
    hub.ensure_user("alice")
    r = hub.api("POST", "/users/alice/tokens", json={"scopes": ["read:users:name!user=alice"], "expires_in": 600})
    assert r.status_code == 201, r.text
    limited = r.json()["token"]
    r = requests.get(f"{HUB}/hub/api/slurm-interactive/availability", timeout=10, allow_redirects=False,
                     headers={"Authorization": f"token {limited}"})
    assert r.status_code == 403
    full = requests.get(f"{HUB}/hub/api/slurm-interactive/availability", timeout=10,
                        headers={"Authorization": f"token {hub.user_token('alice')}"})
    assert full.status_code == 200 and "rows" in full.json()
    assert Browser("alice").availability().status_code == 200


def test_users_do_not_see_each_others_sessions(hub, clean):
    assert hub.start("alice", {}).status_code in (201, 202)
    hub.wait_ready("alice")
    job = job_of(hub, "alice")
    assert job not in sh("squeue", "-h", "-o", "%i", user="bob").stdout.split()
    shown = sh("scontrol", "-o", "show", "job", job, user="bob", check=False)
    assert "alice" not in shown.stdout and f"JobId={job}" not in shown.stdout
    assert job in sh("squeue", "-h", "-o", "%i", user="alice").stdout.split()  # her own, she sees
    # the hub's user sees every session (it reads the queue for all of them)
    assert job in sh("squeue", "-h", "-o", "%i", user="jupyterhub").stdout.split()


def _cgroup_of(pid: int, controller: str) -> str:
    for line in open(f"/proc/{pid}/cgroup"):
        _, controllers, path = line.strip().split(":", 2)
        if controller in controllers.split(","):
            return f"/sys/fs/cgroup/{controller}{path}"
    raise AssertionError(f"process {pid} has no {controller} cgroup")


def test_a_one_gpu_session_can_open_only_its_gpu(hub, clean):
    assert hub.start("alice", {"gpus": 1}).status_code in (201, 202)
    hub.wait_ready("alice")
    devices = _cgroup_of(server_pid("alice"), "devices")
    assert "job_" in devices, devices
    probe = ("import errno, os\n"
             "for i in (0, 1):\n"
             "    try:\n        os.close(os.open(f'/dev/fake-gpu{i}', os.O_RDWR)); print(i, 'open')\n"
             "    except OSError as e:\n        print(i, errno.errorcode[e.errno])\n")
    # a process of alice's in the session's own cgroup, as her kernels are
    out = sh("sh", "-c", f'echo $$ > {devices}/cgroup.procs && exec runuser -u alice -- python3 -c "$0"', probe).stdout
    results = dict(line.split() for line in out.splitlines())
    # which device Slurm gave the session: GRES=gpu:1(IDX:N) in the job's details
    detail = sh("scontrol", "-d", "show", "job", job_of(hub, "alice")).stdout
    mine = int(re.search(r"GRES=\S*gpu\S*\(IDX:(\d)\)", detail).group(1))
    other = 1 - mine
    # its own GPU: the cgroup lets it through (no driver behind a fake device: ENXIO); the other: EPERM
    assert results[str(mine)] in ("open", "ENXIO"), results
    assert results[str(other)] == "EPERM", results


def test_memory_past_the_request_is_refused(hub, clean):
    job = sh("sbatch", "--parsable", "-p", "interactive", "--mem=200M", "-c", "1", "-t", "5", "-J", "memory-hog",
             "-o", "/dev/null", "--wrap", "python3 -c 'x = bytearray(600 * 2**20); import time; time.sleep(5)'",
             user="alice").stdout.strip()
    final = wait_for(lambda: next((j["state"] for j in squeue("--states=all", f"--jobs={job}")
                                   if j["state"] not in ("PENDING", "RUNNING", "COMPLETING")), None),
                     60, 0.5, what="the memory hog to end")
    assert final == "OUT_OF_MEMORY", final
