"""TLS at the front of the compose stack, as a site serves its hub: https with a certificate the tests verify
against the stack's CA (never unverified), plain http redirected to https, HSTS on the pages, and the
session's cookies marked Secure."""

import os
import ssl
import subprocess
from urllib.parse import urlsplit

import pytest
import requests

from ..integration.conftest import HUB, HUB_CA_FILE, Browser, hub, stack  # noqa: F401
from .test_compose import compose_stack, in_container  # noqa: F401

pytestmark = pytest.mark.integration

HTTP = os.environ.get("HUB_HTTP_URL", "")


def test_the_hub_is_served_over_https_with_a_certificate_of_the_sites_ca(hub):
    assert HUB.startswith("https://") and HUB_CA_FILE, "make compose-test sets HUB_URL to https and HUB_CA_FILE"
    assert requests.get(f"{HUB}/hub/login", timeout=30, verify=HUB_CA_FILE).status_code == 200
    # verification means something: without the site's CA, the certificate is refused
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{HUB}/hub/login", timeout=30, verify=requests.certs.where())
    host = urlsplit(HUB)
    pem = ssl.get_server_certificate((host.hostname, host.port))
    text = subprocess.run(["openssl", "x509", "-noout", "-text"], input=pem, capture_output=True, text=True,
                          check=True).stdout
    assert "IP Address:127.0.0.1" in text and "DNS:localhost" in text
    # the key is the hub's user's alone
    assert in_container("hub", "stat", "-c", "%U %a", "/etc/jupyterhub/tls/hub.key").stdout.split() == [
        "jupyterhub", "400"]


def test_plain_http_is_redirected_to_https(hub):
    assert HTTP, "make compose-test sets HUB_HTTP_URL"
    r = requests.get(f"{HTTP}/hub/login?next=%2Fhub%2Fhome", timeout=30, allow_redirects=False)
    assert r.status_code in (301, 302, 307, 308), r.status_code
    assert r.headers["Location"] == f"{HUB}/hub/login?next=%2Fhub%2Fhome"
    # and followed, it goes on over https only: to the hub's login page, which sends people to the provider
    r = requests.get(f"{HTTP}/hub/login", timeout=30)
    assert [h.url for h in r.history][1] == f"{HUB}/hub/login" and r.url.startswith("https://"), r.history


def test_pages_carry_hsts_and_the_login_cookies_are_secure(hub):
    r = requests.get(f"{HUB}/hub/login", timeout=30)
    assert r.headers.get("Strict-Transport-Security", "").startswith("max-age=")
    assert int(r.headers["Strict-Transport-Security"].split("=")[1].split(";")[0]) >= 86400
    person = Browser("alice")
    assert person.logged_in
    cookies = {c.name: c for c in person.s.cookies}
    for name in ("jupyterhub-session-id", "jupyterhub-hub-login"):
        assert name in cookies, sorted(cookies)
        assert cookies[name].secure, f"{name} is not Secure"
        assert cookies[name].has_nonstandard_attr("HttpOnly"), f"{name} is not HttpOnly"
