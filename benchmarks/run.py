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
import random
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import timeline  # noqa: E402  (benchmarks/timeline.py, beside this file)

HERE = Path(__file__).resolve().parent
OURS = "http://127.0.0.1:8000"
STOCK = "http://127.0.0.1:8100"
HUB_VENV = "/opt/jupyterhub/venv"
# stock batchspawner runs from its own environment: with this package installed beside
# it, the hub would use our port handler instead of batchspawner's
STOCK_VENV = HERE / ".stock-venv"
RELEASE = "/opt/releases/2026.11"
ADMIN_TOKEN_FILE = "/etc/jupyterhub/admin-api-token"
HUB_PIDFILE = "/run/jupyterhub/jupyterhub.pid"
HUB_LOG = "/var/log/jupyterhub/jupyterhub.log"
SLURMCTLD_LOG = "/var/log/slurm/slurmctld.log"
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

    def spawn(self, user, options: dict | None = None) -> float:
        """Seconds from the POST to the server answering through the proxy. The moments (epoch seconds)
        of the POST, of the REST API saying ready and of the first answer through the proxy are kept in
        ``self.moments`` for the timeline."""
        self.token(user)
        t0, posted = time.monotonic(), time.time()
        r = self.api("POST", f"/users/{user}/server", json=options or {})
        assert r.status_code in (201, 202), (self.name, r.status_code, r.text)
        self.until_ready(user)
        ready = time.time()
        wait_for(lambda: self.answers(user), 60, 0.05, f"{self.name}/{user} to answer through the proxy")
        elapsed = time.monotonic() - t0
        self.moments = {"bench: POST /hub/api/users/NAME/server": posted, "bench: REST says ready": ready,
                        "bench: answers through the proxy": posted + elapsed}
        return elapsed

    def until_ready(self, user):
        """Follow the start's progress events (one request, as the hub's progress page does; polling the
        REST API would take the hub's CPU from the start being measured) until the hub says ready."""
        with self.s.get(f"{self.url}/hub/api/users/{user}/server/progress", stream=True, timeout=300) as r:
            r.raise_for_status()
            for line in r.iter_lines():
                if line.startswith(b"data:"):
                    event = json.loads(line[5:])
                    if event.get("failed"):
                        raise RuntimeError(f"{self.name}/{user}: {event.get('message')}")
                    if event.get("ready"):
                        return
        # the stream ended without a verdict (the start was over before it opened): ask once
        wait_for(lambda: (self.server(user) or {}).get("ready"), 300, 0.1, f"{self.name}/{user} to be ready")

    def job(self, user):
        s = self.server(user)
        return (s or {}).get("state", {}).get("job_id")

    def pid(self) -> int:
        """The hub's own process."""
        return int(open(self.pidfile).read().strip()) if self.pidfile else self.proc.pid

    pidfile, proc = "", None

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
                                   "import jupyterhub, batchspawner; "
                                   "print(jupyterhub.__version__, batchspawner.__version__)"],
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


def node_address(node: str) -> str:
    return re.search(r"NodeAddr=(\S+)", sh("scontrol", "-o", "show", "node", node)).group(1)


#: The batch script's first line, as ours writes it (the timeline reads it): when the job began.
BEGAN = ('now=$EPOCHREALTIME fraction=${now#*[.,]}\n'
         'printf -v began \'%(%Y-%m-%d %H:%M:%S)T.%s %(%Z)T\' "${now%[.,]*}" "${fraction:0:3}" "${now%[.,]*}"\n'
         'echo "Session ${SLURM_JOB_ID} on $(hostname -s) (${SLURMD_NODENAME:-?}) at ${began}: bare"\n')


