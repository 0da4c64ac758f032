"""Judging a served chain with `cryptography`: the verifier decides, the other modules explain.

`ok` comes only from `cryptography`'s verifier (RFC 5280 path validation with the CA/Browser
Forum profile), run for the expected name at the time of the probe. Everything else explains a
refusal: which certificate, which rule. It never turns a refusal into `ok`. (A name the verifier
cannot take at all, one with an underscore, is `ok` only when it validated the chain at that
time for the leaf's names and a SAN covers the expected name.)

What a served chain can cost is bounded: at most MAX_SERVED distinct certificates are
considered, the verifier stops after its own signature budget, and the explanation search has
budgets of its own (`paths`). Everything here is synchronous and CPU-bound: callers run `assess`
in an executor; the verifier releases the GIL while it works.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
import ipaddress

from cryptography import x509
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

from .certificates import (
    UnparsableCertificateError,
    chain_in_order,
    describe,
    has_san,
    parse_certificates,
)
from .judgement import Judgement, bounded, judge_time, no_san, verifier_reason
from .models import CertificateInfo, Target, Verdict
from .names import certificate_names, matches_name
from .paths import distinct, explain
from .trust import TrustStore


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the served certificates say: the judgement and each certificate described."""

    judgement: Judgement
    chain: tuple[CertificateInfo, ...] = ()
    in_order: bool | None = None
    leaf: x509.Certificate | None = None

    @property
    def path(self) -> tuple[x509.Certificate, ...]:
        """The validated path, leaf first; empty when the verifier validated none."""
        return self.judgement.path


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
        reason = bounded(str(err))
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
            certs[0],
        )
    except Exception as err:  # noqa: BLE001 - whatever a server sends ends in a verdict
        reason = bounded(f"{type(err).__name__}: {err}")
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
    served = distinct(certs)
    leaf, pool = served.certs[0], served.certs[1:]
    ok = Judgement(
        Verdict.OK,
        f"certificate for {target.expected_name} is trusted and valid until "
        f"{min(cert.not_valid_after_utc for cert in certs):%Y-%m-%d}",
    )
    strict = _verify(trust, leaf, pool, now, target.expected_name.rstrip("."))
    if strict.path is not None:
        ok.path = tuple(strict.path)
        return ok
    if strict.gave_up:
        return explain(served, trust, target, now, strict.error)
    anywhere = _verify(trust, leaf, pool, now, None)
    if anywhere.path is not None:
        # Valid now for some name: the expected one is the problem, unless the verifier could
        # not take it at all (an underscore) and the certificate names it exactly.
        found = _judge_names(leaf, target, strict) or ok
        found.path = tuple(anywhere.path)
        return found
    # The verifier's words without the name and the time in them tell the rule best.
    reason = anywhere.error
    for moment in _moments(served.certs):
        relaxed = _verify(trust, leaf, pool, moment, None)
        if relaxed.path is not None:
            timed = judge_time(relaxed.path, leaf, target, now)
            if timed is not None:
                timed.path = tuple(relaxed.path)
                return timed
            break
        reason = relaxed.error or reason
    return explain(served, trust, target, now, reason)


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


def _judge_names(leaf: x509.Certificate, target: Target, strict: _Outcome) -> Judgement | None:
    """Explain a chain valid now that the verifier refused for the expected name.

    None when the verifier could not take the name and a SAN of the leaf names it.
    """
    expected = target.expected_name
    if not has_san(leaf):
        return no_san(leaf)
    if not matches_name(leaf, expected):
        names = ", ".join(certificate_names(leaf)) or "no names"
        return Judgement(
            Verdict.HOSTNAME_MISMATCH,
            f"the certificate is for {names}, not for {expected}",
            {"expected_name": expected, "names": names},
        )
    if strict.name_unusable:
        return None
    reason = verifier_reason(strict.error)
    return Judgement(
        Verdict.CERTIFICATE_REJECTED,
        f"the certificate names {expected}, but clients refuse how it does ({reason}); "
        "reissue the certificate",
        {"subject": leaf.subject.rfc4514_string(), "reason": reason, "rule": "name_refused"},
    )
