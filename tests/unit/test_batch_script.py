"""The batch script is rendered from a validated request only, every value quoted."""

import json
import os
import subprocess
import time

import pytest

from jupyterhub_slurm_interactive.choice.choices import hours as _hours
from jupyterhub_slurm_interactive.choice.releases import Release, list_releases, load_release
from jupyterhub_slurm_interactive.choice.request import ResourceRequest
from jupyterhub_slurm_interactive.session.batch_script import SiteSettings, render_batch_script
from jupyterhub_slurm_interactive.session.templating import make_environment


@pytest.fixture
def releases_dir(tmp_path):
    for name, date, interfaces in [("2026.05", "2026-05-02", ["lab"]), ("2026.11", "2026-11-21", ["lab", "notebook"])]:
        d = tmp_path / name
        (d / "bin").mkdir(parents=True)
        exe = d / "bin" / "jupyterhub-singleuser"
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
        (d / "release.json").write_text(json.dumps(
            {"name": name, "date": date, "interfaces": interfaces, "packages": {"jupyterlab": "4.6.6"}}))
    # not releases: no manifest, a manifest naming another directory, broken JSON
    (tmp_path / "scratch").mkdir()
    (tmp_path / "evil").mkdir()
    (tmp_path / "evil" / "release.json").write_text(json.dumps({"name": "../2026.11"}))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "release.json").write_text("{")
    return tmp_path


def render(release, request, **kw):
    values = dict(
        request=request, release=release, job_name="jupyterhub-session", partition="interactive",
        output="/home/alice/jupyterhub-session-%j.log", home="/home/alice", extra_directives=[],
        prologue="", command=[f"{release.bin_dir}/batchspawner-singleuser", "jupyterhub-singleuser"], report_bytes=4000,
    )
    values.update(kw)
    return make_environment().get_template("batch_script.sh.j2").render(**values)


def test_catalogue_newest_first(releases_dir):
    releases = list_releases(str(releases_dir))
    assert [r.name for r in releases] == ["2026.11", "2026.05"]
    assert releases[0].interfaces == ("lab", "notebook")
    assert releases[0].label == "2026.11 (released 2026-11-21)"
    assert load_release(str(releases_dir / "evil")) is None
    assert list_releases(str(releases_dir / "missing")) == []


def test_script_carries_the_request(releases_dir):
    release = list_releases(str(releases_dir))[0]
    request = ResourceRequest(cores=2, memory=1500, gpus=1, hours=3, release="2026.11", ui="lab",
                              account="proj-b", reservation="course")
    script = render(release, request)
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    for expected in ["#SBATCH --partition=interactive", "#SBATCH --oversubscribe", "#SBATCH --cpus-per-task=2",
                     "#SBATCH --mem=1500M", "#SBATCH --gres=gpu:1", "#SBATCH --time=3:00:00",
                     "#SBATCH --account=proj-b", "#SBATCH --reservation=course",
                     "#SBATCH --output=/dev/null", "output=/home/alice/jupyterhub-session-%j.log", "umask 077",
                     "#SBATCH --no-requeue"]:
        assert expected in lines, expected
    assert "get-user-env" not in script
    assert "API_TOKEN=" not in script and "export JUPYTERHUB_API_TOKEN" not in script  # read from the environment only
    assert any(line.startswith(("'/", "/")) and "batchspawner-singleuser" in line for line in lines)
    assert lines[-1] == 'exit "$status"'
    # every #SBATCH line comes before the first command, or sbatch ignores it
    first_command = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    assert all(i < first_command for i, line in enumerate(lines) if line.startswith("#SBATCH"))


def test_no_gpu_no_account_no_reservation(releases_dir):
    release = list_releases(str(releases_dir))[0]
    script = render(release, ResourceRequest(cores=1, memory=2000, gpus=0, hours=1, release="2026.11", ui="lab"))
    assert "--gres" not in script and "--account" not in script and "--reservation" not in script
    # no GPU asked for: CUDA sees none (Slurm leaves the variable unset for such jobs)
    assert "export CUDA_VISIBLE_DEVICES=" in script.splitlines()


def test_gpus_are_named_by_slurm_alone(releases_dir):
    release = list_releases(str(releases_dir))[0]
    script = render(release, ResourceRequest(cores=1, memory=2000, gpus=2, hours=1, release="2026.11", ui="lab"))
    assert "CUDA_VISIBLE_DEVICES" not in script.replace("# No GPU", "")
    # VS Code, when offered, is reached through a private socket, not a port
    assert "export JUPYTER_VSCODE_PROXY_USE_SOCKET=yes" in script.splitlines()


