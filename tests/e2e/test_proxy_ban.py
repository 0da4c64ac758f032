"""Home Assistant bans its own proxy after failed logins through it; the repair names only that.

A real hass with IP bans and a low login threshold, a real proxy in front that sends no
X-Forwarded-For (so Home Assistant takes the proxy for every client), failed logins through Home
Assistant's own login flow, and the ban lifted as the repair says.
"""

from __future__ import annotations

from datetime import datetime
import json
import logging
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import yaml

from tests import icu
from tests.certs import Pki

from .hass_process import CLIENT_ID, HassProcess, relaunch_after_restart, run_hass
from .proxies import NginxProxy, ProxyFactory, ProxyKind, ProxyMode, nginx_binary, proxy_binary
from .test_restart import restart

pytestmark = pytest.mark.timeout(300)
LOGGER = logging.getLogger(__name__)

PROXY_ADDRESS = "127.0.0.5"
STRANGER_ADDRESS = "127.0.0.9"
VISITOR_ADDRESS = "127.0.0.8"
API_ADDRESS = "127.0.0.2"
THRESHOLD = 3
ZONE = "Asia/Shanghai"
NOT_THIS_PATHS = (
    "the request for this check's nonce answered 403; Home Assistant's ban list holds 1 address, "
    "none proven to be this path's (the address an earlier check's own request proved is not "
    "banned)"
)
HTTP = {
    "use_x_forwarded_for": True,
    "trusted_proxies": [f"{PROXY_ADDRESS}/32"],
    "ip_ban_enabled": True,
    "login_attempts_threshold": THRESHOLD,
}


async def fail_logins(url: str, times: int, *, host: str = "", source: str = "127.0.0.1") -> None:
    """Log in with a wrong password through Home Assistant's own login flow, `times` times."""
    headers = {"Host": host} if host else {}
    connector = aiohttp.TCPConnector(ssl=False, local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector, headers=headers) as client:
        for _ in range(times):
            async with client.post(
                f"{url}/auth/login_flow",
                json={
                    "client_id": CLIENT_ID,
                    "handler": ["homeassistant", None],
                    "redirect_uri": CLIENT_ID,
                },
            ) as response:
                assert response.status == 200, await response.text()
                flow = await response.json()
            async with client.post(
                f"{url}/auth/login_flow/{flow['flow_id']}",
                json={"client_id": CLIENT_ID, "username": "owner", "password": "not-the-password"},
            ) as response:
                assert response.status == 200, await response.text()
                assert (await response.json())["errors"] == {"base": "invalid_auth"}


async def status_through(port: int, source: str = "127.0.0.1") -> int:
    """What a visitor at `source` gets through the proxy."""
    connector = aiohttp.TCPConnector(ssl=False, local_addr=(source, 0))
    async with (
        aiohttp.ClientSession(connector=connector) as client,
        client.get(
            f"https://127.0.0.1:{port}/manifest.json",
            headers={"Host": f"hass.example.test:{port}"},
        ) as response,
    ):
        return response.status


def bans_in_file(config_dir: Path) -> dict[str, Any]:
    """ip_bans.yaml as Home Assistant wrote it."""
    path = config_dir / "ip_bans.yaml"
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def without_entry(text: str, address: str) -> str:
    """ip_bans.yaml with one entry deleted by hand: its line and the `banned_at` line below."""
    lines = text.splitlines(keepends=True)
    start = lines.index(f"{address}:\n")
    assert lines[start + 1].lstrip().startswith("banned_at:")
    return "".join(lines[:start] + lines[start + 2 :])


async def check_now(hass: HassProcess) -> None:
    await hass.rest("POST", "/api/services/tls_health/check_now", {})


async def entry_issues(hass: HassProcess, entry_id: str) -> dict[str, dict[str, Any]]:
    """Open repairs of an entry by key."""
    return {
        issue["issue_id"].removesuffix(f"_{entry_id}"): issue
        for issue in await hass.issues()
        if issue["issue_id"].endswith(entry_id)
    }


async def diagnostics(hass: HassProcess, entry_id: str) -> dict[str, Any]:
    async with hass.session.get(
        f"{hass.url}/api/diagnostics/config_entry/{entry_id}", headers=hass.headers
    ) as response:
        response.raise_for_status()
        return dict((await response.json())["data"])


