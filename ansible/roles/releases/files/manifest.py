"""Writes a release's manifest, release.json, from what is installed in it.

    python3 manifest.py --name 2026.11 --date 2026-11-21 --interfaces lab,notebook,vscode DIR

The hub reads the manifest to offer the release: its interfaces, its kernels and the versions of
its tools, each read from the environment itself rather than from what was asked for. An
interface the release declares but cannot open (its package or program is missing) is an error:
the build stops here rather than offer something that does not start.
"""

import argparse
import glob
import json
import os
import subprocess
import sys

#: The tools shown on the form, by the distribution that provides them.
TOOLS = ("jupyterlab", "notebook", "jupyterhub", "ipykernel", "jupyterlab-nvdashboard", "jupyterlab-slurm",
         "jupyter-server-proxy", "jupyter-vscode-proxy", "jupyter-remote-desktop-proxy",
         "jupyterlab-slurm-interactive")
#: The data-science kernel's libraries shown on the form.
DATA_TOOLS = ("numpy", "pandas", "scipy", "matplotlib", "dask", "dask-jobqueue")
#: What each interface needs: a distribution of the Jupyter environment, and a program in bin/.
NEEDS = {"lab": ("jupyterlab", None), "notebook": ("notebook", None),
         "vscode": ("jupyter-vscode-proxy", "code-server"),
         "desktop": ("jupyter-remote-desktop-proxy", "vncserver")}
#: The node's own programs a desktop runs (Debian's, not the release's): the VNC server that bin/vncserver
#: starts, the desktop's session, its terminal and its session bus.
DESKTOP_PROGRAMS = ("/usr/bin/vncserver", "/usr/bin/xfce4-session", "/usr/bin/xfce4-terminal", "/usr/bin/dbus-launch")

LIST = ("import json, importlib.metadata as m; "
        "print(json.dumps({d.metadata['Name'].lower().replace('_', '-'): d.version for d in m.distributions()}))")


def distributions(python: str) -> dict:
    return json.loads(subprocess.run([python, "-c", LIST], check=True, capture_output=True, text=True).stdout)


def first_line(argv: list) -> str:
    try:
        return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip().splitlines()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return ""


def kernels(path: str) -> list:
    found = []
    for spec in sorted(glob.glob(os.path.join(path, "share", "jupyter", "kernels", "*", "kernel.json"))):
        with open(spec, encoding="utf-8") as f:
            data = json.load(f)
        found.append({"name": os.path.basename(os.path.dirname(spec)), "display_name": data["display_name"],
                      "language": data.get("language", "")})
    # the release's own Python first, as the launcher shows it
    return sorted(found, key=lambda k: (k["name"] != "python3", k["display_name"]))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--date", required=True)
    parser.add_argument("--interfaces", required=True)
    parser.add_argument("path")
    args = parser.parse_args()

    path = args.path
    jupyter = distributions(os.path.join(path, "bin", "python"))
    packages = {name: jupyter[name] for name in TOOLS if name in jupyter}
    data_python = os.path.join(path, "envs", "data", "bin", "python")
    if os.path.exists(data_python):
        data = distributions(data_python)
        packages.update({name: data[name] for name in DATA_TOOLS if name in data})
    specs = kernels(path)
    if any(k["language"].lower() == "r" for k in specs):
        r = first_line(["R", "--version"])  # "R version 4.2.2 Patched (2022-11-10 r83330) -- ..."
        if r.startswith("R version "):
            packages["R"] = r.split()[2]
        irkernel = first_line(["Rscript", "-e", 'cat(format(packageVersion("IRkernel")), "\\n")'])
        if irkernel:
            packages["IRkernel"] = irkernel
    for package_json in glob.glob(os.path.join(path, "opt", "code-server-*", "node_modules", "code-server",
                                               "package.json")):
        with open(package_json, encoding="utf-8") as f:
            packages["code-server"] = json.load(f)["version"]
    if "desktop" in args.interfaces.split(","):
        vnc = first_line(["dpkg-query", "-W", "-f", "${Version}", "tigervnc-standalone-server"])
        xfce = first_line(["dpkg-query", "-W", "-f", "${Version}", "xfce4-session"])
        if vnc:
            packages["TigerVNC"] = vnc.split("+")[0]
        if xfce:
            packages["Xfce"] = xfce.split("-")[0]

    interfaces = [i for i in args.interfaces.split(",") if i]
    missing = []
    for interface in interfaces:
        distribution, program = NEEDS.get(interface, (None, None))
        if interface not in NEEDS:
            missing.append(f"{interface}: not an interface this project knows")
        elif distribution not in jupyter:
            missing.append(f"{interface}: {distribution} is not installed")
        elif program and not os.access(os.path.join(path, "bin", program), os.X_OK):
            missing.append(f"{interface}: no bin/{program}")
        elif interface == "desktop":
            missing += [f"desktop: no {p}" for p in DESKTOP_PROGRAMS if not os.access(p, os.X_OK)]
    if missing:
        print(f"release {args.name} cannot offer " + "; ".join(missing), file=sys.stderr)
        return 1

    manifest = {
        "name": args.name,
        "date": args.date,
        "python": first_line([os.path.join(path, "bin", "python"), "-c",
                              "import platform; print(platform.python_version())"]),
        "interfaces": interfaces,
        "kernels": specs,
        "packages": packages,
    }
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    target = os.path.join(path, "release.json")
    try:
        with open(target, encoding="utf-8") as f:
            if f.read() == text:
                print("unchanged")
                return 0
    except FileNotFoundError:
        pass
    with open(target + ".new", "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(target + ".new", 0o644)
    os.replace(target + ".new", target)
    print("written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