def manifest(tmp_path, name, **fields):
    d = tmp_path / name
    (d / "bin").mkdir(parents=True)
    exe = d / "bin" / "jupyterhub-singleuser"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    (d / "release.json").write_text(json.dumps({"name": name, "date": "2026-11-21", **fields}))
    return str(d)


def test_a_manifest_lists_kernels_and_interfaces_in_the_hubs_order(tmp_path, caplog):
    release = load_release(manifest(
        tmp_path, "2026.11", interfaces=["vscode", "desktop", "lab", "rstudio"],
        kernels=[{"name": "python3", "display_name": "Python 3"}, {"name": "ir", "display_name": "R"},
                 {"name": "odd"}, "junk"],
        packages={"R": "4.2.2", "code-server": "4.100.3"}))
    assert release.interfaces == ("lab", "vscode", "desktop")
    assert release.kernels == ("Python 3", "R")
    assert release.packages["code-server"] == "4.100.3"
    assert "rstudio" in caplog.text  # an interface this hub does not know is named in the log


def test_a_manifest_with_garbage_in_its_lists_keeps_what_it_can(tmp_path):
    release = load_release(manifest(tmp_path, "2026.11", interfaces=[{"lab": 1}, ["notebook"], None, 7, "lab"],
                                    kernels=[{"display_name": ["x"]}, {"display_name": "R"}]))
    assert release.interfaces == ("lab",)
    assert release.kernels == ("R",)


def test_a_release_offering_no_interface_is_left_out(tmp_path, caplog):
    assert load_release(manifest(tmp_path, "2026.11", interfaces=["rstudio"])) is None
    assert load_release(manifest(tmp_path, "2026.12", interfaces=[])) is None
    assert "offers no interface" in caplog.text


def test_shell_values_are_quoted(releases_dir):
    release = list_releases(str(releases_dir))[0]
    request = ResourceRequest(cores=1, memory=2000, gpus=0, hours=1, release="2026.11", ui="lab")
    script = render(release, request, command=["/opt/x y/bin/run", "--name=$(id)"])
    assert "\n'/opt/x y/bin/run' '--name=$(id)' &\n" in script


@pytest.mark.parametrize("bad", ["proj-a\n#SBATCH --uid=0", "a b", "x;id", "$(id)", "'q'"])
def test_sbatch_lines_refuse_anything_but_tokens(releases_dir, bad):
    """Even if a value slipped past validation, it could not add an #SBATCH line."""
    release = list_releases(str(releases_dir))[0]
    request = ResourceRequest(cores=1, memory=2000, gpus=0, hours=1, release="2026.11", ui="lab", account=bad)
    with pytest.raises(ValueError):
        render(release, request)


@pytest.mark.parametrize("text, hours", [("08:00:00", 8), ("1-12:00:00", 36), ("UNLIMITED", 0), ("", 0), ("30:00", 0)])
def test_hours(text, hours):
    assert _hours(text) == hours


def test_the_server_reports_its_own_port_only_when_the_release_can(releases_dir):
    release = list_releases(str(releases_dir))[0]
    request = ResourceRequest(cores=1, memory=2000, gpus=0, hours=1, release="2026.11", ui="lab")
    own = render(release, request, reports_its_port=True, command=["jupyterhub-singleuser", "--port=0"])
    assert "export JUPYTERHUB_SLURM_REPORT_PORT=1" in own.splitlines()
    assert "jupyterhub-singleuser --port=0 &" in own
    assert "JUPYTERHUB_SLURM_REPORT_PORT" not in render(release, request)
    # the job's first line says when it began, to the millisecond, with its zone
    assert 'at ${began}: release' in own and "EPOCHREALTIME" in own


