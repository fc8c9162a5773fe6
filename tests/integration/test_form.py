"""The resource form and the free-resources table, through the real hub and Slurm."""

import concurrent.futures
import math
import re
import time

import pytest

from .conftest import Browser, form_state, sh, squeue, wait_for

pytestmark = pytest.mark.integration

VALID = {"reservation": "", "account": "proj-b", "cores": "2", "memory": "1500", "gpus": "1", "hours": "1",
         "release": "2026.11", "ui": "lab"}


@pytest.fixture(scope="module")
def alice(stack):
    b = Browser("alice")
    assert b.logged_in, b.login.text[:300]
    return b


@pytest.fixture(scope="module")
def bob(stack):
    b = Browser("bob")
    assert b.logged_in
    return b


def test_a_wrong_password_is_refused(stack):
    b = Browser("alice", "not-her-password")
    assert not b.logged_in
    assert "Invalid username or password" in b.login.text


def test_alice_sees_her_accounts_and_the_course_reservation(alice):
    page = alice.form()
    assert page.status_code == 200
    assert "Interactive session parameters" in page.text and "Available computational resources" in page.text
    state = form_state(page.text)
    assert state["options"]["account"] == ["proj-a", "proj-b"]
    assert state["options"]["reservation"] == ["", "course"]
    assert state["options"]["gpus"] == ["0", "1", "2"]
    assert state["options"]["release"] == ["2026.11", "2026.05"]  # newest first
    assert state["options"]["ui"][0] == "lab"
    assert 'id="availability"' in page.text


def test_bob_sees_only_his_account_and_no_reservation(bob):
    state = form_state(bob.form().text)
    assert state["options"]["account"] == ["proj-b"]
    assert state["options"]["reservation"] == [""]
    assert bob.availability("course").status_code == 403


def test_bounds_come_from_slurm(alice):
    html = alice.form().text
    assert re.search(r'name="cores"[^>]*max="8"', html)
    assert re.search(r'name="memory"[^>]*max="30000"', html)
    assert re.search(r'name="hours"[^>]*max="6"', html)  # hub_max_hours of the local stack


# ---------------------------------------------------------------------------- the table

def expected_table(reservation=""):
    """The table computed here from sinfo and scontrol, independently of the spawner's code."""
    sinfo = {}
    for line in sh("sinfo", "-h", "-N", "-p", "interactive", "-o", "%N|%C|%t").stdout.splitlines():
        name, cpus, state = line.split("|")
        sinfo[name] = (int(cpus.split("/")[1]), state)  # the I of A/I/O/T
    resv = {}
    for line in sh("scontrol", "-o", "show", "reservation").stdout.splitlines():
        m = re.search(r"ReservationName=(\S+) .*Nodes=(\S+) .*State=(\S+)", line)
        if m and m.group(3) == "ACTIVE":
            resv[m.group(1)] = set(sh("scontrol", "show", "hostnames", m.group(2)).stdout.split())
    reserved = set().union(*resv.values()) if resv else set()
    rows = {k: [0, 0, 0] for k in range(3)}
    unavailable = 0
    for line in sh("scontrol", "-o", "-d", "show", "node").stdout.splitlines():
        name = re.search(r"NodeName=(\S+)", line).group(1)
        if name not in sinfo:
            continue
        if reservation and name not in resv.get(reservation, set()):
            continue
        if not reservation and name in reserved:
            continue
        state = re.search(r" State=(\S+)", line).group(1)
        if re.search(r"DOWN|DRAIN|FAIL|NOT_RESPONDING|\*", state):
            unavailable += 1
            continue
        gpus = int(re.search(r" Gres=gpu:(\d+)", line).group(1))
        used = re.search(r" GresUsed=gpu:(\d+)", line)
        free_gpus = gpus - (int(used.group(1)) if used else 0)
        memory = int(re.search(r" RealMemory=(\d+)", line).group(1)) - int(re.search(r" AllocMem=(\d+)", line).group(1))
        rows[free_gpus][0] += 1
        rows[free_gpus][1] += sinfo[name][0]
        rows[free_gpus][2] += memory
    return {k: tuple(v) for k, v in rows.items()}, unavailable


def shown(table):
    return {r["free_gpus"]: (r["nodes"], r["free_cores"], r["free_memory_mb"]) for r in table["rows"]}


