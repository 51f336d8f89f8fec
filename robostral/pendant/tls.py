"""TLS for the teach pendant: plain HTTP on loopback only, a self-signed certificate for a cell without its own.

``tls_for`` decides how the pendant serves, before anything listens: with a certificate and key it serves
HTTPS (on any address), without them only on a loopback address (127.0.0.0/8, ::1, localhost); plain HTTP
elsewhere is refused, since logins and session cookies would cross the cell's network in clear. The pair
is checked as it is loaded (``load``): both readable PEM, the key unencrypted and matching the certificate,
the certificate valid now; one that expires within ``EXPIRY_WARNING_DAYS`` serves with a warning.

``self_signed`` makes a certificate for the names the tablets use (``default_names`` when none are
given): ECDSA P-256, a server certificate (not a CA: it vouches for the pendant and nothing else),
valid ``VALIDITY_DAYS``. The operator compares its SHA-256 ``fingerprint`` with the one the tablet's
browser shows before trusting it.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import os
import re
import socket
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY_DAYS = 825  # the longest validity Apple's clients accept for a server certificate (others accept more)
BACKDATE = datetime.timedelta(hours=1)  # valid from an hour ago: a tablet whose clock is a little behind accepts it
EXPIRY_WARNING_DAYS = 30
CERT_FILE = "pendant.crt"
KEY_FILE = "pendant.key"
HOSTNAME = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?")
WAY_OUT = ("give it a certificate and key (`robostral up --tls-cert CERT --tls-key KEY`, or the pendant node's "
           "tls_cert and tls_key parameters), or make a self-signed pair with `robostral pendant cert --out DIR`")


class TlsError(ValueError):
    """A certificate or key the pendant cannot serve with, or plain HTTP asked for off loopback."""


@dataclasses.dataclass(frozen=True)
class Tls:
    """A checked certificate file (the server's certificate first, any chain after it) and its private key file."""

    cert: Path
    key: Path
    certificate: x509.Certificate

    @property
    def names(self) -> list[str]:
        """The certificate's subjectAltNames: host names and IP addresses, as a browser's Host header names them."""
        try:
            alternatives = self.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return []
        return [*alternatives.get_values_for_type(x509.DNSName),
                *(str(address) for address in alternatives.get_values_for_type(x509.IPAddress))]

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.certificate)

    @property
    def expires(self) -> datetime.datetime:
        return self.certificate.not_valid_after_utc

    def expiry_warning(self, now: datetime.datetime | None = None) -> str | None:
        """A warning when the certificate expires within EXPIRY_WARNING_DAYS of ``now`` (UTC), else None."""
        left = self.expires - (now or _utcnow())
        if left > datetime.timedelta(days=EXPIRY_WARNING_DAYS):
            return None
        return (f"the pendant's TLS certificate {self.cert} expires on {self.expires:%Y-%m-%d %H:%M} UTC "
                f"(in {left.days} days): renew it, or make a new one with `robostral pendant cert`")


def is_loopback(host: str) -> bool:
    """Whether the bind address ``host`` is loopback: 127.0.0.0/8, ::1 (IPv4-mapped too) or localhost."""
    name = host.strip().strip("[]").lower()
    if name in ("localhost", "localhost."):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:  # another host name, or '' (every address)
        return False
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return (mapped or address).is_loopback


def tls_for(host: str, cert: str | os.PathLike = "", key: str | os.PathLike = "", *,
            now: datetime.datetime | None = None) -> Tls | None:
    """The checked TLS of a pendant bound to ``host``, or None: plain HTTP, only on loopback. TlsError otherwise."""
    if bool(cert) != bool(key):
        given = f"the certificate {cert}" if cert else f"the key {key}"
        raise TlsError(f"the pendant's TLS needs a certificate and its key, both: got only {given}")
    if cert:
        return load(cert, key, now=now)
    if not is_loopback(host):
        where = f"on {host}" if host.strip("[]") not in ("", "0.0.0.0", "::") else f"on every address ({host!r})"
        raise TlsError(f"refusing to serve the pendant over plain HTTP {where}, which is not loopback: logins and "
                       f"session cookies would cross the network in clear; {WAY_OUT}")
    return None


