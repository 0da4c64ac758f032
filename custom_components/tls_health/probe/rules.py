"""Rules of RFC 5280 and the CA/Browser Forum profile, to name the one a path breaks."""

from __future__ import annotations

from collections.abc import Sequence
import ipaddress
from typing import NamedTuple

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, SignatureAlgorithmOID

from .certificates import (
    authority_key_identifier,
    extension,
    extensions_of,
    key_description,
    serial_number,
)
from .judgement import Judgement, label
from .models import Target, Verdict

MAX_NAME_CHECKS = 4096
# Extensions the verifier understands; any other critical extension makes it refuse.
_UNDERSTOOD = frozenset(
    {
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.NAME_CONSTRAINTS,
        ExtensionOID.EXTENDED_KEY_USAGE,
    }
)
_SIGNATURES = frozenset(
    {
        SignatureAlgorithmOID.RSA_WITH_SHA256,
        SignatureAlgorithmOID.RSA_WITH_SHA384,
        SignatureAlgorithmOID.RSA_WITH_SHA512,
        SignatureAlgorithmOID.RSASSA_PSS,
        SignatureAlgorithmOID.ECDSA_WITH_SHA256,
        SignatureAlgorithmOID.ECDSA_WITH_SHA384,
        SignatureAlgorithmOID.ECDSA_WITH_SHA512,
    }
)
# Extensions RFC 5280 or the CA/Browser Forum profile never allow to be critical.
_EXTENSION_NAMES = {
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER: "authority key identifier",
    ExtensionOID.SUBJECT_KEY_IDENTIFIER: "subject key identifier",
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS: "authority information access",
}
_NEVER_CRITICAL = frozenset(_EXTENSION_NAMES)
_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
_MIN_RSA_BITS = 2048
_MAX_SERIAL_OCTETS = 21  # 20 octets, plus the sign octet some CAs forget to count


def broken_rule(
    path: Sequence[x509.Certificate], leaf: x509.Certificate, target: Target
) -> Judgement | None:
    """Find the first rule a certificate of the path breaks, leaf first; None when none."""
    for index, cert in enumerate(path):
        found = _refused(cert, issued=path[index - 1] if index else None) or (
            None if index else _leaf_without_key_identifier(path)
        )
        if found is not None:
            return _rule(Verdict.CERTIFICATE_REJECTED, cert, leaf, target, found)
        found = _leaf_constraint(cert) if index == 0 else _ca_constraint(path, index)
        if found is not None:
            return _rule(Verdict.CHAIN_CONSTRAINT_VIOLATED, cert, leaf, target, found)
    return None


class Rule(NamedTuple):
    """A rule a certificate breaks: a code for texts, and the sentence for a person."""

    code: str
    text: str


def _rule(
    verdict: Verdict, cert: x509.Certificate, leaf: x509.Certificate, target: Target, rule: Rule
) -> Judgement:
    return Judgement(
        verdict,
        f"{label(cert, leaf, target)} {rule.text}",
        {"subject": cert.subject.rfc4514_string(), "reason": rule.text, "rule": rule.code},
    )


def _refused(cert: x509.Certificate, issued: x509.Certificate | None) -> Rule | None:  # noqa: PLR0911
    """Tell what makes the verifier refuse this certificate itself (encoding, key, algorithm)."""
    if cert.version is not x509.Version.v3:
        return Rule("version_1", "is an X.509 version 1 certificate; clients require version 3")
    serial = serial_number(cert)
    if serial < 0:
        return Rule("negative_serial", "has a negative serial number, which RFC 5280 forbids")
    if serial.bit_length() // 8 + 1 > _MAX_SERIAL_OCTETS:
        return Rule(
            "long_serial", "has a serial number longer than 20 octets, which RFC 5280 forbids"
        )
    extensions = extensions_of(cert)
    if extensions is None:
        return Rule("unparsable_extensions", "has extensions that cannot be parsed")
    unknown = [
        ext.oid.dotted_string for ext in extensions if ext.critical and ext.oid not in _UNDERSTOOD
    ]
    if unknown:
        return Rule(
            "unknown_critical_extension",
            f"carries a critical extension clients do not know ({', '.join(unknown[:3])})",
        )
    wrongly_critical = [
        _EXTENSION_NAMES[ext.oid]
        for ext in extensions
        if ext.critical and ext.oid in _NEVER_CRITICAL
    ]
    if wrongly_critical:
        return Rule(
            "wrongly_critical_extension",
            f"marks its {wrongly_critical[0]} extension critical, which RFC 5280 forbids",
        )
    if issued is not None:
        if issued.signature_algorithm_oid not in _SIGNATURES:
            oid = issued.signature_algorithm_oid
            name = getattr(oid, "_name", None) or oid.dotted_string
            return Rule(
                "weak_signature_algorithm",
                f"signed a certificate with {name}, an algorithm clients no longer accept",
            )
        return _weak_key(cert)
    return None


