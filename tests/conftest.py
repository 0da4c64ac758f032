"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Generator

import pytest

# Imported before the `hass` fixture, so this repository's custom_components is found first.
import custom_components.tls_health  # noqa: F401


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> Generator[None]:
    """Load integrations from custom_components in every test."""
    return
