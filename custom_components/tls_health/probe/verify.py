"""Certificate parsing and judgement with `cryptography`: the verifier decides, we explain.

Everything here is synchronous and CPU-bound: callers run `load_default_trust`, `load_ca_file`
and `assess` in an executor.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
import ipaddress
import itertools
from typing import Any, NamedTuple
import warnings

import certifi
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509 import verification
from cryptography.x509.oid import (
    ExtendedKeyUsageOID,
    ExtensionOID,
    NameOID,
    SignatureAlgorithmOID,
)

from .files import FileTooLargeError, NotARegularFileError, read_bounded
from .models import CertificateInfo, Target, Verdict, days_until

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
        serial=format(_serial(cert), "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_type=key_type,
        key_size=key_size,
        signature_algorithm=_signature_algorithm(cert),
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        is_ca=is_ca,
        self_issued=cert.subject == cert.issuer,
    )


def _serial(cert: x509.Certificate) -> int:
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
#
# `ok` comes only from `cryptography`'s verifier (RFC 5280 path validation with the CA/Browser
# Forum profile), run for the expected name at the time of the probe. Everything else here
# explains a refusal: which certificate, which rule. It never turns a refusal into `ok`. (A name
# the verifier cannot take at all, one with an underscore, is `ok` only when it validated the
# chain at that time for the leaf's names and a SAN covers the expected name.)
#
# What a served chain can cost is bounded: at most MAX_SERVED distinct certificates are
# considered, the verifier stops after its own signature budget, and the explanation search
# below has budgets of its own. Judgement runs in an executor (`assess`); the verifier
# releases the GIL while it works.

MAX_SERVED = 20  # real servers send 2 to 5 certificates
MAX_CANDIDATES = 8  # issuers tried per certificate while explaining
MAX_SEARCH_STEPS = 64
MAX_SIGNATURE_CHECKS = 48
MAX_NAME_CHECKS = 4096
_REASON_LENGTH = 200
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
# Verifier messages about a CA's constraints (the rest refuse a certificate itself).
_CONSTRAINT_MESSAGES = (
    "name constraint",
    "path length",
    "basicConstraints.cA",
    "keyCertSign",
    "nameConstraints",
    "EKU",
    f"{ExtensionOID.BASIC_CONSTRAINTS.dotted_string}: Certificate is missing",
    f"{ExtensionOID.KEY_USAGE.dotted_string}: Certificate is missing",
)


@dataclass(slots=True)
class Judgement:
    """The verdict on a served chain, with its sentence and translation placeholders."""

    verdict: Verdict
    detail: str
    details: dict[str, str] = field(default_factory=dict)
    placeholder: bool = False


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the served certificates say: the judgement and each certificate described."""

    judgement: Judgement
    chain: tuple[CertificateInfo, ...] = ()
    in_order: bool | None = None


def assess(
    ders: Sequence[bytes], trust: TrustStore, target: Target, now: datetime
) -> Assessment | None:
    """Parse, judge and describe a served chain; None when none was served.

    CPU-bound (a hostile chain costs up to a few hundred milliseconds): run it in an executor.
    """
    if not ders:
        return None
    try:
        certs = parse_certificates(ders)
    except UnparsableCertificateError as err:
        reason = _bounded(str(err))
        return Assessment(
            Judgement(
                Verdict.CERTIFICATE_REJECTED,
                f"the server sent a certificate that cannot be parsed ({reason}); clients "
                "refuse it: reissue the certificate",
                {"reason": reason, "rule": "unparsable"},
            )
        )
    try:
        return Assessment(
            judge(certs, trust, target, now),
            tuple(describe(cert) for cert in certs),
            chain_in_order(certs),
        )
    except Exception as err:  # noqa: BLE001 - whatever a server sends ends in a verdict
        reason = _bounded(f"{type(err).__name__}: {err}")
        return Assessment(
            Judgement(
                Verdict.CERTIFICATE_REJECTED,
                f"the served certificates could not be judged ({reason})",
                {"reason": reason, "rule": "unparsable"},
            )
        )


