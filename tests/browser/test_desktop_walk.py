"""A session's remote desktop, clicked through in Chromium: it draws Xfce, runs inside the job as the user, and its
VNC server listens on no TCP port, only on a Unix socket of a directory no one else may enter."""

import os
import re
import stat

from ..integration.conftest import pgrep, scontrol_job, sh, wait_for
from ..integration.test_releases import in_session
from .conftest import both_widths, shot
from .test_releases_walk import newest_release, start_from_the_form

#: An X11 client's first words, with no credentials, to display N (its Unix socket, then its abstract one): what
#: the server answers ("refused", "accepted", "authenticate", or why no connection was made).
X11_HELLO = """
import socket, struct, sys
n = sys.argv[1]
for address in ("/tmp/.X11-unix/X" + n, "\\0/tmp/.X11-unix/X" + n):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(address)
    except OSError as e:
        last = "no connection: %s" % e
        continue
    s.sendall(struct.pack("<cxHHHHxx", b"l", 11, 0, 0, 0))
    print({0: "refused", 1: "accepted", 2: "authenticate"}.get(s.recv(1)[0], "?"))
    break
else:
    print(last)
"""


def job_of(hub, user, server=""):
    model = hub.server(user, server)
    return model["state"].get("job_id") if model else None


def environ(pid: int) -> dict:
    with open(f"/proc/{pid}/environ", "rb") as f:
        pairs = (item.partition(b"=") for item in f.read().split(b"\0") if b"=" in item)
        return {k.decode(): v.decode(errors="replace") for k, _, v in pairs}


def owner(pid: int) -> int:
    return os.stat(f"/proc/{pid}").st_uid


def colours_drawn(page) -> int:
    """How many distinct colours the desktop's canvas shows (a blank or black screen shows one or two)."""
    return page.evaluate("""() => {
        const canvas = document.querySelector('canvas');
        if (!canvas || !canvas.width) return 0;
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        const seen = new Set();
        for (let i = 0; i < data.length; i += 4 * 97) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
        return seen.size;
    }""")


