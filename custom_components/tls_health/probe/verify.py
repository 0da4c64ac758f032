"""Certificate parsing and judgement with `cryptography`: trust, then time, then name.

Everything here is synchronous. Loading trust stores reads files and parses a hundred
certificates: callers run `load_default_trust` and `load_ca_file` in an executor. Judging
a served chain of a few certificates takes well under a millisecond and runs inline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
import ipaddress
import itertools
import warnings

import certifi
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509 import verification
from cryptography.x509.oid import NameOID

from .files import FileTooLargeError, NotARegularFileError, read_bounded
from .models import CertificateInfo, Target, Verdict

# Names that mark a certificate nobody issued on purpose: defaults of proxies and appliances.
PLACEHOLDER_NAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "localhost4",
        "localhost4.localdomain4",
        "localhost6",
        "localhost6.localdomain6",
        "ip6-localhost",
        "traefik default cert",
        "kubernetes ingress controller fake certificate",
    }
)
MAX_PATH_LENGTH = 10
_VERIFIER_PROBE_LABEL = "tls-health-probe"


class UnparsableCertificateError(ValueError):
    """The server sent a certificate `cryptography` cannot parse."""


@dataclass(frozen=True, slots=True)
class TrustStore:
    """Trusted roots (and any other trusted certificates) for verification."""

    certificates: tuple[x509.Certificate, ...]
    store: verification.Store
    by_subject: dict[x509.Name, tuple[x509.Certificate, ...]]
    fingerprints: frozenset[bytes]

    @classmethod
    def build(cls, certificates: Iterable[x509.Certificate]) -> TrustStore:
        """Index certificates; CPU work, run it in an executor for a full bundle."""
        unique: dict[bytes, x509.Certificate] = {}
        for cert in certificates:
            unique.setdefault(cert.fingerprint(hashes.SHA256()), cert)
        certs = tuple(unique.values())
        by_subject: dict[x509.Name, list[x509.Certificate]] = {}
        for cert in certs:
            by_subject.setdefault(cert.subject, []).append(cert)
        return cls(
            certificates=certs,
            store=verification.Store(list(certs)),
            by_subject={name: tuple(found) for name, found in by_subject.items()},
            fingerprints=frozenset(unique),
        )

    def extended(self, extra: Sequence[x509.Certificate]) -> TrustStore:
        """Return a store that also trusts `extra`."""
        return TrustStore.build((*self.certificates, *extra)) if extra else self

    def contains(self, cert: x509.Certificate) -> bool:
        """Whether this exact certificate is trusted."""
        return cert.fingerprint(hashes.SHA256()) in self.fingerprints


def load_default_trust() -> TrustStore:
    """Parse certifi's bundle, the roots Home Assistant's own HTTP client trusts (blocking)."""
    certs, error = load_ca_file(certifi.where())
    if error is not None:  # pragma: no cover - certifi ships a readable bundle
        raise RuntimeError(error)
    return TrustStore.build(certs)


def load_ca_file(path: str) -> tuple[list[x509.Certificate], str | None]:
    """Read a PEM (or single DER) file of CA certificates; never raises (blocking)."""
    try:
        data = read_bounded(path)
    except OSError as err:
        return [], f"CA file {path} cannot be read ({err.strerror or err})"
    certs = _ca_certificates(data)
    if not certs:
        return [], f"CA file {path} holds no readable certificate"
    return certs, None


class CaFileProblem(StrEnum):
    """Why a file cannot serve as a CA file (values are form error keys)."""

    UNREADABLE = "ca_file_unreadable"  # missing, or not permitted
    INVALID = "ca_file_invalid"  # a special file, too large, or no certificate in it


def check_ca_file(path: str) -> CaFileProblem | None:
    """Whether `path` holds CA certificates this probe can use (blocking)."""
    try:
        data = read_bounded(path)
    except NotARegularFileError, FileTooLargeError, IsADirectoryError:
        return CaFileProblem.INVALID
    except OSError:
        return CaFileProblem.UNREADABLE
    return None if _ca_certificates(data) else CaFileProblem.INVALID


def _ca_certificates(data: bytes) -> list[x509.Certificate]:
    try:
        with warnings.catch_warnings():
            # certifi and real-world files hold a few certificates with non-positive serials.
            warnings.simplefilter("ignore")
            if b"-----BEGIN" in data:
                return x509.load_pem_x509_certificates(data)
            return [x509.load_der_x509_certificate(data)]
    except ValueError:
        return []


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_certificates(ders: Sequence[bytes]) -> list[x509.Certificate]:
    """Parse the served chain; raise UnparsableCertificateError for malformed DER."""
    certs = []
    for der in ders:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cert = x509.load_der_x509_certificate(der)
                # Touch the fields `describe` needs, so every parse failure surfaces here.
                _ = (cert.subject, cert.issuer, cert.extensions, cert.public_key())
        except (ValueError, UnsupportedAlgorithm) as err:
            raise UnparsableCertificateError(str(err)) from err
        certs.append(cert)
    return certs


def describe(cert: x509.Certificate) -> CertificateInfo:
    """Summarise one certificate as a CertificateInfo."""
    key_type, key_size = _key_description(cert)
    try:
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = basic.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        common_name=common_name(cert),
        sans=tuple(str(name) for name in _san_values(cert)),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_type=key_type,
        key_size=key_size,
        signature_algorithm=_signature_algorithm(cert),
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        is_ca=is_ca,
        self_issued=cert.subject == cert.issuer,
    )


def common_name(cert: x509.Certificate) -> str | None:
    """Return the subject's first common name."""
    attributes = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attributes:
        return None
    value = attributes[0].value
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def chain_in_order(certs: Sequence[x509.Certificate]) -> bool | None:
    """Whether each served certificate is issued by the next one; None for a single one."""
    if len(certs) < 2:  # noqa: PLR2004
        return None
    return all(cert.issuer == parent.subject for cert, parent in itertools.pairwise(certs))