def bare_spawn(user, node: str) -> tuple[float, dict]:
    """The floor: the release's JupyterLab as a plain job on ``node`` (where ours ran), from sbatch to
    answering at the node's address. Its port is chosen here and the node is known, so nothing but the
    HTTP request is polled (no squeue while JupyterLab starts). Returns the seconds and the milestones."""
    port, addr = free_port(), node_address(node)
    output = f"/home/{user}/.bench-bare-%j.log"
    script = (f"#!/bin/bash\n#SBATCH --partition=interactive\n#SBATCH --oversubscribe\n#SBATCH -c 1\n"
              f"#SBATCH --mem=2000M\n#SBATCH -t 10\n#SBATCH --nodelist={node}\n#SBATCH --output={output}\n"
              f"{BEGAN}exec {RELEASE}/bin/jupyter-lab --no-browser --ip=0.0.0.0 --port={port} "
              f"--IdentityProvider.token='' --ServerApp.password='' --ServerApp.port_retries=0\n")
    url = f"http://{addr}:{port}/api/status"

    def answers():
        try:
            return requests.get(url, timeout=5).status_code == 200
        except requests.RequestException:
            return False
    t0, posted = time.monotonic(), time.time()
    job = subprocess.run(["runuser", "-u", user, "--", "bash", "-c", "cd ~ && sbatch --parsable"], input=script,
                         capture_output=True, text=True, check=True).stdout.strip()
    submitted = time.time()
    wait_for(answers, 120, 0.05, "bare JupyterLab")
    elapsed = time.monotonic() - t0
    sh("scancel", job)
    wait_for(lambda: job not in squeue_ids(f"--jobs={job}"), 30, 0.1)
    path = output.replace("%j", job)
    with open(path, errors="replace") as f:
        moments = timeline.job_milestones(f)
    os.unlink(path)
    moments.update({"bench: sbatch runs": posted, "bench: sbatch answered": submitted,
                    "bench: answers at the node's address": posted + elapsed})
    return elapsed, moments, job


def hub_log_size() -> int:
    return os.path.getsize(HUB_LOG)


def ours_timeline(hub: "Hub", user: str, log_from: int) -> dict:
    """The milestones of ours' last spawn of ``user``: the bench's, the hub log's and the job's."""
    with open(HUB_LOG, errors="replace") as f:
        f.seek(log_from)
        moments = timeline.hub_milestones(f, user)
    job = hub.job(user)
    with open(f"/home/{user}/.jupyterhub-session-{job}.log", errors="replace") as f:
        moments.update(timeline.job_milestones(f))
    moments.update(hub.moments)
    return moments


def job_queries() -> int:
    out = sh("sdiag")
    return sum(int(m) for m in re.findall(r"^\s*REQUEST_JOB_INFO\w*\s*\(\s*\d+\)\s*count:(\d+)", out, re.M))


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and of the children it has reaped (for stock: its sudo squeue), in seconds."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    m = re.search(r"^VmRSS:\s+(\d+) kB", open(f"/proc/{pid}/status").read(), re.M)
    return round(int(m.group(1)) / 1024, 1)


def load_with_sessions(hub: Hub, n: int, window: float, options: dict, parallel: int) -> dict:
    """N sessions running, then ``window`` seconds of nothing but the hub's own polling: the job queries
    slurmctld counted (per minute), the hub's CPU seconds per minute and its resident memory."""
    users = [f"bench{i:02d}" for i in range(1, n + 1)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(n, parallel)) as pool:
        list(pool.map(lambda u: hub.spawn(u, options), users))
    time.sleep(2)
    pid = hub.pid()
    sh("sdiag", "-r")
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(window)
    count, cpu, elapsed, rss = job_queries(), cpu_seconds(pid) - cpu0, time.monotonic() - t0, rss_mb(pid)
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(n, parallel)) as pool:
        list(pool.map(hub.stop, users))
    return {"queries_per_min": round(count * 60.0 / elapsed, 1), "hub_cpu_s_per_min": round(cpu * 60.0 / elapsed, 2),
            "hub_rss_mb": rss}


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


