"""The last certificate each endpoint served, kept across restarts.

An endpoint that is down when Home Assistant starts still has a known expiry: the count-down (and
an automation built on it) goes on instead of turning unknown until the endpoint answers again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, TypedDict

from cryptography import x509
from cryptography.x509.oid import NameOID
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.singleton import singleton
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .probe import Lifetime, ProbeReport, inert

STORAGE_VERSION: Final = 1
SAVE_DELAY_SECONDS: Final = 10
MAX_STATE_LENGTH: Final = 255


class _Stored(TypedDict, total=False):
    expiry: str | None
    issuer: str | None
    # Added with renewal judgement; missing in what older versions stored.
    valid_from: str | None


def issuer_label(report: ProbeReport) -> str | None:
    """Organization and common name of the leaf's issuer, e.g. "Let's Encrypt (R11)"."""
    if (leaf := report.leaf) is None:
        return None
    try:
        name = x509.Name.from_rfc4514_string(leaf.issuer)
    except ValueError:
        return inert(leaf.issuer, MAX_STATE_LENGTH)
    organization, common_name = (
        next((str(attr.value) for attr in name.get_attributes_for_oid(oid)), None)
        for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME)
    )
    if organization and common_name and common_name != organization:
        label = f"{organization} ({common_name})"
    else:
        label = organization or common_name or leaf.issuer
    # A sensor state holds at most 255 characters, and it is shown as it is.
    return inert(label, MAX_STATE_LENGTH)


@dataclass(frozen=True, slots=True)
class KnownCertificate:
    """What the sensors show of the newest served chain."""

    expiry: datetime | None
    issuer: str | None
    # not_before of the certificate that expires first (its lifetime ends at `expiry`).
    valid_from: datetime | None = None

    @classmethod
    def of(cls, report: ProbeReport) -> KnownCertificate:
        """Read a report that carried a chain."""
        lifetime = report.lifetime
        return cls(
            report.earliest_expiry,
            issuer_label(report),
            valid_from=None if lifetime is None else lifetime.not_before,
        )

    @property
    def lifetime(self) -> Lifetime | None:
        """Lifetime of the certificate that expires first; None when stored without it."""
        if self.valid_from is None or self.expiry is None:
            return None
        return Lifetime(self.valid_from, self.expiry)

    def stored(self) -> _Stored:
        """JSON-ready form."""
        return {
            "expiry": _iso(self.expiry),
            "issuer": self.issuer,
            "valid_from": _iso(self.valid_from),
        }

    @classmethod
    def from_stored(cls, stored: _Stored) -> KnownCertificate:
        """Read the JSON-ready form back (also as older versions stored it)."""
        return cls(
            _parsed(stored.get("expiry")),
            stored.get("issuer"),
            valid_from=_parsed(stored.get("valid_from")),
        )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parsed(value: str | None) -> datetime | None:
    return None if value is None else dt_util.parse_datetime(value)


class KnownCertificates:
    """The KnownCertificate of every entry, in one store written a little after each change."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Use the integration's store."""
        self._store = Store[dict[str, _Stored]](hass, STORAGE_VERSION, f"{DOMAIN}.certificates")
        self._by_entry: dict[str, _Stored] = {}

    async def async_load(self) -> None:
        """Read what was stored; nothing on the first start."""
        self._by_entry = await self._store.async_load() or {}

    def get(self, entry_id: str) -> KnownCertificate | None:
        """Return the entry's certificate as last stored."""
        stored = self._by_entry.get(entry_id)
        return None if stored is None else KnownCertificate.from_stored(stored)

    @callback
    def async_set(self, entry_id: str, known: KnownCertificate) -> None:
        """Keep a newer certificate; the store is written only when something changed."""
        if self._by_entry.get(entry_id) != (stored := known.stored()):
            self._by_entry[entry_id] = stored
            self._store.async_delay_save(lambda: self._by_entry, SAVE_DELAY_SECONDS)

    @callback
    def async_forget(self, entry_id: str) -> None:
        """Drop the certificate of an entry that is removed."""
        if self._by_entry.pop(entry_id, None) is not None:
            self._store.async_delay_save(lambda: self._by_entry, SAVE_DELAY_SECONDS)


@singleton(f"{DOMAIN}_known_certificates")
async def async_get_known_certificates(hass: HomeAssistant) -> KnownCertificates:
    """Return the loaded KnownCertificates."""
    known = KnownCertificates(hass)
    await known.async_load()
    return known
