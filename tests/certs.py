"""A certificate factory for probe tests: roots, intermediates and leaves as RFC 5280 wants them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import ipaddress
from itertools import count
from pathlib import Path
import ssl
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)

type KeyKind = Literal["ec", "rsa", "ed25519"]
type PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

_SERIALS = count(0x1000)


def _key(kind: KeyKind) -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate with its private key."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def subject(self) -> str:
        return self.cert.subject.rfc4514_string()


def _name(common_name: str | None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "TLS Health Tests")]
    if common_name:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _key_usage(*, ca: bool, rsa: bool) -> x509.KeyUsage:
    """CAs sign certificates and CRLs; leaves sign handshakes (RSA leaves also encipher keys)."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=rsa,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def issue(
    common_name: str | None,
    *,
    issuer: Issued | None = None,
    ca: bool = False,
    names: tuple[str, ...] = (),
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    key: KeyKind = "ec",
    subject: x509.Name | None = None,
) -> Issued:
    """Issue a certificate; without `issuer` it is self-signed."""
    private = _key(key)
    public = private.public_key()
    name = subject or _name(common_name)
    signer_key = issuer.key if issuer else private
    issuer_name = issuer.cert.subject if issuer else name
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(public)
        .serial_number(next(_SERIALS) * 7919 + x509.random_serial_number() % 10**12)
        .not_valid_before(not_before or NOW - 30 * DAY)
        .not_valid_after(not_after or NOW + 60 * DAY)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer.key.public_key() if issuer else public  # type: ignore[arg-type]
            ),
            critical=False,
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        ).add_extension(
            _key_usage(ca=True, rsa=False),
            critical=True,
        )
    else:
        builder = (
            builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                _key_usage(ca=False, rsa=key == "rsa"),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in names]),
            critical=not common_name and subject is None,
        )
    algorithm = None if isinstance(signer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = builder.sign(signer_key, algorithm)  # type: ignore[arg-type]
    return Issued(cert, private)


class Pki:
    """A test root and intermediate, writing PEM files under a directory."""

    def __init__(self, directory: Path, label: str = "Test") -> None:
        self.directory = directory
        self.root = issue(f"TLS Health {label} Root CA", ca=True, not_after=NOW + 3650 * DAY)
        self.intermediate = issue(
            f"TLS Health {label} Intermediate R1",
            issuer=self.root,
            ca=True,
            not_after=NOW + 1000 * DAY,
        )
        self.root_file = self.write(f"{label.lower()}-root.pem", self.root)

    def leaf(self, *names: str, issuer: Issued | None = None, **kwargs: object) -> Issued:
        """A server certificate for names (CN = first name), issued by the intermediate."""
        names = names or ("hass.example.test",)
        return issue(names[0], issuer=issuer or self.intermediate, names=names, **kwargs)  # type: ignore[arg-type]

    def write(self, filename: str, *certs: Issued) -> Path:
        path = self.directory / filename
        path.write_bytes(b"".join(cert.pem for cert in certs))
        return path

    def server_files(self, name: str, leaf: Issued, *chain: Issued) -> tuple[Path, Path]:
        """(certificate chain file, key file) for ssl.SSLContext.load_cert_chain."""
        cert_file = self.write(f"{name}-chain.pem", leaf, *chain)
        key_file = self.directory / f"{name}-key.pem"
        key_file.write_bytes(leaf.key_pem)
        return cert_file, key_file

    def server_context(
        self,
        leaf: Issued,
        *chain: Issued,
        minimum: ssl.TLSVersion | None = None,
        maximum: ssl.TLSVersion | None = None,
        alpn: list[str] | None = None,
        ciphers: str | None = None,
    ) -> ssl.SSLContext:
        """A server context presenting leaf + chain exactly in the given order."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if ciphers:
            context.set_ciphers(ciphers)
        if minimum is not None:
            context.minimum_version = minimum
        if maximum is not None:
            context.maximum_version = maximum
        context.load_cert_chain(*self.server_files(f"srv{next(_SERIALS)}", leaf, *chain))
        context.set_alpn_protocols(alpn or ["http/1.1"])
        return context