def form_load(users: list[tuple[str, str]], duration: float, think: tuple[float, float],
              pages: tuple[str, ...] = ("spawn",), sessions: list | None = None) -> dict:
    """N logged-in people each loading one of ``/hub/{page}`` for ``pages``, at random, reading it (``think``
    seconds), loading one again. Each comes at a moment of their own within the first ``think``, as people do;
    :func:`all_at_once` measures the other case, everyone in the same instant. With two pages, both are
    measured in the same window under the same load, so that their ratio is not the difference between two
    moments of a shared machine. By page: p50, p99 and the count; and slurmctld's RPCs per minute."""
    sessions = sessions or [login(u, p) for u, p in users]
    latencies: dict[str, list] = {page: [] for page in pages}
    errors = []
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def person(s, seed):
        rnd = random.Random(seed)
        time.sleep(rnd.uniform(0, think[1]))
        while time.monotonic() < stop_at:
            page = rnd.choice(pages)
            dt = load_once(s, page)
            with lock:
                (latencies[page] if dt is not None else errors).append(dt)
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
    by_page = {}
    for page, xs in latencies.items():
        xs.sort()
        by_page[page] = {"requests": len(xs), "p50": round(statistics.median(xs), 1),
                         "p99": round(xs[max(0, int(len(xs) * 0.99) - 1)], 1)}
    return {"concurrency": len(users), "errors": len(errors), "pages": by_page,
            "slurm_calls_per_min": round(rpcs * 60 / elapsed, 1)}


def load_once(s: requests.Session, page: str) -> float | None:
    """Milliseconds to load ``/hub/{page}``; None if it failed (a status other than 200, or the connection reset)."""
    t0 = time.perf_counter()
    try:
        ok = s.get(f"{OURS}/hub/{page}", timeout=60).status_code == 200
    except requests.ConnectionError:
        ok = False
    return (time.perf_counter() - t0) * 1000 if ok else None


def all_at_once(sessions: list, page: str) -> dict:
    """Every one of ``sessions`` loading ``/hub/{page}`` in the same instant, once: the median and the slowest
    (how long the hub takes to clear a queue of them)."""
    latencies = []
    lock, ready = threading.Lock(), threading.Barrier(len(sessions))

    def person(s):
        ready.wait()
        dt = load_once(s, page)
        with lock:
            latencies.append(float("inf") if dt is None else dt)

    threads = [threading.Thread(target=person, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"median": round(statistics.median(latencies), 1), "slowest": round(max(latencies), 1)}


def median(xs):
    return round(statistics.median(xs), 3)


def spread(xs) -> dict:
    """How steady a measure is: its median, lowest, highest, and the highest over the lowest."""
    return {"median": median(xs), "min": round(min(xs), 3), "max": round(max(xs), 3),
            "max_over_min": round(max(xs) / min(xs), 2)}


#: What every spawn asks for in the load test: 1 core and little memory, so that 100 fit outside the
#: reservation (3 nodes × 8 cores × 5 sessions a core), in each spawner's own words.
SMALL = {"ours": {"cores": 1, "memory": 250}, "stock": {"nprocs": "1", "memory": "250M"}}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7, help="spawns and stops per spawner, alternated (at least 7)")
    ap.add_argument("--sessions", type=int, nargs="+", default=[5, 20, 100],
                    help="session counts for the Slurm load and the hub's CPU and memory")
    ap.add_argument("--stock-sessions", type=int, default=100,
                    help="the most sessions stock batchspawner is asked to run (its start_timeout bounds it)")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds of quiet after each spawn and stop")
    ap.add_argument("--jitter", type=float, default=1.0,
                    help="up to this many seconds more, at random, after each spawn and stop (slurmctld's pass "
                         "comes once a second)")
    ap.add_argument("--seed", type=int, default=2026, help="the random pauses' seed, so that a run can be repeated")
    ap.add_argument("--parallel", type=int, default=5, help="spawns at once while filling the cluster")
    ap.add_argument("--window", type=float, default=60, help="seconds of Slurm load measured per point")
    ap.add_argument("--poll-interval", type=int, default=10, help="Spawner.poll_interval of both hubs")
    ap.add_argument("--form-users", type=int, nargs="+", default=[10, 50], help="concurrent users on the form")
    ap.add_argument("--form-seconds", type=float, default=60,
                    help="seconds of people on the pages, the form and the home page at random")
    ap.add_argument("--think", type=float, nargs=2, default=[0.5, 1.5], help="seconds between a user's loads")
    ap.add_argument("--only", choices=["spawn", "load", "form"], nargs="+", default=["spawn", "load", "form"],
                    help="the parts to measure (default: all)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (it creates benchmark users and starts a second hub)")

    n_users = max(max(args.sessions), max(args.form_users))
    log(f"ensuring {n_users} benchmark users")
    ensure_users(n_users)
    ours = Hub("ours", OURS, open(ADMIN_TOKEN_FILE).read().strip())
    ours.pidfile = HUB_PIDFILE
    state = tempfile.mkdtemp(prefix="stock-hub-")
    stock_proc, stock_token = start_stock_hub(state, args.poll_interval)
    stock = Hub("stock", STOCK, stock_token)
    stock.proc = stock_proc
    results = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": machine(),
               "command": " ".join(["benchmarks/run.py", *sys.argv[1:]]), "poll_interval_s": args.poll_interval}
    try:
        for h in (ours, stock):
            for i in range(1, n_users + 1):
                h.ensure_user(f"bench{i:02d}")
                if h.server(f"bench{i:02d}"):
                    h.stop(f"bench{i:02d}")
        if "spawn" in args.only:
            measure_spawn(args, ours, stock, results)
        if "load" in args.only:
            measure_load(args, ours, stock, results)
    finally:
        stock_proc.terminate()
        try:
            stock_proc.wait(30)
        except subprocess.TimeoutExpired:
            stock_proc.kill()
        shutil.copy(f"{state}/jupyterhub.log", HERE / "stock-hub.log")
        shutil.rmtree(state, ignore_errors=True)
    if "form" in args.only:
        measure_form(args, n_users, results)

    print(table(results))
    out = HERE / "results.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {out}")


