"""Shared fixtures: a private PKI and real servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
import os
from pathlib import Path
import socket
import ssl
from typing import Any
import warnings

from hypothesis import settings
import pytest
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
import pytest_socket
from syrupy.assertion import SnapshotAssertion

# Imported before the `hass` fixture, so this repository's custom_components is found first.
import custom_components.tls_health  # noqa: F401

from .certs import Issued, Pki
from .servers import Handler, HttpHandler, Server

# Property tests explore new inputs on developer machines; CI replays a fixed sequence.
settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load integrations from custom_components in every test."""


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots with Home Assistant's serializer (registry ids and times left out)."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture
def loopback_range(socket_enabled: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Let sockets connect to 127.0.0.2 and beyond too (phcc allows only 127.0.0.1)."""
    monkeypatch.setattr(socket.socket, "connect", pytest_socket._true_connect)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    """A private root CA and intermediate, written under tmp_path."""
    return Pki(tmp_path)


type StartServer = Callable[..., Any]


@pytest.fixture
async def serve(socket_enabled: None) -> AsyncIterator[StartServer]:
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


type EndpointServer = Callable[..., Any]


@pytest.fixture
def endpoint_server(
    pki: Pki, serve: StartServer, tls_context: Callable[..., ssl.SSLContext]
) -> EndpointServer:
    """Start a TLS server presenting `certs` (default: a valid leaf and its intermediate)."""

    async def start(*certs: Issued, legacy: bool = False) -> Server:
        certs = certs or (pki.leaf(), pki.intermediate)
        return await serve(context=tls_context(*certs, legacy=legacy))

    return start
