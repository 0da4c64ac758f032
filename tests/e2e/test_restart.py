"""A Home Assistant restart keeps an endpoint's repairs, sensors and config entry as they were."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
import itertools
import json
from pathlib import Path
import ssl
from typing import Any

import aiohttp
import pytest

from tests.certs import Pki, issue
from tests.conftest import StartServer

from .hass_process import RESTART_EXIT_CODE, HassProcess, relaunch_after_restart, run_hass

pytestmark = pytest.mark.timeout(120)
type Event = tuple[str, str]  # (action, issue_id) of repairs_issue_registry_updated

# handshake_time is measured anew by every check
SENSOR_KEYS = (
    "certificate_expiry",
    "days_until_expiry",
    "handshake",
    "tls_version",
    "issuer",
    "problem",
)


def stored_entry(config_dir: Path, entry_id: str) -> dict[str, Any]:
    """The config entry as Home Assistant saved it (complete once hass has stopped)."""
    stored = json.loads((config_dir / ".storage" / "core.config_entries").read_text())
    entry = next(entry for entry in stored["data"]["entries"] if entry["entry_id"] == entry_id)
    return {key: entry[key] for key in ("data", "options", "unique_id", "title", "disabled_by")}


async def restart(hass: HassProcess) -> None:
    """Restart as the UI does; the process is started again when it exits asking for it."""
    # the answer may be cut short by the shutdown it starts
    with contextlib.suppress(aiohttp.ClientError):
        await hass.rest("POST", "/api/services/homeassistant/restart", {})
    assert hass.process is not None
    assert await hass.process.wait() == RESTART_EXIT_CODE


@contextlib.asynccontextmanager
async def issue_events(hass: HassProcess) -> AsyncIterator[Callable[[], Awaitable[list[Event]]]]:
    """Subscribe to repairs_issue_registry_updated; yields a coroutine function that returns
    every TLS Health event received so far (a ping round trip flushes what was sent before)."""
    async with hass.session.ws_connect(f"{hass.url}/api/websocket") as socket_:
        assert (await socket_.receive_json())["type"] == "auth_required"
        await socket_.send_json({"type": "auth", "access_token": hass.token})
        assert (await socket_.receive_json())["type"] == "auth_ok"
        await socket_.send_json(
            {"id": 1, "type": "subscribe_events", "event_type": "repairs_issue_registry_updated"}
        )
        assert (await socket_.receive_json())["success"]
        received: list[Event] = []
        pings = itertools.count(2)

        async def drain() -> list[Event]:
            ping = next(pings)
            await socket_.send_json({"id": ping, "type": "ping"})
            while (message := await socket_.receive_json())["type"] != "pong":
                data = message["event"]["data"]
                if data["domain"] == "tls_health":
                    received.append((data["action"], data["issue_id"]))
            assert message["id"] == ping
            return received

        yield drain


async def sensor_states(hass: HassProcess, entities: dict[str, str]) -> dict[str, str]:
    """The states that must read the same before and after a restart."""
    return {key: await hass.state(entities[key]) for key in SENSOR_KEYS}


async def check_now(hass: HassProcess) -> None:
    """One check of every endpoint."""
    await hass.rest("POST", "/api/services/tls_health/check_now", {})


def by_id(issues: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Repairs by issue id (a list with a duplicate id would lose an element: compare lengths)."""
    return {issue["issue_id"]: issue for issue in issues}


async def test_restart_keeps_repairs_sensors_and_entry(
    tmp_path: Path, pki: Pki, serve: StartServer, tls_context: Callable[..., ssl.SSLContext]
) -> None:
    """Two self-signed endpoints, one of them down when Home Assistant restarts."""
    self_signed = issue("hass.example.test", names=("hass.example.test",))
    up = await serve(context=tls_context(self_signed))
    down = await serve(context=tls_context(self_signed))
    config_dir = tmp_path / "config"
    async with run_hass(config_dir) as hass:
        up_id = await hass.watch(up.port, pki.root_file)
        down_id = await hass.watch(down.port, pki.root_file)
        await check_now(hass)  # the second sighting confirms
        up_entities = await hass.entities(up_id)
        down_entities = await hass.entities(down_id)
        up_truth = await sensor_states(hass, up_entities)
        down_truth = await sensor_states(hass, down_entities)
        assert up_truth["handshake"] == down_truth["handshake"] == "self_signed"
        assert up_truth["problem"] == down_truth["problem"] == "on"
        await down.stop()
        for _ in range(3):  # endpoint_unreachable needs three checks
            await check_now(hass)
        repairs = await hass.issues()
        assert sorted(by_id(repairs)) == sorted(
            [
                f"self_signed_certificate_{up_id}",
                f"self_signed_certificate_{down_id}",
                f"endpoint_unreachable_{down_id}",
            ]
        )

        await restart(hass)
        entries_before = [stored_entry(config_dir, entry_id) for entry_id in (up_id, down_id)]
        await relaunch_after_restart(hass)

        for entry_id in (up_id, down_id):
            await hass.wait_first_check(entry_id)
        async with issue_events(hass) as received:
            # The same repairs with the same texts, none removed and created again (a new one
            # would carry a new creation time), also the certificate repair of the endpoint
            # that is down and could not confirm it after the restart.
            after = await hass.issues()
            assert len(after) == len(repairs)
            assert by_id(after) == by_id(repairs)
            assert await sensor_states(hass, up_entities) == up_truth
            assert await hass.state(down_entities["handshake"]) == "connection_refused"
            assert await hass.state(down_entities["problem"]) == "on"
            # the certificate last served by the endpoint that is down is still known
            for key in ("certificate_expiry", "days_until_expiry", "issuer"):
                assert await hass.state(down_entities[key]) == down_truth[key]
            await check_now(hass)
            await check_now(hass)
            assert await received() == []

            await down.start()
            await check_now(hass)
            assert await received() == [("remove", f"endpoint_unreachable_{down_id}")]
        assert sorted(by_id(await hass.issues())) == sorted(
            [f"self_signed_certificate_{up_id}", f"self_signed_certificate_{down_id}"]
        )
        assert await sensor_states(hass, up_entities) == up_truth
        assert await sensor_states(hass, down_entities) == down_truth
    assert [stored_entry(config_dir, entry_id) for entry_id in (up_id, down_id)] == entries_before
    assert [entry["data"] for entry in entries_before] == [
        {
            "url": f"https://hass.example.test:{server.port}",
            "address": "127.0.0.1",
            "ca_file": str(pki.root_file),
        }
        for server in (up, down)
    ]
