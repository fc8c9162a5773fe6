"""Fixtures for tests against the local stack: real Slurm, real hub.

They never skip: if the stack is not up, every test here fails and says so.
`make test` brings the stack up first.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import subprocess
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

HUB = os.environ.get("HUB_URL", "http://127.0.0.1:8000")
#: The CA that signed the hub's https certificate (the compose stack's demo CA). Every request of the tests
#: verifies the hub against it, as a site's people verify theirs: requests reads REQUESTS_CA_BUNDLE.
HUB_CA_FILE = os.environ.get("HUB_CA_FILE", "")
if HUB_CA_FILE:
    os.environ["REQUESTS_CA_BUNDLE"] = HUB_CA_FILE
ADMIN_TOKEN_FILE = os.environ.get("HUB_ADMIN_TOKEN_FILE", "/etc/jupyterhub/admin-api-token")
STACKCTL = "/usr/local/sbin/slurm-interactive-stack"
HUB_USER = "jupyterhub"
DEMO_USERS = ("alice", "bob")


#: Against the compose stack: how to run a Slurm command on its controller ("docker-compose -p P exec -T").
SLURM_VIA = os.environ.get("SLURM_VIA", "")
SLURM_COMMANDS = {"sbatch", "srun", "scancel", "squeue", "scontrol", "sacct", "sacctmgr", "sinfo", "sdiag"}


@functools.cache
def container_user(user: str) -> str:
    """``user`` as uid:gid in the controller container: Docker's exec looks names up in the container's
    /etc/passwd only, and the compose stack's people live in its directory, which the container's name
    service resolves."""
    entry = subprocess.run([*SLURM_VIA.split(), "slurmctld", "getent", "passwd", user], capture_output=True,
                           text=True, timeout=60).stdout.split(":")
    return f"{entry[2]}:{entry[3]}" if len(entry) > 3 else user


def sh(*argv: str, check: bool = True, user: str | None = None, input: str | None = None,
       timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a command, as root or as `user` (through runuser, from the user's home). With SLURM_VIA set,
    Slurm's commands run in the compose stack's controller container instead."""
    if SLURM_VIA and argv and argv[0] in SLURM_COMMANDS:
        argv = (*SLURM_VIA.split(), *(["--user", container_user(user)] if user else []), "slurmctld", *argv)
    elif user:
        argv = ("runuser", "-u", user, "--", "bash", "-c", 'cd ~ && exec "$@"', "_", *argv)
    proc = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def session_output(user: str, job) -> str:
    """Where a session's job writes its output (InteractiveSlurmSpawner.output_file's default)."""
    return f"/home/{user}/.local/state/jupyterhub-slurm-interactive/session-{job}.log"


def pgrep(*args: str) -> list[int]:
    """pgrep among this machine's own processes. The compose, fresh and site legs of make test run beside
    this suite in containers, whose hubs, proxies, idle cullers and sessions (a container's alice can have
    the same uid as this machine's) are other processes of the same name: their pid namespace leaves them out."""
    out = sh("pgrep", "--ns", str(os.getpid()), "--nslist", "pid", *args, check=False).stdout
    return [int(pid) for pid in out.split()]


