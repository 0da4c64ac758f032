"""Base entity: one device per watched endpoint."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import TlsHealthCoordinator
from .probe import bracketed


class TlsHealthEntity(CoordinatorEntity[TlsHealthCoordinator]):
    """An entity of one endpoint."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: TlsHealthCoordinator, description: EntityDescription) -> None:
        """Attach to the endpoint's device."""
        super().__init__(coordinator)
        self.entity_description = description
        entry = coordinator.config_entry
        target = coordinator.target
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        spec = target.protocol.spec
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            name=entry.title,
            entry_type=DeviceEntryType.SERVICE,
            manufacturer="TLS Health",
            model=f"{spec.label} endpoint",
            configuration_url=(
                f"https://{bracketed(target.host)}:{target.port}/" if spec.http else None
            ),
        )