def test_the_session_keeps_its_runtime_files_and_sockets_in_a_private_directory_it_removes(releases_dir, tmp_path):
    """Run as bash would in the job: the server finds JUPYTER_RUNTIME_DIR in a directory of mode 0700 on the
    node's own temporary disk, and the directory is gone when the job's script ends."""
    import os
    import subprocess

    release = list_releases(str(releases_dir))[0]
    request = ResourceRequest(cores=1, memory=2000, gpus=0, hours=1, release="2026.11", ui="lab")
    seen = tmp_path / "seen"
    node_tmp = tmp_path / "node-tmp"
    node_tmp.mkdir()
    server = ["bash", "-c", f'stat -c "%a" "$JUPYTER_RUNTIME_DIR" "${{JUPYTER_RUNTIME_DIR%/*}}" > {seen}; '
                            f'echo "$JUPYTER_RUNTIME_DIR" >> {seen}']
    script = render(release, request, command=server)
    env = {"PATH": os.environ["PATH"], "TMPDIR": str(node_tmp), "JUPYTERHUB_API_URL": "http://127.0.0.1:9/hub/api",
           "JUPYTERHUB_API_TOKEN": "t", "SLURM_JOB_ID": "1"}
    done = subprocess.run(["bash", "-s"], input=script, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    runtime_mode, private_mode, path = seen.read_text().split()
    assert (runtime_mode, private_mode) == ("700", "700")
    assert path.startswith(f"{node_tmp}/jupyterhub-session.") and path.endswith("/runtime")
    assert os.listdir(node_tmp) == []  # removed with everything in it when the job ended


def run_output_setup(script: str, home, job: str) -> subprocess.CompletedProcess:
    """The batch script's lines that choose and prepare its output (from umask to set -eu), run by bash."""
    lines = script.splitlines()
    part = "\n".join(lines[lines.index("umask 077"):lines.index("set -eu")])
    return subprocess.run(["bash", "-c", part + '\necho "job $SLURM_JOB_ID writes here"\n'],
                          env={"HOME": str(home), "SLURM_JOB_ID": job, "PATH": os.environ["PATH"]},
                          capture_output=True, text=True, check=True)


def test_the_output_goes_to_a_directory_of_its_own_moves_the_former_ones_and_keeps_what_the_site_says(tmp_path):
    release = Release(name="2026.11", path="/opt/releases/2026.11", date="2026-11-21")
    request = ResourceRequest(cores=1, memory=1000, gpus=0, hours=1, release="2026.11", ui="lab")
    home = tmp_path / "alice"
    home.mkdir()
    settings = SiteSettings(keep_sessions=3, keep_days=30)
    script = render_batch_script(request, release, settings, str(home))
    # a long-used home: outputs of the former default, one of them a symbolic link (left alone)
    for job in ("7", "8"):
        (home / f".jupyterhub-session-{job}.log").write_text(f"old {job}\n")
    (home / "elsewhere").write_text("not a log")
    (home / ".jupyterhub-session-9.log").symlink_to(home / "elsewhere")
    run_output_setup(script, home, "10")
    state = home / ".local/state/jupyterhub-slurm-interactive"
    assert oct(state.stat().st_mode & 0o777) == "0o700"
    assert (state / "session-10.log").read_text() == "job 10 writes here\n"
    assert oct((state / "session-10.log").stat().st_mode & 0o777) == "0o600"
    assert (state / "session-7.log").read_text() == "old 7\n" and (state / "session-8.log").exists()
    assert sorted(p.name for p in home.glob(".jupyterhub-session-*")) == [".jupyterhub-session-9.log"]
    # three kept: each new session removes the oldest beyond them, and any older than 30 days
    old = state / "session-8.log"
    os.utime(old, (time.time() - 40 * 86400,) * 2)
    run_output_setup(script, home, "11")
    assert sorted(p.name for p in state.iterdir()) == ["session-10.log", "session-11.log", "session-7.log"]
    for job in ("12", "13"):
        run_output_setup(script, home, job)
    assert sorted(p.name for p in state.iterdir()) == ["session-11.log", "session-12.log", "session-13.log"]


def test_an_output_directory_that_cannot_be_made_falls_back_to_the_home(tmp_path):
    release = Release(name="2026.11", path="/opt/releases/2026.11", date="2026-11-21")
    request = ResourceRequest(cores=1, memory=1000, gpus=0, hours=1, release="2026.11", ui="lab")
    home = tmp_path / "bob"
    home.mkdir()
    (home / ".local").write_text("a file where the directory would go")
    run_output_setup(render_batch_script(request, release, SiteSettings(), str(home)), home, "5")
    assert (home / ".jupyterhub-session-5.log").read_text() == "job 5 writes here\n"


def test_work_areas_are_filled_in_per_session():
    from jupyterhub_slurm_interactive.session.batch_script import work_area_links

    areas = (("work-{account}", "/work/{account}"), ("scratch", "/scratch/{user}"))
    assert work_area_links(areas, "alice", ["proj-a", "proj-b"]) == [
        ("work-proj-a", "/work/proj-a"), ("work-proj-b", "/work/proj-b"), ("scratch", "/scratch/alice")]
    assert work_area_links(areas, "alice", []) == [("scratch", "/scratch/alice")]  # no account: no project area
    assert work_area_links(areas, "", ["p"]) == [("work-p", "/work/p")]


def test_work_areas_are_linked_in_the_home_only_where_the_user_may_go(tmp_path):
    """The script's lines for the work areas, run by bash: a link per area that exists and may be entered, never
    over the user's own folder of that name, and made again (not nested) by the next session."""
    release = Release(name="2026.11", path="/opt/releases/2026.11", date="2026-11-21")
    request = ResourceRequest(cores=1, memory=1000, gpus=0, hours=1, release="2026.11", ui="lab", account="proj-b")
    home, work, scratch = tmp_path / "alice", tmp_path / "work", tmp_path / "scratch"
    for d in (home, work / "proj-b", scratch / "alice", scratch / "mine"):
        d.mkdir(parents=True)
    (home / "areas" / "own").mkdir(parents=True)
    settings = SiteSettings(work_areas=(("work-{account}", f"{work}/{{account}}"), ("scratch", f"{scratch}/{{user}}"),
                                        ("gone", f"{tmp_path}/nowhere"), ("own", f"{scratch}/mine")))
    script = render_batch_script(request, release, settings, str(home), user="alice")
    lines = script.splitlines()
    part = "\n".join(lines[lines.index("set -eu"):lines.index(next(x for x in lines if x.startswith("export PATH=")))])
    for _ in range(2):  # a second session finds the links in place
        done = subprocess.run(["bash", "-c", part], capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
        assert done.returncode == 0, done.stderr
    areas = home / "areas"
    assert sorted(os.listdir(areas)) == ["own", "scratch", "work-proj-b"]
    assert os.readlink(areas / "work-proj-b") == f"{work}/proj-b" and os.readlink(areas / "scratch") == f"{scratch}/alice"
    assert not (areas / "own").is_symlink() and os.listdir(areas / "own") == []  # the user's own folder, untouched
    assert os.listdir(work / "proj-b") == []  # no link made inside the area by the second run
    assert "is a file or folder of your own" in done.stdout


def test_slurm_mails_at_start_and_end_only_when_asked():
    release = Release(name="2026.11", path="/opt/releases/2026.11", date="2026-11-21")
    asked = ResourceRequest(cores=1, memory=1000, gpus=0, hours=1, release="2026.11", ui="lab", mail=True)
    plain = render_batch_script(ResourceRequest(**{**asked.as_options(), "mail": False}), release, SiteSettings(),
                                "/home/alice", user="alice")
    assert "--mail-type" not in plain
    script = render_batch_script(asked, release, SiteSettings(), "/home/alice", user="alice")
    assert "#SBATCH --mail-type=BEGIN,END" in script and "--mail-user" not in script  # the user, on the cluster
    site = render_batch_script(asked, release, SiteSettings(mail_user="{user}@example.org"), "/home/alice",
                               user="alice")
    assert "#SBATCH --mail-user=alice@example.org" in site


@pytest.mark.parametrize("ending", ["exits", "is signalled"])
def test_the_sessions_workers_end_with_it_by_their_name_as_its_owner(tmp_path, ending):
    """Run by bash as in the job: the name goes to what the server starts, and when the server exits, or
    Slurm signals the job (scancel, the walltime), the script cancels the owner's jobs of that name."""
    import getpass

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    asked = tmp_path / "scancel-args"
    (bin_dir / "scancel").write_text(f'#!/bin/sh\necho "$@" >> {asked}\n')
    (bin_dir / "scancel").chmod(0o755)
    seen = tmp_path / "seen"
    request = ResourceRequest(cores=1, memory=1000, gpus=0, hours=1, release="2026.11", ui="lab")
    release = Release(name="2026.11", path="/opt/releases/2026.11", date="2026-11-21")
    server = ["bash", "-c", f'echo "$JUPYTERHUB_SLURM_WORKERS" > {seen}; '
              # signalled: the server runs until the script's trap ends it (no sleep decides anything)
              + ("kill -TERM $PPID; exec tail -f /dev/null" if ending == "is signalled" else "true")]
    script = render_batch_script(request, release, SiteSettings(server_cmd=tuple(server)), str(tmp_path), user="alice")
    script = script.replace(f"{release.bin_dir}/batchspawner-singleuser ", "")  # the server is the stand-in
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "TMPDIR": str(tmp_path), "HOME": str(tmp_path),
           "JUPYTERHUB_API_URL": "http://127.0.0.1:9/hub/api", "JUPYTERHUB_API_TOKEN": "t", "SLURM_JOB_ID": "41"}
    done = subprocess.run(["bash", "-s"], input=script, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == (143 if ending == "is signalled" else 0), done.stderr  # which way it ended
    assert seen.read_text().strip() == "worker-of-41"
    assert asked.read_text().split() == ["--quiet", f"--user={getpass.getuser()}", "--name=worker-of-41"]
