"""The verdict on a served chain and the sentences shared by the steps that explain it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509

from .certificates import common_name
from .models import Target, Verdict, days_until
from .names import PLACEHOLDER_NAMES, certificate_names

REASON_LENGTH = 200


@dataclass(slots=True)
class Judgement:
    """The verdict on a served chain, with its sentence and translation placeholders."""

    verdict: Verdict
    detail: str
    details: dict[str, str] = field(default_factory=dict)
    placeholder: bool = False
    # The path the verifier validated (leaf first, at some time, for some name); empty when none.
    path: tuple[x509.Certificate, ...] = ()


def bounded(text: str) -> str:
    """One line of at most REASON_LENGTH characters."""
    line = " ".join(text.split())
    return line if len(line) <= REASON_LENGTH else f"{line[: REASON_LENGTH - 1]}…"


def verifier_reason(error: str) -> str:
    """Strip the verifier's message of its prefix and of the certificate it quotes."""
    reason = error.removeprefix("validation failed: ")
    reason = reason.split(" (encountered processing", 1)[0]
    reason = reason.removeprefix("candidates exhausted: ")
    return bounded(reason)


def no_san(leaf: x509.Certificate) -> Judgement:
    """Judge a leaf without a subject alternative name, which clients refuse."""
    subject = leaf.subject.rfc4514_string()
    return Judgement(
        Verdict.NO_SUBJECT_ALT_NAME,
        f"the certificate {subject} has no subject alternative name; browsers and the "
        "companion apps ignore the common name and refuse it: reissue it with the host "
        "name as a subject alternative name",
        {"subject": subject, "names": common_name(leaf) or subject},
    )


def self_signed(leaf: x509.Certificate) -> Judgement:
    """Judge a self-signed leaf nobody trusts; tell a proxy's or appliance's placeholder apart."""
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


def label(cert: x509.Certificate, leaf: x509.Certificate, target: Target) -> str:
    """Name a certificate of the chain as a sentence does."""
    if cert is leaf:
        return f"certificate for {target.expected_name}"
    kind = "root" if cert.subject == cert.issuer else "intermediate"
    return f"{kind} certificate {common_name(cert) or cert.subject.rfc4514_string()}"


def judge_time(
    path: Sequence[x509.Certificate], leaf: x509.Certificate, target: Target, now: datetime
) -> Judgement | None:
    """Judge an expired or not yet valid certificate of the path; None when all are valid."""
    expired = [cert for cert in path if now > cert.not_valid_after_utc]
    if expired:
        cert = min(expired, key=lambda c: c.not_valid_after_utc)
        not_after = cert.not_valid_after_utc
        # The day count of the sensors: calendar days in the time zone of `now`.
        days = -days_until(not_after, now)
        expiry = not_after.astimezone(now.tzinfo)
        return Judgement(
            Verdict.CERTIFICATE_EXPIRED,
            f"{label(cert, leaf, target)} expired {days} day{'s' if days != 1 else ''} ago "
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
            f"{label(cert, leaf, target)} is not valid before {not_before:%Y-%m-%d %H:%M} UTC "
            f"(in {wait} day{'s' if wait != 1 else ''}); check the clocks of this host "
            "and the server",
            {"subject": cert.subject.rfc4514_string(), "not_before": not_before.isoformat()},
        )
    return None