def _weak_key(cert: x509.Certificate) -> Rule | None:
    try:
        key = cert.public_key()
    except ValueError, UnsupportedAlgorithm:
        return Rule("unreadable_key", "has a public key clients cannot read")
    match key:
        case rsa.RSAPublicKey() if key.key_size < _MIN_RSA_BITS:
            return Rule(
                "weak_rsa_key",
                f"has an RSA key of {key.key_size} bits; clients require at least 2048",
            )
        case rsa.RSAPublicKey():
            return None
        case ec.EllipticCurvePublicKey() if key.curve.name in _CURVES:
            return None
        case ec.EllipticCurvePublicKey():
            return Rule(
                "unsupported_curve",
                f"has a key on the curve {key.curve.name}, which clients do not accept",
            )
    kind, _ = key_description(cert)
    return Rule(
        "unsupported_key_type",
        f"has a {kind} key, which clients do not accept for a certificate authority",
    )


def _leaf_without_key_identifier(path: Sequence[x509.Certificate]) -> Rule | None:
    if len(path) > 1 and authority_key_identifier(path[0]) is None:
        return Rule(
            "no_authority_key_identifier",
            "lacks the authority key identifier extension, which the CA/Browser Forum profile "
            "requires of a server certificate",
        )
    return None


def _leaf_constraint(leaf: x509.Certificate) -> Rule | None:
    basic = extension(leaf, x509.BasicConstraints)
    if basic is not None and basic.value.ca:
        return Rule(
            "ca_as_server_certificate",
            "is a CA certificate, not a server certificate; clients refuse it as one",
        )
    usage = extension(leaf, x509.KeyUsage)
    if usage is not None and usage.value.key_cert_sign:
        return Rule(
            "server_may_sign",
            "may sign certificates (key usage keyCertSign); clients refuse it as a server's",
        )
    eku = extension(leaf, x509.ExtendedKeyUsage)
    if eku is not None and ExtendedKeyUsageOID.SERVER_AUTH not in eku.value:
        return Rule(
            "not_for_tls_servers",
            "is not issued for TLS servers (its extended key usage lacks serverAuth)",
        )
    return None


def _ca_constraint(path: Sequence[x509.Certificate], index: int) -> Rule | None:  # noqa: PLR0911
    cert = path[index]
    basic = extension(cert, x509.BasicConstraints)
    if basic is None or not basic.value.ca:
        return Rule(
            "not_a_ca", "is not a CA certificate, yet it issued the next certificate of the chain"
        )
    if not basic.critical:
        return Rule(
            "ca_constraints_not_critical",
            "does not mark its basic constraints critical, as RFC 5280 requires of a CA",
        )
    usage = extension(cert, x509.KeyUsage)
    if usage is None:
        return Rule(
            "ca_without_key_usage", "has no key usage extension, which a CA certificate must have"
        )
    if not usage.value.key_cert_sign:
        return Rule(
            "ca_may_not_sign", "may not sign certificates (its key usage lacks keyCertSign)"
        )
    below = sum(1 for c in path[1:index] if c.subject != c.issuer)
    limit = basic.value.path_length
    if limit is not None and below > limit:
        return Rule(
            "path_length",
            f"allows {limit} intermediate certificate{'s' if limit != 1 else ''} below it "
            f"(pathLenConstraint), the chain has {below}",
        )
    eku = extension(cert, x509.ExtendedKeyUsage)
    if eku is not None and not {
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    } & set(eku.value):
        return Rule(
            "ca_not_for_tls_servers",
            "is not allowed to issue TLS server certificates (extended key usage)",
        )
    constraints = extension(cert, x509.NameConstraints)
    if constraints is not None:
        outside = _outside_constraints(_names_below(path, index), constraints.value)
        if outside is not None:
            return Rule("name_constraints", f"does not allow the name {outside} (name constraints)")
    return None


def _names_below(path: Sequence[x509.Certificate], index: int) -> list[x509.GeneralName]:
    """SAN entries of the certificates below `index` that its name constraints govern."""
    names: list[x509.GeneralName] = []
    for position, cert in enumerate(path[:index]):
        if position and cert.subject == cert.issuer:
            continue  # self-issued intermediates are exempt
        found = extension(cert, x509.SubjectAlternativeName)
        if found is not None:
            names.extend(found.value)
    return names


def _outside_constraints(
    names: Sequence[x509.GeneralName], constraints: x509.NameConstraints
) -> str | None:
    """Find the first DNS name or IP address the constraints exclude or do not permit."""
    permitted = list(constraints.permitted_subtrees or ())
    excluded = list(constraints.excluded_subtrees or ())
    if len(names) * (len(permitted) + len(excluded)) > MAX_NAME_CHECKS:
        return None
    for name in names:
        if not isinstance(name, x509.DNSName | x509.IPAddress):
            continue
        same_kind = [tree for tree in permitted if type(tree) is type(name)]
        if same_kind and not any(_within(name, tree) for tree in same_kind):
            return str(name.value)
        if any(type(tree) is type(name) and _within(name, tree) for tree in excluded):
            return str(name.value)
    return None


def _within(name: x509.GeneralName, tree: x509.GeneralName) -> bool:
    if isinstance(name, x509.IPAddress) and isinstance(tree, x509.IPAddress):
        address, network = name.value, tree.value
        return (
            isinstance(network, ipaddress.IPv4Network | ipaddress.IPv6Network)
            and not isinstance(address, ipaddress.IPv4Network | ipaddress.IPv6Network)
            and address in network
        )
    host = str(name.value).lower().rstrip(".").removeprefix("*.")
    base = str(tree.value).lower().rstrip(".")
    if base.startswith("."):
        return host.endswith(base)
    return not base or host == base or host.endswith(f".{base}")
