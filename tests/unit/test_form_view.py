"""The pure builders: what the form shows, the batch script, the home page's card, and what a user is
offered, from output recorded on the local cluster; no hub and no Slurm."""

import json
import re
import time

import pytest

from jupyterhub_slurm_interactive.choice import choices, offer
from jupyterhub_slurm_interactive.choice.releases import Release
from jupyterhub_slurm_interactive.choice.request import ResourceRequest, parse_request
from jupyterhub_slurm_interactive.cluster.views import Snapshot
from jupyterhub_slurm_interactive.session.batch_script import SiteSettings, render_batch_script, submit_environment
from jupyterhub_slurm_interactive.shared import Shared
from jupyterhub_slurm_interactive.slurm import commands as slurm
from jupyterhub_slurm_interactive.web import form
from jupyterhub_slurm_interactive.web.summary import session_summary, time_left

from .playback import CLUSTER, PlaybackRunner, fixture, queue_line

RELEASES = [Release("2026.11", "2026-11-21", "/opt/releases/2026.11", "3.11.2", ("lab", "notebook")),
            Release("2026.05", "2026-05-02", "/opt/releases/2026.05", "3.11.2", ("lab",))]
DEFAULTS = {"cores": 1, "memory": 2000, "gpus": 0, "hours": 1, "release": "2026.11"}


def snapshot(nodes="scontrol_show_node_busy.txt") -> Snapshot:
    return Snapshot(nodes=slurm.parse_nodes(fixture(nodes)),
                    reservations=slurm.parse_reservations(fixture("scontrol_show_reservation.txt")),
                    partitions={p["PartitionName"]: p for p in slurm.parse_records(fixture("scontrol_show_partition.txt"))},
                    taken_at=time.mktime((2026, 11, 21, 14, 5, 0, 0, 0, -1)))


def view(user="alice", accounts=("proj-a", "proj-b"), **kw):
    snap = snapshot()
    usable = choices.usable_reservations(snap.reservations, user, accounts, [], "interactive", 24,
                                         now=time.mktime((2026, 11, 22, 0, 0, 0, 0, 0, -1)))
    limits = choices.request_limits(snap.nodes, snap.partitions["interactive"], "interactive", max_hours=0,
                                    accounts=accounts, reservations=usable, releases=RELEASES, min_memory=100)
    args = dict(snapshot=snap, partition="interactive", accounts=list(accounts), accounts_from_slurm=True,
                usable=usable, releases=RELEASES, limits=limits, defaults=DEFAULTS)
    args.update(kw)
    return form.form_view(**args)


def test_bounds_and_choices_come_from_the_recorded_cluster():
    v = view()
    assert (v["limits"].max_cores, v["limits"].max_memory_mb, v["limits"].max_gpus, v["limits"].max_hours) == (
        8, 30000, 2, 8)
    assert [r["name"] for r in v["reservations"]] == ["course"]
    assert v["reservations"][0]["label"] == "course (node04; until 2027-11-22 01:24)"
    assert v["oversubscribe"] == "5" and v["account_field"] == "select"
    assert v["values"]["account"] == "proj-a" and v["values"]["release"] == "2026.11"
    assert v["ui_choices"] == [("lab", "JupyterLab"), ("notebook", "Jupyter Notebook")]
    assert json.loads(v["interfaces_json"])["2026.05"] == [["lab", "JupyterLab"]]
    assert v["updated"] == "14:05:00 UTC"  # one format on every page: 24 hours, with the zone
    # bob may not use alice's reservation
    assert view(user="bob", accounts=("proj-b",))["reservations"] == []


def test_prefilled_from_the_last_request_and_corrected_to_what_is_offered():
    v = view(last_options={"account": "proj-b", "cores": 4, "release": "2026.05", "ui": "notebook",
                           "reservation": "gone"})
    assert (v["values"]["account"], v["values"]["cores"], v["values"]["release"]) == ("proj-b", 4, "2026.05")
    assert v["values"]["ui"] == "lab"  # 2026.05 offers no notebook
    assert v["values"]["reservation"] == ""  # no longer usable


