"""Coordinator: one probe of one endpoint per interval, and the repairs it confirms."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import override

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .const import (
    CONF_SCAN_INTERVAL,
    CONF_SCAN_LEGACY,
    DEFAULT_SCAN_INTERVAL_MINUTES,
    DEFAULT_SCAN_LEGACY,
    DOMAIN,
    LOGGER,
    PROBE_TIMEOUT,
    RECHECK_INTERVAL,
)
from .findings import Finding, current_findings, judged_keys
from .issues import async_clear_refused_traffic, async_sync_issues
from .known import KnownCertificate, KnownCertificates
from .probe import Prober, ProbeReport
from .prober import async_get_proxy_check_slots, entry_target
from .proxy import ProxyCheck, ProxyReport
from .selfprobe import async_get_self_probe

type TlsHealthConfigEntry = ConfigEntry[TlsHealthCoordinator]


class TlsHealthCoordinator(DataUpdateCoordinator[ProbeReport]):
    """Probe one endpoint and keep its repairs in step with what the probes find."""

    config_entry: TlsHealthConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: TlsHealthConfigEntry,
        prober: Prober,
        known: KnownCertificates,
    ) -> None:
        """Set up from the entry's data and options."""
        self.prober = prober
        self._known = known
        self.target = entry_target(entry.data)
        self.interval = timedelta(
            minutes=entry.options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL_MINUTES)
        )
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {entry.title}",
            update_interval=self.interval,
        )
        self.streaks: Counter[str] = Counter()
        self.raised: tuple[Finding, ...] = ()
        # The newest certificate served: neither a network blip nor a restart erases what is known.
        self.known_certificate = known.get(entry.entry_id)
        self.proxy: ProxyReport | None = None

    @override
    async def _async_update_data(self) -> ProbeReport:
        options = self.config_entry.options
        report = await self.prober.probe(
            self.target,
            timeout=PROBE_TIMEOUT,
            scan_legacy=options.get(CONF_SCAN_LEGACY, DEFAULT_SCAN_LEGACY),
        )
        self._log_reachability_change(report)
        if report.chain:
            self.known_certificate = KnownCertificate.of(report)
            self._known.async_set(self.config_entry.entry_id, self.known_certificate)
        proxy = None
        if report.verdict.reached_tls:
            self_probe = async_get_self_probe(self.hass)
            async with async_get_proxy_check_slots(self.hass):
                proxy = self.proxy = await ProxyCheck(self.hass, self_probe, self.target).run()
            async_clear_refused_traffic(self.hass, proxy)
        found = current_findings(report, options, dt_util.utcnow(), proxy)
        judged = judged_keys(report, options, proxy)
        seen = {finding.key for finding in found}
        for key in judged - seen:
            del self.streaks[key]
        self.streaks.update(seen)
        self.raised = async_sync_issues(self.hass, self.config_entry, found, judged, self.streaks)
        unconfirmed = len(self.raised) < len(found)
        self.update_interval = (
            min(self.interval, RECHECK_INTERVAL) if unconfirmed else self.interval
        )
        return report

    def _log_reachability_change(self, report: ProbeReport) -> None:
        reached_before = self.data is None or self.data.verdict.reached_tls
        if reached_before and not report.verdict.reached_tls:
            LOGGER.info("%s cannot be reached: %s", self.config_entry.title, report.detail)
        elif not reached_before and report.verdict.reached_tls:
            LOGGER.info("%s can be reached again", self.config_entry.title)
