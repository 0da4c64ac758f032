"""The last certificate each endpoint served, kept across restarts.

An endpoint that is down when Home Assistant starts still has a known expiry: the count-down (and
an automation built on it) goes on instead of turning unknown until the endpoint answers again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
import re
from typing import Any, Final, TypedDict

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.singleton import singleton

from .const import DOMAIN
from .entry_store import EntryStore
from .probe import Lifetime, ProbeReport, inert
from .proxy_judgement import aware_moment

MAX_STATE_LENGTH: Final = 255
# Leaves an endpoint served lately: backends behind one address may each serve their own.
MAX_RECENT: Final = 8
_HEX: Final = re.compile(r"[0-9a-f]{1,128}")


class _StoredLeaf(TypedDict):
    sha256: str
    expiry: str | None


class _Stored(TypedDict, total=False):
    expiry: str | None
    issuer: str | None
    # Added with renewal judgement and the renewal event; missing in what older versions stored.
    valid_from: str | None
    serial: str | None
    sha256: str | None
    leaf_expiry: str | None
    names: list[str]
    issuer_organization: str | None
    # Added with the memory of recently served leaves.
    recent: list[_StoredLeaf]


class RenewalKind(StrEnum):
    """How the served certificate changed (event types of the endpoint's event entity)."""

    RENEWED = "renewed"  # same names and issuer organization, expiring later
    REPLACED = "replaced"  # anything else


def issuer_label(report: ProbeReport) -> str | None:
    """Organization and common name of the leaf's issuer, e.g. "Let's Encrypt (R11)".

    Read from what the probe parsed off the loop: an issuer may hold thousands of parts.
    """
    if (leaf := report.leaf) is None:
        return None
    organization, common_name = leaf.issuer_organization, leaf.issuer_common_name
    if organization and common_name and common_name != organization:
        label = f"{organization} ({common_name})"
    else:
        label = organization or common_name or leaf.issuer
    # A sensor state holds at most 255 characters, and it is shown as it is.
    return inert(label, MAX_STATE_LENGTH)


def _hex(value: object) -> str | None:
    """Keep a serial or fingerprint of hex digits only; anything else is dropped."""
    return value if isinstance(value, str) and _HEX.fullmatch(value) else None


@dataclass(frozen=True, slots=True)
class ServedLeaf:
    """A leaf an endpoint served: its fingerprint, and when it (or its chain) expires."""

    sha256: str
    expiry: datetime | None

    def stored(self) -> _StoredLeaf:
        """JSON-ready form."""
        return {"sha256": self.sha256, "expiry": _iso(self.expiry)}

    @classmethod
    def from_stored(cls, stored: object) -> ServedLeaf | None:
        """Read the JSON-ready form back; None for anything else."""
        if not isinstance(stored, dict) or (sha256 := _hex(stored.get("sha256"))) is None:
            return None
        return cls(sha256, aware_moment(stored.get("expiry")))


def served_leaves(report: ProbeReport) -> tuple[ServedLeaf, ...]:
    """Return the leaves this check saw: at the address it used, then at the others."""
    leaf = report.leaf
    main = (
        ()
        if leaf is None or (sha256 := _hex(leaf.sha256)) is None
        else (ServedLeaf(sha256, leaf.not_after),)
    )
    return main + tuple(
        ServedLeaf(sha256, check.not_after)
        for check in report.addresses
        if (sha256 := _hex(check.sha256)) is not None
    )


def _remember(
    newest: Iterable[ServedLeaf], older: Iterable[ServedLeaf], now: datetime
) -> tuple[ServedLeaf, ...]:
    """Return the newest leaves first, each once, none expired, at most MAX_RECENT."""
    kept: dict[str, ServedLeaf] = {}
    for leaf in (*newest, *older):
        if leaf.sha256 not in kept and (leaf.expiry is None or leaf.expiry > now):
            kept[leaf.sha256] = leaf
    return tuple(kept.values())[:MAX_RECENT]


@dataclass(frozen=True, slots=True)
class KnownCertificate:
    """What the sensors show of the newest served chain, and what tells a renewal apart."""

    expiry: datetime | None
    issuer: str | None
    # not_before of the certificate that expires first (its lifetime ends at `expiry`).
    valid_from: datetime | None = None
    # The leaf: serial and SHA-256 fingerprint (hex), expiry, names and issuer organization.
    serial: str | None = None
    sha256: str | None = None
    leaf_expiry: datetime | None = None
    names: tuple[str, ...] = ()
    issuer_organization: str | None = None
    # Leaves served lately, the newest first: serving one of them again is no change.
    recent: tuple[ServedLeaf, ...] = ()

    @classmethod
    def of(cls, report: ProbeReport) -> KnownCertificate:
        """Read a report that carried a chain."""
        lifetime = report.lifetime
        leaf = report.leaf
        organization = None if leaf is None else leaf.issuer_organization
        return cls(
            report.earliest_expiry,
            issuer_label(report),
            valid_from=None if lifetime is None else lifetime.not_before,
            serial=None if leaf is None else _hex(leaf.serial),
            sha256=None if leaf is None else _hex(leaf.sha256),
            leaf_expiry=None if leaf is None else leaf.not_after,
            names=()
            if leaf is None
            else tuple(sorted(leaf.sans or ((leaf.common_name,) if leaf.common_name else ()))),
            issuer_organization=None
            if organization is None
            else inert(organization, MAX_STATE_LENGTH),
        )

    @property
    def lifetime(self) -> Lifetime | None:
        """Lifetime of the certificate that expires first; None when stored without it."""
        if self.valid_from is None or self.expiry is None:
            return None
        return Lifetime(self.valid_from, self.expiry)

    def after_check(
        self, served: KnownCertificate, seen: Iterable[ServedLeaf], now: datetime
    ) -> tuple[KnownCertificate, CertificateChange | None]:
        """Return the known certificate after a check that served `served`, and its change.

        Not changed when the leaf was served lately (backends behind one address, each with its
        own certificate), nor while another address of the name still serves this one. Leaves
        that expired are forgotten: an old certificate served again is a change.
        """
        seen = tuple(seen)
        recent = _remember(seen, self.recent, now)
        lately = {leaf.sha256 for leaf in _remember((), self.recent, now)}
        if served.sha256 != self.sha256 and (
            served.sha256 in lately or self.sha256 in {leaf.sha256 for leaf in seen}
        ):
            return replace(self, recent=recent), None
        return replace(served, recent=recent), self.change_to(served)

    def change_to(self, new: KnownCertificate) -> CertificateChange | None:
        """How the served leaf changed since this one; None when it did not or cannot be told."""
        if self.sha256 is None or new.sha256 is None or self.sha256 == new.sha256:
            return None
        renewed = (
            self.names == new.names
            and self.issuer_organization == new.issuer_organization
            and self.leaf_expiry is not None
            and new.leaf_expiry is not None
            and new.leaf_expiry > self.leaf_expiry
        )
        return CertificateChange(
            RenewalKind.RENEWED if renewed else RenewalKind.REPLACED, old=self, new=new
        )

    def stored(self) -> _Stored:
        """JSON-ready form."""
        return {
            "expiry": _iso(self.expiry),
            "issuer": self.issuer,
            "valid_from": _iso(self.valid_from),
            "serial": self.serial,
            "sha256": self.sha256,
            "leaf_expiry": _iso(self.leaf_expiry),
            "names": list(self.names),
            "issuer_organization": self.issuer_organization,
            "recent": [leaf.stored() for leaf in self.recent],
        }

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> KnownCertificate:
        """Read the JSON-ready form back (also as older versions stored it); drop what is not."""
        names = stored.get("names")
        return cls(
            aware_moment(stored.get("expiry")),
            _text(stored.get("issuer")),
            valid_from=aware_moment(stored.get("valid_from")),
            serial=_hex(stored.get("serial")),
            sha256=_hex(stored.get("sha256")),
            leaf_expiry=aware_moment(stored.get("leaf_expiry")),
            names=tuple(name for name in names if isinstance(name, str))
            if isinstance(names, list)
            else (),
            issuer_organization=_text(stored.get("issuer_organization")),
            recent=_recent_from_stored(stored.get("recent")),
        )


def _recent_from_stored(stored: object) -> tuple[ServedLeaf, ...]:
    if not isinstance(stored, list):
        return ()
    leaves = (ServedLeaf.from_stored(item) for item in stored[:MAX_RECENT])
    return tuple(leaf for leaf in leaves if leaf is not None)


@dataclass(frozen=True, slots=True)
class CertificateChange:
    """The served leaf changed: how, and from which certificate to which."""

    kind: RenewalKind
    old: KnownCertificate
    new: KnownCertificate

    def attributes(self) -> dict[str, str | None]:
        """Event attributes: expiry, serial and fingerprint before and after (hex and ISO only)."""
        return {
            "old_expiry": _iso(self.old.leaf_expiry),
            "new_expiry": _iso(self.new.leaf_expiry),
            "old_serial": self.old.serial,
            "new_serial": self.new.serial,
            "old_fingerprint": self.old.sha256,
            "new_fingerprint": self.new.sha256,
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


class KnownCertificates:
    """The KnownCertificate of every entry."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Use the integration's store of certificates."""
        self._store = EntryStore(hass, f"{DOMAIN}.certificates")

    async def async_load(self) -> None:
        """Read what was stored."""
        await self._store.async_load()

    def get(self, entry_id: str) -> KnownCertificate | None:
        """Return the entry's certificate as last stored."""
        stored = self._store.get(entry_id)
        return None if stored is None else KnownCertificate.from_stored(stored)

    @callback
    def async_set(self, entry_id: str, known: KnownCertificate) -> None:
        """Keep a newer certificate."""
        self._store.async_set(entry_id, dict(known.stored()))

    @callback
    def async_forget(self, entry_id: str) -> None:
        """Drop the certificate of an entry that is removed."""
        self._store.async_forget(entry_id)


@singleton(f"{DOMAIN}_known_certificates")
async def async_get_known_certificates(hass: HomeAssistant) -> KnownCertificates:
    """Return the loaded KnownCertificates."""
    known = KnownCertificates(hass)
    await known.async_load()
    return known
