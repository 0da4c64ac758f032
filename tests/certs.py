"""A certificate factory for probe tests: roots, intermediates and leaves as RFC 5280 wants them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import ipaddress
from itertools import count
from pathlib import Path
import ssl
from typing import Literal
import warnings

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)

type KeyKind = Literal["ec", "p384", "secp256k1", "rsa", "rsa1024", "dsa", "ed25519"]
type PrivateKey = (
    ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | dsa.DSAPrivateKey | ed25519.Ed25519PrivateKey
)

_SERIALS = count(0x1000)
_KEYS: dict[KeyKind, PrivateKey] = {}


def _key(kind: KeyKind) -> PrivateKey:
    match kind:
        case "rsa":
            return rsa.generate_private_key(public_exponent=65537, key_size=2048)
        case "rsa1024" | "dsa":
            # Slow to generate and never trusted for anything: one key per kind is enough.
            if kind not in _KEYS:
                _KEYS[kind] = (
                    rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
                    if kind == "rsa1024"
                    else dsa.generate_private_key(key_size=2048)
                )
            return _KEYS[kind]
        case "ed25519":
            return ed25519.Ed25519PrivateKey.generate()
        case "p384":
            return ec.generate_private_key(ec.SECP384R1())
        case "secp256k1":
            return ec.generate_private_key(ec.SECP256K1())
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
    key: KeyKind | PrivateKey = "ec",
    subject: x509.Name | None = None,
    path_length: int | None = None,
    basic_ca: bool | None = None,
    eku: tuple[ObjectIdentifier, ...] | None = None,
    name_constraints: x509.NameConstraints | None = None,
    extra: tuple[tuple[x509.ExtensionType, bool], ...] = (),
    algorithm: hashes.HashAlgorithm | None = None,
    key_identifier: bool = True,
) -> Issued:
    """Issue a certificate; without `issuer` it is self-signed.

    `basic_ca` overrides the cA flag of basicConstraints (the rest follows `ca`); `eku` replaces
    the extended key usages (() leaves the extension out); `key` may be an existing private key
    (a cross-certificate reuses its subject's key); `algorithm` is the signature's hash;
    `key_identifier=False` leaves the authority key identifier out.
    """
    private = _key(key) if isinstance(key, str) else key
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
            x509.BasicConstraints(ca=ca if basic_ca is None else basic_ca, path_length=path_length),
            critical=True,
        )
        .add_extension(_key_usage(ca=ca, rsa=isinstance(private, rsa.RSAPrivateKey)), critical=True)
    )
    if key_identifier:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer.key.public_key() if issuer else public  # type: ignore[arg-type]
            ),
            critical=False,
        )
    usages = eku if eku is not None else (() if ca else (ExtendedKeyUsageOID.SERVER_AUTH,))
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
    if name_constraints is not None:
        builder = builder.add_extension(name_constraints, critical=True)
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in names]),
            critical=not common_name and subject is None,
        )
    for extension, critical in extra:
        builder = builder.add_extension(extension, critical=critical)
    digest = (
        None if isinstance(signer_key, ed25519.Ed25519PrivateKey) else algorithm or hashes.SHA256()
    )
    cert = builder.sign(signer_key, digest)  # type: ignore[arg-type]
    return Issued(cert, private)


_ECDSA_WITH_SHA1 = bytes.fromhex("300906072a8648ce3d0401")


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def _der_elements(data: bytes) -> list[bytes]:
    """Split concatenated DER elements (definite lengths only), each with its tag and length."""
    elements = []
    offset = 0
    while offset < len(data):
        size = data[offset + 1]
        start = offset + 2
        if size & 0x80:
            octets = size & 0x7F
            size = int.from_bytes(data[start : start + octets], "big")
            start += octets
        elements.append(data[offset : start + size])
        offset = start + size
    return elements


def _der_content(element: bytes) -> bytes:
    size = element[1]
    return element[2 + (size & 0x7F if size & 0x80 else 0) :]


def tampered(
    issued: Issued,
    signer: Issued | None = None,
    *,
    serial: bytes | None = None,
    duplicate: ObjectIdentifier | None = None,
    sha1: bool = False,
) -> Issued:
    """Re-sign `issued` after changes no builder allows: `serial` as the INTEGER's content
    octets (negative, over 20 octets), an extension repeated, or signed with ECDSA and SHA-1
    (which `cryptography` no longer signs with; `signer` must hold an EC key).
    """
    signer_key = (signer or issued).key
    tbs = _der_elements(_der_content(issued.cert.tbs_certificate_bytes))
    if serial is not None:
        tbs[1] = _der(0x02, serial)
    if duplicate is not None:
        wrapper = tbs[-1]  # [3] EXPLICIT Extensions
        extensions = _der_elements(_der_content(_der_content(wrapper)))
        copies = [ext for ext in extensions if _oid_of(ext) == duplicate]
        tbs[-1] = _der(0xA3, _der(0x30, b"".join([*extensions, *copies])))
    algorithm = _der_elements(_der_content(issued.cert.public_bytes(serialization.Encoding.DER)))[1]
    digest: hashes.HashAlgorithm = hashes.SHA256()
    if sha1:
        algorithm = tbs[2] = _ECDSA_WITH_SHA1
        digest = hashes.SHA1()  # noqa: S303
    body = _der(0x30, b"".join(tbs))
    if isinstance(signer_key, ec.EllipticCurvePrivateKey):
        signature = signer_key.sign(body, ec.ECDSA(digest))
    else:
        assert isinstance(signer_key, rsa.RSAPrivateKey)
        signature = signer_key.sign(body, padding.PKCS1v15(), digest)
    der = _der(0x30, body + algorithm + _der(0x03, b"\x00" + signature))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a negative serial
        return Issued(x509.load_der_x509_certificate(der), issued.key)


def _oid_of(extension: bytes) -> ObjectIdentifier:
    oid = _der_elements(_der_content(extension))[0]
    return x509.ObjectIdentifier(_dotted(_der_content(oid)))


def _dotted(content: bytes) -> str:
    first, rest = divmod(content[0], 40)
    parts = [min(first, 2), rest if first < 2 else content[0] - 80]
    value = 0
    for octet in content[1:]:
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(part) for part in parts)


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
