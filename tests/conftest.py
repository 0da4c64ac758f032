"""Shared fixtures: a private PKI and real TLS servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

# Imported before the `hass` fixture, so this repository's custom_components is found first.
import custom_components.tls_health  # noqa: F401

from .certs import Pki, make_pki
from .servers import SwappableTlsServer


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load integrations from custom_components in every test."""


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    """A private root CA and intermediate, written under tmp_path."""
    return make_pki(tmp_path)


type ServerFactory = Callable[..., Coroutine[Any, Any, SwappableTlsServer]]


@pytest.fixture
async def tls_server(pki: Pki, socket_enabled: None) -> AsyncGenerator[ServerFactory]:
    """Start servers that present a full, valid chain for hass.example.test unless told otherwise."""
    servers: list[SwappableTlsServer] = []

    async def start(
        *, legacy: bool = False, chain: tuple[Path, Path] | None = None
    ) -> SwappableTlsServer:
        server = SwappableTlsServer(legacy=legacy)
        server.serve(*(chain or pki.write("good", pki.leaf(), pki.intermediate)))
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()
