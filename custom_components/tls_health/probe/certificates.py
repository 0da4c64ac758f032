"""Reading certificates with `cryptography`.

Parsing a served chain, describing each certificate, and reading the fields and extensions the
judgement needs.
"""

from __future__ import annotations

from collections.abc import Sequence
import ipaddress
import itertools
from typing import Any
import warnings

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from .inert import MAX_SHOWN, inert
from .models import CertificateInfo


class UnparsableCertificateError(ValueError):
    """The server sent a certificate `cryptography` cannot parse."""


def parse_certificates(ders: Sequence[bytes]) -> list[x509.Certificate]:
    """Parse the served chain; raise UnparsableCertificateError for malformed DER."""
    certs = []
    for position, der in enumerate(ders, start=1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cert = x509.load_der_x509_certificate(der)
                # Touch the fields `describe` needs, so every parse failure surfaces here.
                _ = (
                    cert.subject.rfc4514_string(),
                    cert.issuer.rfc4514_string(),
                    cert.extensions,
                    cert.public_key(),
                )
        except (ValueError, UnsupportedAlgorithm, x509.DuplicateExtension) as err:
            which = "the server's certificate" if position == 1 else f"certificate {position}"
            msg = f"{which}: {err}"
            raise UnparsableCertificateError(msg) from err
        certs.append(cert)
    return certs


def describe(cert: x509.Certificate) -> CertificateInfo:
    """Summarise one certificate as a CertificateInfo."""
    key_type, key_size = key_description(cert)
    try:
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = basic.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        issuer_organization=_first_value(cert.issuer, NameOID.ORGANIZATION_NAME),
        issuer_common_name=_first_value(cert.issuer, NameOID.COMMON_NAME),
        common_name=common_name(cert),
        sans=tuple(str(name) for name in san_values(cert)),
        serial=format(serial_number(cert), "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_type=key_type,
        key_size=key_size,
        signature_algorithm=_signature_algorithm(cert),
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        is_ca=is_ca,
        self_issued=cert.subject == cert.issuer,
    )


def serial_number(cert: x509.Certificate) -> int:
    """Return the serial number, warning or not (a non-positive one is judged as a rule)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a non-positive serial, reported as a rule instead
        return cert.serial_number


def common_name(cert: x509.Certificate) -> str | None:
    """Return the subject's first common name."""
    attributes = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attributes:
        return None
    value = attributes[0].value
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _first_value(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    """Return the first value of an attribute, inert (a name may have thousands of parts)."""
    attributes = name.get_attributes_for_oid(oid)
    if not attributes:
        return None
    value = attributes[0].value
    text = value.decode(errors="replace") if isinstance(value, bytes) else value
    return inert(text[: MAX_SHOWN + 1])


def chain_in_order(certs: Sequence[x509.Certificate]) -> bool | None:
    """Whether each served certificate is issued by the next one; None for a single one."""
    if len(certs) < 2:  # noqa: PLR2004
        return None
    return all(cert.issuer == parent.subject for cert, parent in itertools.pairwise(certs))


def key_description(cert: x509.Certificate) -> tuple[str, int | None]:  # noqa: PLR0911
    """Name the public key's type and size in bits (None when unknown)."""
    try:
        key = cert.public_key()
    except ValueError, UnsupportedAlgorithm:
        return cert.public_key_algorithm_oid.dotted_string, None
    match key:
        case rsa.RSAPublicKey():
            return "RSA", key.key_size
        case ec.EllipticCurvePublicKey():
            return "EC", key.curve.key_size
        case ed25519.Ed25519PublicKey():
            return "Ed25519", 256
        case ed448.Ed448PublicKey():
            return "Ed448", 456
        case dsa.DSAPublicKey():
            return "DSA", key.key_size
    return type(key).__name__.removesuffix("PublicKey"), None  # pragma: no cover


def _signature_algorithm(cert: x509.Certificate) -> str | None:
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    if algorithm is not None:
        return algorithm.name
    oid = cert.signature_algorithm_oid
    name = getattr(oid, "_name", None)
    return name if isinstance(name, str) and name != "Unknown OID" else oid.dotted_string


def san_values(
    cert: x509.Certificate,
) -> list[str | ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """DNS names and IP addresses of the subject alternative names."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [
        name.value
        for name in san
        if isinstance(name, x509.DNSName | x509.IPAddress)
        and not isinstance(name.value, ipaddress.IPv4Network | ipaddress.IPv6Network)
    ]


def has_san(cert: x509.Certificate) -> bool:
    """Whether the certificate has a subject alternative name extension."""
    try:
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return False
    return True


def extensions_of(cert: x509.Certificate) -> x509.Extensions | None:
    """Return the certificate's extensions; None when they cannot be parsed (a trusted one's)."""
    try:
        return cert.extensions
    except x509.DuplicateExtension, ValueError, TypeError:
        return None


def extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.Extension[Any] | None:
    """Return one extension; None when absent or unparsable."""
    extensions = extensions_of(cert)
    if extensions is None:
        return None
    try:
        return extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound, ValueError, TypeError:
        return None


def authority_key_identifier(cert: x509.Certificate) -> bytes | None:
    """Key identifier of the issuer's key, as the certificate names it."""
    found = extension(cert, x509.AuthorityKeyIdentifier)
    return found.value.key_identifier if found is not None else None


def subject_key_identifier(cert: x509.Certificate) -> bytes | None:
    """Key identifier of the certificate's own key."""
    found = extension(cert, x509.SubjectKeyIdentifier)
    return found.value.digest if found is not None else None
