"""The teach pendant over TLS: the certificate command, the refusals, the names it answers to, HTTPS end to end.

`robostral pendant cert` makes the pair; ``tls_for`` checks it, and the address, before anything
listens (in the pendant node, and in `robostral up` before it starts a node). The HTTPS tests run
the real pendant node alone (login and the page need no cell) on 127.0.0.1 with a test certificate
that httpx trusts as its only CA and Chromium by its key's pin (--ignore-certificate-errors-spki-list),
nothing else. Nothing here listens anywhere but on loopback: the refusals come before any bind.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import re
import socket
import ssl
import stat
from pathlib import Path

import httpx
import pendant_browser
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pendant_helpers import CHEAP, PASSWORD
from ros_helpers import RosProcess, free_port, next_domain
from starlette.requests import Request

from robostral import cli
from robostral.pendant import tls
from robostral.pendant.access.auth import SESSION_COOKIE
from robostral.pendant.errors import Forbidden
from robostral.pendant.service import Pendant
from robostral.pendant.tls import TlsError, tls_for
from robostral.pendant.web.http import Site

NOW = datetime.datetime.now(datetime.timezone.utc)


def pair(directory: Path, names: tuple[str, ...] = ("localhost", "127.0.0.1"), **made) -> tuple[Path, Path]:
    """A self-signed certificate and its key written to ``directory``; ``made``: self_signed's now and days."""
    return tls.write_pair(directory, *tls.self_signed(names, **made))


def certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


# -- robostral pendant cert ------------------------------------------------------------------------------------

