"""Typed, immutable results of one inspection of an HTTPS endpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
import ipaddress
from typing import Any, Final

from .inert import MAX_SHOWN, inert
from .lifetime import Lifetime
from .protocols import AppProtocol


class Verdict(StrEnum):
    """The one classification of a probe. Values are a public contract (sensor states)."""

    OK = "ok"
    CERTIFICATE_EXPIRED = "certificate_expired"
    CERTIFICATE_NOT_YET_VALID = "certificate_not_yet_valid"
    HOSTNAME_MISMATCH = "hostname_mismatch"
    SELF_SIGNED = "self_signed"
    UNTRUSTED_ISSUER = "untrusted_issuer"
    INCOMPLETE_CHAIN = "incomplete_chain"
    CHAIN_CONSTRAINT_VIOLATED = "chain_constraint_violated"
    CERTIFICATE_REJECTED = "certificate_rejected"
    NO_SUBJECT_ALT_NAME = "no_subject_alt_name"
    HANDSHAKE_FAILED = "handshake_failed"
    CONNECTION_REFUSED = "connection_refused"
    TIMEOUT = "timeout"
    DNS_FAILURE = "dns_failure"
    NETWORK_UNREACHABLE = "network_unreachable"
    # The server speaks its protocol but offers no STARTTLS: that traffic goes in plain text.
    STARTTLS_NOT_OFFERED = "starttls_not_offered"
    # A port meant for TLS from the first byte answers in plain text.
    PLAINTEXT_ON_TLS_PORT = "plaintext_on_tls_port"

    @property
    def reached_tls(self) -> bool:
        """Whether a certificate was received (the verdict judges it)."""
        return self not in UNREACHED_VERDICTS


UNREACHED_VERDICTS = frozenset(
    {
        Verdict.HANDSHAKE_FAILED,
        Verdict.CONNECTION_REFUSED,
        Verdict.TIMEOUT,
        Verdict.DNS_FAILURE,
        Verdict.NETWORK_UNREACHABLE,
        Verdict.STARTTLS_NOT_OFFERED,
        Verdict.PLAINTEXT_ON_TLS_PORT,
    }
)


DEFAULT_PORT = 443


def bracketed(host: str) -> str:
    """Host as it stands before a port: an IPv6 literal in brackets."""
    return f"[{host}]" if ":" in host else host


def days_until(moment: datetime, now: datetime) -> int:
    """Calendar days from `now` to `moment`, in `now`'s time zone, as a calendar shows them.

    0 on the day of `moment` until it passes, negative once it has passed: 3 days and a few
    minutes ago is -3, and 4 days and 23 hours ahead is 5 when that falls on the fifth date.
    """
    days = (moment.astimezone(now.tzinfo).date() - now.date()).days
    return -1 if days == 0 and moment <= now else days


def is_ip_address(value: str) -> bool:
    """Return True for an IPv4 or IPv6 literal (without brackets)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """What to inspect: host, port and protocol; optional SNI name, pinned IP and CA file."""

    host: str
    port: int = DEFAULT_PORT
    protocol: AppProtocol = AppProtocol.HTTPS
    server_name: str | None = None
    address: str | None = None
    ca_file: str | None = None

    @property
    def sni(self) -> str | None:
        """Name sent in SNI and checked against the certificate; None for a bare IP."""
        name = self.server_name or self.host
        return None if is_ip_address(name) else name

    @property
    def expected_name(self) -> str:
        """Name (DNS or IP) the certificate must cover."""
        return self.server_name or self.host


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeOptions:
    """What one probe does besides the handshake, and its time budget per step."""

    timeout: float = 10.0
    # TLS 1.0 and 1.1 handshakes in parallel; None: the protocol's default (HTTPS only).
    scan_legacy: bool | None = None
    check_http: bool = True  # GET / over HTTPS: status and HSTS (HTTPS only)
    check_redirect: bool = False  # whether http:// redirects to https:// (HTTPS only)
    http_port: int = 80
    # Revocation of the validated chain, from the CRL or OCSP responder its certificates name
    # (the CA learns which certificate is checked).
    check_revocation: bool = True
    # ACME Renewal Information (RFC 9773) for the leaf, from `acme_directory` or, when None, from
    # the directory of a well-known public ACME CA recognised from the issuer.
    check_renewal_info: bool = True
    acme_directory: str | None = None

    def scans_legacy(self, protocol: AppProtocol) -> bool:
        """Whether the legacy scan runs for this protocol."""
        return protocol.spec.scan_legacy if self.scan_legacy is None else self.scan_legacy

    def checks_http(self, protocol: AppProtocol) -> bool:
        """Whether GET / runs: only where HTTP is spoken."""
        return self.check_http and protocol.spec.http

    def checks_redirect(self, protocol: AppProtocol) -> bool:
        """Whether the http:// redirect is checked: only for HTTPS."""
        return self.check_redirect and protocol.spec.http


