"""Dask in this session: what SLURMCluster() in a notebook needs that is the session's own.

A server extension, enabled in the releases that carry Dask. At the server's start it

- makes the session's Dask certificates: a CA of its own and one certificate it signs, in a directory
  of the home (0700; the workers run on other nodes and read them there), so that the scheduler, the
  workers and the notebook's client each ask the others for a certificate only this session has:
  another user who reaches the scheduler's port gets no further than the TLS handshake;
- puts in the environment of the kernels and terminals it starts what dask-jobqueue reads
  (:func:`dask_environment`): the certificates, the session's account, its workers' job name (the
  session's job gives it, and cancels its owner's jobs of that name when it ends, as the hub does), and
  how long they may run: no longer than the session has left, and never past its end (``--deadline``);
- proxies the scheduler's dashboard, which the release's preload serves on a Unix socket of the
  session's private directory, at ``{base_url}dask-dashboard/``.

The release's own Dask configuration (``etc/dask``) has the rest: the batch partition, TLS only.
"""

from __future__ import annotations

import datetime
import os
import shutil
import sys
import time

#: Where the session's Dask certificates are kept, under the home.
STATE_DIR = os.path.join(".local", "state", "jupyterhub-slurm-interactive", "dask")
#: The scheduler's dashboard socket, in the session's private runtime directory (the release's preload).
DASHBOARD_SOCKET = "dask-dashboard.sock"
#: The dashboard's place in the session's server.
DASHBOARD_ROUTE = "dask-dashboard"
#: Directories of sessions that ended are removed at the next start once this old.
KEEP_SECONDS = 7 * 86400
#: A worker may start this short, when little of the session is left (Slurm's --time-min).
MIN_WORKER_MINUTES = 1


#: What the release's schedulers and workers preload: HTTP only over TLS with the session's certificate.
PRELOAD = "slurm_interactive_dask"
#: The job name the session's job gives what it submits for itself, and ends with it (the hub's batch script).
WORKERS_ENV = "JUPYTERHUB_SLURM_WORKERS"


def worker_job_name(environ) -> str:
    """The job name of the session's Dask workers: the session's job cancels its owner's jobs of that name
    when it ends, and so does the hub."""
    return environ.get(WORKERS_ENV) or f"worker-of-{environ.get('SLURM_JOB_ID', '')}"


