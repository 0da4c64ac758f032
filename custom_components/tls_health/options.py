"""An endpoint's options, read once from its config entry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .const import (
    CONF_ACME_DIRECTORY,
    CONF_CERTIFICATE_FILE,
    CONF_CHECK_RENEWAL_INFO,
    CONF_CHECK_REVOCATION,
    CONF_CRITICAL_DAYS,
    CONF_LEADS_HERE,
    CONF_SCAN_INTERVAL,
    CONF_SCAN_LEGACY,
    CONF_WARNING_DAYS,
    DEFAULT_CHECK_RENEWAL_INFO,
    DEFAULT_CHECK_REVOCATION,
    DEFAULT_CRITICAL_DAYS,
    DEFAULT_SCAN_INTERVAL_MINUTES,
    DEFAULT_SCAN_LEGACY,
    DEFAULT_WARNING_DAYS,
    PROBE_TIMEOUT,
)
from .probe import AppProtocol, ProbeOptions


def default_scan_legacy(protocol: AppProtocol) -> bool:
    """Return whether the legacy scan runs by default: HTTPS only (others log it as an error)."""
    return DEFAULT_SCAN_LEGACY and protocol.spec.scan_legacy


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointOptions:
    """Check interval, expiry thresholds, the legacy scan, the proxy check, what the CA is asked."""

    interval: timedelta = timedelta(minutes=DEFAULT_SCAN_INTERVAL_MINUTES)
    warning_days: int = DEFAULT_WARNING_DAYS
    critical_days: int = DEFAULT_CRITICAL_DAYS
    scan_legacy: bool = DEFAULT_SCAN_LEGACY
    # The certificate file the endpoint's server should serve (e.g. the proxy's fullchain.pem).
    certificate_file: str | None = None
    # The user says the URL leads to this Home Assistant: its reverse proxy is checked.
    leads_here: bool = False
    # Ask the CA whether it revoked the certificate (CRL, else OCSP).
    check_revocation: bool = DEFAULT_CHECK_REVOCATION
    # Ask the CA when it wants the certificate renewed (ACME Renewal Information, RFC 9773).
    check_renewal_info: bool = DEFAULT_CHECK_RENEWAL_INFO
    # The CA's ACME directory, for a CA the probe does not recognise from the issuer.
    acme_directory: str | None = None

    @property
    def probe(self) -> ProbeOptions:
        """What each check of the endpoint probes."""
        return ProbeOptions(
            timeout=PROBE_TIMEOUT,
            scan_legacy=self.scan_legacy,
            check_revocation=self.check_revocation,
            check_renewal_info=self.check_renewal_info,
            acme_directory=self.acme_directory,
        )

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], protocol: AppProtocol = AppProtocol.HTTPS
    ) -> EndpointOptions:
        """Read a config entry's options; what is not set keeps the protocol's default."""
        return cls(
            interval=timedelta(
                minutes=options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL_MINUTES)
            ),
            warning_days=int(options.get(CONF_WARNING_DAYS, DEFAULT_WARNING_DAYS)),
            critical_days=int(options.get(CONF_CRITICAL_DAYS, DEFAULT_CRITICAL_DAYS)),
            scan_legacy=bool(options.get(CONF_SCAN_LEGACY, default_scan_legacy(protocol))),
            certificate_file=options.get(CONF_CERTIFICATE_FILE) or None,
            leads_here=bool(options.get(CONF_LEADS_HERE, False)),
            check_revocation=bool(options.get(CONF_CHECK_REVOCATION, DEFAULT_CHECK_REVOCATION)),
            check_renewal_info=bool(
                options.get(CONF_CHECK_RENEWAL_INFO, DEFAULT_CHECK_RENEWAL_INFO)
            ),
            acme_directory=options.get(CONF_ACME_DIRECTORY) or None,
        )