@dataclass(frozen=True, slots=True, kw_only=True)
class Timings:
    """Milliseconds per phase; None when the phase did not run."""

    dns_ms: float | None = None
    connect_ms: float | None = None
    starttls_ms: float | None = None  # the plain exchange before the handshake
    tls_ms: float | None = None
    http_ms: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateInfo:
    """One certificate of the served chain, as parsed with `cryptography`."""

    subject: str
    issuer: str
    # The issuer's first organization and common name, inert and at most MAX_SHOWN characters.
    issuer_organization: str | None
    issuer_common_name: str | None
    common_name: str | None
    sans: tuple[str, ...]
    serial: str
    not_before: datetime
    not_after: datetime
    key_type: str
    key_size: int | None
    signature_algorithm: str | None
    sha256: str
    is_ca: bool
    self_issued: bool


class RevocationState(StrEnum):
    """Whether a certificate is revoked. Values are a public contract (sensor states)."""

    GOOD = "good"
    REVOKED = "revoked"
    # No source, unreachable, unverifiable: never an alarm by itself.
    UNKNOWN = "unknown"


class RevocationSource(StrEnum):
    """Where a revocation status comes from."""

    CRL = "crl"
    OCSP = "ocsp"
    NONE = "none"


class RevocationReason(StrEnum):
    """Why the CA revoked a certificate (RFC 5280 CRLReason; absent is `unspecified`)."""

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "key_compromise"
    CA_COMPROMISE = "ca_compromise"
    AFFILIATION_CHANGED = "affiliation_changed"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessation_of_operation"
    CERTIFICATE_HOLD = "certificate_hold"
    PRIVILEGE_WITHDRAWN = "privilege_withdrawn"
    AA_COMPROMISE = "aa_compromise"

    @property
    def key_at_risk(self) -> bool:
        """Whether the private key (the certificate's or its CA's) may be known to others."""
        return self in {
            RevocationReason.KEY_COMPROMISE,
            RevocationReason.CA_COMPROMISE,
            RevocationReason.AA_COMPROMISE,
        }


class UnknownReason(StrEnum):
    """Why a revocation status or renewal information is unknown (never an alarm by itself)."""

    NO_SOURCE = "no_source"  # the certificate names no CRL or OCSP responder (http)
    NOT_VERIFIED = "not_verified"  # the chain is not validated: its issuer is not proven
    UNREACHABLE = "unreachable"  # connection, timeout or an HTTP error status
    TOO_LARGE = "too_large"  # the answer exceeds its size bound
    MALFORMED = "malformed"  # the answer cannot be parsed, or makes no sense
    UNVERIFIABLE = "unverifiable"  # signature, signer, issuer or certificate do not match
    STALE = "stale"  # outdated (past nextUpdate) or not yet valid (clocks?)
    UNKNOWN_TO_SOURCE = "unknown_to_source"  # OCSP `unknown`; ARI 404: not this CA's
    NOT_SUPPORTED = "not_supported"  # delta or indirect CRL, no renewalInfo, no key identifier


# A detail sentence quotes a URL or a name: longer than one value, still bounded.
MAX_DETAIL: Final = 1024


def _inert_fields(status: object, **limits: int) -> None:
    """Make the named text fields of a frozen dataclass inert, each within its limit."""
    for name, limit in limits.items():
        if isinstance(value := getattr(status, name), str):
            object.__setattr__(status, name, inert(value, limit))