def walltime(seconds_left: float) -> str:
    """Slurm's ``[D-]HH:MM:SS`` for a worker: the whole minutes the session has left, at least one."""
    minutes = max(MIN_WORKER_MINUTES, int(seconds_left // 60))
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    return f"{days}-{hours:02d}:{minutes:02d}:00" if days else f"{hours:02d}:{minutes:02d}:00"


def deadline(end_epoch: float) -> str:
    """The session's end as Slurm's --deadline takes it (the node's local time)."""
    return datetime.datetime.fromtimestamp(end_epoch).strftime("%Y-%m-%dT%H:%M:%S")


def dask_environment(files: dict, workers: str, account: str, runtime_dir: str) -> dict:
    """The ``DASK_*`` variables of the session's kernels and terminals (dask reads its configuration from
    them: ``__`` nests). ``files``: the paths :func:`make_certificates` wrote."""
    env = {
        **closed_environment(),
        "DASK_DISTRIBUTED__COMM__DEFAULT_SCHEME": "tls",
        "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": files["ca"],
        "DASK_DISTRIBUTED__SCHEDULER__DASHBOARD__TLS__CA_FILE": files["ca"],
        "DASK_DISTRIBUTED__SCHEDULER__DASHBOARD__TLS__CERT": files["cert"],
        "DASK_DISTRIBUTED__SCHEDULER__DASHBOARD__TLS__KEY": files["key"],
        # where people open it: through this session's server, which proxies the scheduler's socket
        "DASK_DISTRIBUTED__DASHBOARD__LINK": "{JUPYTERHUB_SERVICE_PREFIX}" + DASHBOARD_ROUTE + "/status",
        "DASK_JOBQUEUE__SLURM__NAME": workers,
        # the workers' own output: beside the certificates, read by this user only
        "DASK_JOBQUEUE__SLURM__LOG_DIRECTORY": os.path.join(os.path.dirname(files["ca"]), "workers"),
    }
    for role in ("SCHEDULER", "WORKER", "CLIENT"):
        env[f"DASK_DISTRIBUTED__COMM__TLS__{role}__CERT"] = files["cert"]
        env[f"DASK_DISTRIBUTED__COMM__TLS__{role}__KEY"] = files["key"]
    if account:
        env["DASK_JOBQUEUE__SLURM__ACCOUNT"] = account
    if runtime_dir:
        env["SLURM_INTERACTIVE_DASK_DASHBOARD"] = os.path.join(runtime_dir, DASHBOARD_SOCKET)
    return env


def closed_environment() -> dict:
    """What every Dask of the session has, with certificates or without (when they could not be written,
    Dask refuses to listen, rather than listening for anyone): TLS required on every comm, and the release's
    preload, which holds the HTTP servers (the dashboard) to the session's certificate."""
    return {"DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
            # lists as Python's literals: dask reads them so from the environment
            "DASK_DISTRIBUTED__SCHEDULER__PRELOAD": repr([PRELOAD]),
            "DASK_DISTRIBUTED__WORKER__PRELOAD": repr([PRELOAD])}


def end_environment(end_epoch: float, now: float) -> dict:
    """How long the session's workers may run: what it has left, and never past its end. A worker submitted
    later in the session asks the same walltime, and Slurm shortens it to the deadline (``--time-min``)."""
    return {"DASK_JOBQUEUE__SLURM__WALLTIME": walltime(end_epoch - now),
            # a list, as Python's literal: dask reads it so from the environment
            "DASK_JOBQUEUE__SLURM__JOB_EXTRA_DIRECTIVES": repr(
                [f"--deadline={deadline(end_epoch)}", f"--time-min={MIN_WORKER_MINUTES}"])}


def make_certificates(directory: str, valid_seconds: float, now: float | None = None) -> dict:
    """A CA made for this session, and one key and certificate it signs (every role of the session's
    clusters shows it; TLS checks the CA, not the host name), written 0600 in ``directory`` (made 0700)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    os.makedirs(os.path.dirname(directory), mode=0o700, exist_ok=True)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    begin = datetime.datetime.fromtimestamp((time.time() if now is None else now) - 300, datetime.timezone.utc)
    end = begin + datetime.timedelta(seconds=valid_seconds + 300 + 3600)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Dask CA of this session")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(begin).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dask")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(begin).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                                                  x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    files = {"ca": os.path.join(directory, "ca.pem"), "cert": os.path.join(directory, "cert.pem"),
             "key": os.path.join(directory, "key.pem")}
    contents = {"ca": ca.public_bytes(pem), "cert": cert.public_bytes(pem),
                "key": key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())}
    for name, path in files.items():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(contents[name])
    return files


def remove_old(parent: str, keep: str, now: float | None = None, keep_seconds: float = KEEP_SECONDS) -> list[str]:
    """Remove the directories of sessions that ended long ago (``keep``: this session's); what was removed."""
    now = time.time() if now is None else now
    removed = []
    try:
        entries = os.listdir(parent)
    except OSError:
        return removed
    for name in entries:
        path = os.path.join(parent, name)
        if name == keep or os.path.islink(path) or not os.path.isdir(path):
            continue
        try:
            if now - os.stat(path).st_mtime > keep_seconds:
                shutil.rmtree(path)
                removed.append(name)
        except OSError:
            pass
    return removed


def dashboard_handlers(base_url: str, socket_path: str) -> list:
    """jupyter-server-proxy's handlers for the scheduler's dashboard on the session's Unix socket."""
    from jupyter_server_proxy.config import ServerProcess, make_handlers

    process = ServerProcess(name=DASHBOARD_ROUTE, unix_socket=socket_path, command=[],
                            launcher_entry={"enabled": False})
    return make_handlers(base_url, [process])


def prepare(server_app, environ=os.environ) -> bool:
    """Make the session's certificates and put its Dask settings in the environment that the server's kernels
    and terminals start with, before any starts. False where this is not a Slurm job, or the home refuses."""
    job_id = environ.get("SLURM_JOB_ID", "")
    if not job_id.isdigit():
        server_app.log.info("Dask: not in a Slurm job; SLURMCluster() is left as dask-jobqueue configures it")
        return False
    parent = os.path.join(os.path.expanduser("~"), STATE_DIR)
    try:
        files = make_certificates(os.path.join(parent, job_id), valid_seconds=7 * 86400)
    except OSError as e:
        server_app.log.error("Dask: cannot write this session's certificates in %s (%s): Dask will refuse to "
                             "start a cluster in this session", parent, e)
        environ.update(closed_environment())
        return False
    remove_old(parent, keep=job_id)
    workers = worker_job_name(environ)
    environ.update(dask_environment(files, workers, environ.get("SLURM_JOB_ACCOUNT", ""),
                                    environ.get("JUPYTER_RUNTIME_DIR", "")))
    if "dask" in sys.modules:  # read again what this process's dask read before (dask-labextension's)
        sys.modules["dask"].config.refresh()
    server_app.log.info("Dask: this session's certificates in %s; its workers are jobs named %s",
                        os.path.dirname(files["ca"]), workers)
    return True


async def follow_the_end(times, environ=os.environ):
    """The session's end (squeue), into the workers' walltime and deadline: at the start, and again when time
    is added (:mod:`.add_time`)."""
    _, end = await times.get()
    if end:
        environ.update(end_environment(end, time.time()))


def _jupyter_server_extension_points():
    return [{"module": "jupyterlab_slurm_interactive.dask"}]


def _load_jupyter_server_extension(server_app):
    from .handlers import JobTimes

    web_app = server_app.web_app
    runtime = os.environ.get("JUPYTER_RUNTIME_DIR", "")
    if runtime:
        web_app.add_handlers(".*$", dashboard_handlers(web_app.settings["base_url"],
                                                       os.path.join(runtime, DASHBOARD_SOCKET)))
    if prepare(server_app):
        times = web_app.settings.get("slurm_interactive_times") or JobTimes(os.environ.get("SLURM_JOB_ID", ""))
        web_app.settings["slurm_interactive_dask"] = True
        server_app.io_loop.add_callback(follow_the_end, times)
