"""A real Home Assistant process on 127.0.0.1 with this repository's integration, and its API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass, field
from http import HTTPStatus
import itertools
import json
import os
from pathlib import Path
import signal
import socket
import sys
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "http://127.0.0.1/"
RESTART_EXIT_CODE = 100  # what `hass` exits with when asked to restart
LAUNCHER = Path(__file__).with_name("hass_launcher.py")
CONFIGURATION = """\
homeassistant:
  name: TLS Health e2e
logger:
  default: warning
  logs:
    custom_components.tls_health: debug
"""


def free_port() -> int:
    """A loopback port free at this moment."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(
    config_dir: Path, port: int, http: dict[str, Any] | None = None, yaml: str = ""
) -> None:
    """configuration.yaml, the http store (HA 2026.10+) and the integration linked in.

    `http` holds settings of the http store (use_x_forwarded_for, trusted_proxies, ssl_*).
    """
    (config_dir / ".storage").mkdir(parents=True, exist_ok=True)
    (config_dir / "configuration.yaml").write_text(CONFIGURATION + yaml)
    (config_dir / ".storage" / "http").write_text(
        json.dumps(
            {
                "version": 1,
                "minor_version": 1,
                "key": "http",
                "data": {"server_host": ["127.0.0.1"], "server_port": port, **(http or {})},
            }
        )
    )
    with contextlib.suppress(FileExistsError):
        (config_dir / "custom_components").symlink_to(ROOT / "custom_components")