def machine() -> str:
    mem = int(re.search(r"MemTotal:\s+(\d+)", open("/proc/meminfo").read()).group(1)) // 1024 // 1024
    versions = subprocess.run([f"{HUB_VENV}/bin/python", "-c", "import jupyterhub, batchspawner; "
                               "print(jupyterhub.__version__, batchspawner.__version__)"],
                              capture_output=True, text=True).stdout.split()
    slurm = sh("sinfo", "--version").strip()
    return (f"{os.cpu_count()} cores, {mem} GiB, {slurm}, JupyterHub {versions[0] if versions else '?'}, "
            f"batchspawner {versions[1] if len(versions) > 1 else '?'}")


def measure_spawn(args, ours: Hub, stock: Hub, results: dict):
    log(f"spawn and stop: {args.runs} runs, each ours, stock and the bare floor in turn, on the same node")
    spawn = {"ours": [], "stock": [], "bare": []}
    stop = {"ours": [], "stock": []}
    moments = {"ours": [], "bare": []}
    jobs = {"ours": [], "stock": [], "bare": []}
    jitter = random.Random(args.seed)
    nodes = set()
    node = ""

    def one(kind: str, run: int):
        nonlocal node
        if kind == "bare":  # on the node where ours ran (the first run starts with ours)
            elapsed, bare_moments, job = bare_spawn("bench01", node)
            jobs["bare"].append(job)
            spawn["bare"].append(elapsed)
            moments["bare"].append(bare_moments)
            log(f"  run {run + 1} bare on {node}: {elapsed:.2f} s")
        else:
            h = ours if kind == "ours" else stock
            log_from = hub_log_size()
            spawn[h.name].append(h.spawn("bench01"))
            job = h.job("bench01")
            jobs[h.name].append(job)
            if h is ours:
                node = squeue_ids(f"--jobs={job}")[job][2]
                nodes.add(node)
                moments["ours"].append(ours_timeline(ours, "bench01", log_from))
            stop[h.name].append(h.stop("bench01"))
            log(f"  run {run + 1} {h.name}: spawn {spawn[h.name][-1]:.2f} s, stop {stop[h.name][-1]:.2f} s")
        # every spawn begins on a quiet cluster: what the last job left (its node's cleanup, the
        # scheduler's next pass) must not fall on whichever spawner comes next. slurmctld starts a
        # submitted batch job at its next pass, once a second: a random part of the pause makes each
        # spawner submit at a random moment of that second, instead of at one the sequence fixes.
        time.sleep(args.settle + jitter.uniform(0, args.jitter))

    order = ["ours", "stock", "bare"]
    for run in range(args.runs):
        turn = order[run % 3:] + order[:run % 3]  # each goes first, second and third in turn
        for kind in (turn if node or turn[0] == "ours" else ["ours", "stock", "bare"]):
            one(kind, run)
    results["spawn_s"] = {k: median(v) for k, v in spawn.items()}
    results["spawn_spread_s"] = {k: spread(v) for k, v in spawn.items()}
    results["spawn_runs_s"] = {k: [round(x, 3) for x in v] for k, v in spawn.items()}
    results["spawn_nodes"] = sorted(nodes)
    results["stop_s"] = {k: median(v) for k, v in stop.items()}
    # how long slurmctld kept each job between its submission and its start (its log says)
    with open(SLURMCTLD_LOG, errors="replace") as f:
        waits = timeline.slurm_waits(f, [j for js in jobs.values() for j in js if j])
    results["slurm_wait_s"] = {k: median([waits[j] for j in js if j in waits] or [0.0]) for k, js in jobs.items()}
    results["slurm_wait_runs_s"] = {k: [waits.get(j) for j in js] for k, js in jobs.items()}
    # where the time goes: each milestone's median over the runs (benchmarks/timeline.py)
    results["timeline"] = {}
    for name in ("ours", "bare"):
        merged = timeline.median_milestones(moments[name])
        results["timeline"][name] = timeline.steps(merged)
        print(timeline.render(f"{name}: the median spawn of {args.runs}", merged))


