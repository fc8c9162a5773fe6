"""A session's certificate names every node address of the partition; its PEMs travel in the environment."""

from spawner import certs, slurm

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
