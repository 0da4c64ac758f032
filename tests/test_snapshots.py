"""The public contract, pinned: entities (keys, states, units, options), the device and diagnostics.

A real TLS server presents a chain with fixed dates, and time is frozen, so every value is stable.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
import ssl
from unittest.mock import patch

from cryptography.hazmat.primitives import hashes
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props
from syrupy.matchers import path_type

from custom_components.tls_health.const import CONF_ADDRESS, CONF_CA_FILE, CONF_URL, DOMAIN
from custom_components.tls_health.diagnostics import async_get_config_entry_diagnostics

from .certs import Issued, issue
from .conftest import StartServer

FROZEN = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ENTRY_ID = "01JTLSHEALTHSNAPSH0T000000"
HOST = "hass.example.test"


def chain_with_fixed_dates() -> tuple[Issued, Issued, Issued]:
    """Leaf valid for 90 days (60 left at FROZEN), its intermediate and root."""
    root = issue(
        "TLS Health Snapshot Root CA",
        ca=True,
        not_before=FROZEN - timedelta(days=365),
        not_after=FROZEN + timedelta(days=3650),
    )
    intermediate = issue(
        "TLS Health Snapshot Intermediate R1",
        issuer=root,
        ca=True,
        not_before=FROZEN - timedelta(days=365),
        not_after=FROZEN + timedelta(days=1000),
    )
    leaf = issue(
        HOST,
        issuer=intermediate,
        names=(HOST,),
        not_before=FROZEN - timedelta(days=30),
        not_after=FROZEN + timedelta(days=60),
    )
    return leaf, intermediate, root


# Issued before any test freezes time (cryptography refuses frozen datetimes).
LEAF, INTERMEDIATE, ROOT = chain_with_fixed_dates()
LEAF_IDENTITY = {
    "certificate_fingerprint": LEAF.cert.fingerprint(hashes.SHA256()).hex(),
    "certificate_serial": format(LEAF.cert.serial_number, "x"),
}


@pytest.fixture
async def snapshot_entry(
    hass: HomeAssistant, tmp_path: Path, serve: StartServer, freezer: FrozenDateTimeFactory
) -> MockConfigEntry:
    """An endpoint on a real TLS server, checked once at FROZEN."""
    freezer.move_to(FROZEN)
    root_file = tmp_path / "snapshot-root.pem"
    root_file.write_bytes(ROOT.pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    chain_file = tmp_path / "chain.pem"
    chain_file.write_bytes(LEAF.pem + INTERMEDIATE.pem)
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(LEAF.key_pem)
    context.load_cert_chain(chain_file, key_file)
    server = await serve(context=context)
    entry = MockConfigEntry(
        domain=DOMAIN,
        entry_id=ENTRY_ID,
        title=HOST,
        data={
            CONF_URL: f"https://{HOST}:{server.port}",
            CONF_ADDRESS: "127.0.0.1",
            CONF_CA_FILE: str(root_file),
        },
        unique_id=f"{HOST}:{server.port}:{HOST}",
    )
    entry.add_to_hass(hass)
    return entry


async def _set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


def _platform_snapshot(
    hass: HomeAssistant, entry: MockConfigEntry, snapshot: SnapshotAssertion
) -> None:
    """Every entity of the entry: its registry entry and its state."""
    registry = er.async_get(hass)
    entities = er.async_entries_for_config_entry(registry, entry.entry_id)
    assert entities
    for entity in sorted(entities, key=lambda entity: entity.entity_id):
        assert entity == snapshot(name=f"{entity.entity_id}-entry")
        state = hass.states.get(entity.entity_id)
        key = entity.unique_id.removeprefix(f"{entry.entry_id}_")
        if key in LEAF_IDENTITY:
            # A signature is random, so serial and fingerprint change from run to run.
            assert state is not None
            assert state.state == LEAF_IDENTITY[key]
            assert state == snapshot(name=f"{entity.entity_id}-state", exclude=props("state"))
            continue
        assert state == snapshot(name=f"{entity.entity_id}-state")


@pytest.mark.parametrize("platform", [Platform.SENSOR, Platform.BINARY_SENSOR, Platform.EVENT])
async def test_entities(
    hass: HomeAssistant,
    snapshot_entry: MockConfigEntry,
    snapshot: SnapshotAssertion,
    platform: Platform,
) -> None:
    with patch("custom_components.tls_health.PLATFORMS", [platform]):
        await _set_up(hass, snapshot_entry)
    _platform_snapshot(hass, snapshot_entry, snapshot)


async def test_device(
    hass: HomeAssistant, snapshot_entry: MockConfigEntry, snapshot: SnapshotAssertion
) -> None:
    await _set_up(hass, snapshot_entry)
    (device,) = dr.async_entries_for_config_entry(dr.async_get(hass), ENTRY_ID)
    # The port of the test server changes from run to run.
    assert device == snapshot(exclude=props("configuration_url"))
    port = snapshot_entry.data[CONF_URL].rpartition(":")[2]
    assert device.configuration_url == f"https://{HOST}:{port}/"


async def test_diagnostics(
    hass: HomeAssistant, snapshot_entry: MockConfigEntry, snapshot: SnapshotAssertion
) -> None:
    await _set_up(hass, snapshot_entry)
    # Called directly: an access token issued now is not valid at the frozen time.
    diagnostics = await async_get_config_entry_diagnostics(hass, snapshot_entry)
    # The test server's port and the measured times change from run to run.
    volatile = path_type(
        {
            "report.target.port": (int,),
            "report.details.port": (str,),
            r"report\.timings\..*": (float, type(None)),
        },
        regex=True,
    )
    assert diagnostics == snapshot(matcher=volatile)


async def _greets_in_plain_text(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 mail.home.example ESMTP ready\r\n")
    await writer.drain()
    await reader.read()


async def test_diagnostics_of_server_words_and_a_missing_ca_file(
    hass: HomeAssistant,
    tmp_path: Path,
    serve: StartServer,
    freezer: FrozenDateTimeFactory,
    snapshot: SnapshotAssertion,
) -> None:
    """A greeting where TLS was expected (host names) and an unreadable CA file (its path)."""
    freezer.move_to(FROZEN)
    server = await serve(_greets_in_plain_text)
    entry = MockConfigEntry(
        domain=DOMAIN,
        entry_id=ENTRY_ID,
        title=HOST,
        data={
            CONF_URL: f"smtps://{HOST}:{server.port}",
            CONF_ADDRESS: "127.0.0.1",
            CONF_CA_FILE: str(tmp_path / "missing-root.pem"),
        },
        unique_id=f"{HOST}:{server.port}:{HOST}",
    )
    entry.add_to_hass(hass)
    await _set_up(hass, entry)
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    volatile = path_type(
        {
            "report.target.port": (int,),
            "report.details.port": (str,),
            r"report\.timings\..*": (float, type(None)),
        },
        regex=True,
    )
    assert diagnostics == snapshot(matcher=volatile)