def wait_for(predicate, timeout: float = 30, interval: float = 0.25, what: str = "condition"):
    """Call predicate until it returns something truthy; return it, or fail after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def squeue(*args: str) -> list[dict]:
    out = sh("squeue", "--noheader", "--format=%i|%T|%N|%r|%u|%a|%P|%j", *args).stdout
    keys = ("id", "state", "nodes", "reason", "user", "account", "partition", "name")
    return [dict(zip(keys, line.split("|"))) for line in out.splitlines() if line.strip()]


def cancel_all_jobs():
    for user in DEMO_USERS:
        sh("scancel", "-u", user, check=False)
    wait_for(lambda: not [j for j in squeue() if j["user"] in DEMO_USERS], 30, what="the jobs to end")


class Hub:
    """The hub's REST API with the operators' token, and per-user tokens."""

    def __init__(self, url: str, token: str):
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token}"
        self._user_tokens: dict[str, str] = {}

    def api(self, method: str, path: str, **kw) -> requests.Response:
        return self.session.request(method, f"{self.url}/hub/api{path}", timeout=60, **kw)

    def metric(self, name: str, **labels) -> float:
        """A sample of the hub's /hub/metrics (0 if it is not there, or the hub does not answer): how tests
        wait for what the hub did (its squeue calls and failures, the culler's passes) instead of sleeping."""
        try:
            text = self.session.get(f"{self.url}/hub/metrics", timeout=10).text
        except requests.RequestException:
            return 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return sample.value
        return 0.0

    def squeue_calls(self, failed: bool = False) -> float:
        """How many squeue the hub has run (or seen fail) since it started."""
        name = "slurm_interactive_slurm_command_" + ("failures_total" if failed else "seconds_count")
        return self.metric(name, command="squeue")

    def culler_passes(self) -> float:
        """How many times the idle culler has read the list of users (once per pass)."""
        return self.metric("jupyterhub_request_duration_seconds_count", method="GET", code="200",
                           handler="jupyterhub.apihandlers.users.UserListAPIHandler")

    def ensure_user(self, name: str) -> dict:
        r = self.api("GET", f"/users/{name}")
        if r.status_code == 404:
            r = self.api("POST", f"/users/{name}")
            assert r.status_code == 201, r.text
        return r.json()

    def user_token(self, name: str) -> str:
        if name not in self._user_tokens:
            self.ensure_user(name)
            r = self.api("POST", f"/users/{name}/tokens", json={"note": "integration tests", "expires_in": 3600})
            assert r.status_code == 201, r.text
            self._user_tokens[name] = r.json()["token"]
        return self._user_tokens[name]

    @staticmethod
    def _path(name: str, server: str = "") -> str:
        return f"/users/{name}/servers/{server}" if server else f"/users/{name}/server"

    def server(self, name: str, server: str = "") -> dict | None:
        return self.api("GET", f"/users/{name}").json()["servers"].get(server)

    def all_servers(self, name: str) -> dict:
        """Every server of the user, stopped ones too (name → model)."""
        return self.api("GET", f"/users/{name}", params={"include_stopped_servers": "1"}).json()["servers"]

    def start(self, name: str, options: dict | None = None, body: str | None = None, server: str = "") -> requests.Response:
        self.ensure_user(name)
        if body is not None:
            return self.api("POST", self._path(name, server), data=body)
        return self.api("POST", self._path(name, server), json=options if options is not None else None)

    def wait_ready(self, name: str, timeout: float = 120, server: str = "") -> dict:
        def ready():
            s = self.server(name, server)
            if s is None:
                raise AssertionError(f"{name}'s server {server!r} went away while starting")
            return s if s["ready"] else None
        return wait_for(ready, timeout, 0.5, f"{name}'s server {server!r} to be ready")

    def stop(self, name: str, timeout: float = 60, server: str = ""):
        r = self.api("DELETE", self._path(name, server))
        assert r.status_code in (202, 204, 400), r.text  # 400: not running
        wait_for(lambda: self.server(name, server) is None, timeout, 0.25, f"{name}'s server {server!r} to stop")

    def remove(self, name: str, server: str):
        """Stop a named server and forget it (JupyterHub's DELETE with remove)."""
        r = self.api("DELETE", self._path(name, server), json={"remove": True})
        assert r.status_code in (202, 204, 404), r.text
        wait_for(lambda: server not in self.all_servers(name), 60, 0.25, f"{name}'s server {server!r} to go")

    def sessions(self, name: str) -> list[dict]:
        """The cards of "My sessions", with the user's own token."""
        r = requests.get(f"{self.url}/hub/api/slurm-interactive/users/{name}/sessions", timeout=60,
                         headers={"Authorization": f"token {self.user_token(name)}"})
        assert r.status_code == 200, r.text
        return r.json()["sessions"]

    def cancel(self, name: str, server: str = "", as_user: str | None = None) -> requests.Response:
        """Cancel a queued or starting session through the REST API, with the token of `as_user` (the owner)."""
        path = f"users/{name}/servers/{server}/cancel" if server else f"users/{name}/server/cancel"
        return requests.post(f"{self.url}/hub/api/slurm-interactive/{path}", timeout=60,
                             headers={"Authorization": f"token {self.user_token(as_user or name)}"})

    def status_through_proxy(self, name: str, server: str = "") -> requests.Response:
        return requests.get(f"{self.url}/user/{name}/{server + '/' if server else ''}api/status",
                            headers={"Authorization": f"token {self.user_token(name)}"}, timeout=30)


@pytest.fixture(scope="session")
def stack():
    """The local stack is up: Slurm answers, the hub answers, the operators' token is readable."""
    problems = []
    if sh("scontrol", "ping", check=False).returncode != 0:
        problems.append("slurmctld does not answer `scontrol ping`")
    try:
        requests.get(f"{HUB}/hub/health", timeout=5).raise_for_status()
    except Exception as e:  # noqa: BLE001
        problems.append(f"the hub does not answer at {HUB} ({e})")
    if not os.access(ADMIN_TOKEN_FILE, os.R_OK):
        problems.append(f"cannot read the operators' token {ADMIN_TOKEN_FILE}")
    if problems:
        pytest.fail("The local stack is not up: " + "; ".join(problems) + ". Run `make up` (as root).", pytrace=False)


@pytest.fixture(scope="session")
def hub(stack) -> Hub:
    with open(ADMIN_TOKEN_FILE) as f:
        return Hub(HUB, f.read().strip())


@pytest.fixture
def clean(hub):
    """No demo user's server or job before and after the test."""
    def reset():
        for user in DEMO_USERS:
            hub.ensure_user(user)
            for server in hub.all_servers(user):
                if server:  # the named sessions are forgotten
                    hub.remove(user, server)
            if hub.server(user) is not None:
                hub.stop(user)
            # no options left over from earlier runs: a start without options means the defaults
            hub.api("PATCH", f"/users/{user}/servers/", json={"user_options": {}})
        cancel_all_jobs()
        # the output files of the tests' own plain jobs (blockers, forged sessions), not left
        # in the demo users' homes for the next screenshot
        for user in DEMO_USERS:
            for leftover in glob.glob(f"/home/{user}/slurm-[0-9]*.out"):
                os.unlink(leftover)
    reset()
    yield
    reset()


def scontrol_job(job_id: str) -> dict:
    from jupyterhub_slurm_interactive.slurm.commands import parse_key_values
    return parse_key_values(sh("scontrol", "-o", "show", "job", job_id).stdout.strip())


RELEASES_DIR = "/opt/releases"


def release_manifest(name: str) -> dict:
    with open(os.path.join(RELEASES_DIR, name, "release.json")) as f:
        return json.load(f)


def release_names() -> list[str]:
    """The installed releases (with a manifest), newest first, as the form offers them."""
    names = [n for n in os.listdir(RELEASES_DIR) if os.path.exists(os.path.join(RELEASES_DIR, n, "release.json"))]
    return sorted(names, key=lambda n: (release_manifest(n)["date"], n), reverse=True)


def hub_log_tail(lines: int = 50) -> str:
    return sh("tail", "-n", str(lines), "/var/log/jupyterhub/jupyterhub.log", check=False).stdout


def hub_log_size() -> int:
    """Where the hub's log ends now: :func:`hub_log_since` reads what is written after."""
    return os.path.getsize("/var/log/jupyterhub/jupyterhub.log")


def hub_log_since(offset: int) -> str:
    with open("/var/log/jupyterhub/jupyterhub.log", "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


__all__ = ["sh", "wait_for", "squeue", "cancel_all_jobs", "scontrol_job", "json", "hub_log_tail", "STACKCTL", "HUB_USER"]


PASSWORDS = {"alice": "alice-demo", "bob": "bob-demo", "carol": "carol-demo", "dave": "dave-demo"}


#: How the hub logs people in: "pam" (its own login form) or "oidc" (the compose stack: through its provider).
HUB_LOGIN = os.environ.get("HUB_LOGIN", "pam")


def provider_form_fields(html: str) -> dict:
    """The hidden fields of the provider's login form (LemonLDAP::NG: the return URL, a one-time token)."""
    import re
    return {m.group(1): m.group(2) for m in re.finditer(
        r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html)}


class Browser:
    """A person's session with the hub through its pages (cookies, XSRF), without a browser."""

    def __init__(self, user: str, password: str | None = None):
        self.user = user
        self.s = requests.Session()
        password = password if password is not None else PASSWORDS[user]
        page = self.s.get(f"{HUB}/hub/login", timeout=30)
        self.xsrf = self._xsrf(page.text)
        if HUB_LOGIN == "oidc":  # the hub sent us to the provider's login page
            self.login = self.s.post(page.url, timeout=60, data={
                **provider_form_fields(page.text), "user": user, "password": password})
        else:
            self.login = self.s.post(f"{HUB}/hub/login", timeout=60, data={
                "username": user, "password": password, "_xsrf": self.xsrf})
        # the hub's own _xsrf cookie (a running session sets another one on its own path)
        hub_xsrf = [c.value for c in self.s.cookies if c.name == "_xsrf" and (c.path or "/").startswith("/hub")]
        any_xsrf = [c.value for c in self.s.cookies if c.name == "_xsrf"]
        self.xsrf = (hub_xsrf or any_xsrf or [self.xsrf])[0]

    @staticmethod
    def _xsrf(html: str) -> str:
        import re
        m = re.search(r'name="_xsrf" value="([^"]+)"', html)
        return m.group(1) if m else ""

    @property
    def logged_in(self) -> bool:
        return "jupyterhub-session-id" in self.s.cookies and self.login.status_code == 200 and "/hub/login" not in self.login.url

    def form(self) -> requests.Response:
        return self.s.get(f"{HUB}/hub/spawn", timeout=60, allow_redirects=False)

    def submit(self, fields: dict) -> requests.Response:
        page = self.s.get(f"{HUB}/hub/spawn", timeout=60)
        xsrf = self._xsrf(page.text) or self.xsrf
        return self.s.post(f"{HUB}/hub/spawn", data={**fields, "_xsrf": xsrf}, timeout=60)

    def availability(self, reservation: str = "", **typed) -> requests.Response:
        params = {"reservation": reservation, **typed} if reservation else typed
        return self.s.get(f"{HUB}/hub/api/slurm-interactive/availability", params=params, timeout=30,
                          headers={"X-XSRFToken": self.xsrf})


def form_state(html: str) -> dict:
    """The form's fields as a person sees them: values, choices, errors."""
    from html.parser import HTMLParser

    class P(HTMLParser):
        def __init__(self):
            super().__init__()
            self.fields, self.options, self.errors = {}, {}, {}
            self._select = None
            self._error = None
            self._text = ""

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "input" and a.get("name"):
                self.fields[a["name"]] = a.get("value", "")
            if tag == "select" and a.get("name"):
                self._select = a["name"]
                self.options[self._select] = []
                self.fields.setdefault(self._select, "")
            if tag == "option" and self._select:
                self.options[self._select].append(a.get("value", ""))
                if "selected" in a:
                    self.fields[self._select] = a.get("value", "")
            if tag == "div" and (a.get("id") or "").endswith("-error"):
                self._error, self._text = a["id"][4:-6], ""

        def handle_endtag(self, tag):
            if tag == "select":
                self._select = None
            if tag == "div" and self._error:
                self.errors[self._error] = self._text.strip()
                self._error = None

        def handle_data(self, data):
            if self._error:
                self._text += data

    p = P()
    p.feed(html)
    return {"values": p.fields, "options": p.options, "errors": p.errors}