def _key_description(cert: x509.Certificate) -> tuple[str, int | None]:  # noqa: PLR0911
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


def _san_values(
    cert: x509.Certificate,
) -> list[str | ipaddress.IPv4Address | ipaddress.IPv6Address]:
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


def _has_san(cert: x509.Certificate) -> bool:
    try:
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Names (RFC 6125)


def certificate_names(cert: x509.Certificate) -> list[str]:
    """Names the certificate is valid for: its SANs, or its CN when it has no SAN extension."""
    if _has_san(cert):
        return [str(value) for value in _san_values(cert)]
    name = common_name(cert)
    return [name] if name else []


def matches_name(cert: x509.Certificate, expected: str) -> bool:
    """Whether `expected` (DNS name or IP literal) is covered by the certificate."""
    try:
        expected_ip = ipaddress.ip_address(expected)
    except ValueError:
        expected_ip = None
    if expected_ip is not None:
        return any(value == expected_ip for value in _san_values(cert))
    if _has_san(cert):
        patterns = [value for value in _san_values(cert) if isinstance(value, str)]
    else:
        patterns = [name] if (name := common_name(cert)) else []
    host = expected.rstrip(".").lower()
    return any(_dns_match(pattern.rstrip(".").lower(), host) for pattern in patterns)


def _dns_match(pattern: str, host: str) -> bool:
    if "*" not in pattern:
        return pattern == host
    first, _, rest = pattern.partition(".")
    # Only a whole left-most label, over at least two more labels, matching exactly one label.
    if first != "*" or "*" in rest or rest.count(".") < 1:
        return False
    label, _, host_rest = host.partition(".")
    return bool(label) and host_rest == rest


# ---------------------------------------------------------------------------------------------
# Judgement


@dataclass(slots=True)
class Judgement:
    """The verdict on a served chain, with its sentence and translation placeholders."""

    verdict: Verdict
    detail: str
    details: dict[str, str] = field(default_factory=dict)
    placeholder: bool = False


