"""How a session proves to the proxy and the hub that it is a session of this hub (``internal_ssl``).

JupyterHub signs a key and certificate for each session before ``start()``, when Slurm has not yet chosen
the node: the certificate therefore names the address of every node of the partition, as Slurm reports
them (``NodeAddr``). What proves the session is holding the key, not the address: the key reaches the job
only through its environment, like the session's API token (sudo keeps ``JUPYTERHUB_*``, sbatch exports
them), and the job writes it into a private directory of its own. The hub writes nothing into the user's
home. A process on the node that does not hold a key signed by the hub's CA (say another user's job that
binds the port a dead server freed) cannot complete the TLS handshake, so the proxy sends it nothing.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from jupyterhub.utils import make_ssl_context

from .runner import SlurmError
from .slurm import Node

#: The environment variables that carry the session's PEM files to the job, by JupyterHub's cert_paths key.
PEM_VARIABLES = {
    "keyfile": "JUPYTERHUB_SSL_KEY_PEM",
    "certfile": "JUPYTERHUB_SSL_CERT_PEM",
    "cafile": "JUPYTERHUB_SSL_CLIENT_CA_PEM",
}


def alt_name(address: str) -> str:
    """A subjectAltName for an address: ``IP:10.0.0.5`` or ``DNS:gpu01.cluster``."""
    try:
        return f"IP:{ipaddress.ip_address(address)}"
    except ValueError:
        return f"DNS:{address}"


def node_alt_names(nodes: list[Node], partition: str) -> list[str]:
    """The alt names of a session's certificate: every address a node of the partition may be reached at."""
    names: list[str] = []
    for node in nodes:
        if partition not in node.partitions:
            continue
        for address in dict.fromkeys((node.addr, node.name)):
            name = alt_name(address)
            if name not in names:
                names.append(name)
    return names


def pem_environment(cert_paths: dict) -> dict:
    """The session's key, certificate and client CA, read from the hub's certificate store, as the
    environment variables the batch script turns back into files."""
    return {PEM_VARIABLES[key]: Path(path).read_text() for key, path in cert_paths.items() if key in PEM_VARIABLES}


async def session_alt_names(cluster, partition: str, configured: list[str], log, max_age: float = 60) -> list[str]:
    """The site's ``ssl_alt_names`` and every node address of the partition, from the shared cluster view
    (the last one if younger than ``max_age`` seconds)."""
    try:
        names = node_alt_names((await cluster.recent(max_age)).nodes, partition)
    except SlurmError as e:
        log.warning("No node addresses for a session's certificate: %s", e.message)
        names = []
    return list(configured) + [n for n in names if n not in configured]


def hub_client_context(spawner):
    """The hub's own TLS client context, to reach a session that serves https (None without internal_ssl)."""
    if not spawner.internal_ssl:
        return None
    settings = getattr(spawner.user, "settings", None) or {}
    return make_ssl_context(settings.get("internal_ssl_key"), settings.get("internal_ssl_cert"),
                            cafile=settings.get("internal_ssl_ca"))