def judge(
    certs: Sequence[x509.Certificate], trust: TrustStore, target: Target, now: datetime
) -> Judgement:
    """`ok` when the verifier accepts; otherwise why not: trust, then time, then name, then rule."""
    served = _distinct(certs)
    leaf, pool = served.certs[0], served.certs[1:]
    ok = Judgement(
        Verdict.OK,
        f"certificate for {target.expected_name} is trusted and valid until "
        f"{min(cert.not_valid_after_utc for cert in certs):%Y-%m-%d}",
    )
    strict = _verify(trust, leaf, pool, now, target.expected_name.rstrip("."))
    if strict.path is not None:
        return ok
    if strict.gave_up:
        return _explain(served, trust, target, now, strict.error)
    anywhere = _verify(trust, leaf, pool, now, None)
    if anywhere.path is not None:
        # Valid now for some name: the expected one is the problem, unless the verifier could
        # not take it at all (an underscore) and the certificate names it exactly.
        return _judge_names(leaf, target, strict) or ok
    # The verifier's words without the name and the time in them tell the rule best.
    reason = anywhere.error
    for moment in _moments(served.certs):
        relaxed = _verify(trust, leaf, pool, moment, None)
        if relaxed.path is not None:
            found = _judge_time(relaxed.path, leaf, target, now)
            if found is not None:
                return found
            break
        reason = relaxed.error or reason
    return _explain(served, trust, target, now, reason)


@dataclass(frozen=True, slots=True)
class _Served:
    """The served certificates considered (distinct, at most MAX_SERVED), leaf first."""

    certs: list[x509.Certificate]
    names: frozenset[x509.Name]  # subjects of every served certificate, also those cut off


def _distinct(certs: Sequence[x509.Certificate]) -> _Served:
    """Drop repeated certificates and cut the served chain to MAX_SERVED."""
    seen: set[bytes] = set()
    considered: list[x509.Certificate] = []
    for cert in certs:
        fingerprint = cert.fingerprint(hashes.SHA256())
        if fingerprint not in seen and len(considered) < MAX_SERVED:
            seen.add(fingerprint)
            considered.append(cert)
    return _Served(considered, frozenset(cert.subject for cert in certs))


def _moments(served: Sequence[x509.Certificate]) -> list[datetime]:
    """Pick times when all served certificates are valid, and when the leaf is."""
    windows = [(cert.not_valid_before_utc, cert.not_valid_after_utc) for cert in served]
    start = max(begin for begin, _ in windows)
    end = min(finish for _, finish in windows)
    moments = [start + (end - start) / 2] if start <= end else []
    leaf_begin, leaf_end = windows[0]
    if leaf_begin <= leaf_end:
        moments.append(leaf_begin + (leaf_end - leaf_begin) / 2)
    return list(dict.fromkeys(moments))


@dataclass(frozen=True, slots=True)
class _Outcome:
    """The verifier's answer: the validated path, or why it refused."""

    path: list[x509.Certificate] | None = None
    error: str = ""
    name_unusable: bool = False

    @property
    def gave_up(self) -> bool:
        """The verifier stopped at one of its budgets: other runs would stop there too."""
        return "Exceeded maximum" in self.error


def _verify(
    trust: TrustStore,
    leaf: x509.Certificate,
    pool: Sequence[x509.Certificate],
    moment: datetime,
    name: str | None,
) -> _Outcome:
    """Run the verifier for `name`, or for no name at all (the chain alone) when None."""
    builder = verification.PolicyBuilder().store(trust.store).time(moment)
    try:
        if name is None:
            ca_policy, ee_policy = _nameless_policies()
            verifier: verification.ServerVerifier | verification.ClientVerifier = (
                builder.extension_policies(
                    ca_policy=ca_policy, ee_policy=ee_policy
                ).build_client_verifier()
            )
        else:
            verifier = builder.build_server_verifier(_subject(name))
    except ValueError as err:
        return _Outcome(error=str(err), name_unusable=True)
    try:
        verified = verifier.verify(leaf, list(pool))
    except (verification.VerificationError, ValueError) as err:
        return _Outcome(error=str(err))
    path = verified.chain if isinstance(verified, verification.VerifiedClient) else verified
    return _Outcome(path=list(path))


def _subject(name: str) -> verification.Subject:
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return verification.DNSName(name)  # type: ignore[attr-defined]
    return verification.IPAddress(address)  # type: ignore[attr-defined]


