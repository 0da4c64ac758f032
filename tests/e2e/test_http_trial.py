"""HTTP settings on trial, in a real Home Assistant behind a real nginx.

Settings change only through Home Assistant's own `http/config/configure` command; Home
Assistant restarts and runs them on trial, they are confirmed through `http/config/promote` or
reverted by Home Assistant itself when nobody confirms them (its delay shortened by the
launcher, never by editing its storage).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from pathlib import Path
import time
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from tests.certs import Pki

from .hass_process import HassProcess, relaunch_after_restart, run_hass
from .proxies import ProxyFactory, ProxyKind, ProxyMode, proxy_binary

pytestmark = [
    pytest.mark.timeout(900),
    pytest.mark.skipif(proxy_binary(ProxyKind.NGINX) is None, reason="nginx is not installed"),
]

ZONE = "Asia/Shanghai"  # the texts show moments in Home Assistant's time zone
# Enough for a loaded machine to restart Home Assistant and check once before the revert.
REVERT_AFTER = 75.0
META = ("created_at", "error", "error_message")
TRUST_PROXY = {"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.5/32"]}


async def http_config(hass: HassProcess) -> dict[str, Any]:
    """Home Assistant's HTTP settings as its own UI reads them."""
    return dict(await hass.ws({"type": "http/config"}))


async def configure(hass: HassProcess, **changes: object) -> dict[str, Any]:
    """Save changed HTTP settings as the UI's form does: the stable ones with `changes`."""
    stable = (await http_config(hass))["stable"]
    settings = {key: value for key, value in stable.items() if key not in META}
    return dict(await hass.ws({"type": "http/config/configure", "config": settings | changes}))


async def save_and_restart(hass: HassProcess, **changes: object) -> None:
    """Save settings; Home Assistant restarts to try them, and is started again."""
    assert await configure(hass, **changes) == {"restart": True}
    await relaunch_after_restart(hass)


async def check_now(hass: HassProcess) -> None:
    await hass.rest("POST", "/api/services/tls_health/check_now", {})


async def repairs(hass: HassProcess, entry_id: str) -> dict[str, dict[str, Any]]:
    """The entry's open repairs by key."""
    return {
        issue["issue_id"].removesuffix(f"_{entry_id}"): issue
        for issue in await hass.issues()
        if issue["issue_id"].endswith(entry_id)
    }


def shown(moment: str, *, seconds: bool = True) -> str:
    """A moment as the texts show it, in Home Assistant's time zone: a deadline to the second."""
    form = "%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z"
    return datetime.fromisoformat(moment).astimezone(ZoneInfo(ZONE)).strftime(form)


async def watch_behind_nginx(
    hass: HassProcess,
    pki: Pki,
    reverse_proxy: ProxyFactory,
    source: str = "127.0.0.5",
    mode: ProxyMode = ProxyMode.GOOD,
) -> str:
    """nginx in front of hass, connecting from `source`; an endpoint marked as leading here."""
    chain, key = pki.server_files("proxy", pki.leaf(), pki.intermediate)
    proxy = await reverse_proxy(
        ProxyKind.NGINX,
        mode,
        chain_file=chain,
        key_file=key,
        upstream_port=hass.port,
        source_address=source,
    )
    return await hass.watch(proxy.port, pki.root_file, leads_here=True)


async def until_no_repair(hass: HassProcess, entry_id: str, within: float) -> None:
    """Wait for the entry's repairs to be gone, by checks the integration runs by itself."""
    async with asyncio.timeout(within):
        while True:
            if not await repairs(hass, entry_id):
                return
            await asyncio.sleep(1)


async def test_trial_warned_reverted_explained_then_confirmed(
    tmp_path: Path, pki: Pki, reverse_proxy: ProxyFactory
) -> None:
    """Reverse proxy support turned on through a trial: works for minutes, then "by itself" not."""
    async with run_hass(
        tmp_path / "config", http={"use_x_forwarded_for": False}, revert_after=REVERT_AFTER
    ) as hass:
        await hass.ws({"type": "config/core/update", "time_zone": ZONE})
        entry_id = await watch_behind_nginx(hass, pki, reverse_proxy)
        await check_now(hass)
        before = await repairs(hass, entry_id)

        # The user turns reverse proxy support on; Home Assistant restarts and tries it.
        await save_and_restart(hass, **TRUST_PROXY)
        await hass.wait_first_check(entry_id, leads_here=True)
        trial = await http_config(hass)
        on_trial = await repairs(hass, entry_id)
        seen_at = time.time()
        entities = await hass.entities(entry_id)
        state_on_trial = await hass.state(entities["reverse_proxy"])

        # Nobody confirms: Home Assistant reverts and restarts by itself.
        await relaunch_after_restart(hass, within=REVERT_AFTER + 90)
        reverted = await http_config(hass)
        await hass.wait_first_check(entry_id, leads_here=True)
        await check_now(hass)  # a proxy repair is raised when a second check agrees
        after_revert = await repairs(hass, entry_id)

        # The user saves the same settings again and confirms them this time.
        await save_and_restart(hass, **TRUST_PROXY)
        await hass.wait_first_check(entry_id, leads_here=True)
        warned_again = await repairs(hass, entry_id)
        await hass.ws({"type": "http/config/promote"})
        promoted = await http_config(hass)
        # No check_now: during a trial the endpoint is checked every minute.
        await until_no_repair(hass, entry_id, within=120)
        state_confirmed = await hass.state(entities["reverse_proxy"])

    assert [texts(found) for found in (before, on_trial, after_revert, warned_again)] == [
        {"reverse_proxy_support_disabled": "reverse_proxy_support_disabled"},
        {"proxy_settings_on_trial": "proxy_settings_on_trial"},
        {"reverse_proxy_support_disabled": "reverse_proxy_support_disabled_reverted"},
        {"proxy_settings_on_trial": "proxy_settings_on_trial"},
    ]
    placeholders = assert_warned(trial, on_trial, seen_at)
    assert state_on_trial == "ok"

    assert reverted["active_config_type"] == "stable"
    assert reverted["pending"]["error"] == "not_promoted"
    broken = after_revert["reverse_proxy_support_disabled"]
    assert broken["translation_placeholders"]["trusted_entry"] == "127.0.0.5/32"
    assert broken["translation_placeholders"]["saved_at"] == placeholders["saved_at"]

    assert promoted["active_config_type"] == "stable"
    assert promoted["pending"] is None
    assert promoted["stable"]["use_x_forwarded_for"] is True
    assert state_confirmed == "ok"


