"""Certificates for tests: a private root, intermediates and leaves, as RFC 5280 expects them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate with its key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        """Certificate in PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _alt_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def issue(
    common_name: str,
    *,
    issuer: Issued | None = None,
    ca: bool = False,
    names: tuple[str, ...] = (),
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    organization: str | None = "TLS Health Test",
) -> Issued:
    """Issue a CA or leaf certificate; without `issuer` it is self-signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(common_name, organization)
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - timedelta(days=1))
        .not_valid_after(not_after or NOW + timedelta(days=90))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()),
            critical=False,
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        ).add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = (
            builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.SubjectAlternativeName([_alt_name(name) for name in names or (common_name,)]),
                critical=False,
            )
        )
    return Issued(builder.sign(signer_key, hashes.SHA256()), key)


@dataclass(frozen=True, slots=True)
class Pki:
    """A private root and an intermediate, written where tests can point servers and probes."""

    root: Issued
    intermediate: Issued
    folder: Path

    @property
    def ca_file(self) -> Path:
        """PEM file of the root: the extra CA a target trusts."""
        path = self.folder / "root.pem"
        if not path.exists():
            path.write_bytes(self.root.pem)
        return path

    def leaf(self, name: str = "hass.example.test", **kwargs: object) -> Issued:
        """A server certificate issued by the intermediate."""
        return issue(name, issuer=self.intermediate, **kwargs)  # type: ignore[arg-type]

    def write(self, label: str, *certs: Issued, key: Issued | None = None) -> tuple[Path, Path]:
        """Write a chain (as served, in this order) and the key of its first certificate."""
        chain = self.folder / f"{label}.chain.pem"
        chain.write_bytes(b"".join(cert.pem for cert in certs))
        key_file = self.folder / f"{label}.key.pem"
        key_file.write_bytes(
            (key or certs[0]).key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return chain, key_file


def make_pki(folder: Path) -> Pki:
    """A root valid for years and an intermediate below it."""
    root = issue("TLS Health Test Root", ca=True, not_after=NOW + timedelta(days=3650))
    intermediate = issue(
        "Test Intermediate",
        issuer=root,
        ca=True,
        not_after=NOW + timedelta(days=1825),
        organization="TLS Health Test CA",
    )
    return Pki(root, intermediate, folder)
