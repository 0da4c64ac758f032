"""The state of one endpoint after a check: what its entities and diagnostics read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .known import CertificateChange, KnownCertificate
from .options import EndpointOptions
from .probe import ProbeReport
from .proxy import ProxyReport


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointState:
    """One endpoint's newest report, proxy report, known certificate and open repairs."""

    options: EndpointOptions
    # None until the first check after a start or reload.
    report: ProbeReport | None = None
    proxy: ProxyReport | None = None
    # The newest certificate served: neither a network blip nor a restart erases it.
    known_certificate: KnownCertificate | None = None
    # How the served certificate changed at this check; None when it did not.
    certificate_change: CertificateChange | None = None
    open_repairs: frozenset[str] = frozenset()
    # Consecutive checks that saw each finding not yet cleared.
    streaks: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for diagnostics."""
        return {
            "options": {
                "interval_minutes": self.options.interval.total_seconds() / 60,
                "warning_days": self.options.warning_days,
                "critical_days": self.options.critical_days,
                "scan_legacy": self.options.scan_legacy,
                "certificate_file": self.options.certificate_file,
                "leads_to_home_assistant": self.options.leads_here,
                "check_revocation": self.options.check_revocation,
                "check_renewal_info": self.options.check_renewal_info,
                "acme_directory": self.options.acme_directory,
            },
            "open_repairs": sorted(self.open_repairs),
            "streaks": dict(sorted(self.streaks.items())),
            "known_certificate": (
                None if self.known_certificate is None else self.known_certificate.stored()
            ),
            "report": None if self.report is None else self.report.as_dict(),
            "reverse_proxy": None if self.proxy is None else self.proxy.as_dict(),
        }