@dataclass(frozen=True, slots=True, kw_only=True)
class RevocationStatus:
    """Revocation status of one certificate of the validated chain."""

    state: RevocationState
    source: RevocationSource = RevocationSource.NONE
    subject: str = ""  # the certificate it is about (RFC 4514)
    serial: str = ""  # its serial, hex, as in CertificateInfo
    reason: RevocationReason | None = None  # revoked only
    revoked_at: datetime | None = None  # revoked only
    unknown_reason: UnknownReason | None = None  # unknown only
    detail: str = ""  # one English sentence; names from the network are inert
    url: str | None = None  # the CRL or OCSP URL the answer came from (or failed)
    this_update: datetime | None = None  # of the CRL or OCSP response used
    next_update: datetime | None = None

    def __post_init__(self) -> None:
        """Keep what came from the network inert, however the status was made."""
        _inert_fields(self, subject=MAX_SHOWN, detail=MAX_DETAIL, url=MAX_SHOWN)


class RenewalPhase(StrEnum):
    """Where now lies against the CA's suggested renewal window."""

    BEFORE = "before"  # the window has not begun
    OPEN = "open"  # renew now or soon: the window has begun
    PASSED = "passed"  # the window has ended: the CA asks for renewal now


@dataclass(frozen=True, slots=True, kw_only=True)
class RenewalInfo:
    """The CA's suggested renewal window for the leaf (ACME Renewal Information, RFC 9773).

    Known when `window_start` and `window_end` are set; otherwise `unknown_reason` says why.
    """

    window_start: datetime | None = None
    window_end: datetime | None = None
    explanation_url: str | None = None  # the CA's page on why (https only; inert)
    ca: str | None = None  # the well-known CA recognised from the issuer; None when configured
    directory: str | None = None  # the ACME directory asked
    url: str | None = None  # the renewalInfo URL of this certificate
    fetched_at: datetime | None = None  # when the CA answered (answers are reused until next_ask)
    next_ask: datetime | None = None  # the CA is not asked again before (Retry-After, bounded)
    unknown_reason: UnknownReason | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        """Keep what came from the network inert, however the answer was made."""
        _inert_fields(self, url=MAX_SHOWN, explanation_url=MAX_SHOWN, detail=MAX_DETAIL)

    @property
    def known(self) -> bool:
        """Whether the CA gave a usable window."""
        return self.window_start is not None and self.window_end is not None

    def phase(self, now: datetime) -> RenewalPhase | None:
        """Before, within or after the window at `now`; None when unknown."""
        if self.window_start is None or self.window_end is None:
            return None
        if now < self.window_start:
            return RenewalPhase.BEFORE
        return RenewalPhase.OPEN if now < self.window_end else RenewalPhase.PASSED