def assert_warned(
    trial: dict[str, Any], found: dict[str, dict[str, Any]], seen_at: float
) -> dict[str, str]:
    """The trial warning was there before the deadline, with HA's own moments; its values."""
    assert trial["active_config_type"] == "pending"
    assert trial["pending"]["error"] is None
    assert seen_at < datetime.fromisoformat(trial["revert_at"]).timestamp()
    assert list(found) == ["proxy_settings_on_trial"]
    warning = found["proxy_settings_on_trial"]
    assert warning["translation_key"] == "proxy_settings_on_trial"
    assert warning["severity"] == "warning"
    placeholders: dict[str, str] = warning["translation_placeholders"]
    assert placeholders["proxy_address"] == "127.0.0.5"
    assert placeholders["trusted_entry"] == "127.0.0.5/32"
    assert placeholders["revert_at"] == shown(trial["revert_at"])
    assert placeholders["revert_at"].endswith(" CST")
    assert placeholders["saved_at"] == shown(trial["pending"]["created_at"], seconds=False)
    return placeholders


async def test_saved_settings_apply_on_restart_and_an_unrelated_trial_stays_quiet(
    tmp_path: Path, pki: Pki, reverse_proxy: ProxyFactory
) -> None:
    """Settings saved while Home Assistant refuses to restart (its configuration has an error)."""
    stable = {"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.9/32"]}
    fixed = {"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.5/32", "127.0.0.6/32"]}
    async with run_hass(tmp_path / "config", http=stable) as hass:
        await hass.ws({"type": "config/core/update", "time_zone": ZONE})
        not_trusted = await watch_behind_nginx(hass, pki, reverse_proxy, "127.0.0.5")
        no_header = await watch_behind_nginx(
            hass, pki, reverse_proxy, "127.0.0.6", ProxyMode.NO_FORWARDED_FOR
        )
        await check_now(hass)
        before = {entry: await repairs(hass, entry) for entry in (not_trusted, no_header)}

        configuration = hass.config_dir / "configuration.yaml"
        valid = configuration.read_text()
        configuration.write_text(f"{valid}broken: [\n")
        assert await configure(hass, **fixed) == {"restart": True}  # asked, and refused
        saved = await http_config(hass)
        await check_now(hass)
        while_saved = {entry: await repairs(hass, entry) for entry in (not_trusted, no_header)}

        configuration.write_text(valid)
        await restart(hass)
        await hass.wait_first_check(not_trusted, leads_here=True)
        await hass.wait_first_check(no_header, leads_here=True)
        on_trial = {entry: await repairs(hass, entry) for entry in (not_trusted, no_header)}
        await hass.ws({"type": "http/config/promote"})
        await check_now(hass)
        confirmed = {entry: await repairs(hass, entry) for entry in (not_trusted, no_header)}

        # A trial of an unrelated setting: the proxy works with the stable settings too.
        await save_and_restart(hass, login_attempts_threshold=5)
        await hass.wait_first_check(not_trusted, leads_here=True)
        await hass.wait_first_check(no_header, leads_here=True)
        unrelated = await http_config(hass)
        unrelated_trial = {entry: await repairs(hass, entry) for entry in (not_trusted, no_header)}

    shown_as = [
        [texts(found[entry]) for entry in (not_trusted, no_header)]
        for found in (before, while_saved, on_trial, confirmed, unrelated_trial)
    ]
    assert shown_as == [
        [
            {"reverse_proxy_not_trusted": "reverse_proxy_not_trusted"},
            {"forwarded_for_missing": "forwarded_for_missing"},
        ],
        [
            {"reverse_proxy_not_trusted": "reverse_proxy_not_trusted_saved"},
            {"forwarded_for_missing": "forwarded_for_missing_saved"},
        ],
        [
            {"proxy_settings_on_trial": "proxy_settings_on_trial_not_trusted"},
            {"forwarded_for_missing": "forwarded_for_missing"},
        ],
        [{}, {"forwarded_for_missing": "forwarded_for_missing"}],
        [{}, {"forwarded_for_missing": "forwarded_for_missing"}],  # the stable ones work too
    ]
    assert saved["active_config_type"] == "stable"
    assert saved["pending"]["error"] is None
    assert saved["pending"]["trusted_proxies"] == fixed["trusted_proxies"]
    saved_at = shown(saved["pending"]["created_at"], seconds=False)
    for entry, key, entry_shown in (
        (not_trusted, "reverse_proxy_not_trusted", "127.0.0.5/32"),
        (no_header, "forwarded_for_missing", "127.0.0.6/32"),
    ):
        placeholders = while_saved[entry][key]["translation_placeholders"]
        assert placeholders["saved_at"] == saved_at
        assert placeholders["trusted_entry"] == entry_shown
    warning = on_trial[not_trusted]["proxy_settings_on_trial"]["translation_placeholders"]
    assert warning["trusted_entry"] == "127.0.0.5/32"
    assert unrelated["active_config_type"] == "pending"
    assert unrelated["revert_at"] is not None