@dataclass
class HassProcess:
    """A running hass and an authenticated API session."""

    url: str
    session: aiohttp.ClientSession
    port: int = 0
    token: str = ""
    log: Path = field(default_factory=Path)
    config_dir: Path = field(default_factory=Path)
    process: asyncio.subprocess.Process | None = None
    # Seconds before HA reverts HTTP settings on trial (its own 5 minutes when None).
    revert_after: float | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def headers(self) -> dict[str, str]:
        """Authorization header of the onboarded owner."""
        return {"Authorization": f"Bearer {self.token}"}

    async def onboard(self) -> None:
        """Create the owner through onboarding and exchange the code for an access token."""
        async with self.session.post(
            f"{self.url}/api/onboarding/users",
            json={
                "client_id": CLIENT_ID,
                "name": "Owner",
                "username": "owner",
                "password": "e2e-password-not-secret",
                "language": "en",
            },
        ) as response:
            response.raise_for_status()
            code = (await response.json())["auth_code"]
        async with self.session.post(
            f"{self.url}/auth/token",
            data={"grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID},
        ) as response:
            response.raise_for_status()
            self.token = (await response.json())["access_token"]

    async def rest(self, method: str, path: str, body: Any = None) -> Any:
        """Call the REST API and return the JSON answer."""
        async with self.session.request(
            method, f"{self.url}{path}", json=body, headers=self.headers
        ) as response:
            if response.status >= 400:
                raise AssertionError(f"{method} {path}: {response.status} {await response.text()}")
            return await response.json()

    async def ws(self, message: dict[str, Any]) -> Any:
        """Send one WebSocket command and return its result."""
        async with self.session.ws_connect(f"{self.url}/api/websocket") as socket_:
            assert (await socket_.receive_json())["type"] == "auth_required"
            await socket_.send_json({"type": "auth", "access_token": self.token})
            assert (await socket_.receive_json())["type"] == "auth_ok"
            await socket_.send_json({"id": next(self._ids), **message})
            answer = await socket_.receive_json()
        assert answer["success"], answer
        return answer["result"]

    async def wait_running(self, within: float = 90, interval: float = 0.25) -> None:
        """Wait until every integration is set up (the API answers before that)."""
        async with asyncio.timeout(within):
            while True:
                if (await self.rest("GET", "/api/config"))["state"] == "RUNNING":
                    return
                await asyncio.sleep(interval)

    async def add_endpoint(self, url: str, **advanced: str) -> dict[str, Any]:
        """Add an endpoint through the config flow API; the flow's last answer."""
        flow = await self.rest("POST", "/api/config/config_entries/flow", {"handler": "tls_health"})
        return dict(
            await self.rest(
                "POST",
                f"/api/config/config_entries/flow/{flow['flow_id']}",
                {"url": url, "advanced": advanced},
            )
        )

    async def watch(self, port: int, ca_file: Path, *, leads_here: bool = False) -> str:
        """Add hass.example.test:port on 127.0.0.1, trusting ca_file, and wait for its first
        check; the new entry's id. `leads_here`: mark it in the options as leading to this HA,
        so that its reverse proxy is checked."""
        created = await self.add_endpoint(
            f"https://hass.example.test:{port}", address="127.0.0.1", ca_file=str(ca_file)
        )
        assert created["type"] == "create_entry", created
        entry_id = str(created["result"]["entry_id"])
        await self.wait_first_check(entry_id)
        if leads_here:
            saved = await self.set_options(entry_id, {"leads_to_home_assistant": True})
            assert saved["type"] == "create_entry", saved
            await self.wait_first_check(entry_id, leads_here=True)
        return entry_id

    async def set_options(self, entry_id: str, options: dict[str, Any]) -> dict[str, Any]:
        """Save an entry's options through the options flow API; the flow's last answer."""
        flow = await self.rest(
            "POST", "/api/config/config_entries/options/flow", {"handler": entry_id}
        )
        return dict(
            await self.rest(
                "POST", f"/api/config/config_entries/options/flow/{flow['flow_id']}", options
            )
        )

    async def wait_first_check(self, entry_id: str, *, leads_here: bool = False) -> None:
        """Until an entry has been checked (the first check runs once hass has started).

        Sensors show their last state until then, so the entry's diagnostics tell: they hold a
        report only once this hass has checked the endpoint. They answer 404 until the entry that
        loads the integration has registered its diagnostics platform.
        """
        url = f"{self.url}/api/diagnostics/config_entry/{entry_id}"
        async with asyncio.timeout(60):
            while True:
                async with self.session.get(url, headers=self.headers) as response:
                    if response.status != HTTPStatus.NOT_FOUND:
                        response.raise_for_status()
                        data = (await response.json())["data"]
                        marked = data["options"]["leads_to_home_assistant"]
                        if data["report"] is not None and (marked or not leads_here):
                            return
                await asyncio.sleep(0.1)

    async def entities(self, entry_id: str) -> dict[str, str]:
        """Entity ids of a TLS Health entry by key."""
        return {
            entity["unique_id"].removeprefix(f"{entry_id}_"): entity["entity_id"]
            for entity in await self.ws({"type": "config/entity_registry/list"})
            if entity["config_entry_id"] == entry_id
        }

    async def issues(self) -> list[dict[str, Any]]:
        """Open repairs of TLS Health."""
        issues = (await self.ws({"type": "repairs/list_issues"}))["issues"]
        return [issue for issue in issues if issue["domain"] == "tls_health"]

    async def wait_issue(self, issue_id: str, within: float = 60) -> dict[str, Any]:
        """Until a repair of TLS Health with this id is open; the issue."""
        async with asyncio.timeout(within):
            while True:
                for issue in await self.issues():
                    if issue["issue_id"] == issue_id:
                        return issue
                await asyncio.sleep(0.2)

    async def diagnostics(self, entry_id: str) -> dict[str, Any]:
        """The diagnostics of an entry, as the download offers them."""
        url = f"{self.url}/api/diagnostics/config_entry/{entry_id}"
        async with self.session.get(url, headers=self.headers) as response:
            response.raise_for_status()
            return dict((await response.json())["data"])

    async def state(self, entity_id: str) -> str:
        """State of an entity."""
        return str((await self.rest("GET", f"/api/states/{entity_id}"))["state"])


async def _launch(
    config_dir: Path, revert_after: float | None = None
) -> asyncio.subprocess.Process:
    """Start `python -m homeassistant`; through the launcher when the trial is shortened."""
    start: tuple[str, ...] = ("-m", "homeassistant")
    env = None
    if revert_after is not None:
        start = (str(LAUNCHER),)
        env = {**os.environ, "TLS_HEALTH_E2E_REVERT_AFTER_SECONDS": str(revert_after)}
    with (config_dir / "hass-stdout.log").open("ab") as output:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            *start,
            "--config",
            str(config_dir),
            "--skip-pip",
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
            # Integrations come from the config dir's custom_components, as for a user.
            cwd=config_dir,
            env=env,
        )


