"""A session's certificate names every node address of the partition; its PEMs travel in the environment."""

from pathlib import Path

from certipy import Certipy
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from jupyterhub_slurm_interactive.session import certs
from jupyterhub_slurm_interactive.slurm import commands as slurm

from .playback import fixture


def test_alt_names_are_the_partitions_node_addresses():
    nodes = slurm.parse_nodes(fixture("scontrol_show_node_idle.txt"))
    names = certs.node_alt_names(nodes, "interactive")
    assert names == ["IP:127.0.1.1", "DNS:node01", "IP:127.0.1.2", "DNS:node02", "IP:127.0.1.3", "DNS:node03",
                     "IP:127.0.1.4", "DNS:node04"]
    assert certs.node_alt_names(nodes, "batch") == []
    assert certs.alt_name("gpu01.cluster") == "DNS:gpu01.cluster" and certs.alt_name("::1") == "IP:::1"


def test_pems_go_into_the_sessions_environment(tmp_path):
    paths = {}
    for key in ("keyfile", "certfile", "cafile"):
        (tmp_path / key).write_text(f"-----BEGIN {key}-----\n")
        paths[key] = str(tmp_path / key)
    env = certs.pem_environment(paths)
    assert env == {"JUPYTERHUB_SSL_KEY_PEM": "-----BEGIN keyfile-----\n",
                   "JUPYTERHUB_SSL_CERT_PEM": "-----BEGIN certfile-----\n",
                   "JUPYTERHUB_SSL_CLIENT_CA_PEM": "-----BEGIN cafile-----\n"}
    assert all(k.startswith("JUPYTERHUB_") for k in env)  # what sudo's env_keep lets through


class Made:
    """Stands for a key: which one it is, and for how many bits."""

    count = 0

    def __init__(self, bits):
        Made.count += 1
        self.n, self.bits = Made.count, bits


def test_the_pool_hands_out_each_key_once_and_fills_itself_again():
    pool = certs.KeyPool(size=2, bits=2048, make=Made)
    pool.fill().result(5)
    assert len(pool) == 2
    first, second = pool.take(2048), pool.take(2048)
    assert first.n != second.n and first.bits == second.bits == 2048
    pool._worker.submit(lambda: None).result(5)  # the refill ran
    assert len(pool) == 2
    assert {pool.take(2048).n for _ in range(2)}.isdisjoint({first.n, second.n})


def test_an_empty_pool_or_another_size_makes_the_key_there_and_then():
    pool = certs.KeyPool(size=1, bits=2048, make=Made)
    assert len(pool) == 0
    assert pool.take(2048).bits == 2048  # none made yet: made now, and the pool fills meanwhile
    pool._worker.submit(lambda: None).result(5)
    assert len(pool) == 1
    assert pool.take(4096).bits == 4096 and len(pool) == 1  # another size is never from the pool


async def test_a_session_certificate_is_signed_by_the_ca_with_a_pooled_key(tmp_path):
    store = str(tmp_path / "certs")
    Certipy(store_dir=store).create_ca("notebooks-ca")
    pool = certs.KeyPool(size=1)
    pool.fill().result(30)
    pooled = pool._keys[0]

    paths = await certs.create_signed_pair(store, "user-alice", "notebooks-ca", ["DNS:node01", "IP:127.0.1.1"],
                                           keys=pool, signing=certs.signing_thread())

    cert = x509.load_pem_x509_certificate(Path(paths["certfile"]).read_bytes())
    key = serialization.load_pem_private_key(Path(paths["keyfile"]).read_bytes(), password=None)
    assert key.private_numbers() == pooled.private_numbers()  # the pool's key, written down
    assert cert.public_key().public_numbers() == pooled.public_key().public_numbers()
    ca = x509.load_pem_x509_certificate(Path(store, "notebooks-ca", "notebooks-ca.crt").read_bytes())
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["node01"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.1.1"]
    again = await certs.create_signed_pair(store, "user-alice", "notebooks-ca", [], keys=pool, signing=certs.signing_thread())
    assert serialization.load_pem_private_key(Path(again["keyfile"]).read_bytes(), password=None) \
        .private_numbers() != pooled.private_numbers()  # never the same key twice
