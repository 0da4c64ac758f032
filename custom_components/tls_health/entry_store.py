"""One JSON object per config entry, kept across restarts in one of the integration's stores."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store

STORAGE_VERSION: Final = 1
SAVE_DELAY_SECONDS: Final = 10


class EntryStore:
    """One JSON object per config entry, in one store written a little after each change."""

    def __init__(self, hass: HomeAssistant, key: str) -> None:
        """Use the integration's store named `key`."""
        self._store = Store[dict[str, dict[str, Any]]](hass, STORAGE_VERSION, key)
        self._by_entry: dict[str, dict[str, Any]] = {}

    async def async_load(self) -> None:
        """Read what was stored; nothing on the first start, and no object that is not one."""
        stored = await self._store.async_load()
        self._by_entry = (
            {key: value for key, value in stored.items() if isinstance(value, dict)}
            if isinstance(stored, dict)
            else {}
        )

    def get(self, entry_id: str) -> Mapping[str, Any] | None:
        """Return the entry's object as last stored."""
        return self._by_entry.get(entry_id)

    @callback
    def async_set(self, entry_id: str, value: dict[str, Any]) -> None:
        """Keep an entry's object; the store is written only when something changed."""
        if self._by_entry.get(entry_id) != value:
            self._by_entry[entry_id] = value
            self._store.async_delay_save(lambda: self._by_entry, SAVE_DELAY_SECONDS)

    @callback
    def async_forget(self, entry_id: str) -> None:
        """Drop the object of an entry that is removed."""
        if self._by_entry.pop(entry_id, None) is not None:
            self._store.async_delay_save(lambda: self._by_entry, SAVE_DELAY_SECONDS)