def test_cert_writes_a_pair_for_the_names_with_a_private_key_and_prints_its_fingerprint(tmp_path, capsys):
    out = tmp_path / "tls"
    assert cli.main(["pendant", "cert", "--out", str(out), "--host", "pendant.cell7", "--host", "10.20.0.2"]) == 0
    printed = capsys.readouterr().out
    cert, key = out / tls.CERT_FILE, out / tls.KEY_FILE
    made = certificate(cert)
    names = made.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["pendant.cell7"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.20.0.2")]
    assert made.not_valid_after_utc - made.not_valid_before_utc == datetime.timedelta(days=tls.VALIDITY_DAYS)
    assert made.not_valid_before_utc < NOW < made.not_valid_after_utc
    assert not made.extensions.get_extension_for_class(x509.BasicConstraints).value.ca  # vouches for no other site
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    assert private.public_key() == made.public_key()
    shown = re.search(r"SHA-256 fingerprint: ([0-9A-F:]{95})\n", printed)[1]
    assert shown.replace(":", "").lower() == hashlib.sha256(made.public_bytes(serialization.Encoding.DER)).hexdigest()


def test_cert_refuses_to_overwrite_unless_forced(tmp_path, capsys):
    out = tmp_path / "tls"
    assert cli.main(["pendant", "cert", "--out", str(out)]) == 0
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    assert cli.main(["pendant", "cert", "--out", str(out), "--host", "elsewhere"]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    (out / tls.KEY_FILE).chmod(0o644)  # a key someone opened up: --force writes a new file, not through it
    assert cli.main(["pendant", "cert", "--out", str(out), "--force"]) == 0
    assert (out / tls.CERT_FILE).read_bytes() != before[tls.CERT_FILE]
    assert stat.S_IMODE((out / tls.KEY_FILE).stat().st_mode) == 0o600


def test_cert_names_localhost_and_this_computer_by_default(tmp_path):
    assert cli.main(["pendant", "cert", "--out", str(tmp_path)]) == 0
    made = tls.load(tmp_path / tls.CERT_FILE, tmp_path / tls.KEY_FILE)
    assert made.names == list(dict.fromkeys(["localhost", socket.gethostname(), "127.0.0.1"]))


def test_cert_refuses_a_name_that_is_no_host(tmp_path, capsys):
    assert cli.main(["pendant", "cert", "--out", str(tmp_path), "--host", "https://pendant"]) == 1
    assert "neither a host name nor an IP address" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


# -- plain HTTP only on loopback ---------------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"])
def test_plain_http_on_loopback_is_allowed(host):
    assert tls_for(host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.20.0.2", "fe80::1", "pendant.cell7"])
def test_plain_http_off_loopback_is_refused_naming_the_way_out(host):
    with pytest.raises(TlsError, match="refusing to serve the pendant over plain HTTP") as refused:
        tls_for(host)
    assert "--tls-cert CERT --tls-key KEY" in str(refused.value)
    assert "robostral pendant cert" in str(refused.value)


class NoBringup:
    """Stands in for ``robostral.ros.up.Bringup``: records what `up` would start, starts nothing."""

    started: list[dict[str, str]] = []

    def __init__(self, graph, nodes, overrides, **options) -> None:
        self.started.append(overrides)

    def run(self) -> int:
        return 0


@pytest.fixture
def up(monkeypatch, capsys):
    """``up(*ARGS)``: `robostral up --sim ARGS` with nothing started: (exit status, stderr, the overrides it would
    start the graph with, or None where it stopped before)."""
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")  # what `up` sets, restored after the test
    monkeypatch.setattr("robostral.ros.up.Bringup", NoBringup)
    monkeypatch.setattr(NoBringup, "started", [])

    def run(*arguments: str) -> tuple[int, str, dict[str, str] | None]:
        status = cli.main(["up", "--sim", *arguments])
        return status, capsys.readouterr().err, (NoBringup.started or [None])[-1]

    return run


def test_up_refuses_a_pendant_on_every_address_without_tls_before_starting_anything(up):
    status, err, started = up("--param", "pendant.host=0.0.0.0")
    assert (status, started) == (2, None)
    assert "refusing to serve the pendant over plain HTTP" in err and "robostral pendant cert" in err


def test_up_serves_tls_with_the_given_pair_on_any_address(up, tmp_path):
    cert, key = pair(tmp_path)
    status, _, started = up("--param", "pendant.host=0.0.0.0", "--tls-cert", str(cert), "--tls-key", str(key))
    assert status == 0
    assert (started["pendant.tls_cert"], started["pendant.tls_key"]) == (str(cert.resolve()), str(key.resolve()))


# -- a pair that cannot serve ------------------------------------------------------------------------------------

def test_a_key_of_another_pair_is_refused(tmp_path, up):
    cert, _ = pair(tmp_path / "a")
    _, other_key = pair(tmp_path / "b")
    with pytest.raises(TlsError, match="does not match the certificate"):
        tls_for("127.0.0.1", cert, other_key)
    status, err, started = up("--tls-cert", str(cert), "--tls-key", str(other_key))
    assert (status, started) == (2, None) and "does not match the certificate" in err


def test_an_expired_certificate_is_refused_and_one_about_to_expire_warns(tmp_path):
    expired = pair(tmp_path / "expired", now=NOW - datetime.timedelta(days=tls.VALIDITY_DAYS + 1))
    with pytest.raises(TlsError, match=r"expired on \d{4}-\d\d-\d\d"):
        tls_for("0.0.0.0", *expired)
    soon = tls_for("0.0.0.0", *pair(tmp_path / "soon", now=NOW - datetime.timedelta(days=tls.VALIDITY_DAYS - 10)))
    assert re.search(r"expires on .* \(in [89] days\): renew it", soon.expiry_warning())
    assert tls_for("0.0.0.0", *pair(tmp_path / "fresh")).expiry_warning() is None


@pytest.mark.parametrize("fault", ["missing key", "only a certificate", "encrypted key", "not a certificate"])
def test_an_unusable_pair_is_refused_saying_why(tmp_path, fault):
    cert, key = pair(tmp_path)
    private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    expected = {"missing key": "cannot read the TLS key", "only a certificate": "needs a certificate and its key",
                "encrypted key": "is encrypted", "not a certificate": "is not a PEM certificate"}[fault]
    if fault == "missing key":
        key.unlink()
    elif fault == "only a certificate":
        key = ""
    elif fault == "encrypted key":
        key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.BestAvailableEncryption(b"secret")))
    else:
        cert.write_bytes(key.read_bytes())
    with pytest.raises(TlsError, match=expected):
        tls_for("127.0.0.1", cert, key)


def test_over_tls_the_pendant_answers_to_its_certificates_names_and_no_other():
    site = Site("10.20.0.2", 443, ["pendant.cell7.example", "10.20.0.2"], tls=True)

    def to(host: str) -> Request:
        return Request({"type": "http", "method": "GET", "path": "/", "headers": [(b"host", host.encode())]})

    for host in ("pendant.cell7.example", "Pendant.Cell7.example:443", "10.20.0.2", "127.0.0.1:443"):
        site.check(to(host))
    for host in ("attacker.example", "pendant.cell7.example:8443"):
        with pytest.raises(Forbidden):
            site.check(to(host))


# -- HTTPS end to end: the pendant node on loopback --------------------------------------------------------------

class Served:
    def __init__(self, base: str, cert: Path) -> None:
        self.base, self.cert = base, cert

    def trusting(self) -> ssl.SSLContext:
        """A client context whose only trusted certificate is the pendant's."""
        return ssl.create_default_context(cafile=self.cert)

    def spki_pin(self) -> str:
        """The base64 SHA-256 of the certificate's public key, as Chromium's SPKI list takes it."""
        spki = certificate(self.cert).public_key().public_bytes(serialization.Encoding.DER,
                                                                serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The pendant node over HTTPS on 127.0.0.1 with the first admin 'ada' in its database."""
    root = tmp_path_factory.mktemp("pendant-tls")
    cert, key = pair(root / "tls")
    pendant = Pendant.open(root / "pendant.db", policy=CHEAP)
    pendant.auth.create_first_admin("ada", PASSWORD)
    pendant.close()
    (root / "policies").mkdir()
    port = free_port()
    node = RosProcess.node("pendant_node", {"db": root / "pendant.db", "host": "127.0.0.1", "port": port,
                                            "policies_dir": root / "policies", "tls_cert": cert, "tls_key": key},
                           next_domain(), root / "pendant.log")
    try:
        node.wait_for_output(f"teach pendant at https://127.0.0.1:{port}", timeout=60)
        result = Served(f"https://127.0.0.1:{port}", cert)
        pendant_browser.wait_for_pendant(result.base, timeout=30, verify=result.trusting())
        yield result
    finally:
        node.stop()


def test_https_login_sets_a_secure_cookie(served):
    with httpx.Client(base_url=served.base, verify=served.trusting(), headers={"Origin": served.base}) as client:
        response = client.post("/api/login", json={"name": "ada", "password": PASSWORD})
        assert response.status_code == 200, response.text
        attributes = [part.strip().lower() for part in response.headers["set-cookie"].split(";")]
        assert attributes[0].startswith(f"{SESSION_COOKIE.lower()}=")
        assert {"secure", "httponly", "samesite=strict"} <= set(attributes)
        assert response.headers["strict-transport-security"] == "max-age=31536000"
        client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        assert client.get("/api/session").json()["user"]["name"] == "ada"  # the cookie came back over TLS
        assert client.post("/api/logout").status_code == 204


def test_only_tls_is_served_and_only_to_clients_that_trust_the_certificate(served):
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{served.base}/api/setup")  # the system's CAs do not vouch for it
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{served.base.replace('https:', 'http:')}/api/setup")  # plain HTTP on the TLS port


def test_chromium_that_trusts_the_certificate_logs_in_over_https(served):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
    if not Path(pendant_browser.CHROMIUM).exists():
        pytest.skip(f"no {pendant_browser.CHROMIUM}: `make setup` installs Debian's chromium")
    with playwright_api.sync_playwright() as playwright:
        untrusting = pendant_browser.launch(playwright)
        try:
            with pytest.raises(playwright_api.Error, match="ERR_CERT_AUTHORITY_INVALID"):
                pendant_browser.open_page(untrusting, served.base)
        finally:
            untrusting.close()
        pin = f"--ignore-certificate-errors-spki-list={served.spki_pin()}"  # trusts this one key, nothing else
        browser = pendant_browser.launch(playwright, args=[pin])
        try:
            page = pendant_browser.open_page(browser, served.base)
            pendant_browser.log_in(page, "ada", PASSWORD)
            playwright_api.expect(page.locator("#screen-run")).to_be_visible()
            playwright_api.expect(page.get_by_test_id("connection")).to_have_text("live")  # the live view, over wss
            assert page.evaluate("location.protocol") == "https:"
            session = next(c for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
            assert session["secure"] and session["httpOnly"]
        finally:
            browser.close()