def load(cert: str | os.PathLike, key: str | os.PathLike, *, now: datetime.datetime | None = None) -> Tls:
    """The pair at ``cert`` and ``key``, checked as the pendant serves it; TlsError naming the file and the fault."""
    cert, key = Path(cert), Path(key)
    try:
        certificate = x509.load_pem_x509_certificates(_read(cert, "certificate"))[0]
    except ValueError as error:
        raise TlsError(f"the TLS certificate {cert} is not a PEM certificate: {error}") from None
    try:
        private = serialization.load_pem_private_key(_read(key, "key"), password=None)
    except TypeError:  # cryptography's word for a key that needs a password
        raise TlsError(f"the TLS key {key} is encrypted: the pendant needs it unencrypted, readable by its user only "
                       "(e.g. `openssl pkey -in ENCRYPTED -out KEY`, then chmod 600 KEY)") from None
    except (ValueError, UnsupportedAlgorithm) as error:
        raise TlsError(f"the TLS key {key} is not a PEM private key: {error}") from None
    if _spki(private.public_key()) != _spki(certificate.public_key()):
        raise TlsError(f"the TLS key {key} does not match the certificate {cert}: they are not one pair "
                       "(the certificate's public key is another key's)")
    now = now or _utcnow()
    if now >= certificate.not_valid_after_utc:
        raise TlsError(f"the TLS certificate {cert} expired on {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC: "
                       "install the site's renewed one, or make a new one with `robostral pendant cert --force`")
    if now < certificate.not_valid_before_utc:
        raise TlsError(f"the TLS certificate {cert} is not valid before "
                       f"{certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC: check this computer's clock")
    return Tls(cert, key, certificate)


def default_names() -> list[str]:
    """localhost, 127.0.0.1 and this computer's host name (no DNS lookup)."""
    return list(dict.fromkeys(["localhost", "127.0.0.1", socket.gethostname()]))


def self_signed(names: Sequence[str], *, now: datetime.datetime | None = None,
                days: int = VALIDITY_DAYS) -> tuple[bytes, bytes]:
    """(certificate, unencrypted private key), both PEM: a server certificate for ``names`` (host names or IP
    addresses, the first one its common name), valid ``days`` from an hour before ``now``."""
    if not names:
        raise TlsError("a certificate needs at least one host name or address")
    alternatives = [_general_name(name) for name in names]
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Robostral teach pendant")])
    start = (now or _utcnow()) - BACKDATE
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return (certificate.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def write_pair(directory: str | os.PathLike, cert_pem: bytes, key_pem: bytes, *,
               force: bool = False) -> tuple[Path, Path]:
    """Write CERT_FILE and KEY_FILE (mode 0600) into ``directory``, made if missing; their paths.

    TlsError when either exists, unless ``force``: then both are replaced (new files, never written through).
    """
    directory = Path(directory)
    cert, key = directory / CERT_FILE, directory / KEY_FILE
    existing = [path for path in (cert, key) if os.path.lexists(path)]
    if existing and not force:
        raise TlsError(f"refusing to overwrite {' and '.join(map(str, existing))} (--force replaces the pair)")
    directory.mkdir(parents=True, exist_ok=True)
    for path in existing:
        path.unlink()
    _write_new(key, key_pem, 0o600)
    _write_new(cert, cert_pem, 0o644)
    return cert, key


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER bytes as colon-separated hex, as browsers show it."""
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        pass
    if not HOSTNAME.fullmatch(name):
        raise TlsError(f"{name!r} is neither a host name nor an IP address")
    return x509.DNSName(name.rstrip("."))


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise TlsError(f"cannot read the TLS {what} {path}: {error.strerror or error}") from None


def _write_new(path: Path, data: bytes, mode: int) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _spki(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)
