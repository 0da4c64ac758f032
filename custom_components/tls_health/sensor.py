"""Sensors of an endpoint: expiry, handshake verdict, protocol, timing and issuer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import NameOID
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .coordinator import TlsHealthConfigEntry, TlsHealthCoordinator
from .entity import TlsHealthEntity
from .findings import days_until
from .probe import ProbeReport, Verdict

PARALLEL_UPDATES = 0
TLS_VERSIONS = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]


def issuer_label(report: ProbeReport) -> str | None:
    """Organization and common name of the leaf's issuer, e.g. "Let's Encrypt (R11)"."""
    if (leaf := report.leaf) is None:
        return None
    try:
        name = x509.Name.from_rfc4514_string(leaf.issuer)
    except ValueError:
        return leaf.issuer
    organization, common_name = (
        next((str(attr.value) for attr in name.get_attributes_for_oid(oid)), None)
        for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME)
    )
    if organization and common_name and common_name != organization:
        return f"{organization} ({common_name})"
    return organization or common_name or leaf.issuer


@dataclass(frozen=True, kw_only=True)
class TlsHealthSensorEntityDescription(SensorEntityDescription):
    """A sensor and how it reads the reports.

    `certificate` sensors read the newest report that carried a certificate, so an endpoint
    that is down for a while keeps counting down to its known expiry.
    """

    value_fn: Callable[[ProbeReport], datetime | float | int | str | None]
    certificate: bool = False


SENSORS: tuple[TlsHealthSensorEntityDescription, ...] = (
    TlsHealthSensorEntityDescription(
        key="certificate_expiry",
        translation_key="certificate_expiry",
        device_class=SensorDeviceClass.TIMESTAMP,
        certificate=True,
        value_fn=lambda report: report.earliest_expiry,
    ),
    TlsHealthSensorEntityDescription(
        key="days_until_expiry",
        translation_key="days_until_expiry",
        native_unit_of_measurement=UnitOfTime.DAYS,
        state_class=SensorStateClass.MEASUREMENT,
        certificate=True,
        value_fn=lambda report: (
            None
            if (expiry := report.earliest_expiry) is None
            else days_until(expiry, dt_util.utcnow())
        ),
    ),
    TlsHealthSensorEntityDescription(
        key="handshake",
        translation_key="handshake",
        device_class=SensorDeviceClass.ENUM,
        options=[verdict.value for verdict in Verdict],
        value_fn=lambda report: report.verdict.value,
    ),
    TlsHealthSensorEntityDescription(
        key="tls_version",
        translation_key="tls_version",
        device_class=SensorDeviceClass.ENUM,
        options=TLS_VERSIONS,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda report: report.tls_version if report.tls_version in TLS_VERSIONS else None,
    ),
    TlsHealthSensorEntityDescription(
        key="handshake_time",
        translation_key="handshake_time",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda report: report.timings.tls_ms,
    ),
    TlsHealthSensorEntityDescription(
        key="issuer",
        translation_key="issuer",
        entity_category=EntityCategory.DIAGNOSTIC,
        certificate=True,
        value_fn=issuer_label,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,  # noqa: ARG001
    entry: TlsHealthConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of an endpoint."""
    async_add_entities(TlsHealthSensor(entry.runtime_data, description) for description in SENSORS)


class TlsHealthSensor(TlsHealthEntity, SensorEntity):
    """A sensor of an endpoint."""

    entity_description: TlsHealthSensorEntityDescription
    coordinator: TlsHealthCoordinator

    @property
    def native_value(self) -> datetime | float | int | str | None:
        """Value from the current report, or the newest one with a certificate."""
        report = (
            self.coordinator.certificate_report
            if self.entity_description.certificate
            else self.coordinator.data
        )
        return None if report is None else self.entity_description.value_fn(report)
