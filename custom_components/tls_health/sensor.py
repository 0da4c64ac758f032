"""Sensors of an endpoint: expiry, handshake verdict, protocol, timing and issuer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, Platform, UnitOfTime
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .coordinator import TlsHealthConfigEntry
from .entity import TlsHealthEntity
from .findings import known_window, renewal_due
from .known import KnownCertificate
from .probe import ProbeReport, RevocationState, Verdict, days_until
from .proxy import ProxyVerdict
from .state import EndpointState

PARALLEL_UPDATES = 0
type ValueFn = Callable[[EndpointState], StateType | datetime]
# State of the tls_version sensor for each protocol name the probe reports (state keys are
# lowercase letters, digits and underscores).
TLS_VERSIONS = {
    "TLSv1": "tls_1_0",
    "TLSv1.1": "tls_1_1",
    "TLSv1.2": "tls_1_2",
    "TLSv1.3": "tls_1_3",
}


@dataclass(frozen=True, kw_only=True)
class TlsHealthSensorEntityDescription(SensorEntityDescription):
    """A sensor and how it reads the endpoint's state."""

    value_fn: ValueFn
    # Read from the newest report: until the first check after a reload or restart, the entity
    # shows its last state instead of unknown.
    restore: bool = False
    https_only: bool = False  # not created for endpoints of other protocols


def from_report(read: Callable[[ProbeReport], StateType | datetime]) -> ValueFn:
    """Read the newest report (none before the first check)."""
    return lambda state: None if state.report is None else read(state.report)


def from_certificate(read: Callable[[KnownCertificate], StateType | datetime]) -> ValueFn:
    """Read the newest certificate served: while down, even after a restart, it counts down."""
    return lambda state: None if (known := state.known_certificate) is None else read(known)


def certificate_renewal_due(state: EndpointState) -> datetime | None:
    """When the certificate served should have been renewed by (the repair's judgement)."""
    known = state.known_certificate
    if known is None or (lifetime := known.lifetime) is None:
        return None
    report = state.report
    # The CA's window is about the leaf the newest check received.
    window = (
        report.renewal_info
        if report is not None and report.leaf is not None and report.leaf.sha256 == known.sha256
        else None
    )
    return renewal_due(lifetime, state.options, dt_util.get_default_time_zone(), window)


def revocation_state(report: ProbeReport) -> str | None:
    """Whether the CA revoked the chain: good, revoked or unknown; None when not checked."""
    return None if report.revocation is None else report.revocation.state.value


def renewal_window_start(report: ProbeReport) -> datetime | None:
    """Start of the CA's suggested renewal window, when it gave one."""
    window = known_window(report.renewal_info)
    return None if window is None else window.window_start


def proxy_verdict(state: EndpointState) -> str | None:
    """Read the last reverse proxy verdict."""
    return None if state.proxy is None else state.proxy.verdict.value