def fresh_table(browser, reservation="", after=None):
    """The table as served, once it was taken after `after` (a time.time())."""
    after = after or time.time()
    return wait_for(lambda: (lambda t: t if t["taken_at"] >= after else None)(browser.availability(reservation).json()),
                    20, 0.5, what="a table taken after the change")


def test_the_table_equals_what_slurm_says(alice, clean):
    table = fresh_table(alice)
    rows, unavailable = expected_table()
    assert shown(table) == rows
    assert table["unavailable_nodes"] == unavailable == 0
    assert table["reserved_nodes"] == 1
    # the reservation's own view
    inside = fresh_table(alice, "course")
    assert shown(inside) == expected_table("course")[0]
    # the page shows the same numbers
    page = alice.form().text
    cells = re.findall(r'<tr data-free-gpus="(\d)">\s*<th scope="row">([^<]+)</th>\s*<td[^>]*>(\d+)</td>', page)
    assert [(int(k), label, int(n)) for k, label, n in cells] == [
        (0, "No available GPUs", rows[0][0]), (1, "1 available GPU", rows[1][0]), (2, "2 available GPUs", rows[2][0])]


def test_a_job_taking_two_gpus_shows_in_the_first_table_taken_after_it_runs(alice, clean):
    before = shown(fresh_table(alice))
    job = sh("sbatch", "--parsable", "-p", "interactive", "-w", "node01", "--gres=gpu:2", "-c", "3", "--mem=1000M", "-t", "5",
             "--wrap", "sleep 300", user="bob").stdout.strip()
    wait_for(lambda: [j for j in squeue() if j["id"] == job and j["state"] == "RUNNING"], 20, 0.2, what="the job to run")
    # the first view of the cluster begun after the job runs shows it: pages never serve an older one
    # once the refresh interval has passed (availability_interval; how soon is for make bench to say)
    table = fresh_table(alice, after=time.time())
    assert shown(table)[0][0] == before[0][0] + 1
    assert shown(table)[2][0] == before[2][0] - 1
    assert shown(table) == expected_table()[0]


def test_a_drained_node_leaves_the_free_rows(alice, clean):
    sh("scontrol", "update", "nodename=node02", "state=drain", "reason=integration test")
    try:
        after = time.time()
        table = fresh_table(alice, after=after)
        assert table["unavailable_nodes"] == 1
        assert sum(r["nodes"] for r in table["rows"]) == 2
        assert shown(table) == expected_table()[0]
    finally:
        sh("scontrol", "update", "nodename=node02", "state=resume")
    table = fresh_table(alice, after=time.time())
    assert table["unavailable_nodes"] == 0 and sum(r["nodes"] for r in table["rows"]) == 3


def test_the_table_asks_slurm_at_most_once_per_interval(stack, clean):
    """Many people loading the form and the table at once: one Slurm query per interval."""
    people = [Browser("alice"), Browser("bob")]
    interval = people[0].availability().json()["refresh_seconds"]
    sh("sdiag", "-r")
    started = time.monotonic()

    def load(i):
        b = people[i % 2]
        return (b.form() if i % 3 else b.availability()).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=25) as pool:
        codes = list(pool.map(load, range(150)))
    elapsed = time.monotonic() - started
    assert set(codes) == {200}
    rpcs = hub_rpcs()
    # each refresh asks for nodes, reservations and partitions: 3 RPCs
    refreshes_allowed = math.ceil(elapsed / interval) + 1
    assert rpcs <= 3 * refreshes_allowed, (rpcs, elapsed)


def hub_rpcs() -> int:
    """RPCs slurmctld received from the hub's user since `sdiag -r`."""
    out = sh("sdiag").stdout
    section = out.split("Remote Procedure Call statistics by user", 1)[1]
    m = re.search(r"^\s*jupyterhub\s*\(\s*\d+\)\s*count:(\d+)", section, re.M)
    return int(m.group(1)) if m else 0


# ---------------------------------------------------------------------------- validation

