"""TLS services this Home Assistant already talks to, offered as endpoints to watch.

The MQTT broker (when its entry uses TLS), IMAP servers, and the recorder's PostgreSQL database.
Only scheme, host and port are taken: user names, passwords and database names never leave the
entry or the database URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import DATA_INSTANCE

from .probe import AppProtocol, bracketed

MQTT_DOMAIN: Final = "mqtt"
IMAP_DOMAIN: Final = "imap"
CONF_SERVICE: Final = "service"  # in discovery data: which integration talks to the endpoint


@dataclass(frozen=True, slots=True)
class KnownService:
    """A TLS endpoint some part of Home Assistant connects to, and which part."""

    url: str
    service: str  # shown in the offer: MQTT, IMAP, PostgreSQL (the recorder)


def known_services(hass: HomeAssistant) -> list[KnownService]:
    """TLS services found in other integrations' entries and the recorder."""
    found = [
        KnownService(url, "MQTT")
        for entry in hass.config_entries.async_entries(MQTT_DOMAIN)
        if (url := mqtt_url(entry.data)) is not None
    ]
    found += [
        KnownService(url, "IMAP")
        for entry in hass.config_entries.async_entries(IMAP_DOMAIN)
        if (url := imap_url(entry.data)) is not None
    ]
    instance = hass.data.get(DATA_INSTANCE)
    if (url := database_url(getattr(instance, "db_url", None))) is not None:
        found.append(KnownService(url, "PostgreSQL"))
    return found


def _url(protocol: AppProtocol, host: object, port: object) -> str | None:
    if not isinstance(host, str) or not host.strip():
        return None
    try:
        number = int(port)  # type: ignore[call-overload]
    except TypeError, ValueError:
        return None
    return f"{protocol}://{bracketed(host.strip())}:{number}"


def mqtt_url(data: Mapping[str, Any]) -> str | None:
    """Return the broker of an MQTT entry, when the entry connects with TLS over TCP."""
    if not data.get("certificate") or data.get("transport", "tcp") != "tcp":
        return None
    return _url(AppProtocol.MQTTS, data.get("broker"), data.get("port", 8883))


def imap_url(data: Mapping[str, Any]) -> str | None:
    """Return the server of an IMAP entry (always direct TLS)."""
    return _url(AppProtocol.IMAPS, data.get("server"), data.get("port", 993))


def database_url(db_url: object) -> str | None:
    """Return a PostgreSQL recorder database reached over the network without `sslmode=disable`."""
    if not isinstance(db_url, str):
        return None
    try:
        parts = urlsplit(db_url)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme.startswith("postgresql") or not parts.hostname:
        return None  # SQLite, MySQL/MariaDB (not spoken), or a Unix socket
    if "disable" in parse_qs(parts.query).get("sslmode", []):
        return None
    return _url(AppProtocol.POSTGRES, parts.hostname, port or 5432)