SENSORS: tuple[TlsHealthSensorEntityDescription, ...] = (
    TlsHealthSensorEntityDescription(
        key="certificate_expiry",
        translation_key="certificate_expiry",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=from_certificate(lambda known: known.expiry),
    ),
    TlsHealthSensorEntityDescription(
        key="days_until_expiry",
        translation_key="days_until_expiry",
        native_unit_of_measurement=UnitOfTime.DAYS,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=from_certificate(
            lambda known: None if known.expiry is None else days_until(known.expiry, dt_util.now())
        ),
    ),
    TlsHealthSensorEntityDescription(
        key="renewal_due",
        translation_key="renewal_due",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=certificate_renewal_due,
    ),
    TlsHealthSensorEntityDescription(
        key="revocation",
        translation_key="revocation",
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in RevocationState],
        value_fn=from_report(revocation_state),
        restore=True,
    ),
    TlsHealthSensorEntityDescription(
        key="renewal_window",
        translation_key="renewal_window",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=from_report(renewal_window_start),
        restore=True,
    ),
    TlsHealthSensorEntityDescription(
        key="handshake",
        translation_key="handshake",
        device_class=SensorDeviceClass.ENUM,
        options=[verdict.value for verdict in Verdict],
        value_fn=from_report(lambda report: report.verdict.value),
        restore=True,
    ),
    TlsHealthSensorEntityDescription(
        key="tls_version",
        translation_key="tls_version",
        device_class=SensorDeviceClass.ENUM,
        options=list(TLS_VERSIONS.values()),
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=from_report(lambda report: TLS_VERSIONS.get(report.tls_version or "")),
        restore=True,
    ),
    TlsHealthSensorEntityDescription(
        key="handshake_time",
        translation_key="handshake_time",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        # changes at every check and matters to few: enabled by whoever wants its history
        entity_registry_enabled_default=False,
        value_fn=from_report(lambda report: report.timings.tls_ms),
        restore=True,
    ),
    TlsHealthSensorEntityDescription(
        key="issuer",
        translation_key="issuer",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=from_certificate(lambda known: known.issuer),
    ),
    TlsHealthSensorEntityDescription(
        key="certificate_fingerprint",
        translation_key="certificate_fingerprint",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=from_certificate(lambda known: known.sha256),
    ),
    TlsHealthSensorEntityDescription(
        key="certificate_serial",
        translation_key="certificate_serial",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=from_certificate(lambda known: known.serial),
    ),
)


# Only for endpoints whose URL leads to this Home Assistant (its own URL, or marked so).
REVERSE_PROXY = TlsHealthSensorEntityDescription(
    key="reverse_proxy",
    translation_key="reverse_proxy",
    https_only=True,
    device_class=SensorDeviceClass.ENUM,
    options=[verdict.value for verdict in ProxyVerdict],
    value_fn=proxy_verdict,
    restore=True,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: TlsHealthConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of an endpoint; the proxy sensor once an HTTPS endpoint reaches this HA."""
    coordinator = entry.runtime_data
    https = coordinator.target.protocol.spec.http
    async_add_entities(
        TlsHealthSensor(coordinator, description)
        for description in SENSORS
        if https or not description.https_only
    )
    if not https:
        return
    unique_id = f"{entry.entry_id}_{REVERSE_PROXY.key}"
    registry = er.async_get(hass)
    if coordinator.leads_here:
        async_add_entities([TlsHealthSensor(coordinator, REVERSE_PROXY)])
        return
    # Its URL no longer leads here (options, or HA's own URLs changed): no proxy to show.
    if (known := registry.async_get_entity_id(Platform.SENSOR, DOMAIN, unique_id)) is not None:
        registry.async_remove(known)
    listening = True

    @callback
    def add_once_it_leads_here() -> None:
        nonlocal listening
        if listening and coordinator.leads_here:
            listening = False
            remove()
            async_add_entities([TlsHealthSensor(coordinator, REVERSE_PROXY)])

    remove = coordinator.async_add_listener(add_once_it_leads_here)

    @callback
    def stop_listening() -> None:
        if listening:
            remove()

    entry.async_on_unload(stop_listening)


class TlsHealthSensor(TlsHealthEntity, RestoreSensor):
    """A sensor of an endpoint."""

    entity_description: TlsHealthSensorEntityDescription
    _restored: StateType | datetime = None

    async def async_added_to_hass(self) -> None:
        """Take the last state back while the endpoint has not been checked since the reload."""
        await super().async_added_to_hass()
        if self._shows_restored and (last := await self.async_get_last_sensor_data()) is not None:
            value = last.native_value
            options = self.entity_description.options
            if isinstance(value, str | int | float | datetime) and (
                options is None or value in options
            ):
                self._restored = value

    @property
    def native_value(self) -> StateType | datetime:
        """Read the endpoint's state as the description says."""
        if self._shows_restored:
            return self._restored
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    def _shows_restored(self) -> bool:
        """Whether the value is the last state, the endpoint not checked since the entity began."""
        return self.entity_description.restore and self.coordinator.data.report is None