HOSTILE = [
    ("cores", "0"), ("cores", "9"), ("cores", "-2"), ("cores", "1.5"), ("cores", "2; touch /tmp/pwned"),
    ("cores", "2\n#SBATCH --uid=0"), ("cores", "99999999999999999999"), ("cores", ""), ("cores", "1e3"),
    ("memory", "30001"), ("memory", "-1"), ("memory", "1G"), ("memory", "$(id)"),
    ("gpus", "3"), ("gpus", "-1"), ("gpus", "one"), ("gpus", "0.5"),
    ("hours", "0"), ("hours", "9"), ("hours", "8\n#SBATCH --partition=debug"), ("hours", "1 "),
    ("account", "proj-a"), ("account", "proj-b;id"), ("account", "proj-b\n#SBATCH --uid=0"), ("account", ""),
    ("reservation", "course"), ("reservation", "course`id`"), ("reservation", "maint"),
    ("release", "../../etc"), ("release", "/opt/releases/2026.11"), ("release", "2026.11/../x"), ("release", ""),
    ("ui", "terminal"), ("ui", "lab;id"), ("ui", ""),
]
# "" is refused for fields that need a value: an empty number or choice
EMPTY_IS_DEFAULT = {("cores", ""), ("hours", "1 ")}


@pytest.mark.parametrize("field, value", HOSTILE)
def test_hostile_values_through_the_api_are_refused(hub, clean, field, value):
    r = hub.start("bob", {**VALID, field: value})
    if (field, value) in EMPTY_IS_DEFAULT:
        assert r.status_code in (201, 202)
        hub.stop("bob")
        return
    assert r.status_code == 400, (field, value, r.status_code, r.text)
    assert field in r.json()["message"]
    assert not [j for j in squeue() if j["user"] == "bob"]
    assert hub.server("bob") is None


@pytest.mark.parametrize("body, field", [
    ({**VALID, "partition": "debug"}, "partition"),
    ({**VALID, "cores": [1, 2]}, "cores"),
    ({**VALID, "cores": True}, "cores"),
    ({**VALID, "cores": 2.0}, "cores"),
    ({**VALID, "account": ["proj-b"]}, "account"),
    ({**VALID, "memory": {"mb": 1}}, "memory"),
    ({**VALID, "release": None}, None),  # null means the default release
    ({**VALID, "exec_prefix": ""}, "exec_prefix"),
])
def test_hostile_shapes_through_the_api_are_refused(hub, clean, body, field):
    r = hub.start("bob", body)
    if field is None:
        assert r.status_code in (201, 202), r.text
        return
    assert r.status_code == 400, r.text
    assert field in r.json()["message"]
    assert not [j for j in squeue() if j["user"] == "bob"]


@pytest.mark.parametrize("field, value", [h for h in HOSTILE if h not in EMPTY_IS_DEFAULT][::2] + [
    ("account", "proj-a"), ("reservation", "course"), ("release", "../../etc")])
def test_hostile_values_through_the_form_are_shown_by_the_field(bob, clean, field, value):
    page = bob.submit({**VALID, field: value})
    assert page.status_code == 400, (field, value, page.status_code)
    state = form_state(page.text)
    assert field in state["errors"], (field, state["errors"])
    assert state["errors"][field]
    # the other values are kept as typed
    for other in ("cores", "memory", "hours"):
        if other != field:
            assert state["values"][other] == VALID[other]
    assert not [j for j in squeue() if j["user"] == "bob"]


def test_unknown_form_fields_are_refused(bob, clean):
    page = bob.submit({**VALID, "partition": "debug"})
    assert page.status_code == 400
    assert "partition: This is not a field of a session" in page.text
    assert not [j for j in squeue() if j["user"] == "bob"]


def test_an_account_removed_after_the_form_was_shown_gives_slurms_reason(hub, bob, clean):
    sh("sacctmgr", "-i", "add", "user", "bob", "account=proj-a")
    try:
        wait_for(lambda: "proj-a" in form_state(bob.form().text)["options"]["account"], 20, 1,
                 what="the form to offer proj-a to bob")
    finally:
        sh("sacctmgr", "-i", "delete", "user", "bob", "account=proj-a")
    page = bob.submit({**VALID, "account": "proj-a"})
    assert page.status_code == 400
    assert "Invalid account" in page.text
    assert "Traceback" not in page.text
    assert not [j for j in squeue() if j["user"] == "bob"]
    # the next form no longer offers it
    assert form_state(bob.form().text)["options"]["account"] == ["proj-b"]