def texts(found: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The text each open repair of an entry is shown with, by key."""
    return {key: issue["translation_key"] for key, issue in found.items()}


async def restart(hass: HassProcess) -> None:
    """Restart as the UI does, and start the process again when it exits asking for it."""
    with contextlib.suppress(aiohttp.ClientError):
        await hass.rest("POST", "/api/services/homeassistant/restart", {})
    await relaunch_after_restart(hass)


async def test_a_hop_trusted_by_saved_then_tried_then_reverted_settings(
    tmp_path: Path, pki: Pki, reverse_proxy: ProxyFactory
) -> None:
    """nginx in front of nginx; only the inner one (127.0.0.5) is trusted, the outer (127.0.0.6)
    is added in settings saved while a restart is refused, then tried and never confirmed."""
    inner_only = {"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.5/32"]}
    both = {"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.5/32", "127.0.0.6/32"]}
    async with run_hass(tmp_path / "config", http=inner_only, revert_after=REVERT_AFTER) as hass:
        await hass.ws({"type": "config/core/update", "time_zone": ZONE})
        chain, key = pki.server_files("proxy", pki.leaf(), pki.intermediate)
        inner = await reverse_proxy(
            ProxyKind.NGINX,
            chain_file=chain,
            key_file=key,
            upstream_port=hass.port,
            source_address="127.0.0.5",
        )
        outer = await reverse_proxy(
            ProxyKind.NGINX,
            chain_file=chain,
            key_file=key,
            upstream_port=inner.port,
            source_address="127.0.0.6",
            upstream_tls=True,
        )
        entry_id = await hass.watch(outer.port, pki.root_file, leads_here=True)
        await check_now(hass)
        before = await repairs(hass, entry_id)

        configuration = hass.config_dir / "configuration.yaml"
        valid = configuration.read_text()
        configuration.write_text(f"{valid}broken: [\n")
        assert await configure(hass, **both) == {"restart": True}  # asked, and refused
        await check_now(hass)
        while_saved = await repairs(hass, entry_id)

        configuration.write_text(valid)
        await restart(hass)
        await hass.wait_first_check(entry_id, leads_here=True)
        on_trial = await repairs(hass, entry_id)
        trial = await http_config(hass)
        seen_at = time.time()

        await relaunch_after_restart(hass, within=REVERT_AFTER + 90)  # nobody confirmed
        await hass.wait_first_check(entry_id, leads_here=True)
        await check_now(hass)
        after_revert = await repairs(hass, entry_id)

    assert [texts(found) for found in (before, while_saved, on_trial, after_revert)] == [
        {"outer_hop_not_trusted": "outer_hop_not_trusted"},
        {"outer_hop_not_trusted": "outer_hop_not_trusted_saved"},
        {"proxy_settings_on_trial": "proxy_settings_on_trial_hop"},
        {"outer_hop_not_trusted": "outer_hop_not_trusted_reverted"},
    ]
    assert seen_at < datetime.fromisoformat(trial["revert_at"]).timestamp()
    warning = on_trial["proxy_settings_on_trial"]["translation_placeholders"]
    assert {key: warning[key] for key in ("hop", "previous_hop", "hop_entry", "proxy_address")} == {
        "hop": "127.0.0.6",
        "previous_hop": "127.0.0.1",
        "hop_entry": "127.0.0.6/32",
        "proxy_address": "127.0.0.5",
    }
    assert warning["revert_at"] == shown(trial["revert_at"])
    saved_at = shown(trial["pending"]["created_at"], seconds=False)
    for found in (while_saved, after_revert):
        placeholders = found["outer_hop_not_trusted"]["translation_placeholders"]
        assert placeholders["hop_entry"] == "127.0.0.6/32"
    assert after_revert["outer_hop_not_trusted"]["translation_placeholders"]["saved_at"] == saved_at