def measure_load(args, ours: Hub, stock: Hub, results: dict):
    log("Slurm job queries per minute, and the hub's CPU and memory, with N sessions running")
    load = {}
    for n in args.sessions:
        for h in (ours, stock):
            count = min(n, args.stock_sessions) if h is stock else n
            try:
                m = load_with_sessions(h, count, args.window, SMALL[h.name], args.parallel)
            except (AssertionError, TimeoutError, RuntimeError) as e:
                log(f"  N={count} {h.name}: could not run them all ({e}); its sessions are stopped")
                for i in range(1, count + 1):
                    if h.server(f"bench{i:02d}"):
                        h.stop(f"bench{i:02d}")
                m = {"failed": str(e)[:300]}
            m["sessions"] = count
            load.setdefault(str(n), {})[h.name] = m
            log(f"  N={count} {h.name}: {m}")
    by = {n: {h: v.get("queries_per_min") for h, v in d.items()} for n, d in load.items()}
    top = str(max(args.sessions))
    results["slurm_queries_per_min"] = {"sessions": args.sessions, "by_sessions": by, "ours": by[top]["ours"],
                                        "stock": by[top]["stock"]}
    results["hub_cpu_s_per_min"] = {n: {h: v.get("hub_cpu_s_per_min") for h, v in d.items()} for n, d in load.items()}
    results["hub_rss_mb"] = {n: {h: v.get("hub_rss_mb") for h, v in d.items()} for n, d in load.items()}
    results["load_detail"] = load


def measure_form(args, n_users: int, results: dict):
    log("the form and the hub's home page under the same load")
    people = [("alice", "alice-demo"), ("bob", "bob-demo")] + [
        (f"bench{i:02d}", f"bench{i:02d}-bench") for i in range(1, n_users + 1)]
    form = {}
    for c in args.form_users:
        sessions = [login(u, p) for u, p in people[:c]]
        both = form_load(people[:c], args.form_seconds, tuple(args.think), ("spawn", "home"), sessions)
        spawn, home = both["pages"]["spawn"], both["pages"]["home"]
        spawn_burst, home_burst = all_at_once(sessions, "spawn"), all_at_once(sessions, "home")
        form[str(c)] = {"concurrency": c, "errors": both["errors"], "requests": spawn["requests"],
                        "p50": spawn["p50"], "p99": spawn["p99"], "home_requests": home["requests"],
                        "home_p50": home["p50"], "home_p99": home["p99"],
                        "slurm_calls_per_min": both["slurm_calls_per_min"],
                        "at_once": spawn_burst, "home_at_once": home_burst}
        log(f"  {c} users: {form[str(c)]}")
    top = form[str(max(args.form_users))]
    results["form_ms"] = {**top, "think_s": args.think, "by_users": form}


