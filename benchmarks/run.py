"""Benchmarks against stock batchspawner, side by side on the same machine, in the same run.

Run as root against the local stack (`make bench`). It starts a second hub with
stock batchspawner (benchmarks/stock_config.py, port 8100), creates benchmark
users (bench01…) with a Slurm association, measures, prints a table and writes
benchmarks/results.json. Absolute times on a shared 2-core machine are noise:
read the ratios, which are measured in the same run.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
OURS = "http://127.0.0.1:8000"
STOCK = "http://127.0.0.1:8100"
HUB_VENV = "/opt/jupyterhub/venv"
# stock batchspawner runs from its own environment: with this package installed beside
# it, the hub would use our port handler instead of batchspawner's
STOCK_VENV = HERE / ".stock-venv"
RELEASE = "/opt/releases/2026.11"
ADMIN_TOKEN_FILE = "/etc/jupyterhub/admin-api-token"
ACCOUNT = "proj-b"


def sh(*argv, check=True, user=None, timeout=120):
    if user:
        argv = ("runuser", "-u", user, "--", "bash", "-c", 'cd ~ && exec "$@"', "_", *argv)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {p.stderr.strip()}")
    return p.stdout


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def wait_for(pred, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


def squeue_ids(*args) -> dict:
    out = sh("squeue", "--noheader", "--format=%i|%T|%N|%u", *args)
    return {p[0]: p for p in (line.split("|") for line in out.splitlines()) if p and p[0]}


# ----------------------------------------------------------------------------- users


def ensure_users(n: int):
    """bench01…benchNN: ordinary users in hpcusers with the proj-b association."""
    have = set(sh("sacctmgr", "-nP", "show", "assoc", f"account={ACCOUNT}", "format=user").split())
    for i in range(1, n + 1):
        name = f"bench{i:02d}"
        if subprocess.run(["id", name], capture_output=True).returncode != 0:
            sh("useradd", "-m", "-s", "/bin/bash", "-G", "hpcusers", name)
            subprocess.run(["chpasswd"], input=f"{name}:{name}-bench\n", text=True, check=True)
            os.chmod(f"/home/{name}", 0o750)
        if name not in have:
            sh("sacctmgr", "-i", "add", "user", name, f"account={ACCOUNT}", f"defaultaccount={ACCOUNT}")


# ----------------------------------------------------------------------------- hubs


class Hub:
    def __init__(self, name, url, token):
        self.name, self.url = name, url
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"token {token}"
        self.tokens = {}

    def api(self, method, path, **kw):
        return self.s.request(method, f"{self.url}/hub/api{path}", timeout=120, **kw)

    def ensure_user(self, user):
        if self.api("GET", f"/users/{user}").status_code == 404:
            assert self.api("POST", f"/users/{user}").status_code == 201

    def token(self, user):
        if user not in self.tokens:
            self.ensure_user(user)
            r = self.api("POST", f"/users/{user}/tokens", json={"expires_in": 7200})
            self.tokens[user] = r.json()["token"]
        return self.tokens[user]

    def server(self, user):
        return self.api("GET", f"/users/{user}").json()["servers"].get("")

    def answers(self, user):
        try:
            return requests.get(f"{self.url}/user/{user}/api/status",
                                headers={"Authorization": f"token {self.token(user)}"}, timeout=10).status_code == 200
        except requests.RequestException:
            return False

    def spawn(self, user) -> float:
        """Seconds from the POST to the server answering through the proxy."""
        self.token(user)
        t0 = time.monotonic()
        r = self.api("POST", f"/users/{user}/server", json={})
        assert r.status_code in (201, 202), (self.name, r.status_code, r.text)
        wait_for(lambda: (self.server(user) or {}).get("ready") and self.answers(user), 300, 0.05,
                 f"{self.name}/{user} to answer")
        return time.monotonic() - t0

    def job(self, user):
        s = self.server(user)
        return (s or {}).get("state", {}).get("job_id")

    def stop(self, user) -> float:
        """Seconds from the DELETE to the job leaving squeue."""
        job = self.job(user)
        t0 = time.monotonic()
        r = self.api("DELETE", f"/users/{user}/server")
        assert r.status_code in (202, 204), (self.name, r.status_code, r.text)
        if job:
            wait_for(lambda: job not in squeue_ids(f"--jobs={job}"), 60, 0.02, "the job to leave squeue")
        elapsed = time.monotonic() - t0
        wait_for(lambda: self.server(user) is None, 60, 0.1, "the hub to let the server go")
        return elapsed


def stock_venv() -> Path:
    """jupyterhub and batchspawner at the hub's versions, and nothing of ours."""
    py = STOCK_VENV / "bin" / "python"
    if not py.exists():
        versions = subprocess.run([f"{HUB_VENV}/bin/python", "-c",
                                   "import jupyterhub, batchspawner; print(jupyterhub.__version__, batchspawner.__version__)"],
                                  capture_output=True, text=True, check=True).stdout.split()
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(STOCK_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", f"jupyterhub=={versions[0]}",
                        f"batchspawner=={versions[1]}"], check=True)
    return STOCK_VENV