def judge(
    certs: Sequence[x509.Certificate], trust: TrustStore, target: Target, now: datetime
) -> Judgement:
    """Trust (regardless of time and name), then validity at `now`, then the name."""
    leaf = certs[0]
    path, note = _verified_path(certs, trust)
    if path is None:
        found = _walk_path(certs, trust)
        if isinstance(found, Judgement):
            return found
        path = found
    details: dict[str, str] = {}
    if note:
        details["verifier_note"] = note
    return (
        _judge_time(path, leaf, target, now)
        or _judge_name(leaf, target)
        or Judgement(
            Verdict.OK,
            f"certificate for {target.expected_name} is trusted and valid until "
            f"{min(cert.not_valid_after_utc for cert in certs):%Y-%m-%d}",
            details,
        )
    )


def _verified_path(
    certs: Sequence[x509.Certificate], trust: TrustStore
) -> tuple[list[x509.Certificate] | None, str | None]:
    """Verify with cryptography at a time the served certificates are valid, for a leaf name."""
    leaf = certs[0]
    subject = _own_subject(leaf)
    if subject is None:
        return None, "the certificate has no subject alternative name"
    windows = [(cert.not_valid_before_utc, cert.not_valid_after_utc) for cert in certs]
    start = max(begin for begin, _ in windows)
    end = min(finish for _, finish in windows)
    times = []
    if start <= end:
        times.append(start + (end - start) / 2)
    times.append(windows[0][0] + (windows[0][1] - windows[0][0]) / 2)
    error = None
    for moment in times:
        verifier = (
            verification.PolicyBuilder()
            .store(trust.store)
            .time(moment)
            .build_server_verifier(subject)
        )
        try:
            return verifier.verify(certs[0], list(certs[1:])), None
        except (verification.VerificationError, ValueError) as err:
            error = str(err)
    return None, error


def _own_subject(leaf: x509.Certificate) -> verification.Subject | None:
    for value in _san_values(leaf):
        if isinstance(value, str):
            name = value.rstrip(".")
            if name.startswith("*."):
                name = f"{_VERIFIER_PROBE_LABEL}{name[1:]}"
            try:
                return verification.DNSName(  # type: ignore[attr-defined]
                    name
                )
            except ValueError:
                continue
        else:
            return verification.IPAddress(value)  # type: ignore[attr-defined]
    return None


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm:
        return False
    return True


def _walk_path(
    certs: Sequence[x509.Certificate], trust: TrustStore
) -> list[x509.Certificate] | Judgement:
    """Build a path by names and signatures, to tell why the strict verifier refused it.

    A path that does reach a trusted certificate is accepted: what the strict verifier
    disliked is then judged by time and name (or is an RFC 5280 nit, not a trust problem).
    """
    leaf = certs[0]
    if trust.contains(leaf):
        return [leaf]
    if leaf.subject == leaf.issuer and _signed_by(leaf, leaf):
        return _self_signed(leaf)
    path = [leaf]
    current = leaf
    while len(path) <= MAX_PATH_LENGTH:
        anchors = [c for c in trust.by_subject.get(current.issuer, ()) if _signed_by(current, c)]
        if anchors:
            return [*path, anchors[0]]
        parents = [
            c
            for c in certs
            if c not in path and c.subject == current.issuer and _signed_by(current, c)
        ]
        if not parents:
            break
        current = parents[0]
        path.append(current)
        if trust.contains(current):
            return path
    return _unverifiable(current, leaf, too_long=len(path) > MAX_PATH_LENGTH)


