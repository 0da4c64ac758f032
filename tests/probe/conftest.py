"""Fixtures for the probe engine: a private PKI, a Prober, and servers on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
import socket
import ssl
from typing import Any
import warnings

import pytest

from custom_components.tls_health.probe import Prober

from .certs import Issued, Pki
from .servers import Handler, HttpHandler, Server


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """The probe engine imports nothing of Home Assistant: no `hass` here."""


@pytest.fixture(autouse=True)
def _sockets(socket_enabled: None) -> None:
    """Real sockets on loopback for every probe test."""


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


@pytest.fixture
async def prober() -> Prober:
    return await Prober.create()


type StartServer = Callable[..., Any]


@pytest.fixture
async def serve() -> AsyncIterator[StartServer]:
    """Start a Server (TLS when given a context); all are stopped after the test."""
    servers: list[Server] = []

    async def start(
        handler: Handler | None = None,
        *,
        context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
    ) -> Server:
        server = Server(handler or HttpHandler(), context=context, host=host)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
def tls_context(pki: Pki) -> Callable[..., ssl.SSLContext]:
    """Server context for a leaf and chain; legacy=True also accepts TLS 1.0 and 1.1."""

    def make(leaf: Issued, *chain: Issued, legacy: bool = False, **kwargs: Any) -> ssl.SSLContext:
        if legacy:
            kwargs.setdefault("ciphers", "DEFAULT:@SECLEVEL=0")
            kwargs.setdefault("minimum", ssl.TLSVersion.TLSv1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return pki.server_context(leaf, *chain, **kwargs)

    return make


def ipv6_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True
