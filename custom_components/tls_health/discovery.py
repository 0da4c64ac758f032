"""TLS services this Home Assistant already talks to, offered as endpoints to watch.

The MQTT broker (when its entry uses TLS), IMAP servers, and the recorder's PostgreSQL database.
Only scheme, host and port are taken: user names, passwords and database names never leave the
entry or the database URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import ipaddress
import re
from typing import Any, Final

from homeassistant.core import HomeAssistant
from homeassistant.helpers.importlib import async_import_module
from homeassistant.helpers.recorder import DATA_INSTANCE

from .probe import AppProtocol, bracketed

MQTT_DOMAIN: Final = "mqtt"
IMAP_DOMAIN: Final = "imap"
CONF_SERVICE: Final = "service"  # in discovery data: which integration talks to the endpoint
# The recorder parses its database URL with SQLAlchemy (installed with the recorder).
SQLALCHEMY_URL: Final = "sqlalchemy.engine.url"
# libpq parameters that name the server instead of the URL's host (a socket, several hosts).
_HOST_PARAMETERS: Final = frozenset({"host", "hostaddr"})
_SERVER: Final = re.compile(
    r"(?:\[(?P<ipv6>[^\]/?@]+)\]|(?P<host>[^:/?@\[\]]+))(?::(?P<port>[0-9]{1,5}))?(?=[/?]|$)"
)
_HOST_NAME: Final = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
)


@dataclass(frozen=True, slots=True)
class KnownService:
    """A TLS endpoint some part of Home Assistant connects to, and which part."""

    url: str
    service: str  # shown in the offer: MQTT, IMAP, PostgreSQL (the recorder)


async def async_known_services(hass: HomeAssistant) -> list[KnownService]:
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
    db_url = getattr(instance, "db_url", None)
    if isinstance(db_url, str):
        try:
            # Imported by the recorder already; otherwise in the executor, as HA imports.
            await async_import_module(hass, SQLALCHEMY_URL)
        except ImportError:
            return found
        if (url := database_url(db_url)) is not None:
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
    """Return a PostgreSQL recorder database reached over the network without `sslmode=disable`.

    Read as the recorder reads it, with SQLAlchemy: `postgresql://ha:1234/Secret@db.lan/ha` is
    the server db.lan. Nothing is offered when the reading is in doubt, as when a credential
    was not percent-encoded and SQLAlchemy takes part of it for the host: the host must be a
    host name or an IP address, and the one that follows the URL's last `@`, with no `?` before
    that `@` (which would make it part of a query parameter such as `sslpassword`).
    """
    # Installed with the recorder, and imported by it before there is a URL to read.
    from sqlalchemy.engine.url import make_url  # noqa: PLC0415
    from sqlalchemy.exc import ArgumentError  # noqa: PLC0415

    if not isinstance(db_url, str):
        return None
    try:
        url = make_url(db_url)
        host, port = url.host, url.port
    except ArgumentError, ValueError, TypeError:
        return None
    if (
        url.get_backend_name() != "postgresql"  # SQLite, MySQL/MariaDB: not spoken
        or not host  # a Unix socket
        or not _is_host(host)
        or (port is not None and not 0 < port < 65536)  # noqa: PLR2004
        or _HOST_PARAMETERS & set(url.query)
        or "disable" in _values(url.query.get("sslmode"))
        or (host, port) != _server_after_userinfo(db_url)
    ):
        return None
    return _url(AppProtocol.POSTGRES, host, port or 5432)


def _server_after_userinfo(db_url: str) -> tuple[str, int | None] | None:
    """Host and port after the last `@`; None when a `?` comes before it or none follows."""
    userinfo, at, rest = db_url.partition("://")[2].rpartition("@")
    if at and "?" in userinfo:
        return None
    if (match := _SERVER.match(rest)) is None:
        return None
    port = match["port"]
    return match["ipv6"] or match["host"], int(port) if port else None


def _is_host(host: str) -> bool:
    """Whether `host` is an IP address or a DNS host name (nothing of a path or a user name)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return _HOST_NAME.fullmatch(host) is not None
    return True


def _values(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else value
