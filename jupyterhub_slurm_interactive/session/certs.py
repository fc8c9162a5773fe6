"""How a session proves to the proxy and the hub that it is a session of this hub (``internal_ssl``).

JupyterHub signs a key and certificate for each session before ``start()``, when Slurm has not yet chosen
the node: the certificate therefore names the address of every node of the partition, as Slurm reports
them (``NodeAddr``). What proves the session is holding the key, not the address: the key reaches the job
only through its environment, like the session's API token (sudo keeps ``JUPYTERHUB_*``, sbatch exports
them), and the job writes it into a private directory of its own. The hub writes nothing into the user's
home. A process on the node that does not hold a key signed by the hub's CA (say another user's job that
binds the port a dead server freed) cannot complete the TLS handshake, so the proxy sends it nothing.

The key itself is made ahead of time (:class:`KeyPool`): an RSA key is 50 to 100 ms of CPU, which
JupyterHub spends on its event loop at every start, stalling every page and API call meanwhile. The pool
makes them in a thread while the hub waits, each key serves one certificate, and the signing runs in a
thread of its own too (:func:`create_signed_pair`).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import ipaddress
import threading
from collections.abc import Callable
from pathlib import Path

from certipy import Certipy, KeyType
from cryptography.hazmat.primitives.asymmetric import rsa
from jupyterhub.utils import make_ssl_context

from jupyterhub_slurm_interactive.slurm.commands import Node
from jupyterhub_slurm_interactive.slurm.runner import SlurmError

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


def make_rsa_key(bits: int):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


class KeyPool:
    """RSA keys made ahead of time, in a thread. :meth:`take` hands out each key once and has the
    pool made full again in the background; when it is empty (many starts at once) the key is made
    there and then, on the caller's thread."""

    def __init__(self, size: int = 2, bits: int = 2048, make: Callable[[int], object] = make_rsa_key):
        self.size, self.bits, self.make = size, bits, make
        self._keys: collections.deque = collections.deque()
        self._lock = threading.Lock()
        self._filling = False
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="session-keys")

    def __len__(self) -> int:
        return len(self._keys)

    def take(self, bits: int):
        """A key of ``bits`` bits nobody else has been given."""
        key = None
        if bits == self.bits:
            with self._lock:
                key = self._keys.popleft() if self._keys else None
        self.fill()
        return key if key is not None else self.make(bits)

    def fill(self) -> concurrent.futures.Future | None:
        """Make keys in the background until the pool holds ``size`` of them (once at a time)."""
        with self._lock:
            if self._filling or len(self._keys) >= self.size:
                return None
            self._filling = True
        return self._worker.submit(self._fill)

    def _fill(self):
        try:
            while len(self._keys) < self.size:
                key = self.make(self.bits)
                with self._lock:
                    self._keys.append(key)
        finally:
            with self._lock:
                self._filling = False


class PooledCertipy(Certipy):
    """JupyterHub's certificate store (certipy), with its RSA keys taken from a :class:`KeyPool`."""

    def __init__(self, *args, keys: KeyPool, **kwargs):
        super().__init__(*args, **kwargs)
        self.keys = keys

    def create_key_pair(self, cert_type, bits):
        if KeyType(cert_type) == KeyType.rsa:
            return self.keys.take(bits)
        return super().create_key_pair(cert_type, bits)


def signing_thread() -> concurrent.futures.ThreadPoolExecutor:
    """The hub's one thread that signs session certificates: one written at a time, as certipy keeps its
    store in one JSON file."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="session-certs")


async def create_signed_pair(store_dir: str, name: str, ca_name: str, alt_names: list[str], *, keys: KeyPool,
                             signing: concurrent.futures.Executor) -> dict:
    """What JupyterHub's ``Spawner.create_certs`` makes (a key and a certificate signed by ``ca_name``,
    for ``alt_names``, in the store at ``store_dir``), off the event loop (in ``signing``) and with a key
    from ``keys``. Returns the key's and the certificate's paths."""
    def sign():
        store = PooledCertipy(store_dir=store_dir, keys=keys)
        return store.create_signed_pair(name, ca_name, alt_names=alt_names, overwrite=True)
    pair = await asyncio.get_running_loop().run_in_executor(signing, sign)
    return {"keyfile": pair["files"]["key"], "certfile": pair["files"]["cert"]}
