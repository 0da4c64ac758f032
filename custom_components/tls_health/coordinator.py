"""Coordinator: one check of one endpoint per interval, and the repairs it confirms."""

from __future__ import annotations

from dataclasses import replace
from typing import override

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from . import issues
from .certificate_file import async_read_file_certificate
from .const import DOMAIN, LOGGER, RECHECK_INTERVAL
from .endpoint import entry_target, is_own_url
from .findings import (
    FileCertificate,
    current_findings,
    judged_keys,
    settings_findings,
    settings_keys,
)
from .http_settings import async_clear_refused_traffic, async_read_http_settings
from .known import CertificateChange, KnownCertificate, KnownCertificates, served_leaves
from .options import EndpointOptions
from .probe import Prober, ProbeReport, inert
from .prober import async_get_proxy_check_slots
from .proven import async_get_proven_paths
from .proxy import ProxyCheck, ProxyReport
from .proxy_judgement import ProvenPath
from .selfprobe import async_get_self_probe
from .state import EndpointState
from .tracker import decide

type TlsHealthConfigEntry = ConfigEntry[TlsHealthCoordinator]


class TlsHealthCoordinator(DataUpdateCoordinator[EndpointState]):
    """Check one endpoint and keep its repairs in step with what the checks find."""

    config_entry: TlsHealthConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: TlsHealthConfigEntry,
        prober: Prober,
        known: KnownCertificates,
    ) -> None:
        """Set up from the entry; until the first check, state is what was known before."""
        self.prober = prober
        self._known = known
        self._file_problem = ""
        self.target = entry_target(entry.data)
        self.options = EndpointOptions.from_options(entry.options, self.target.protocol)
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {entry.title}",
            update_interval=self.options.interval,
        )
        self.data = EndpointState(
            options=self.options,
            known_certificate=known.get(entry.entry_id),
            open_repairs=issues.async_open_keys(hass, entry),
        )

    @override
    async def _async_update_data(self) -> EndpointState:
        previous = self.data
        # Local time: day counts follow this Home Assistant's calendar, as its frontend does.
        now = dt_util.now()
        report = await self.prober.probe(self.target, self.options.probe, now=now)
        self._log_reachability_change(previous.report, report)
        known, change = self._track_certificate(report, previous.known_certificate)
        proxy = previous.proxy
        checked_proxy = await self._check_proxy(report)
        if checked_proxy is not None:
            proxy = checked_proxy
            async_clear_refused_traffic(self.hass, checked_proxy)
        certificate_file = await self._read_certificate_file(report)
        # Read after the check: a trial that ended while it ran is not judged as running.
        settings = async_read_http_settings(self.hass) if self.leads_here else None
        found = current_findings(report, self.options, now, checked_proxy, certificate_file)
        judged = judged_keys(
            report,
            self.options,
            checked_proxy,
            certificate_file,
            certificate_changed=change is not None,
        )
        if settings is not None:
            found = settings_findings(found, report, checked_proxy, settings, now)
            judged |= settings_keys(checked_proxy, settings)
        decision = decide(
            previous.streaks, found, judged, issues.async_open_keys(self.hass, self.config_entry)
        )
        open_repairs = issues.async_apply(self.hass, self.config_entry, decision)
        # HTTP settings on trial are reverted within minutes unless confirmed: the warning must
        # come before that, and go soon after they are confirmed.
        on_trial = settings is not None and settings.on_trial
        self.update_interval = (
            min(self.options.interval, RECHECK_INTERVAL)
            if decision.pending or on_trial
            else self.options.interval
        )
        return replace(
            previous,
            report=report,
            proxy=proxy,
            known_certificate=known,
            certificate_change=change,
            open_repairs=open_repairs,
            streaks=decision.streaks,
        )

    def _track_certificate(
        self, report: ProbeReport, known: KnownCertificate | None
    ) -> tuple[KnownCertificate | None, CertificateChange | None]:
        """Keep the newest certificate served, and tell how it changed.

        Backends behind one address, or addresses of one name, may serve different certificates
        on purpose: one served lately, or one another address still serves, is no change.
        """
        if not report.chain:
            return known, None
        served = KnownCertificate.of(report)
        seen = served_leaves(report)
        if known is None:
            known, change = served.after_check(served, seen, report.checked_at)
        else:
            known, change = known.after_check(served, seen, report.checked_at)
        self._known.async_set(self.config_entry.entry_id, known)
        return known, change

    async def _read_certificate_file(self, report: ProbeReport) -> FileCertificate | None:
        """Read the certificate file of the options, when one is named and a chain was served."""
        path = self.options.certificate_file
        if path is None or report.leaf is None:
            return None
        certificate_file, problem = await async_read_file_certificate(self.hass, path)
        if problem and problem != self._file_problem:
            LOGGER.warning(
                "%s: certificate file %s cannot be used (%s)",
                self.config_entry.title,
                path,
                problem,
            )
        self._file_problem = problem
        return certificate_file

    async def _check_proxy(self, report: ProbeReport) -> ProxyReport | None:
        """Ask this Home Assistant what arrives through the endpoint, when it leads here.

        What a check proves about the path is kept for the next: a proxy whose address moved,
        a ban of the address Home Assistant settled on.
        """
        if not report.verdict.reached_tls or not self.leads_here:
            return None
        paths = await async_get_proven_paths(self.hass)
        entry_id = self.config_entry.entry_id
        check = ProxyCheck(
            self.hass,
            async_get_self_probe(self.hass),
            self.target,
            proven=paths.get(entry_id),
            connected_to=report.address,
        )
        async with async_get_proxy_check_slots(self.hass):
            checked = await check.run()
        if (proven := ProvenPath.of(checked, report.checked_at)) is not None:
            paths.async_set(entry_id, proven)
        return checked

    @property
    def leads_here(self) -> bool:
        """Whether the endpoint's URL leads to this HA, so that its reverse proxy is checked.

        It does when it is HA's own external or internal URL, or when the user says so in the
        options. Nothing the endpoint answers can make it so: a server that is not this HA
        would be handed the check's nonce and could replay it with headers of its choosing.
        """
        if not self.target.protocol.spec.http:
            return False
        return self.options.leads_here or is_own_url(self.hass, self.target)

    def _log_reachability_change(self, before: ProbeReport | None, report: ProbeReport) -> None:
        reached_before = before is None or before.verdict.reached_tls
        if reached_before and not report.verdict.reached_tls:
            LOGGER.info("%s cannot be reached: %s", self.config_entry.title, inert(report.detail))
        elif not reached_before and report.verdict.reached_tls:
            LOGGER.info("%s can be reached again", self.config_entry.title)
