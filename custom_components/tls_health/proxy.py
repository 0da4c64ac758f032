"""Check, through an endpoint's public URL, how the reverse proxy in front of this HA behaves."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
import time
from typing import Final

import aiohttp
from homeassistant.const import EVENT_HOMEASSISTANT_CLOSE
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers.aiohttp_client import async_create_clientsession
from homeassistant.helpers.singleton import singleton

from .const import DOMAIN
from .probe import Target
from .proxy_judgement import (
    SPOOFED_CLIENT,
    Network,
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
WEBSOCKET_PATH: Final = "/api/websocket"


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
        leads_here: bool = False,
    ) -> None:
        """Check `target`; `leads_here` when it is known to lead to this HA (a 5xx is then ours)."""
        self._session = async_get_proxy_session(hass)
        self._self_probe = self_probe
        self._target = target
        self._headers = {"Host": host_header(target)}
        self._leads_here = leads_here
        http = getattr(hass, "http", None)
        self._trusted: Sequence[Network] = list(getattr(http, "trusted_proxies", None) or [])
        api = hass.config.api
        self._upstream = ("https" if api.use_ssl else "http", api.port) if api else None

    async def run(self) -> ProxyReport:
        """Classify the path; network trouble is a verdict too, never an exception."""
        self._self_probe.checking += 1
        try:
            return await self._run()
        finally:
            self._self_probe.checking -= 1

    async def _run(self) -> ProxyReport:
        started = time.monotonic()
        plain, status = await self._observe()
        if plain is None:
            refusals = self._self_probe.refusals_since(started)
            return judge_no_view(
                status,
                refusals[-1] if refusals else None,
                leads_here=self._leads_here,
                upstream=self._upstream,
            )
        if is_direct(plain):
            return direct_report(plain)
        checks = SubChecks(plain, list(plain_findings(plain, self._target)))
        forged, forged_status = await self._observe({"X-Forwarded-For": SPOOFED_CLIENT})
        checks.forged = forged
        checks.spoofing(judge_spoofing(plain, forged, forged_status, self._trusted))
        checks.websocket(works=await self._websocket_works())
        return checks.report()

    async def _observe(
        self, extra_headers: dict[str, str] | None = None
    ) -> tuple[Observation | None, int | None]:
        """Request the self-probe view with a fresh nonce; what arrived, and the status."""
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
        finally:
            self._self_probe.withdraw(nonce)
        if waiter.done() and not waiter.cancelled():
            return waiter.result(), status
        waiter.cancel()
        return None, status

    async def _websocket_works(self) -> bool | None:
        """Whether /api/websocket upgrades and says auth_required; None when nothing answered."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                async with self._session.ws_connect(
                    f"{_base_url(self._target)}{WEBSOCKET_PATH}",
                    headers=self._headers,
                    server_hostname=self._target.sni,
                ) as socket:
                    message = await socket.receive_json()
        except aiohttp.WSServerHandshakeError:
            return False  # an HTTP answer that is not an upgrade
        except aiohttp.ClientError, TimeoutError:
            return None
        except ValueError, TypeError:
            return False  # upgraded, but not to Home Assistant's WebSocket API
        return isinstance(message, dict) and message.get("type") == "auth_required"