def start_stock_hub(state_dir: str, poll_interval: int) -> tuple[subprocess.Popen, str]:
    venv = stock_venv()
    token = secrets.token_hex(16)
    env = dict(os.environ, STOCK_STATE_DIR=state_dir, STOCK_TOKEN=token, RELEASE_BIN=f"{RELEASE}/bin",
               CHP="/opt/jupyterhub/node/node_modules/.bin/configurable-http-proxy",
               POLL_INTERVAL=str(poll_interval), PATH=f"{venv}/bin:/usr/local/bin:/usr/bin:/bin")
    logf = open(f"{state_dir}/jupyterhub.log", "w")
    proc = subprocess.Popen([f"{venv}/bin/jupyterhub", "-f", str(HERE / "stock_config.py")], cwd=state_dir,
                            env=env, stdout=logf, stderr=subprocess.STDOUT)

    def up():
        try:
            return requests.get(f"{STOCK}/hub/health", timeout=2).status_code == 200
        except requests.RequestException:
            return proc.poll() is not None and (_ for _ in ()).throw(RuntimeError("stock hub exited"))
    wait_for(up, 60, 0.3, "the stock hub")
    return proc, token


# ----------------------------------------------------------------------------- measures


def free_port():
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def bare_spawn(user) -> float:
    """The floor: the release's JupyterLab as a plain job, from sbatch to answering."""
    port = free_port()
    script = (f"#!/bin/bash\n#SBATCH --partition=interactive\n#SBATCH --oversubscribe\n#SBATCH -c 1\n"
              f"#SBATCH --mem=2000M\n#SBATCH -t 10\n#SBATCH --output=/dev/null\n"
              f"exec {RELEASE}/bin/jupyter-lab --no-browser --ip=0.0.0.0 --port={port} "
              f"--IdentityProvider.token='' --ServerApp.password='' --ServerApp.port_retries=0\n")
    t0 = time.monotonic()
    job = subprocess.run(["runuser", "-u", user, "--", "bash", "-c", "cd ~ && sbatch --parsable"], input=script,
                         capture_output=True, text=True, check=True).stdout.strip()
    node = wait_for(lambda: (squeue_ids(f"--jobs={job}").get(job) or [None, None, ""])[2], 120, 0.05, "a node")
    addr = re.search(r"NodeAddr=(\S+)", sh("scontrol", "-o", "show", "node", node)).group(1)

    def answers():
        try:
            return requests.get(f"http://{addr}:{port}/api/status", timeout=5).status_code == 200
        except requests.RequestException:
            return False
    wait_for(answers, 120, 0.05, "bare JupyterLab")
    elapsed = time.monotonic() - t0
    sh("scancel", job)
    wait_for(lambda: job not in squeue_ids(f"--jobs={job}"), 30, 0.1)
    return elapsed


def job_queries() -> int:
    out = sh("sdiag")
    return sum(int(m) for m in re.findall(r"^\s*REQUEST_JOB_INFO\w*\s*\(\s*\d+\)\s*count:(\d+)", out, re.M))


