"""Problem sensor of an endpoint: on while any of its repairs is open."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import TlsHealthConfigEntry
from .entity import TlsHealthEntity

PARALLEL_UPDATES = 0

PROBLEM = BinarySensorEntityDescription(
    key="problem",
    translation_key="problem",
    device_class=BinarySensorDeviceClass.PROBLEM,
)


async def async_setup_entry(
    hass: HomeAssistant,  # noqa: ARG001
    entry: TlsHealthConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the problem sensor of an endpoint."""
    async_add_entities([TlsHealthProblemSensor(entry.runtime_data, PROBLEM)])


class TlsHealthProblemSensor(TlsHealthEntity, BinarySensorEntity):
    """On while a repair of this endpoint is open."""

    @property
    def is_on(self) -> bool:
        """Whether a repair of the endpoint is open: an outage leaves certificate repairs open."""
        return bool(self.coordinator.data.open_repairs)
