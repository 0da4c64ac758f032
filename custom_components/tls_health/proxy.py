"""Check, through an endpoint's public URL, how the reverse proxy in front of this HA behaves."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
import contextlib
from datetime import datetime
from ipaddress import ip_address
import json
import socket
from typing import Final

import aiohttp
from aiohttp import web
from homeassistant.components.http.ban import KEY_BAN_MANAGER
from homeassistant.const import EVENT_HOMEASSISTANT_CLOSE
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers.aiohttp_client import async_create_clientsession
from homeassistant.helpers.singleton import singleton
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .probe import Target
from .proxy_judgement import (
    BAD_REQUEST,
    FORBIDDEN,
    SPOOFED_CLIENT,
    BanList,
    ForwardedRefusal,
    Network,
    ProvenPath,
    ProxyReport,
    ProxyVerdict,
    SubChecks,
    direct_report,
    host_header,
    is_direct,
    is_spoofed,
    judge_no_view,
    judge_observation,
    judge_spoofing,
    plain_findings,
    with_moves,
)
from .selfprobe import SELF_PROBE_PREFIX, Observation, SelfProbe

__all__ = [
    "SPOOFED_CLIENT",
    "ProxyCheck",
    "ProxyReport",
    "ProxyVerdict",
    "is_spoofed",
    "judge_observation",
]

REQUEST_TIMEOUT: Final = 10.0
DISCARD_PORT: Final = 9
WEBSOCKET_PATH: Final = "/api/websocket"
# HA's first WebSocket message is about 60 bytes; anything far larger is not HA.
MAX_WEBSOCKET_MESSAGE: Final = 4096
WEBSOCKET_CLOSE_TIMEOUT: Final = 1.0
# How long a refused request's answer may lag behind the 400 that reached the check.
REFUSAL_GRACE: Final = 1.0


@callback
@singleton(f"{DOMAIN}_proxy_session")
def async_get_proxy_session(hass: HomeAssistant) -> aiohttp.ClientSession:
    """Return the proxy checks' own session: no cookies, no credentials, closed at HA stop.

    Certificates are not verified here: the probe judges them.
    """
    # Not closed with the entry that happens to create it: every entry shares it. Its
    # connector is Home Assistant's, which HA closes; at HA's close the session lets go of it.
    session = async_create_clientsession(
        hass, verify_ssl=False, auto_cleanup=False, cookie_jar=aiohttp.DummyCookieJar()
    )

    @callback
    def close(_: Event) -> None:
        session.detach()

    hass.bus.async_listen_once(EVENT_HOMEASSISTANT_CLOSE, close)
    return session


def _base_url(target: Target) -> str:
    where = target.address or target.host
    where = f"[{where}]" if ":" in where else where
    return f"https://{where}:{target.port}"


class ProxyCheck:
    """One check of one endpoint: a plain request, a forged one, and a WebSocket upgrade."""

    def __init__(
        self,
        hass: HomeAssistant,
        self_probe: SelfProbe,
        target: Target,
        *,
        proven: ProvenPath | None = None,
        connected_to: str | None = None,
    ) -> None:
        """Check `target`, a URL that leads to this HA.

        `proven`: what earlier checks proved; `connected_to`: the address the probe reached the
        endpoint at, from which the checker's own address on the way is told.
        """
        self._session = async_get_proxy_session(hass)
        self._self_probe = self_probe
        self._target = target
        self._proven = proven
        self._hass = hass
        self._connected_to = connected_to
        self._headers = {"Host": host_header(target)}
        http = getattr(hass, "http", None)
        self._trusted: Sequence[Network] = list(getattr(http, "trusted_proxies", None) or [])
        api = hass.config.api
        self._upstream = ("https" if api.use_ssl else "http", api.port) if api else None

    async def run(self) -> ProxyReport:
        """Classify the path; network trouble is a verdict too, never an exception."""
        return with_moves(await self._run(), self._proven, self._trusted)

    async def _run(self) -> ProxyReport:
        # The checker's own address on the way: the start of the path the check proves.
        egress = (
            await self._hass.async_add_executor_job(source_address, self._connected_to)
            if self._connected_to
            else None
        )
        plain, status = await self._observe()
        if not isinstance(plain, Observation):
            bans = self._ban_list(egress) if plain is None and status == FORBIDDEN else None
            return judge_no_view(status, plain, upstream=self._upstream, bans=bans)
        if is_direct(plain):
            return direct_report(plain)
        checks = SubChecks(plain, list(plain_findings(plain, self._target)), egress=egress)
        answer, forged_status = await self._observe({"X-Forwarded-For": SPOOFED_CLIENT})
        forged = answer if isinstance(answer, Observation) else None
        checks.forged = forged
        checks.spoofing(judge_spoofing(plain, forged, forged_status, self._trusted, egress=egress))
        checks.hops(self._trusted)
        checks.websocket(works=await self._websocket_works())
        return checks.report()

    def _ban_list(self, egress: str | None) -> BanList | None:
        """Read HA's ban list where HA keeps it, in memory: its size and the proven address's ban.

        Lookups in a dict, nothing read from disk. None when the list is not kept the way this
        was written for (a changed Home Assistant): nothing is judged then.
        """
        app = getattr(getattr(self._hass, "http", None), "app", None)
        manager = app.get(KEY_BAN_MANAGER) if isinstance(app, web.Application) else None
        if manager is None:
            return BanList(0, self._proven)  # ip_ban_enabled is off: Home Assistant bans no one
        lookup = getattr(manager, "ip_bans_lookup", None)
        if not isinstance(lookup, Mapping):
            return None
        remote = self._proven.remote if self._proven is not None else None
        try:
            ban = lookup.get(ip_address(remote)) if remote is not None else None
        except ValueError:
            ban = None
        if ban is None:
            return BanList(len(lookup), self._proven)
        banned_at = getattr(ban, "banned_at", None)
        if not isinstance(banned_at, datetime) or banned_at.tzinfo is None:
            return None
        return BanList(len(lookup), self._proven, dt_util.as_local(banned_at), egress)

    async def _observe(
        self, extra_headers: dict[str, str] | None = None
    ) -> tuple[Observation | ForwardedRefusal | None, int | None]:
        """Request the self-probe view with a fresh nonce; its answer, and the status.

        The answer is what reached the view, or HA's refusal of this very request; None when
        neither happened (the request stopped before Home Assistant, or elsewhere).
        """
        nonce, waiter = self._self_probe.issue()
        status: int | None = None
        try:
            async with self._session.get(
                f"{_base_url(self._target)}{SELF_PROBE_PREFIX}{nonce}",
                headers={**self._headers, **(extra_headers or {})},
                server_hostname=self._target.sni,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
            ) as response:
                status = response.status
        except aiohttp.ClientError, TimeoutError, ValueError:
            pass
        if status == BAD_REQUEST and not waiter.done():
            # A refusal is recorded on the loop right after HA logged it: give it that turn.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(waiter), REFUSAL_GRACE)
        self._self_probe.withdraw(nonce)
        if waiter.done() and not waiter.cancelled():
            return waiter.result(), status
        waiter.cancel()
        return None, status

    async def _websocket_works(self) -> bool | None:
        """Whether /api/websocket upgrades and says auth_required; None when nothing answered."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                # Closed without waiting long for the server's goodbye: the answer is in.
                async with self._session.ws_connect(
                    f"{_base_url(self._target)}{WEBSOCKET_PATH}",
                    headers=self._headers,
                    server_hostname=self._target.sni,
                    max_msg_size=MAX_WEBSOCKET_MESSAGE,
                    timeout=aiohttp.ClientWSTimeout(ws_close=WEBSOCKET_CLOSE_TIMEOUT),
                ) as socket:
                    message = await socket.receive()
        except aiohttp.WSServerHandshakeError:
            return False  # an HTTP answer that is not an upgrade
        except aiohttp.ClientError, TimeoutError:
            return None
        text = message.data if message.type is aiohttp.WSMsgType.TEXT else None
        return is_auth_required(text if isinstance(text, str) else None)


def source_address(destination: str) -> str | None:
    """Return the address this machine sends from to reach `destination`; no packet is sent."""
    family = socket.AF_INET6 if ":" in destination else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as route:
            route.connect((destination, DISCARD_PORT))
            return str(route.getsockname()[0])
    except OSError, ValueError:
        return None


def is_auth_required(text: str | None) -> bool:
    """Whether a first WebSocket message is Home Assistant's `auth_required`; bounded, never raises.

    A message of another kind, too long, not JSON or nested too deep is not Home Assistant.
    """
    if text is None or len(text) > MAX_WEBSOCKET_MESSAGE:
        return False
    try:
        message = json.loads(text)
    except ValueError, RecursionError:
        return False
    return isinstance(message, dict) and message.get("type") == "auth_required"