def _server_eku(
    _policy: verification.Policy, _cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None
) -> None:
    if eku is not None and ExtendedKeyUsageOID.SERVER_AUTH not in eku:
        msg = "required EKU not found"
        raise ValueError(msg)


def _ca_eku(
    _policy: verification.Policy, _cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None
) -> None:
    if eku is not None and not {
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    } & set(eku):
        msg = "required EKU not found"
        raise ValueError(msg)


def _nameless_policies() -> tuple[verification.ExtensionPolicy, verification.ExtensionPolicy]:
    """Build the server profile without its name check, for a client verifier.

    Extended key usages must still allow serverAuth; the SAN stays required.
    """
    ca = verification.ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, verification.Criticality.NON_CRITICAL, _ca_eku
    )
    ee = verification.ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.ExtendedKeyUsage, verification.Criticality.NON_CRITICAL, _server_eku
    )
    return ca, ee


def _bounded(text: str) -> str:
    """One line of at most _REASON_LENGTH characters."""
    line = " ".join(text.split())
    return line if len(line) <= _REASON_LENGTH else f"{line[: _REASON_LENGTH - 1]}…"


def _verifier_reason(error: str) -> str:
    """Strip the verifier's message of its prefix and of the certificate it quotes."""
    reason = error.removeprefix("validation failed: ")
    reason = reason.split(" (encountered processing", 1)[0]
    reason = reason.removeprefix("candidates exhausted: ")
    return _bounded(reason)


# -- names ----------------------------------------------------------------------------------------


def _judge_names(leaf: x509.Certificate, target: Target, strict: _Outcome) -> Judgement | None:
    """Explain a chain valid now that the verifier refused for the expected name.

    None when the verifier could not take the name and a SAN of the leaf names it.
    """
    expected = target.expected_name
    if not _has_san(leaf):
        return _no_san(leaf)
    if not matches_name(leaf, expected):
        names = ", ".join(certificate_names(leaf)) or "no names"
        return Judgement(
            Verdict.HOSTNAME_MISMATCH,
            f"the certificate is for {names}, not for {expected}",
            {"expected_name": expected, "names": names},
        )
    if strict.name_unusable:
        return None
    reason = _verifier_reason(strict.error)
    return Judgement(
        Verdict.CERTIFICATE_REJECTED,
        f"the certificate names {expected}, but clients refuse how it does ({reason}); "
        "reissue the certificate",
        {"subject": leaf.subject.rfc4514_string(), "reason": reason, "rule": "name_refused"},
    )


def _no_san(leaf: x509.Certificate) -> Judgement:
    subject = leaf.subject.rfc4514_string()
    return Judgement(
        Verdict.NO_SUBJECT_ALT_NAME,
        f"the certificate {subject} has no subject alternative name; browsers and the "
        "companion apps ignore the common name and refuse it: reissue it with the host "
        "name as a subject alternative name",
        {"subject": subject, "names": common_name(leaf) or subject},
    )


# -- explaining a refusal -------------------------------------------------------------------------


def _explain(
    served: _Served,
    trust: TrustStore,
    target: Target,
    now: datetime,
    error: str,
) -> Judgement:
    """Why the verifier refused the chain at every time and for any name."""
    leaf = served.certs[0]
    search = _PathSearch(served, trust)
    if not trust.contains(leaf) and leaf.subject == leaf.issuer and search.signed(leaf, leaf):
        return _self_signed(leaf)
    path = search.run()
    if path is None:
        return search.dead_end(leaf)
    return (
        _broken_rule(path, leaf, target)
        or _judge_time(path, leaf, target, now)
        or (None if _has_san(leaf) else _no_san(leaf))
        or _from_message(error, leaf)
    )


def _from_message(error: str, leaf: x509.Certificate) -> Judgement:
    """Classify the verifier's own words, when no rule of ours names the fault."""
    reason = _verifier_reason(error) or "no reason given"
    subject = leaf.subject.rfc4514_string()
    if any(phrase in error for phrase in _CONSTRAINT_MESSAGES) or "Exceeded maximum name" in error:
        return Judgement(
            Verdict.CHAIN_CONSTRAINT_VIOLATED,
            f"the chain breaks a constraint of its certificate authorities ({reason})",
            {"subject": subject, "reason": reason, "rule": "verifier"},
        )
    return Judgement(
        Verdict.CERTIFICATE_REJECTED,
        f"clients refuse the served chain ({reason})",
        {"subject": subject, "reason": reason, "rule": "verifier"},
    )