async def shown(hass: HassProcess, issue: dict[str, Any], language: str) -> str:
    """The repair's text as the frontend renders it: HA's translations and the placeholders."""
    resources = (
        await hass.ws(
            {
                "type": "frontend/get_translations",
                "language": language,
                "category": "issues",
                "integration": ["tls_health"],
            }
        )
    )["resources"]
    prefix = f"component.tls_health.issues.{issue['translation_key']}"
    placeholders = issue["translation_placeholders"]
    title = icu.render(resources[f"{prefix}.title"], placeholders)
    return f"# {title}\n\n{icu.render(resources[f'{prefix}.description'], placeholders)}"


def nginx_or_haproxy() -> ProxyKind:
    for kind in (ProxyKind.NGINX, ProxyKind.HAPROXY):
        if proxy_binary(kind):
            return kind
    pytest.skip("no reverse proxy that binds a source address is installed (scripts/setup)")


async def test_a_proxy_banned_by_failed_logins_is_named_and_cleared_once_lifted(
    tmp_path: Path, pki: Pki, reverse_proxy: ProxyFactory
) -> None:
    chain, key = pki.server_files("proxy", pki.leaf(), pki.intermediate)
    config_dir = tmp_path / "config"
    async with run_hass(config_dir, http=HTTP) as hass:
        await hass.ws({"type": "config/core/update", "time_zone": ZONE})
        # a stranger on the LAN fails to log in straight at Home Assistant: banned too
        await fail_logins(hass.url, THRESHOLD, source=STRANGER_ADDRESS)
        proxy = await reverse_proxy(
            nginx_or_haproxy(),
            ProxyMode.NO_FORWARDED_FOR,
            chain_file=chain,
            key_file=key,
            upstream_port=hass.port,
            source_address=PROXY_ADDRESS,
        )
        # the first checks prove the path: Home Assistant takes the proxy for the client
        entry_id = await hass.watch(proxy.port, pki.root_file, leads_here=True)
        await check_now(hass)
        entities = await hass.entities(entry_id)
        assert await hass.state(entities["reverse_proxy"]) == "forwarded_for_missing"
        assert "forwarded_for_missing" in await entry_issues(hass, entry_id)

        # someone mistypes a password a few times through the proxy: Home Assistant bans it
        host = f"hass.example.test:{proxy.port}"
        await fail_logins(f"https://127.0.0.1:{proxy.port}", THRESHOLD, host=host)
        assert await status_through(proxy.port) == 403
        banned = bans_in_file(config_dir)
        assert set(banned) == {STRANGER_ADDRESS, PROXY_ADDRESS}

        await check_now(hass)
        await check_now(hass)  # a proxy finding is raised when two checks agree
        state = await hass.state(entities["reverse_proxy"])
        issues = await entry_issues(hass, entry_id)
        texts = {
            language: await shown(hass, issues["proxy_banned"], language)
            for language in ("en", "zh-Hans")
        }
        every_placeholder = json.dumps(
            [issue["translation_placeholders"] for issue in await hass.issues()]
        )

        # lifted as the text says: the entry removed from ip_bans.yaml, Home Assistant restarted
        lines = (config_dir / "ip_bans.yaml").read_text()
        (config_dir / "ip_bans.yaml").write_text(without_entry(lines, PROXY_ADDRESS))
        await restart(hass)
        await relaunch_after_restart(hass)
        await hass.wait_first_check(entry_id, leads_here=True)
        after = await entry_issues(hass, entry_id)
        state_after = await hass.state(entities["reverse_proxy"])
        through_after = await status_through(proxy.port)

    LOGGER.info("ip_bans.yaml written by Home Assistant:\n%s", lines)
    for language, text in texts.items():
        LOGGER.info("proxy_banned as shown (%s):\n%s", language, text)
    assert state == "banned"
    repair = issues["proxy_banned"]
    assert repair["severity"] == "error"
    assert repair["translation_key"] == "proxy_banned"
    placeholders = repair["translation_placeholders"]
    banned_at = datetime.fromisoformat(banned[PROXY_ADDRESS]["banned_at"]).astimezone(
        ZoneInfo(ZONE)
    )
    assert placeholders["banned_address"] == PROXY_ADDRESS
    assert placeholders["banned_at"] == f"{banned_at:%Y-%m-%d %H:%M} CST"
    assert placeholders["trusted_entry"] == f"{PROXY_ADDRESS}/32"
    # the other problem of the path stays open: a banned check could not judge it
    assert "forwarded_for_missing" in issues
    # the stranger's ban is in the same list and is never named
    assert STRANGER_ADDRESS not in every_placeholder
    assert f"`{PROXY_ADDRESS}`" in texts["en"]
    assert placeholders["banned_at"] in texts["zh-Hans"]
    assert "proxy_banned" not in after
    assert state_after == "forwarded_for_missing"
    assert through_after == 200
    assert set(bans_in_file(config_dir)) == {STRANGER_ADDRESS}