def table(results: dict) -> str:
    lines = [f"{results['date']}, {results['machine']}", results["command"], "",
             f"{'measure':<40}{'ours':>10}{'stock':>10}{'bare':>10}   ratio"]
    if "spawn_s" in results:
        s, st, sp = results["spawn_s"], results["stop_s"], results["spawn_spread_s"]
        lines.append(f"{'spawn (s, median)':<40}{s['ours']:>10.2f}{s['stock']:>10.2f}{s['bare']:>10.2f}   "
                     f"ours/bare {s['ours'] / s['bare']:.2f}, stock/bare {s['stock'] / s['bare']:.2f}")
        lines.append(f"{'spawn spread (s, min-max)':<40}" + "".join(
            f"{sp[k]['min']:>5.2f}-{sp[k]['max']:<4.2f}" for k in ("ours", "stock", "bare"))
            + f"   max/min ours {sp['ours']['max_over_min']}, bare {sp['bare']['max_over_min']}")
        w = results["slurm_wait_s"]
        lines.append(f"{'  of which Slurm, submit to start':<40}{w['ours']:>10.2f}{w['stock']:>10.2f}{w['bare']:>10.2f}"
                     f"   ours/bare without it {(s['ours'] - w['ours']) / (s['bare'] - w['bare']):.2f}")
        lines.append(f"{'stop (s, median)':<40}{st['ours']:>10.2f}{st['stock']:>10.2f}{'':>10}   "
                     f"stock/ours {st['stock'] / st['ours']:.1f}")
    if "load_detail" in results:
        queries = results["slurm_queries_per_min"]
        five = queries["by_sessions"].get(str(min(queries["sessions"])), {})
        for n, d in results["load_detail"].items():
            o, k = d.get("ours", {}), d.get("stock", {})
            label = f"N={n}" + (f" (stock {k.get('sessions')})" if k.get("sessions") != int(n) else "")

            def cell(v, fmt):
                return f"{v:>10{fmt}}" if isinstance(v, (int, float)) else f"{'failed':>10}"
            q_ratio = (f"stock/ours {k['queries_per_min'] / o['queries_per_min']:.1f}"
                       if o.get("queries_per_min") and k.get("queries_per_min") else "")
            if five.get("ours") and o.get("queries_per_min") is not None:
                q_ratio += f", ours vs N={min(results['slurm_queries_per_min']['sessions'])} " \
                           f"{o['queries_per_min'] / five['ours']:.2f}"
            lines.append(f"{'job queries/min, ' + label:<40}{cell(o.get('queries_per_min'), '.1f')}"
                         f"{cell(k.get('queries_per_min'), '.1f')}{'':>10}   {q_ratio}")
            lines.append(f"{'hub CPU s/min, ' + label:<40}{cell(o.get('hub_cpu_s_per_min'), '.2f')}"
                         f"{cell(k.get('hub_cpu_s_per_min'), '.2f')}")
            lines.append(f"{'hub RSS MB, ' + label:<40}{cell(o.get('hub_rss_mb'), '.0f')}"
                         f"{cell(k.get('hub_rss_mb'), '.0f')}")
    if "form_ms" in results:
        for c, v in results["form_ms"]["by_users"].items():
            lines.append(f"{'form GET, ' + c + ' users (ms p50/p99)':<40}{v['p50']:>5.0f}/{v['p99']:<5.0f}"
                         f"{'':>20}   slurmctld calls/min {v['slurm_calls_per_min']}")
            lines.append(f"{'home GET, ' + c + ' users (ms p50/p99)':<40}{v['home_p50']:>5.0f}/{v['home_p99']:<5.0f}"
                         f"{'':>20}   form p99/home p99 {v['p99'] / v['home_p99']:.2f}")
            if "at_once" in v:
                f, h = v["at_once"], v["home_at_once"]
                at_once = f"{'GET, ' + c + ' at once (ms median/slowest)':<34}"
                lines.append(f"form {at_once}{f['median']:>6.0f}/{f['slowest']:<5.0f}")
                lines.append(f"home {at_once}{h['median']:>6.0f}/{h['slowest']:<5.0f}"
                             f"{'':>20}   form slowest/home slowest {f['slowest'] / h['slowest']:.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
