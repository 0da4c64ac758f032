"""What the proxy check's own requests proved about each endpoint's path, kept across restarts.

Only the check's own request (its nonce) proves an address: the peer Home Assistant saw it come
from (the proxy), and the client address Home Assistant settled on for it. A later check compares
with these: a proxy whose address moved, a ban of the address Home Assistant settled on.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.singleton import singleton

from .const import DOMAIN
from .entry_store import EntryStore
from .proxy_judgement import ProvenPath


class ProvenPaths:
    """The ProvenPath of every endpoint whose proxy is checked."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Use the integration's store of proxy paths."""
        self._store = EntryStore(hass, f"{DOMAIN}.proxy_paths")

    async def async_load(self) -> None:
        """Read what was stored."""
        await self._store.async_load()

    def get(self, entry_id: str) -> ProvenPath | None:
        """Return what the entry's last proving check found."""
        stored = self._store.get(entry_id)
        return None if stored is None else ProvenPath.from_stored(stored)

    @callback
    def async_set(self, entry_id: str, path: ProvenPath) -> None:
        """Keep what a check proved; the same path keeps the moment it was first seen."""
        known = self.get(entry_id)
        if known is None or not known.same_path(path):
            self._store.async_set(entry_id, path.stored())

    @callback
    def async_forget(self, entry_id: str) -> None:
        """Drop the path of an entry that is removed."""
        self._store.async_forget(entry_id)


@singleton(f"{DOMAIN}_proven_paths")
async def async_get_proven_paths(hass: HomeAssistant) -> ProvenPaths:
    """Return the loaded ProvenPaths."""
    paths = ProvenPaths(hass)
    await paths.async_load()
    return paths