def test_the_desktop_draws_xfce_inside_the_job_and_its_terminal_is_on_the_job(new_page, hub, clean):
    release = newest_release()
    assert "desktop" in release["interfaces"]
    page = new_page()
    start_from_the_form(page, release["name"], "desktop")
    page.wait_for_url(re.compile(r".*/user/alice/desktop/.*"), timeout=120_000)
    job = job_of(hub, "alice")
    alice = int(sh("id", "-u", "alice").stdout)

    # Xfce's panel runs as alice, inside the job (its environment is the job's)
    panel = wait_for(lambda: [p for p in pgrep("-x", "xfce4-panel") if owner(p) == alice], 90, 1,
                     what="Xfce's panel to run as alice")[0]
    assert environ(panel).get("SLURM_JOB_ID") == job
    page.wait_for_selector("canvas", timeout=60_000)
    wait_for(lambda: colours_drawn(page) > 20, 60, 1, what="the desktop to draw (more than a blank screen)")
    shot(page, "80-desktop")

    # the VNC server: no TCP port, a Unix socket in a directory of alice's that no one else may enter
    vnc = [p for p in pgrep("-f", "Xtigervnc") if owner(p) == alice]
    assert vnc, "no Xtigervnc of alice's"
    listening = sh("ss", "-Hltnp").stdout + sh("ss", "-Hlunp").stdout
    assert not any(f"pid={p}," in listening for p in vnc), listening
    sockets = sh("ss", "-Hlxp").stdout
    paths = [line.split()[4] for line in sockets.splitlines() if any(f"pid={p}," in line for p in vnc)
             and line.split()[4].startswith("/") and not line.split()[4].startswith("/tmp/.X11-unix")]
    assert paths, sockets
    # and no abstract socket: every job on the node shares those, by display number
    assert not [line for line in sockets.splitlines() if any(f"pid={p}," in line for p in vnc)
                and line.split()[4].startswith("@")], sockets
    for path in paths:  # seen as the server sees it: its /tmp is the job's own
        folder = os.stat(f"/proc/{vnc[0]}/root{os.path.dirname(path)}")
        assert folder.st_uid == alice and stat.S_IMODE(folder.st_mode) & 0o077 == 0, (path, oct(folder.st_mode))

    # its X display: bob, on the same node, is refused by the X server without alice's cookie
    displays = sorted({line.split()[4].rsplit("X", 1)[1] for line in sockets.splitlines()
                       if any(f"pid={p}," in line for p in vnc) and "/tmp/.X11-unix/X" in line.split()[4]})
    assert displays, sockets
    answer = sh("python3", "-c", X11_HELLO, displays[0], user="bob").stdout.strip()
    assert answer == "refused" or answer.startswith("no connection"), answer

    # its session buses (Xfce's, and the accessibility bus): sockets in the job's own /tmp or in a directory of
    # alice's that no one else may enter (and D-Bus lets in only its owner's uid)
    buses = [p for p in pgrep("-x", "dbus-daemon") if owner(p) == alice]
    assert buses
    for line in sockets.splitlines():
        pid = next((p for p in buses if f"pid={p}," in line), None)
        if pid is None:
            continue
        path = line.split()[4]
        assert path.startswith("/"), line  # no abstract socket, which anyone on the node may try
        folder = os.stat(f"/proc/{pid}/root{os.path.dirname(path)}")
        private_tmp = path.startswith("/tmp/") and os.stat(f"/proc/{pid}/root/tmp").st_ino != os.stat("/tmp").st_ino
        assert private_tmp or (folder.st_uid == alice and stat.S_IMODE(folder.st_mode) & 0o077 == 0), (
            path, oct(folder.st_mode))

    # a terminal of the desktop (Xfce's Ctrl+Alt+T) runs on the job's node, with the job's environment
    proof = f"desktop-proof-{job}.txt"
    page.locator("canvas").click(position={"x": 800, "y": 500})
    page.keyboard.press("Control+Alt+t")
    terminals = wait_for(lambda: [p for p in pgrep("-x", "xfce4-terminal") if owner(p) == alice], 60, 0.5,
                         what="a terminal to open on the desktop")
    # its window is mapped (and, new, has the focus) once its shell runs: what is typed then reaches the shell
    wait_for(lambda: any(pgrep("-P", str(t), "-x", "bash") for t in terminals), 60, 0.25,
             what="the terminal's shell to start")
    shot(page, "81-desktop-terminal")
    page.keyboard.type(f"echo $SLURM_JOB_ID $SLURMD_NODENAME > ~/{proof}\n", delay=30)

    def proof_written():
        r = in_session(hub, "alice", "GET", f"api/contents/{proof}?content=1&type=file&format=text")
        return r.json()["content"].strip() if r.status_code == 200 and r.json().get("content") else None

    node = scontrol_job(job)["NodeList"]
    assert wait_for(proof_written, 60, 1, what="the terminal to write the job's id") == f"{job} {node}"
    both_widths(page, "82-desktop-terminal-typed")
    in_session(hub, "alice", "DELETE", f"api/contents/{proof}")


def test_a_release_without_the_desktop_offers_none(new_page, hub, clean):
    from ..integration.conftest import release_manifest, release_names

    for name in release_names():
        manifest = release_manifest(name)
        if "desktop" in manifest["interfaces"]:
            continue
        page = new_page()
        start_from_the_form(page, name, "lab")
        page.wait_for_selector(".jp-Launcher", timeout=90_000)
        labels = [t.strip() for t in page.locator(".jp-LauncherCard-label").all_inner_texts()]
        assert labels and not any(label.startswith("Desktop") for label in labels), labels
        return
    raise AssertionError("every release offers the desktop: nothing shows that one without it offers none")