def test_a_refused_post_comes_back_with_its_values_and_messages_by_field():
    message = "The number of cores must be from 1 to 8 cores; you asked for 99."
    v = view(refused={"values": {"cores": "99", "gpus": "2"},
                      "errors": {"cores": message, "bogus": "This is not a field of a session."}})
    assert v["values"]["cores"] == "99" and v["errors"]["cores"] == message
    assert v["field_errors"] == ["cores"] and v["other_errors"] == [("bogus", "This is not a field of a session.")]
    html = form.render_form(v)
    assert 'id="jsi-cores-error"' in html and "bogus: This is not a field of a session." in html
    # tied to its field for screen readers, and listed in the summary that takes the focus
    cores = re.search(r'<input id="jsi-cores"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in cores and 'aria-describedby="jsi-cores-error jsi-cores-help' in cores
    memory = re.search(r'<input id="jsi-memory"[^>]*>', html).group(0)
    # a typed number always points to its box, which the page fills as the user types
    assert "aria-invalid" not in memory and 'aria-describedby="jsi-memory-error jsi-memory-help jsi-fit-warning"' in memory
    assert re.search(r'id="jsi-memory-error" aria-live="polite"></div>', html)
    assert re.search(r'id="jsi-errors" tabindex="-1"', html)
    assert f'<a href="#jsi-cores" class="alert-link">{message}</a>' in html


def test_the_fit_warning_looks_at_the_whole_request():
    # recorded: node01 has 1 GPU free, node02 and node03 none, node04 is reserved
    v = view()
    assert v["table"].max_free_gpus == 1
    most = max(n.free_memory_mb for n in v["table"].free_nodes if n.free_gpus >= 1)
    assert not view(last_options={"gpus": 1, "memory": most})["fit_warning"]
    assert view(last_options={"gpus": 2})["fit_warning"].startswith(
        "No node outside reservations has 2 free GPUs right now (at most 1 on one node).")
    too_much = view(last_options={"gpus": 1, "memory": most + 1})["fit_warning"]
    assert too_much.startswith(f"{most + 1:,} MB of memory does not fit: the nodes with 1 free GPU outside "
                               f"reservations have at most {most:,} MB free right now.")
    html = form.render_form(view(last_options={"gpus": 2}))
    assert re.search(r'<div id="jsi-fit-warning"[^>]*role="status"[^>]*>No node', html)
    assert re.search(r'<div id="jsi-fit-warning"[^>]* hidden>', form.render_form(view()))


def test_the_table_shows_the_most_memory_free_on_one_node():
    v = view()
    html = form.render_form(v)
    assert "Most free on one node (MB)" in html
    assert f'at most <span id="jsi-max-free-memory">{v["table"].max_free_memory_mb:,}</span> MB' in html


def test_an_account_less_user_and_a_site_without_accounting():
    assert view(accounts=())["account_field"] == "none"
    assert view(accounts=(), accounts_from_slurm=False)["account_field"] == "hidden"


def test_the_form_escapes_what_slurm_and_users_send():
    html = form.render_form(view(last_end="<script>alert(1)</script>",
                                 refused={"values": {"cores": '"><script>'}, "errors": {"cores": "<b>no</b>"}}))
    assert "<script>alert" not in html and '"><script>' not in html and "&lt;b&gt;no" in html


def test_the_batch_script_is_built_from_the_request_and_the_site():
    request = parse_request({"account": "proj-b", "cores": 2, "memory": 1500, "gpus": 1, "hours": 3},
                            view()["limits"], DEFAULTS)
    settings = SiteSettings(extra_directives=("--qos=normal",), prologue="module load cuda",
                            server_args=("--debug",))
    script = render_batch_script(request, RELEASES[0], settings, "/home/alice")
    for line in ("#SBATCH --account=proj-b", "#SBATCH --cpus-per-task=2", "#SBATCH --mem=1500M",
                 "#SBATCH --gres=gpu:1", "#SBATCH --time=3:00:00", "#SBATCH --qos=normal",
                 "#SBATCH --output=/dev/null", "module load cuda",
                 "output=/home/alice/.local/state/jupyterhub-slurm-interactive/session-%j.log",
                 "/opt/releases/2026.11/bin/batchspawner-singleuser jupyterhub-singleuser --debug &"):
        assert line in script.splitlines(), line
    with pytest.raises(ValueError):
        render_batch_script(request, RELEASES[0], SiteSettings(partition="a b"), "/home/alice")
    with pytest.raises(ValueError):
        render_batch_script(request, RELEASES[0], SiteSettings(), "/home/al ice")


def test_sbatch_gets_the_sessions_variables_and_nothing_of_the_hubs():
    env = submit_environment({"JUPYTERHUB_API_TOKEN": "t", "JPY_API_TOKEN": "t", "LD_PRELOAD": "x",
                              "SBATCH_ACCOUNT": "other", "PATH": "/hub/venv/bin"})
    assert env == {"JUPYTERHUB_API_TOKEN": "t", "JPY_API_TOKEN": "t", "PATH": "/usr/local/bin:/usr/bin:/bin",
                   "LANG": "C.UTF-8"}


def test_the_home_page_card():
    entry = slurm.parse_squeue(queue_line("RUNNING", "52"))[0]
    now = choices.timestamp(entry.end_time) - 3900
    request = ResourceRequest(cores=2, memory=1500, gpus=1, hours=1, account="proj-b", release="2026.11", ui="lab")
    card = session_summary(request, RELEASES[0], entry, job_id="52", now=now)
    assert card["node"] == "node01" and card["time_left"] == "1 h 5 min"
    assert card["release_label"] == "2026.11 (released 2026-11-21)" and card["account"] == "proj-b"
    ended = session_summary(None, None, None, last_end={"message": "Your session ended."})
    assert ended["time_left"] == "" and ended["last_end"] == "Your session ended."
    assert time_left("N/A") == "" and time_left("2026-11-21T10:00:00", now=2e9) == "0 s"


async def test_what_a_user_is_offered_comes_from_the_shared_views():
    runner = PlaybackRunner({**CLUSTER, "sacctmgr show associations": [fixture("sacctmgr_assoc_alice.txt")],
                             "sacctmgr show user": [fixture("sacctmgr_user_alice.txt")]})
    settings = offer.OfferSettings(releases_dir="/nonexistent", max_hours=4)
    given = await offer.gather("alice", Shared(runner).sources(settings), settings)
    assert given.accounts == ["proj-a", "proj-b"] and given.accounts_from_slurm
    assert given.limits.max_hours == 4 and given.releases == [] and given.defaults["release"] == ""
    assert [r.name for r in given.reservations] == ["course"]
    no_accounting = offer.OfferSettings(use_accounting=False, accounts=("site",))
    assert (await offer.user_accounts("alice", Shared(runner).accounts(60), no_accounting)) == (["site"], False)


def test_a_failed_session_banner_gives_the_end_of_its_output_and_its_path():
    message = ("Your session (Slurm job 7) ended: the server failed (exit status 137). The end of its output:\n"
               + "\n".join(f"line {i}" for i in range(100)) + "\nThe whole output is in /home/alice/.s-7.log.")
    parts = form.split_end(message)
    assert parts["text"] == "Your session (Slurm job 7) ended: the server failed (exit status 137)."
    assert parts["output"].splitlines() == [f"line {i}" for i in range(60, 100)]  # its last lines say why
    assert parts["path"] == "/home/alice/.s-7.log"
    assert form.split_end("Your session ended: its time limit was reached.") == {
        "text": "Your session ended: its time limit was reached.", "output": "", "path": ""}
    html = form.render_form(view(last_end=message, last_end_state="FAILED"))
    assert 'class="alert alert-warning" role="status" id="jsi-last-end"' in html
    assert '<code class="jsi-output-path">/home/alice/.s-7.log</code>' in html and "line 99</pre>" in html
    assert "alert-info" in form.render_form(view(last_end="Your session ended: it was stopped from the hub.",
                                                 last_end_state="CANCELLED"))


def test_a_named_session_opens_a_jupyterlab_workspace_of_its_own():
    from jupyterhub_slurm_interactive.choice.releases import interface_url
    assert interface_url("lab") == "/lab"  # the default session keeps the default workspace
    assert interface_url("lab", "gpu") == "/lab/workspaces/gpu"
    assert interface_url("lab", "a b") == "/lab/workspaces/a%20b"
    assert interface_url("vscode", "gpu") == "/vscode/" and interface_url("notebook", "gpu") == "/tree"
