"""Every repair TLS Health can raise, declared once: family, severity, confirmation, fix, texts.

A new repair is one entry here, its texts in strings.json and translations, and its detection.
`issues.py` is the only module that writes the issue registry; it reads these entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from homeassistant.helpers.issue_registry import IssueSeverity


class Family(StrEnum):
    """Where a repair comes from, which decides its issue id and how it is confirmed."""

    ENDPOINT = "endpoint"  # an endpoint's certificate, protocols and reachability
    PROXY = "proxy"  # what this Home Assistant receives through an endpoint's reverse proxy
    TRAFFIC = "traffic"  # refusals of HA's forwarded middleware seen in real traffic
    HOME_ASSISTANT = "home_assistant"  # Home Assistant's own certificate files and http settings

    @property
    def per_entry(self) -> bool:
        """Whether each endpoint has its own issue (id `<key>_<entry_id>`)."""
        return self in (Family.ENDPOINT, Family.PROXY)


# Placeholders each family's detection provides; `title` is the entry's title.
ENDPOINT_PLACEHOLDERS: Final = frozenset(
    {
        "title",
        "host",
        "endpoint",
        "detail",
        "expected_name",
        "names",
        "subject",
        "issuer",
        "missing_issuer",
        "days",
        "days_expired",
        "expiry",
        "expires_at",
        "renew_by",
        "versions",
        "cause",
        "fault",
        "not_before",
        "scheme",
    }
)
# A proxy finding's own values: the Host that arrived, the trusted range at fault, the chain HA
# received, the status the proxy answered, how HA itself listens, and when HA's saved HTTP
# settings were saved, when their trial ends, and the address only they trust.
PROXY_PLACEHOLDERS: Final = ENDPOINT_PLACEHOLDERS | {
    "proxy_address",
    "trusted_entry",
    "seen_host",
    "networks",
    "chain",
    "status",
    "scheme",
    "port",
    "hop",
    "previous_hop",
    "hop_entry",
    "previous_address",
    "saved_at",
    "revert_at",
    "trusted_address",
}
# Placeholders whose values a server chooses: texts show them only inside code spans.
NETWORK_PLACEHOLDERS: Final = frozenset(
    {
        "detail",
        "names",
        "subject",
        "issuer",
        "missing_issuer",
        "cause",
        "fault",
        "seen_host",
        "served_address",
        "addresses",
        "chain",
        "revoked_subject",
        "explanation_url",
    }
)
# What the CA said: the certificate it revoked, why (RFC 5280 reason name) and when, and from where.
REVOCATION_PLACEHOLDERS: Final = frozenset(
    {"revoked_subject", "serial", "revocation_reason", "revoked_at", "revocation_source"}
)
# Refused traffic is counted, never named: no check proved any of its addresses.
TRAFFIC_PLACEHOLDERS: Final = frozenset({"count", "sources", "public"})

CONFIRMATIONS: Final = 2  # consecutive checks that must agree before an endpoint repair is raised
UNREACHABLE_CONFIRMATIONS: Final = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Repair:
    """One repair: its key (also its translation key unless `texts` say otherwise)."""

    key: str
    family: Family
    severity: IssueSeverity
    # Detection may raise it as an error when it is critical (e.g. expiry close).
    escalates: bool = False
    confirmations: int = 1
    fixable: bool = False
    placeholders: frozenset[str] = frozenset()
    # Translation keys it may be shown with; the first is the default.
    texts: tuple[str, ...] = ()
    # Issues to delete when this one is raised (one problem, one repair).
    supersedes: tuple[str, ...] = ()

    @property
    def translation_key(self) -> str:
        """The text shown unless detection picks another of `texts`."""
        return self.texts[0] if self.texts else self.key

    def severity_of(self, *, critical: bool) -> IssueSeverity:
        """Severity of one occurrence."""
        return IssueSeverity.ERROR if critical and self.escalates else self.severity

    def issue_id(self, entry_id: str | None) -> str:
        """Issue id: per entry for endpoint families, the key itself otherwise."""
        if self.family.per_entry:
            if entry_id is None:
                raise ValueError(f"{self.key} belongs to an entry")
            return f"{self.key}_{entry_id}"
        return self.key


def _endpoint(
    key: str,
    severity: IssueSeverity = IssueSeverity.ERROR,
    *,
    escalates: bool = False,
    confirmations: int = CONFIRMATIONS,
    texts: tuple[str, ...] = (),
) -> Repair:
    return Repair(
        key=key,
        family=Family.ENDPOINT,
        severity=severity,
        escalates=escalates,
        confirmations=confirmations,
        placeholders=ENDPOINT_PLACEHOLDERS,
        texts=texts,
    )


def _proxy(
    key: str,
    severity: IssueSeverity,
    *,
    supersedes: tuple[str, ...] = (),
    texts: tuple[str, ...] = (),
    confirmations: int = CONFIRMATIONS,
) -> Repair:
    return Repair(
        key=key,
        family=Family.PROXY,
        severity=severity,
        confirmations=confirmations,
        placeholders=PROXY_PLACEHOLDERS,
        supersedes=supersedes,
        texts=texts,
    )


def _home_assistant(
    key: str,
    *placeholders: str,
    severity: IssueSeverity = IssueSeverity.ERROR,
    escalates: bool = False,
    fixable: bool = False,
    texts: tuple[str, ...] = (),
) -> Repair:
    return Repair(
        key=key,
        family=Family.HOME_ASSISTANT,
        severity=severity,
        escalates=escalates,
        fixable=fixable,
        placeholders=frozenset(placeholders),
        texts=texts,
    )


def _traffic(proxy_key: str, text: str) -> Repair:
    # A warning: no check proved the address to be a proxy in front of this HA.
    return Repair(
        key=f"{proxy_key}_traffic",
        family=Family.TRAFFIC,
        severity=IssueSeverity.WARNING,
        placeholders=TRAFFIC_PLACEHOLDERS,
        texts=(text,),
    )


# Endpoint: certificate, protocols, reachability.
# `_service` texts: where MQTT, mail, directory and database servers keep their certificate.
CERTIFICATE_EXPIRED: Final = _endpoint(
    "certificate_expired", texts=("certificate_expired", "certificate_expired_service")
)
CERTIFICATE_NOT_YET_VALID: Final = _endpoint("certificate_not_yet_valid")
HOSTNAME_MISMATCH: Final = _endpoint("hostname_mismatch")
INCOMPLETE_CHAIN: Final = _endpoint("incomplete_chain")
SELF_SIGNED_CERTIFICATE: Final = _endpoint("self_signed_certificate")
UNTRUSTED_CERTIFICATE: Final = _endpoint("untrusted_certificate")
CHAIN_CONSTRAINT_VIOLATED: Final = _endpoint("chain_constraint_violated")
CERTIFICATE_REJECTED: Final = _endpoint("certificate_rejected")
NO_SUBJECT_ALT_NAME: Final = _endpoint("no_subject_alt_name")
CERTIFICATE_EXPIRING_SOON: Final = _endpoint(
    "certificate_expiring_soon",
    IssueSeverity.WARNING,
    escalates=True,
    texts=("certificate_expiring_soon", "certificate_expiring_soon_service"),
)
# A certificate renewed automatically (at most 200 days of lifetime) still served past its renewal.
CERTIFICATE_RENEWAL_OVERDUE: Final = _endpoint(
    "certificate_renewal_overdue", IssueSeverity.WARNING, escalates=True
)
# Addresses of the endpoint's name that disagree with the one the check connected to.
# Only these texts name addresses: other repairs are not rewritten when the address changes.
ADDRESS_NOT_ANSWERING: Final = Repair(
    key="address_not_answering",
    family=Family.ENDPOINT,
    severity=IssueSeverity.WARNING,
    confirmations=UNREACHABLE_CONFIRMATIONS,
    placeholders=ENDPOINT_PLACEHOLDERS | {"served_address", "addresses"},
)
ADDRESS_OTHER_CERTIFICATE: Final = Repair(
    key="address_other_certificate",
    family=Family.ENDPOINT,
    severity=IssueSeverity.WARNING,
    escalates=True,
    confirmations=CONFIRMATIONS,
    placeholders=ENDPOINT_PLACEHOLDERS | {"addresses"},
)
# The certificate file named in the options is newer than the certificate served.
STALE_SERVED_CERTIFICATE: Final = Repair(
    key="stale_served_certificate",
    family=Family.ENDPOINT,
    severity=IssueSeverity.WARNING,
    confirmations=CONFIRMATIONS,
    placeholders=ENDPOINT_PLACEHOLDERS | {"path", "served_until", "file_until"},
)
# The CA revoked a certificate of the validated chain, proven by its signed CRL or OCSP answer:
# one check is enough. The second text when the reason says that a key may be known to others.
CERTIFICATE_REVOKED: Final = Repair(
    key="certificate_revoked",
    family=Family.ENDPOINT,
    severity=IssueSeverity.ERROR,
    placeholders=ENDPOINT_PLACEHOLDERS | REVOCATION_PLACEHOLDERS,
    texts=("certificate_revoked", "certificate_revoked_key_compromise"),
)
# The CA's suggested renewal window (ACME Renewal Information) ended and the certificate is still
# served; the second text when the CA links a page that explains why.
RENEWAL_REQUESTED_BY_CA: Final = Repair(
    key="renewal_requested_by_ca",
    family=Family.ENDPOINT,
    severity=IssueSeverity.WARNING,
    escalates=True,
    placeholders=ENDPOINT_PLACEHOLDERS | {"window_start", "window_end", "explanation_url"},
    texts=("renewal_requested_by_ca", "renewal_requested_by_ca_explained"),
)
LEGACY_TLS_ENABLED: Final = _endpoint("legacy_tls_enabled", IssueSeverity.WARNING)
ENDPOINT_UNREACHABLE: Final = _endpoint(
    "endpoint_unreachable", confirmations=UNREACHABLE_CONFIRMATIONS
)
# The server answered, in plain text: no certificate to judge, and traffic is not protected.
STARTTLS_NOT_OFFERED: Final = _endpoint("starttls_not_offered")
PLAINTEXT_ON_TLS_PORT: Final = _endpoint("plaintext_on_tls_port")

# Endpoint: its reverse proxy, as this Home Assistant receives it.
# `_public` texts: the proven proxy address is a public one, which no text advises trusting.
# `_saved` texts: HA's saved settings fix it once applied; `_reverted`: settings that fixed it
# were tried and reverted because nobody confirmed them.
REVERSE_PROXY_SUPPORT_DISABLED: Final = _proxy(
    "reverse_proxy_support_disabled",
    IssueSeverity.ERROR,
    supersedes=("reverse_proxy_support_disabled_traffic",),
    texts=(
        "reverse_proxy_support_disabled",
        "reverse_proxy_support_disabled_public",
        "reverse_proxy_support_disabled_saved",
        "reverse_proxy_support_disabled_reverted",
    ),
)
REVERSE_PROXY_NOT_TRUSTED: Final = _proxy(
    "reverse_proxy_not_trusted",
    IssueSeverity.ERROR,
    supersedes=("reverse_proxy_not_trusted_traffic",),
    texts=(
        "reverse_proxy_not_trusted",
        "reverse_proxy_not_trusted_public",
        "reverse_proxy_not_trusted_moved",
        "reverse_proxy_not_trusted_saved",
        "reverse_proxy_not_trusted_reverted",
    ),
)
FORWARDED_FOR_MISSING: Final = _proxy(
    "forwarded_for_missing",
    IssueSeverity.WARNING,
    texts=("forwarded_for_missing", "forwarded_for_missing_public", "forwarded_for_missing_saved"),
)
FORWARDED_PROTO_MISSING: Final = _proxy("forwarded_proto_missing", IssueSeverity.WARNING)
HOST_NOT_FORWARDED: Final = _proxy("host_not_forwarded", IssueSeverity.WARNING)
# The proxy passes the client's value through, or (second text) a trusted range holds clients.
CLIENT_IP_SPOOFABLE: Final = _proxy(
    "client_ip_spoofable",
    IssueSeverity.ERROR,
    texts=(
        "client_ip_spoofable",
        "client_ip_spoofable_range",
        "client_ip_spoofable_range_public",
        "client_ip_spoofable_outer",
    ),
)
# Home Assistant settles on a hop in front of the proxy: every client looks like that hop.
OUTER_HOP_NOT_TRUSTED: Final = _proxy(
    "outer_hop_not_trusted",
    IssueSeverity.WARNING,
    texts=(
        "outer_hop_not_trusted",
        "outer_hop_not_trusted_public",
        "outer_hop_not_trusted_passes_through",
        "outer_hop_not_trusted_passes_through_public",
        "outer_hop_not_trusted_moved",
        "outer_hop_not_trusted_saved",
        "outer_hop_not_trusted_reverted",
    ),
)
WEBSOCKET_NOT_PROXIED: Final = _proxy("websocket_not_proxied", IssueSeverity.ERROR)
UPSTREAM_UNREACHABLE: Final = _proxy("upstream_unreachable", IssueSeverity.ERROR)
# Home Assistant banned the address it took for the check's own requests: the proxy's own
# (`_public`: one no text advises trusting), a hop in front of the proxy (`_in_front`), this
# host's own address while HA sees through the path (`_client`), or another address the check's
# requests entered the path from (`_sender`: a router, or a forwarder that adds nothing).
PROXY_BANNED: Final = Repair(
    key="proxy_banned",
    family=Family.PROXY,
    severity=IssueSeverity.ERROR,
    confirmations=CONFIRMATIONS,
    placeholders=PROXY_PLACEHOLDERS | {"banned_address", "banned_at"},
    texts=(
        "proxy_banned",
        "proxy_banned_public",
        "proxy_banned_in_front",
        "proxy_banned_client",
        "proxy_banned_sender",
    ),
)
# The proxy works only thanks to HTTP settings on trial, which HA reverts unless confirmed. Read
# from HA itself, not from the network: one check is enough. Texts by what the stable settings
# would do: turn support off (the default text), not trust the proxy, settle on a hop; and one
# for a public address, which no text advises keeping trusted.
PROXY_SETTINGS_ON_TRIAL: Final = _proxy(
    "proxy_settings_on_trial",
    IssueSeverity.WARNING,
    confirmations=1,
    texts=(
        "proxy_settings_on_trial",
        "proxy_settings_on_trial_not_trusted",
        "proxy_settings_on_trial_hop",
        "proxy_settings_on_trial_public",
    ),
)

# Real traffic refused by HA's forwarded middleware, while no endpoint check reports it.
REVERSE_PROXY_SUPPORT_DISABLED_TRAFFIC: Final = _traffic(
    REVERSE_PROXY_SUPPORT_DISABLED.key, "traffic_refused_support_disabled"
)
REVERSE_PROXY_NOT_TRUSTED_TRAFFIC: Final = _traffic(
    REVERSE_PROXY_NOT_TRUSTED.key, "traffic_refused_not_trusted"
)

# Home Assistant itself: its certificate files, its listener and its http settings.
CERTIFICATE_FILE_UNREADABLE: Final = _home_assistant(
    "certificate_file_unreadable",
    "path",
    "reason",
    texts=(
        "certificate_file_unreadable",
        "certificate_file_missing",
        "certificate_file_missing_in_container",
        "certificate_file_not_permitted",
        "certificate_file_invalid",
    ),
)
CERTIFICATE_KEY_MISMATCH: Final = _home_assistant("certificate_key_mismatch", "path", "key_path")
STALE_CERTIFICATE: Final = _home_assistant(
    "stale_certificate", "path", "served_until", "file_until", fixable=True
)
# Its expiry is judged as an endpoint's: by its lifetime, or by fixed days when it is long.
CERTIFICATE_FILE_EXPIRING: Final = _home_assistant(
    "certificate_file_expiring",
    "path",
    "expiry",
    "days",
    severity=IssueSeverity.WARNING,
    escalates=True,
)
CERTIFICATE_FILE_RENEWAL_OVERDUE: Final = _home_assistant(
    "certificate_file_renewal_overdue",
    "path",
    "expiry",
    "days",
    "expires_at",
    "renew_by",
    severity=IssueSeverity.WARNING,
    escalates=True,
)
CERTIFICATE_FILE_EXPIRED: Final = _home_assistant(
    "certificate_file_expired", "path", "expiry", "days_expired"
)
CERTIFICATE_FILE_REVOKED: Final = _home_assistant(
    "certificate_file_revoked",
    "path",
    *sorted(REVOCATION_PLACEHOLDERS),
    texts=("certificate_file_revoked", "certificate_file_revoked_key_compromise"),
)
TRUSTED_PROXIES_TOO_BROAD: Final = _home_assistant("trusted_proxies_too_broad", "networks")

REPAIRS: Final[Mapping[str, Repair]] = {
    repair.key: repair
    for repair in (
        CERTIFICATE_EXPIRED,
        CERTIFICATE_NOT_YET_VALID,
        HOSTNAME_MISMATCH,
        INCOMPLETE_CHAIN,
        SELF_SIGNED_CERTIFICATE,
        UNTRUSTED_CERTIFICATE,
        CHAIN_CONSTRAINT_VIOLATED,
        CERTIFICATE_REJECTED,
        NO_SUBJECT_ALT_NAME,
        CERTIFICATE_EXPIRING_SOON,
        CERTIFICATE_RENEWAL_OVERDUE,
        ADDRESS_NOT_ANSWERING,
        ADDRESS_OTHER_CERTIFICATE,
        STALE_SERVED_CERTIFICATE,
        CERTIFICATE_REVOKED,
        RENEWAL_REQUESTED_BY_CA,
        LEGACY_TLS_ENABLED,
        ENDPOINT_UNREACHABLE,
        STARTTLS_NOT_OFFERED,
        PLAINTEXT_ON_TLS_PORT,
        REVERSE_PROXY_SUPPORT_DISABLED,
        REVERSE_PROXY_NOT_TRUSTED,
        FORWARDED_FOR_MISSING,
        FORWARDED_PROTO_MISSING,
        HOST_NOT_FORWARDED,
        CLIENT_IP_SPOOFABLE,
        OUTER_HOP_NOT_TRUSTED,
        WEBSOCKET_NOT_PROXIED,
        UPSTREAM_UNREACHABLE,
        PROXY_BANNED,
        PROXY_SETTINGS_ON_TRIAL,
        REVERSE_PROXY_SUPPORT_DISABLED_TRAFFIC,
        REVERSE_PROXY_NOT_TRUSTED_TRAFFIC,
        CERTIFICATE_FILE_UNREADABLE,
        CERTIFICATE_KEY_MISMATCH,
        STALE_CERTIFICATE,
        CERTIFICATE_FILE_EXPIRING,
        CERTIFICATE_FILE_RENEWAL_OVERDUE,
        CERTIFICATE_FILE_EXPIRED,
        CERTIFICATE_FILE_REVOKED,
        TRUSTED_PROXIES_TOO_BROAD,
    )
}


def of_family(*families: Family) -> tuple[Repair, ...]:
    """Return the repairs of some families, in catalogue order."""
    return tuple(repair for repair in REPAIRS.values() if repair.family in families)


def keys_of(repairs: Iterable[Repair]) -> frozenset[str]:
    """Return their keys."""
    return frozenset(repair.key for repair in repairs)


ENTRY_REPAIRS: Final = of_family(Family.ENDPOINT, Family.PROXY)
PROXY_REPAIRS: Final = of_family(Family.PROXY)
PROXY_KEYS: Final = keys_of(PROXY_REPAIRS)


def translation_keys() -> frozenset[str]:
    """Every translation key under `issues` that some repair can be shown with."""
    return frozenset(
        text for repair in REPAIRS.values() for text in (repair.texts or (repair.key,))
    )


def repair_of_issue(issue_id: str) -> Repair | None:
    """Return the repair an issue id belongs to."""
    if (repair := REPAIRS.get(issue_id)) is not None and not repair.family.per_entry:
        return repair
    key = issue_id.rpartition("_")[0]
    repair = REPAIRS.get(key)
    return repair if repair is not None and repair.family.per_entry else None
