"""Fixtures for the probe engine: a Prober and real sockets, no Home Assistant."""

from __future__ import annotations

import socket

import pytest

from custom_components.tls_health.probe import Prober


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """The probe engine imports nothing of Home Assistant: no `hass` here."""


@pytest.fixture(autouse=True)
def _sockets(socket_enabled: None) -> None:
    """Real sockets on loopback for every probe test."""


@pytest.fixture
async def prober() -> Prober:
    return await Prober.create()


def ipv6_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True