async def test_a_ban_of_the_address_the_check_comes_from_is_not_called_a_ban_of_the_proxy(
    tmp_path: Path, pki: Pki, reverse_proxy: ProxyFactory
) -> None:
    # proxy and Home Assistant on one host: the proxy connects from 127.0.0.1, as does the check
    chain, key = pki.server_files("proxy", pki.leaf(), pki.intermediate)
    http = {**HTTP, "trusted_proxies": ["127.0.0.1/32"]}
    async with run_hass(tmp_path / "config", http=http) as hass:
        # this test's own API calls leave from another address: 127.0.0.1 is about to be banned
        api = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(API_ADDRESS, 0)))
        hass.session = api
        try:
            proxy = await reverse_proxy(
                nginx_or_haproxy(),
                ProxyMode.GOOD,
                chain_file=chain,
                key_file=key,
                upstream_port=hass.port,
                source_address=None,
            )
            entry_id = await hass.watch(proxy.port, pki.root_file, leads_here=True)
            await check_now(hass)
            host = f"hass.example.test:{proxy.port}"
            # failed logins from this host through the proxy: HA sees 127.0.0.1 and bans it
            await fail_logins(f"https://127.0.0.1:{proxy.port}", THRESHOLD, host=host)
            await check_now(hass)
            await check_now(hass)
            entities = await hass.entities(entry_id)
            state = await hass.state(entities["reverse_proxy"])
            issues = await entry_issues(hass, entry_id)
            text = await shown(hass, issues["proxy_banned"], "en")
            # a visitor from elsewhere still gets in through the proxy
            elsewhere = await status_through(proxy.port, source=VISITOR_ADDRESS)
            here = await status_through(proxy.port)
        finally:
            await api.close()
    LOGGER.info("proxy_banned as shown (en):\n%s", text)
    assert state == "banned"
    assert (elsewhere, here) == (200, 403)
    repair = issues["proxy_banned"]
    assert repair["translation_key"] == "proxy_banned_client"
    assert repair["translation_placeholders"]["banned_address"] == "127.0.0.1"
    assert "Visitors coming from other addresses get in as before" in text


class DenyingNginx(NginxProxy):
    """nginx that, once `denying`, answers 403 to everyone itself (`deny all`)."""

    denying = False

    def config(self) -> str:
        text = super().config()
        if self.denying:
            text = text.replace("location / {\n", "location / {\n            deny all;\n", 1)
        return text


async def test_a_403_of_the_proxy_itself_names_no_ban(
    tmp_path: Path, pki: Pki, reverse_proxy: ProxyFactory
) -> None:
    if nginx_binary() is None:
        pytest.skip("nginx is not installed (scripts/setup installs it)")
    chain, key = pki.server_files("proxy", pki.leaf(), pki.intermediate)
    async with run_hass(tmp_path / "config", http=HTTP) as hass:
        await fail_logins(hass.url, THRESHOLD, source=STRANGER_ADDRESS)
        proxy = DenyingNginx(
            ProxyMode.NO_FORWARDED_FOR,
            chain_file=chain,
            key_file=key,
            upstream_port=hass.port,
            directory=tmp_path / "nginx-denying",
            source_address=PROXY_ADDRESS,
        )
        reverse_proxy.proxies.append(proxy)
        await proxy.start()
        entry_id = await hass.watch(proxy.port, pki.root_file, leads_here=True)
        await check_now(hass)
        open_before = set(await entry_issues(hass, entry_id))

        proxy.denying = True
        await proxy.restart(hass.port)
        assert await status_through(proxy.port) == 403
        for _ in range(3):
            await check_now(hass)
        entities = await hass.entities(entry_id)
        state = await hass.state(entities["reverse_proxy"])
        open_after = set(await entry_issues(hass, entry_id))
        notes = (await diagnostics(hass, entry_id))["reverse_proxy"]["notes"]
        every_placeholder = json.dumps(
            [issue["translation_placeholders"] for issue in await hass.issues()]
        )
    assert open_before == {"forwarded_for_missing"}
    assert state == "inconclusive"
    assert open_after == open_before  # no ban repair, and nothing cleared
    # the ban list was read: the stranger is in it, the proven proxy address is not
    assert notes == [NOT_THIS_PATHS]
    assert STRANGER_ADDRESS not in every_placeholder
