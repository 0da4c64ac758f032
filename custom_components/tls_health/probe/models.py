"""Typed, immutable results of one inspection of an HTTPS endpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
import ipaddress
from typing import Any

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
    # The address the probe's main connection used (its verdict is the report's).
    main: bool = False
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
        return data


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
