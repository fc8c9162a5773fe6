"""The self-check's client of the hub: https is always verified, against the site's CA when one is named."""

import ssl
import subprocess

import pytest

from jupyterhub_slurm_interactive.ops.stack_check import Hub


def test_plain_http_has_no_tls_context():
    assert Hub("http://127.0.0.1:8000/", "t").context is None


def test_https_is_verified_with_the_systems_cas_by_default():
    context = Hub("https://hub.example.org", "t").context
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_https_is_verified_against_the_named_ca(tmp_path):
    key, ca = tmp_path / "ca.key", tmp_path / "ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "1", "-subj", "/CN=test CA", "-keyout", str(key), "-out", str(ca)],
                   check=True, capture_output=True)
    context = Hub("https://127.0.0.1:8000", "t", ca_file=str(ca)).context
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "test CA"),),)]


def test_a_missing_ca_file_is_an_error_not_an_unverified_connection(tmp_path):
    with pytest.raises(OSError):
        Hub("https://127.0.0.1:8000", "t", ca_file=str(tmp_path / "none.pem"))