class _PathSearch:
    """Paths from the leaf to a trusted certificate, by names and signatures, backtracking.

    Bounded: MAX_CANDIDATES issuers per certificate, MAX_SEARCH_STEPS certificates expanded,
    MAX_SIGNATURE_CHECKS signatures verified (each pair once).
    """

    def __init__(self, served: _Served, trust: TrustStore) -> None:
        self._trust = trust
        self._served_names = served.names
        self._leaf = served.certs[0]
        self._by_subject: dict[x509.Name, list[x509.Certificate]] = {}
        for cert in served.certs[1:]:
            self._by_subject.setdefault(cert.subject, []).append(cert)
        self._signatures: dict[tuple[int, int], bool] = {}
        self._issuers: dict[int, list[x509.Certificate]] = {}
        self._signature_budget = MAX_SIGNATURE_CHECKS
        self._steps = MAX_SEARCH_STEPS
        self.exhausted = False
        self.untrusted_root: x509.Certificate | None = None
        self.missing: x509.Certificate | None = None
        self.too_long: x509.Certificate | None = None
        self.circle: x509.Certificate | None = None
        self.bad_signature: x509.Certificate | None = None

    def signed(self, cert: x509.Certificate, issuer: x509.Certificate) -> bool | None:
        """Whether `issuer` signed `cert`; None once the budget is spent."""
        key = (id(cert), id(issuer))
        if key not in self._signatures:
            if self._signature_budget <= 0:
                self.exhausted = True
                return None
            self._signature_budget -= 1
            self._signatures[key] = _signed_by(cert, issuer)
        return self._signatures[key]

    def run(self) -> list[x509.Certificate] | None:
        if self._trust.contains(self._leaf):
            return [self._leaf]
        return self._extend([self._leaf])

    def _candidates(self, cert: x509.Certificate) -> list[x509.Certificate]:
        if id(cert) not in self._issuers:
            self._issuers[id(cert)] = self._rank_issuers(cert)
        return self._issuers[id(cert)]

    def _rank_issuers(self, cert: x509.Certificate) -> list[x509.Certificate]:
        wanted = _key_identifier(cert)
        trusted = self._trust.by_subject.get(cert.issuer, ())
        served = self._by_subject.get(cert.issuer, ())
        # Trusted first; within each group, the issuer whose key identifier the cert names.
        ordered = [
            *sorted(trusted, key=lambda c: _subject_key_identifier(c) != wanted),
            *sorted(served, key=lambda c: _subject_key_identifier(c) != wanted),
        ]
        return ordered[:MAX_CANDIDATES]

    def _extend(self, path: list[x509.Certificate]) -> list[x509.Certificate] | None:
        current = path[-1]
        if len(path) > MAX_PATH_LENGTH:
            self.too_long = self.too_long or current
            return None
        if self._steps <= 0:
            self.exhausted = True
            return None
        self._steps -= 1
        named = self._candidates(current)
        candidates = [cert for cert in named if cert not in path]
        signed_any = False
        for candidate in candidates:
            signed = self.signed(current, candidate)
            if signed is None:
                return None
            if not signed:
                continue
            signed_any = True
            if self._trust.contains(candidate):
                return [*path, candidate]
            found = self._extend([*path, candidate])
            if found is not None or self.exhausted:
                return found
        if not signed_any:
            self._stopped_at(current, named=bool(named), unsigned=bool(candidates))
        return None

    def _stopped_at(self, current: x509.Certificate, *, named: bool, unsigned: bool) -> None:
        """Note why no issuer continues the path at `current`."""
        if current.subject == current.issuer and self.signed(current, current):
            self.untrusted_root = self.untrusted_root or current
        elif unsigned:  # certificates of the issuer's name, none of whose keys signed it
            self.bad_signature = self.bad_signature or current
        elif named:  # its issuers are on the path already
            self.circle = self.circle or current
        elif current.issuer in self._served_names:  # served, past MAX_SERVED
            self.too_long = self.too_long or current
        else:
            self.missing = self.missing or current

    def dead_end(self, leaf: x509.Certificate) -> Judgement:
        """Why no path reaches a trusted certificate."""
        if self.untrusted_root is not None:
            issuer = self.untrusted_root.subject.rfc4514_string()
            return Judgement(
                Verdict.UNTRUSTED_ISSUER,
                f"the chain ends in the root {issuer}, which is not trusted; use a certificate "
                "from a public authority, or add that root as the CA file",
                {"issuer": issuer},
            )
        if self.missing is not None:
            missing = self.missing.issuer.rfc4514_string()
            what = "the server's certificate" if self.missing is leaf else "a served intermediate"
            return Judgement(
                Verdict.INCOMPLETE_CHAIN,
                f"the issuer of {what}, {missing}, is neither sent by the server nor trusted; "
                "serve the full chain (fullchain.pem), or add that CA as the CA file if it is "
                "private",
                {"missing_issuer": missing, "issuer": missing},
            )
        if self.too_long is not None:
            return Judgement(
                Verdict.UNTRUSTED_ISSUER,
                f"the served chain goes on for more than {MAX_PATH_LENGTH} certificates "
                "without reaching a trusted root; clients give up on such a path",
                {"issuer": self.too_long.issuer.rfc4514_string()},
            )
        if self.circle is not None:
            return Judgement(
                Verdict.UNTRUSTED_ISSUER,
                "the served chain goes round in a circle (its certificates issue each other) "
                "without reaching a trusted root",
                {"issuer": self.circle.issuer.rfc4514_string()},
            )
        cert = self.bad_signature or leaf
        subject = cert.subject.rfc4514_string()
        if self.bad_signature is not None:
            detail = (
                f"the signature of {subject} does not verify with the key of any certificate "
                f"named {cert.issuer.rfc4514_string()}; the chain is forged or mixed up"
            )
        else:
            detail = "the served chain offers too many candidate issuers; clients give up on it"
        return Judgement(
            Verdict.CERTIFICATE_REJECTED,
            detail,
            {
                "subject": subject,
                "reason": "signature" if self.bad_signature else "too complex",
                "rule": "bad_signature" if self.bad_signature else "too_many_issuers",
            },
        )