async def _wait_ready(hass: HassProcess, within: float, interval: float = 0.25) -> None:
    async with asyncio.timeout(within):
        while True:
            if hass.process is not None and hass.process.returncode is not None:
                raise RuntimeError(f"hass exited: {hass.log.read_text()[-3000:]}")
            with contextlib.suppress(aiohttp.ClientError):
                async with hass.session.get(f"{hass.url}/api/onboarding") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(interval)


async def relaunch_after_restart(hass: HassProcess, within: float = 90) -> None:
    """Wait for hass to exit asking for a restart (code 100) and start it again, as a supervisor
    or systemd would for a Home Assistant Core installation."""
    assert hass.process is not None
    async with asyncio.timeout(within):
        code = await hass.process.wait()
    assert code == RESTART_EXIT_CODE, code
    hass.process = await _launch(hass.config_dir, hass.revert_after)
    await _wait_ready(hass, within)
    await hass.wait_running(within)


@contextlib.asynccontextmanager
async def run_hass(
    config_dir: Path,
    *,
    http: dict[str, Any] | None = None,
    yaml: str = "",
    start_within: float = 90,
    revert_after: float | None = None,
) -> AsyncIterator[HassProcess]:
    """Start hass on a free loopback port, wait for the API, onboard; stop it cleanly after.

    `revert_after`: seconds before HA reverts HTTP settings on trial, instead of its 5 minutes.
    """
    port = free_port()
    write_config(config_dir, port, http, yaml)
    scheme = "https" if http and "ssl_certificate" in http else "http"
    # HA's own certificate (if any) is for a test name; the API is reached by address.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
        hass = HassProcess(
            f"{scheme}://127.0.0.1:{port}",
            session,
            port=port,
            log=config_dir / "hass-stdout.log",
            config_dir=config_dir,
            revert_after=revert_after,
        )
        hass.process = await _launch(config_dir, revert_after)
        try:
            await _wait_ready(hass, start_within)
            await hass.onboard()
            await hass.wait_running(start_within)
            yield hass
        finally:
            await _stop(hass.process)


async def _stop(process: asyncio.subprocess.Process | None) -> None:
    if process is not None and process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(30):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def start_again(
    config_dir: Path, token: str, *, start_within: float = 90, poll_interval: float = 0.25
) -> AsyncIterator[HassProcess]:
    """Start hass on a config dir run_hass onboarded before, on a free port, calling the API with
    `token` (a long-lived one: the process is new). Yields as soon as the API answers, which may
    be before hass is running; stops it after."""
    port = free_port()
    http_store = config_dir / ".storage" / "http"
    stored = json.loads(http_store.read_text())
    settings = stored["data"].get("stable", stored["data"])  # hass migrates to {stable, pending}
    settings["server_port"] = port
    http_store.write_text(json.dumps(stored))
    async with aiohttp.ClientSession() as session:
        hass = HassProcess(
            f"http://127.0.0.1:{port}",
            session,
            port=port,
            token=token,
            log=config_dir / "hass-stdout.log",
            config_dir=config_dir,
        )
        hass.process = await _launch(config_dir)
        try:
            await _wait_ready(hass, start_within, poll_interval)
            yield hass
        finally:
            await _stop(hass.process)
