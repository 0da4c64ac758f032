"""An endpoint's identity: the Target of an entry, its unique id and its title."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.core import HomeAssistant

from .const import CONF_ADDRESS, CONF_CA_FILE, CONF_SERVER_NAME, CONF_URL
from .probe import InvalidTargetError, Target, bracketed, parse_target


def entry_target(data: Mapping[str, Any]) -> Target:
    """Target described by a config entry's data (or a config flow's input)."""
    return parse_target(
        data[CONF_URL],
        server_name=data.get(CONF_SERVER_NAME),
        address=data.get(CONF_ADDRESS),
        ca_file=data.get(CONF_CA_FILE),
    )


def unique_id_of(target: Target) -> str:
    """One entry per host, port and SNI name."""
    return f"{target.host}:{target.port}:{target.sni or ''}"


def title_of(target: Target) -> str:
    """Short name of an endpoint for its device and entry."""
    spec = target.protocol.spec
    if spec.http:
        port = "" if target.port == spec.port else f":{target.port}"
        name = f"{target.host}{port}"
    else:
        name = f"{target.protocol}://{bracketed(target.host)}:{target.port}"
    if target.server_name and target.server_name != target.host:
        return f"{target.server_name} ({name})"
    return name


def is_own_url(hass: HomeAssistant, target: Target) -> bool:
    """Whether the target is this HA's external or internal URL: same scheme, name and port."""
    for url in (hass.config.external_url, hass.config.internal_url):
        try:
            own = parse_target(url) if url else None
        except InvalidTargetError:
            continue
        if (
            own is not None
            and own.protocol is target.protocol
            and own.host.lower() == target.expected_name.lower()
            and own.port == target.port
        ):
            return True
    return False
