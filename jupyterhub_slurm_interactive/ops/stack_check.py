"""Is this deployment whole? A check an operator runs after deploying (``make check-stack``; ``make up`` ends
with it), part by part, each named in its line, stopping at the first that fails:

1. munge: a credential made here is accepted here;
2. the controller answers (``scontrol ping``);
3. accounting answers (``sacctmgr show cluster``) and knows this cluster;
4. every node of the sessions' partition is up (not down, drained or not responding);
5. the hub's user sees other users' jobs (:mod:`cluster.visibility`);
6. one real session: a demo user's session is started through the hub's REST API, runs as a Slurm job
   the hub's user can see, answers through the proxy, and is stopped and forgotten.

Run as root on the hub's host, with the hub's Python::

    python -m jupyterhub_slurm_interactive.ops.stack_check --hub-url http://127.0.0.1:8000 \\
        --token-file /etc/jupyterhub/admin-api-token --user alice --partition interactive

It exits 0 when every part holds, else 1 with the part that failed and what was seen.
"""

from __future__ import annotations

import argparse
import json
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

from jupyterhub_slurm_interactive.cluster import visibility
from jupyterhub_slurm_interactive.cluster.availability import UNAVAILABLE
from jupyterhub_slurm_interactive.slurm import commands as slurm

SESSION = "stackcheck"  # the check's own named server: never a session of the user's


class Failed(Exception):
    """A part of the deployment does not work; the message says what was seen."""


def run(*argv: str, user: str | None = None, input: str | None = None, timeout: float = 30) -> str:
    if user:
        argv = ("runuser", "-u", user, "--", *argv)
    try:
        done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Failed(f"`{' '.join(argv)}`: {e}") from e
    if done.returncode != 0:
        raise Failed(f"`{' '.join(argv)}` exited {done.returncode}: {(done.stderr or done.stdout).strip()[:400]}")
    return done.stdout