def queries_per_minute(hub: Hub, n: int, window: float) -> float:
    users = [f"bench{i:02d}" for i in range(1, n + 1)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        list(pool.map(hub.spawn, users))
    time.sleep(2)
    sh("sdiag", "-r")
    time.sleep(window)
    count = job_queries()
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        list(pool.map(hub.stop, users))
    return count * 60.0 / window


def hub_rpcs() -> int:
    out = sh("sdiag").split("Remote Procedure Call statistics by user", 1)[1]
    m = re.search(r"^\s*jupyterhub\s*\(\s*\d+\)\s*count:(\d+)", out, re.M)
    return int(m.group(1)) if m else 0


def login(user, password) -> requests.Session:
    s = requests.Session()
    page = s.get(f"{OURS}/hub/login", timeout=30)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
    r = s.post(f"{OURS}/hub/login", data={"username": user, "password": password, "_xsrf": xsrf}, timeout=60)
    assert r.status_code == 200 and "/hub/login" not in r.url, (user, r.url)
    return s


def form_load(users: list[tuple[str, str]], duration: float, think: tuple[float, float]) -> dict:
    sessions = [login(u, p) for u, p in users]
    latencies, errors = [], []
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def person(s, seed):
        import random
        rnd = random.Random(seed)
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            r = s.get(f"{OURS}/hub/spawn", timeout=60)
            dt = (time.perf_counter() - t0) * 1000
            with lock:
                (latencies if r.status_code == 200 else errors).append(dt)
            time.sleep(rnd.uniform(*think))

    sh("sdiag", "-r")
    t0 = time.monotonic()
    threads = [threading.Thread(target=person, args=(s, i)) for i, s in enumerate(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    rpcs = hub_rpcs()
    latencies.sort()
    return {
        "concurrency": len(users),
        "requests": len(latencies),
        "errors": len(errors),
        "p50": round(statistics.median(latencies), 1),
        "p99": round(latencies[max(0, int(len(latencies) * 0.99) - 1)], 1),
        "slurm_calls_per_min": round(rpcs * 60 / elapsed, 1),
    }


def median(xs):
    return round(statistics.median(xs), 3)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5, help="spawns and stops per spawner (alternated)")
    ap.add_argument("--sessions", type=int, nargs="+", default=[5, 20], help="session counts for the Slurm load")
    ap.add_argument("--window", type=float, default=60, help="seconds of Slurm load measured per point")
    ap.add_argument("--poll-interval", type=int, default=10, help="Spawner.poll_interval of both hubs")
    ap.add_argument("--form-users", type=int, nargs="+", default=[10, 50], help="concurrent users on the form")
    ap.add_argument("--form-seconds", type=float, default=30)
    ap.add_argument("--think", type=float, nargs=2, default=[0.5, 1.5], help="seconds between a user's loads")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (it creates benchmark users and starts a second hub)")

    n_users = max(max(args.sessions), max(args.form_users))
    log(f"ensuring {n_users} benchmark users")
    ensure_users(n_users)
    ours = Hub("ours", OURS, open(ADMIN_TOKEN_FILE).read().strip())
    state = tempfile.mkdtemp(prefix="stock-hub-")
    stock_proc, stock_token = start_stock_hub(state, args.poll_interval)
    stock = Hub("stock", STOCK, stock_token)
    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{os.cpu_count()} cores",
               "poll_interval_s": args.poll_interval}
    try:
        for h in (ours, stock):
            for i in range(1, n_users + 1):
                h.ensure_user(f"bench{i:02d}")
                if h.server(f"bench{i:02d}"):
                    h.stop(f"bench{i:02d}")

        log("spawn and stop, alternating ours and stock, then the bare floor")
        spawn = {"ours": [], "stock": [], "bare": []}
        stop = {"ours": [], "stock": []}
        for run in range(args.runs):
            for h in (ours, stock):
                spawn[h.name].append(h.spawn("bench01"))
                stop[h.name].append(h.stop("bench01"))
                log(f"  run {run + 1} {h.name}: spawn {spawn[h.name][-1]:.2f} s, stop {stop[h.name][-1]:.2f} s")
            spawn["bare"].append(bare_spawn("bench01"))
            log(f"  run {run + 1} bare: {spawn['bare'][-1]:.2f} s")
        results["spawn_s"] = {k: median(v) for k, v in spawn.items()}
        results["stop_s"] = {k: median(v) for k, v in stop.items()}
        results["spawn_runs_s"] = {k: [round(x, 3) for x in v] for k, v in spawn.items()}

        log("Slurm job queries per minute with N sessions running")
        load = {}
        for n in args.sessions:
            for h in (ours, stock):
                load.setdefault(str(n), {})[h.name] = round(queries_per_minute(h, n, args.window), 1)
                log(f"  N={n} {h.name}: {load[str(n)][h.name]} job queries/min")
        results["slurm_queries_per_min"] = {"sessions": args.sessions, "by_sessions": load,
                                            "ours": load[str(max(args.sessions))]["ours"],
                                            "stock": load[str(max(args.sessions))]["stock"]}

        log("the form under load")
        people = [("alice", "alice-demo"), ("bob", "bob-demo")] + [
            (f"bench{i:02d}", f"bench{i:02d}-bench") for i in range(1, n_users + 1)]
        form = {}
        for c in args.form_users:
            form[str(c)] = form_load(people[:c], args.form_seconds, tuple(args.think))
            log(f"  {c} users: {form[str(c)]}")
        top = form[str(max(args.form_users))]
        results["form_ms"] = {**top, "think_s": args.think, "by_users": form}
    finally:
        stock_proc.terminate()
        try:
            stock_proc.wait(30)
        except subprocess.TimeoutExpired:
            stock_proc.kill()
        shutil.copy(f"{state}/jupyterhub.log", HERE / "stock-hub.log")
        shutil.rmtree(state, ignore_errors=True)

    s, st = results["spawn_s"], results["stop_s"]
    q = results["slurm_queries_per_min"]
    f = results["form_ms"]
    lines = [
        f"{'measure':<34}{'ours':>10}{'stock':>10}{'bare':>10}   ratio",
        f"{'spawn (s, median)':<34}{s['ours']:>10.2f}{s['stock']:>10.2f}{s['bare']:>10.2f}   "
        f"ours/bare {s['ours'] / s['bare']:.2f}, stock/bare {s['stock'] / s['bare']:.2f}",
        f"{'stop (s, median)':<34}{st['ours']:>10.2f}{st['stock']:>10.2f}{'':>10}   stock/ours {st['stock'] / st['ours']:.1f}",
    ]
    for n, v in q["by_sessions"].items():
        ratio = v["stock"] / v["ours"] if v["ours"] else float("inf")
        lines.append(f"{'job queries/min, N=' + n:<34}{v['ours']:>10.1f}{v['stock']:>10.1f}{'':>10}   stock/ours {ratio:.1f}")
    for c, v in f["by_users"].items():
        lines.append(f"{'form GET, ' + c + ' users (ms p50/p99)':<34}{v['p50']:>5.0f}/{v['p99']:<5.0f}"
                     f"{'':>20}   slurmctld calls/min {v['slurm_calls_per_min']}")
    print("\n".join(lines))
    out = HERE / "results.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
