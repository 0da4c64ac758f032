"""End-to-end tests: the integration runs in a real `hass` process, not in the test's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .proxies import ProxyFactory


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """No in-process `hass` here."""


@pytest.fixture(autouse=True)
def _sockets(socket_enabled: None) -> None:
    """Real loopback sockets for every end-to-end test."""


@pytest.fixture
async def reverse_proxy(tmp_path: Path) -> AsyncIterator[ProxyFactory]:
    """Start real reverse proxies; all are stopped after the test."""
    factory = ProxyFactory(tmp_path / "proxies")
    yield factory
    await factory.aclose()
