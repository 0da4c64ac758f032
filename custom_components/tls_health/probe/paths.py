"""Explaining a refusal: why no path from the leaf reaches a trusted certificate.

Paths are searched by names and signatures, within budgets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtensionOID

from .certificates import authority_key_identifier, has_san, subject_key_identifier
from .judgement import Judgement, judge_time, no_san, self_signed, verifier_reason
from .models import Target, Verdict
from .rules import broken_rule
from .trust import TrustStore

MAX_SERVED = 20  # real servers send 2 to 5 certificates
MAX_PATH_LENGTH = 10
MAX_CANDIDATES = 8  # issuers tried per certificate while explaining
MAX_SEARCH_STEPS = 64
MAX_SIGNATURE_CHECKS = 48
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


@dataclass(frozen=True, slots=True)
class Served:
    """The served certificates considered (distinct, at most MAX_SERVED), leaf first."""

    certs: list[x509.Certificate]
    names: frozenset[x509.Name]  # subjects of every served certificate, also those cut off


def distinct(certs: Sequence[x509.Certificate]) -> Served:
    """Drop repeated certificates and cut the served chain to MAX_SERVED."""
    seen: set[bytes] = set()
    considered: list[x509.Certificate] = []
    for cert in certs:
        fingerprint = cert.fingerprint(hashes.SHA256())
        if fingerprint not in seen and len(considered) < MAX_SERVED:
            seen.add(fingerprint)
            considered.append(cert)
    return Served(considered, frozenset(cert.subject for cert in certs))


def explain(
    served: Served,
    trust: TrustStore,
    target: Target,
    now: datetime,
    error: str,
) -> Judgement:
    """Why the verifier refused the chain at every time and for any name."""
    leaf = served.certs[0]
    search = _PathSearch(served, trust)
    if not trust.contains(leaf) and leaf.subject == leaf.issuer and search.signed(leaf, leaf):
        return self_signed(leaf)
    path = search.run()
    if path is None:
        return search.dead_end(leaf)
    return (
        broken_rule(path, leaf, target)
        or judge_time(path, leaf, target, now)
        or (None if has_san(leaf) else no_san(leaf))
        or _from_message(error, leaf)
    )


def _from_message(error: str, leaf: x509.Certificate) -> Judgement:
    """Classify the verifier's own words, when no rule of ours names the fault."""
    reason = verifier_reason(error) or "no reason given"
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

    def __init__(self, served: Served, trust: TrustStore) -> None:
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
        wanted = authority_key_identifier(cert)
        trusted = self._trust.by_subject.get(cert.issuer, ())
        served = self._by_subject.get(cert.issuer, ())
        # Trusted first; within each group, the issuer whose key identifier the cert names.
        ordered = [
            *sorted(trusted, key=lambda c: subject_key_identifier(c) != wanted),
            *sorted(served, key=lambda c: subject_key_identifier(c) != wanted),
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