@dataclass(frozen=True, slots=True, kw_only=True)
class ProtocolSupport:
    """Which protocol versions the server accepts; None when not tested or undetermined."""

    tls1_0: bool | None = None
    tls1_1: bool | None = None
    tls1_3: bool | None = None

    @property
    def legacy_enabled(self) -> bool:
        """Whether TLS 1.0 or 1.1 is accepted."""
        return bool(self.tls1_0 or self.tls1_1)


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpInfo:
    """The HTTP answer on the same URL."""

    status: int | None = None
    hsts: bool = False
    hsts_max_age: int | None = None
    redirects_to_https: bool | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AddressCheck:
    """One address of a name that has several, checked on its own (connect and handshake)."""

    address: str
    verdict: Verdict
    detail: str
    # The address the probe's main connection used.
    main: bool = False
    # The report's verdict and chain are this address's: of the addresses that served a
    # certificate, the worst verdict, then the earliest expiry, then the lowest address.
    reported: bool = False
    # Fingerprint of the served leaf; None when no certificate was received.
    sha256: str | None = None
    # Validity of the certificate of its chain that expires first.
    not_before: datetime | None = None
    not_after: datetime | None = None
    tls_ms: float | None = None

    @property
    def lifetime(self) -> Lifetime | None:
        """Lifetime of the certificate of its chain that expires first."""
        if self.not_before is None or self.not_after is None:
            return None
        return Lifetime(self.not_before, self.not_after)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeReport:
    """Everything one probe found. `details` fills the placeholders of translated texts."""

    target: Target
    checked_at: datetime
    verdict: Verdict
    detail: str
    details: dict[str, str] = field(default_factory=dict)
    address: str | None = None
    timings: Timings = field(default_factory=Timings)
    tls_version: str | None = None
    cipher: str | None = None
    alpn: str | None = None
    protocols: ProtocolSupport = field(default_factory=ProtocolSupport)
    chain: tuple[CertificateInfo, ...] = ()
    chain_in_order: bool | None = None
    placeholder: bool = False
    http: HttpInfo | None = None
    # Every address of the name (at most MAX_ADDRESSES), the main one first; empty for one address.
    addresses: tuple[AddressCheck, ...] = ()
    # Addresses of the name beyond those checked (not in `addresses`; when no connection was
    # made, those not even tried).
    addresses_left_out: int = 0
    # The chain's revocation status: the first revoked certificate of the validated path, else
    # the leaf's. None when not checked (switched off, or no certificate received).
    revocation: RevocationStatus | None = None
    # Every certificate checked: the leaf, then each intermediate that names a CRL.
    revocation_chain: tuple[RevocationStatus, ...] = ()
    # None when not asked (switched off, no certificate, or no ACME directory known for it).
    renewal_info: RenewalInfo | None = None

    @property
    def leaf(self) -> CertificateInfo | None:
        """The server's own certificate."""
        return self.chain[0] if self.chain else None

    @property
    def earliest_expiry(self) -> datetime | None:
        """The first not_after of the served chain (an intermediate may expire first)."""
        return min((cert.not_after for cert in self.chain), default=None)

    @property
    def lifetime(self) -> Lifetime | None:
        """Validity period of the certificate of the served chain that expires first."""
        first = min(self.chain, key=lambda cert: cert.not_after, default=None)
        return None if first is None else Lifetime(first.not_before, first.not_after)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: the stable schema of `scripts/probe --json` and `tls_health.inspect`."""
        data = asdict(self)
        data["checked_at"] = self.checked_at.isoformat()
        data["earliest_expiry"] = _iso(self.earliest_expiry)
        data["lifetime"] = None if (lifetime := self.lifetime) is None else lifetime.as_dict()
        data["target"]["ca_file"] = self.target.ca_file
        for cert in data["chain"]:
            cert["not_before"] = cert["not_before"].isoformat()
            cert["not_after"] = cert["not_after"].isoformat()
            cert["sans"] = list(cert["sans"])
        data["chain"] = list(data["chain"])
        data["addresses"] = [
            {
                **item,
                "verdict": str(item["verdict"]),
                "not_before": _iso(item["not_before"]),
                "not_after": _iso(item["not_after"]),
            }
            for item in data["addresses"]
        ]
        data["verdict"] = str(self.verdict)
        data["target"]["protocol"] = str(self.target.protocol)
        data["revocation"] = _revocation(self.revocation)
        data["revocation_chain"] = [_revocation(status) for status in self.revocation_chain]
        data["renewal_info"] = _renewal_info(self.renewal_info)
        return data


def _revocation(status: RevocationStatus | None) -> dict[str, Any] | None:
    if status is None:
        return None
    return {
        "state": str(status.state),
        "source": str(status.source),
        "subject": status.subject,
        "serial": status.serial,
        "reason": None if status.reason is None else str(status.reason),
        "revoked_at": _iso(status.revoked_at),
        "unknown_reason": None if status.unknown_reason is None else str(status.unknown_reason),
        "detail": status.detail,
        "url": status.url,
        "this_update": _iso(status.this_update),
        "next_update": _iso(status.next_update),
    }


def _renewal_info(info: RenewalInfo | None) -> dict[str, Any] | None:
    if info is None:
        return None
    return {
        "window_start": _iso(info.window_start),
        "window_end": _iso(info.window_end),
        "explanation_url": info.explanation_url,
        "ca": info.ca,
        "directory": info.directory,
        "url": info.url,
        "fetched_at": _iso(info.fetched_at),
        "next_ask": _iso(info.next_ask),
        "unknown_reason": None if info.unknown_reason is None else str(info.unknown_reason),
        "detail": info.detail,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