class Hub:
    """The hub's REST API with the operators' token."""

    def __init__(self, url: str, token: str, ca_file: str | None = None):
        self.url, self.token = url.rstrip("/"), token
        # https is checked against the site's CA (ca_file) or the system's; never unverified
        self.context = ssl.create_default_context(cafile=ca_file) if url.startswith("https:") else None

    def call(self, method: str, path: str, body: dict | None = None, token: str | None = None,
             base: str = "/hub/api") -> tuple[int, dict | str]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}{base}{path}", data=data, method=method,
                                     headers={"Authorization": f"token {token or self.token}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60, context=self.context) as r:
                status, text = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode(errors="replace")
        except OSError as e:
            raise Failed(f"the hub at {self.url} does not answer: {e}") from e
        try:
            return status, json.loads(text) if text else {}
        except ValueError:
            return status, text


def wait(predicate, seconds: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(interval)
    raise Failed(f"gave up after {seconds:.0f} s waiting for {what}")


def check_munge():
    run("unmunge", input=run("munge", "-n"))


def check_controller():
    if "is UP" not in run("scontrol", "ping"):
        raise Failed("slurmctld does not say it is UP")


def check_accounting():
    config = run("scontrol", "show", "config")
    cluster = next((line.split("=", 1)[1].strip() for line in config.splitlines()
                    if line.split("=", 1)[0].strip() == "ClusterName"), "")
    if cluster not in run("sacctmgr", "-nP", "show", "cluster", "format=cluster").split():
        raise Failed(f"Slurm accounting does not know the cluster {cluster!r}")


def check_nodes(partition: str) -> str:
    nodes = [n for n in slurm.parse_nodes(run("scontrol", "--oneliner", "show", "node"))
             if partition in n.partitions]
    if not nodes:
        raise Failed(f"no node in partition {partition!r}")
    bad = [f"{n.name} ({n.state})" for n in nodes if n.state_flags & UNAVAILABLE]
    if bad:
        raise Failed(f"not every node of {partition!r} is up: {', '.join(bad)}")
    return f"{len(nodes)} nodes up in {partition}"


def check_hub_view(hub_user: str):
    verdict = visibility.judge(hub_user, run("scontrol", "show", "config"),
                               run("scontrol", "show", "assoc_mgr", f"users={hub_user}", "flags=users"))
    if not verdict.ok:
        raise Failed(verdict.message)


def check_session(hub: Hub, user: str, hub_user: str, timeout: float) -> str:
    """Start a real session for ``user``, see its job as the hub's user, reach it through the proxy, stop it."""
    path = f"/users/{user}/servers/{SESSION}"
    status, _ = hub.call("GET", f"/users/{user}")
    if status == 404:
        hub.call("POST", f"/users/{user}")
    hub.call("DELETE", path, {"remove": True})  # a check interrupted before
    wait(lambda: SESSION not in hub.call("GET", f"/users/{user}")[1].get("servers", {}), 60,
         "an earlier check's session to go")
    began = time.monotonic()
    status, answer = hub.call("POST", path, {"cores": 1, "memory": 500, "gpus": 0, "hours": 1})
    if status not in (201, 202):
        raise Failed(f"the hub did not start {user}'s session: {status} {answer}")
    try:
        def ready():
            status, model = hub.call("GET", f"/users/{user}")
            server = model.get("servers", {}).get(SESSION) if isinstance(model, dict) else None
            if server is None:
                raise Failed(f"{user}'s session went away while starting: {model}")
            return server if server.get("ready") else None
        server = wait(ready, timeout, f"{user}'s session to be ready")
        job = (server.get("state") or {}).get("job_id", "")
        seen = run("squeue", "--noheader", "--states=all", "--format=%i %u %T", user=hub_user)
        if not any(line.split()[:2] == [str(job), user] for line in seen.splitlines() if line.split()):
            raise Failed(f"the hub's user {hub_user} does not see {user}'s job {job} in squeue")
        status, token = hub.call("POST", f"/users/{user}/tokens", {"note": "stack check", "expires_in": 300})
        if status != 201:
            raise Failed(f"could not make a token for {user}: {status} {token}")
        status, answer = hub.call("GET", f"/user/{user}/{SESSION}/api/status", token=token["token"], base="")
        if status != 200:
            raise Failed(f"{user}'s session does not answer through the proxy: {status} {str(answer)[:200]}")
        took = time.monotonic() - began
    finally:
        hub.call("DELETE", path, {"remove": True})
    wait(lambda: SESSION not in hub.call("GET", f"/users/{user}")[1].get("servers", {}), 60,
         f"{user}'s session to stop")
    left = run("squeue", "--noheader", "--states=PENDING,RUNNING", f"--jobs={job}", "--format=%i")
    if left.strip():
        raise Failed(f"job {job} still runs after its session was stopped")
    return f"{user}'s job {job} ready through the proxy in {took:.1f} s, then stopped"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jupyterhub_slurm_interactive.ops.stack_check",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--hub-url", default="http://127.0.0.1:8000")
    p.add_argument("--ca-file", help="the CA that signed the hub's https certificate (default: the system's)")
    p.add_argument("--token-file", default="/etc/jupyterhub/admin-api-token")
    p.add_argument("--user", default="alice", help="a demo user with a Slurm account, whose session is started")
    p.add_argument("--hub-user", default="jupyterhub")
    p.add_argument("--partition", default="interactive")
    p.add_argument("--timeout", type=float, default=180, help="seconds the session may take to be ready")
    args = p.parse_args(argv)
    with open(args.token_file) as f:
        hub = Hub(args.hub_url, f.read().strip(), args.ca_file)
    parts = [
        ("munge", check_munge),
        ("controller", check_controller),
        ("accounting", check_accounting),
        ("nodes", lambda: check_nodes(args.partition)),
        ("hub's view of jobs", lambda: check_hub_view(args.hub_user)),
        ("a session", lambda: check_session(hub, args.user, args.hub_user, args.timeout)),
    ]
    for name, check in parts:
        began = time.monotonic()
        try:
            said = check()
        except Failed as e:
            print(f"check-stack: {name}: FAILED: {e}", flush=True)
            return 1
        print(f"check-stack: {name}: ok{f' ({said})' if said else ''} [{time.monotonic() - began:.1f} s]", flush=True)
    print("check-stack: every part works", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
