"""Certificate event of an endpoint: fires when the served certificate changes."""

from __future__ import annotations

from typing import override

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import TlsHealthConfigEntry
from .entity import TlsHealthEntity
from .known import CertificateChange, RenewalKind

PARALLEL_UPDATES = 0

CERTIFICATE_CHANGED = EventEntityDescription(
    key="certificate_changed",
    translation_key="certificate_changed",
    event_types=[kind.value for kind in RenewalKind],
)


async def async_setup_entry(
    hass: HomeAssistant,  # noqa: ARG001
    entry: TlsHealthConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the certificate event of an endpoint."""
    async_add_entities([TlsHealthCertificateEvent(entry.runtime_data, CERTIFICATE_CHANGED)])


class TlsHealthCertificateEvent(TlsHealthEntity, EventEntity):
    """`renewed` or `replaced`, once per change of the served certificate."""

    _fired: CertificateChange | None = None

    @callback
    @override
    def _handle_coordinator_update(self) -> None:
        change = self.coordinator.data.certificate_change
        if change is not None and change is not self._fired:
            self._fired = change
            self._trigger_event(change.kind.value, change.attributes())
        super()._handle_coordinator_update()