def _extensions(cert: x509.Certificate) -> x509.Extensions | None:
    """Return the certificate's extensions; None when they cannot be parsed (a trusted one's)."""
    try:
        return cert.extensions
    except x509.DuplicateExtension, ValueError, TypeError:
        return None


def _extension(
    cert: x509.Certificate, kind: type[x509.ExtensionType]
) -> x509.Extension[Any] | None:
    extensions = _extensions(cert)
    if extensions is None:
        return None
    try:
        return extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound, ValueError, TypeError:
        return None


def _key_identifier(cert: x509.Certificate) -> bytes | None:
    found = _extension(cert, x509.AuthorityKeyIdentifier)
    return found.value.key_identifier if found is not None else None


def _subject_key_identifier(cert: x509.Certificate) -> bytes | None:
    found = _extension(cert, x509.SubjectKeyIdentifier)
    return found.value.digest if found is not None else None


# -- rules of RFC 5280 and the CA/Browser Forum profile, to name the one a path breaks ----------


def _broken_rule(
    path: Sequence[x509.Certificate], leaf: x509.Certificate, target: Target
) -> Judgement | None:
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
        f"{_label(cert, leaf, target)} {rule.text}",
        {"subject": cert.subject.rfc4514_string(), "reason": rule.text, "rule": rule.code},
    )


def _refused(cert: x509.Certificate, issued: x509.Certificate | None) -> Rule | None:  # noqa: PLR0911
    """Tell what makes the verifier refuse this certificate itself (encoding, key, algorithm)."""
    if cert.version is not x509.Version.v3:
        return Rule("version_1", "is an X.509 version 1 certificate; clients require version 3")
    serial = _serial(cert)
    if serial < 0:
        return Rule("negative_serial", "has a negative serial number, which RFC 5280 forbids")
    if serial.bit_length() // 8 + 1 > _MAX_SERIAL_OCTETS:
        return Rule(
            "long_serial", "has a serial number longer than 20 octets, which RFC 5280 forbids"
        )
    extensions = _extensions(cert)
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
    kind, _ = _key_description(cert)
    return Rule(
        "unsupported_key_type",
        f"has a {kind} key, which clients do not accept for a certificate authority",
    )