def _unverifiable(
    current: x509.Certificate, leaf: x509.Certificate, *, too_long: bool
) -> Judgement:
    """Why a path built by names stops short of a trusted certificate at `current`."""
    if too_long:
        return Judgement(
            Verdict.UNTRUSTED_ISSUER,
            f"the served chain goes on for more than {MAX_PATH_LENGTH} certificates without "
            "reaching a trusted root; clients give up on such a path",
            {"issuer": current.issuer.rfc4514_string()},
        )
    if current.subject == current.issuer:
        issuer = current.subject.rfc4514_string()
        return Judgement(
            Verdict.UNTRUSTED_ISSUER,
            f"the chain ends in the root {issuer}, which is not trusted; use a certificate "
            "from a public authority, or add that root as the CA file",
            {"issuer": issuer},
        )
    missing = current.issuer.rfc4514_string()
    what = "the server's certificate" if current is leaf else "a served intermediate"
    return Judgement(
        Verdict.INCOMPLETE_CHAIN,
        f"the issuer of {what}, {missing}, is neither sent by the server nor trusted; "
        "serve the full chain (fullchain.pem), or add that CA as the CA file if it is private",
        {"missing_issuer": missing, "issuer": missing},
    )


def _self_signed(leaf: x509.Certificate) -> Judgement:
    names = {name.lower() for name in certificate_names(leaf)}
    if (cn := common_name(leaf)) is not None:
        names.add(cn.lower())
    placeholder = bool(names & PLACEHOLDER_NAMES)
    subject = leaf.subject.rfc4514_string()
    if placeholder:
        detail = (
            f"the server presents a self-signed placeholder certificate ({subject}), "
            "the default a proxy or appliance uses when no real certificate is configured"
        )
    else:
        detail = (
            f"the certificate {subject} is self-signed; replace it with one from a public "
            "authority, or add this certificate as the CA file to trust it"
        )
    return Judgement(
        Verdict.SELF_SIGNED, detail, {"subject": subject, "issuer": subject}, placeholder
    )


def _label(cert: x509.Certificate, leaf: x509.Certificate, target: Target) -> str:
    if cert is leaf:
        return f"certificate for {target.expected_name}"
    kind = "root" if cert.subject == cert.issuer else "intermediate"
    return f"{kind} certificate {common_name(cert) or cert.subject.rfc4514_string()}"


def _judge_time(
    path: Sequence[x509.Certificate], leaf: x509.Certificate, target: Target, now: datetime
) -> Judgement | None:
    expired = [cert for cert in path if now > cert.not_valid_after_utc]
    if expired:
        cert = min(expired, key=lambda c: c.not_valid_after_utc)
        not_after = cert.not_valid_after_utc
        days = (now - not_after).days
        ago = "today" if days == 0 else f"{days} day{'s' if days != 1 else ''} ago"
        return Judgement(
            Verdict.CERTIFICATE_EXPIRED,
            f"{_label(cert, leaf, target)} expired {ago} (not after {not_after:%Y-%m-%d})",
            {
                "days_expired": str(days),
                "subject": cert.subject.rfc4514_string(),
                "expiry": f"{not_after:%Y-%m-%d}",
            },
        )
    early = [cert for cert in path if now < cert.not_valid_before_utc]
    if early:
        cert = max(early, key=lambda c: c.not_valid_before_utc)
        not_before = cert.not_valid_before_utc
        wait = _ceil_days(not_before - now)
        return Judgement(
            Verdict.CERTIFICATE_NOT_YET_VALID,
            f"{_label(cert, leaf, target)} is not valid before {not_before:%Y-%m-%d %H:%M} UTC "
            f"(in {wait} day{'s' if wait != 1 else ''}); check the clocks of this host "
            "and the server",
            {"subject": cert.subject.rfc4514_string(), "not_before": not_before.isoformat()},
        )
    return None


def _ceil_days(delta: timedelta) -> int:
    return -(-delta // timedelta(days=1))


def _judge_name(leaf: x509.Certificate, target: Target) -> Judgement | None:
    expected = target.expected_name
    if matches_name(leaf, expected):
        return None
    names = ", ".join(certificate_names(leaf)) or "no names"
    return Judgement(
        Verdict.HOSTNAME_MISMATCH,
        f"the certificate is for {names}, not for {expected}",
        {"expected_name": expected, "names": names},
    )