def _leaf_without_key_identifier(path: Sequence[x509.Certificate]) -> Rule | None:
    if len(path) > 1 and _key_identifier(path[0]) is None:
        return Rule(
            "no_authority_key_identifier",
            "lacks the authority key identifier extension, which the CA/Browser Forum profile "
            "requires of a server certificate",
        )
    return None


def _leaf_constraint(leaf: x509.Certificate) -> Rule | None:
    basic = _extension(leaf, x509.BasicConstraints)
    if basic is not None and basic.value.ca:
        return Rule(
            "ca_as_server_certificate",
            "is a CA certificate, not a server certificate; clients refuse it as one",
        )
    usage = _extension(leaf, x509.KeyUsage)
    if usage is not None and usage.value.key_cert_sign:
        return Rule(
            "server_may_sign",
            "may sign certificates (key usage keyCertSign); clients refuse it as a server's",
        )
    eku = _extension(leaf, x509.ExtendedKeyUsage)
    if eku is not None and ExtendedKeyUsageOID.SERVER_AUTH not in eku.value:
        return Rule(
            "not_for_tls_servers",
            "is not issued for TLS servers (its extended key usage lacks serverAuth)",
        )
    return None


def _ca_constraint(path: Sequence[x509.Certificate], index: int) -> Rule | None:  # noqa: PLR0911
    cert = path[index]
    basic = _extension(cert, x509.BasicConstraints)
    if basic is None or not basic.value.ca:
        return Rule(
            "not_a_ca", "is not a CA certificate, yet it issued the next certificate of the chain"
        )
    if not basic.critical:
        return Rule(
            "ca_constraints_not_critical",
            "does not mark its basic constraints critical, as RFC 5280 requires of a CA",
        )
    usage = _extension(cert, x509.KeyUsage)
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
    eku = _extension(cert, x509.ExtendedKeyUsage)
    if eku is not None and not {
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    } & set(eku.value):
        return Rule(
            "ca_not_for_tls_servers",
            "is not allowed to issue TLS server certificates (extended key usage)",
        )
    constraints = _extension(cert, x509.NameConstraints)
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
        found = _extension(cert, x509.SubjectAlternativeName)
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


# -- shared explanations -----------------------------------------------------------------------


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except ValueError:
        return _signed_with_old_hash(cert, issuer)
    except TypeError, InvalidSignature, UnsupportedAlgorithm:
        return False
    return True


def _signed_with_old_hash(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Check a signature whose algorithm `cryptography` no longer verifies (SHA-1), to name it."""
    if cert.issuer != issuer.subject:
        return False
    try:
        digest = cert.signature_hash_algorithm
        key = issuer.public_key()
        match key:
            case ec.EllipticCurvePublicKey() if digest is not None:
                key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(digest))
            case rsa.RSAPublicKey() if digest is not None:
                key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), digest)
            case _:
                return False
    except ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm:
        return False
    return True


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
        # The day count of the sensors: calendar days in the time zone of `now`.
        days = -days_until(not_after, now)
        expiry = not_after.astimezone(now.tzinfo)
        return Judgement(
            Verdict.CERTIFICATE_EXPIRED,
            f"{_label(cert, leaf, target)} expired {days} day{'s' if days != 1 else ''} ago "
            f"(not after {expiry:%Y-%m-%d})",
            {
                "days_expired": str(days),
                "subject": cert.subject.rfc4514_string(),
                "expiry": f"{expiry:%Y-%m-%d}",
            },
        )
    early = [cert for cert in path if now < cert.not_valid_before_utc]
    if early:
        cert = max(early, key=lambda c: c.not_valid_before_utc)
        not_before = cert.not_valid_before_utc
        wait = max(days_until(not_before, now), 0)
        return Judgement(
            Verdict.CERTIFICATE_NOT_YET_VALID,
            f"{_label(cert, leaf, target)} is not valid before {not_before:%Y-%m-%d %H:%M} UTC "
            f"(in {wait} day{'s' if wait != 1 else ''}); check the clocks of this host "
            "and the server",
            {"subject": cert.subject.rfc4514_string(), "not_before": not_before.isoformat()},
        )
    return None
