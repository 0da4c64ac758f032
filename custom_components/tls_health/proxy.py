"""Check, through an endpoint's public URL, how the reverse proxy in front of this HA behaves."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
import re
import time
from typing import Final

import aiohttp
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .probe import DEFAULT_PORT, Target
from .selfprobe import SELF_PROBE_PREFIX, Observation, SelfProbe

# A documentation address (RFC 5737): if HA takes it for the client, any client can pretend.
SPOOFED_CLIENT: Final = "203.0.113.77"
REQUEST_TIMEOUT: Final = 10.0
NO_PROTO: Final = "the proxy sends no X-Forwarded-Proto: HA takes the client's scheme for http"
SPOOFABLE: Final = (
    f"a client sending X-Forwarded-For: {SPOOFED_CLIENT} is taken for {SPOOFED_CLIENT}: "
    "trusted_proxies trusts more than the proxy itself"
)
NO_WEBSOCKET: Final = "a WebSocket upgrade of /api/websocket does not get through the proxy"
FORWARDS_ALL: Final = "the proxy forwards what Home Assistant needs"
# A received Host is shown in a repair: a DNS name (253) with brackets and a port fits.
MAX_SHOWN_HOST: Final = 270
_PORT: Final = re.compile(r"(:[0-9]*)?")
_NOT_SHOWN: Final = re.compile(r"[^A-Za-z0-9._:\[\]-]")


class ProxyVerdict(StrEnum):
    """How the path from the public URL to this Home Assistant behaves. A public contract."""

    OK = "ok"
    DIRECT = "direct"
    NOT_HOME_ASSISTANT = "not_home_assistant"
    SUPPORT_DISABLED = "support_disabled"
    PROXY_NOT_TRUSTED = "proxy_not_trusted"
    FORWARDED_FOR_MISSING = "forwarded_for_missing"
    FORWARDED_PROTO_MISSING = "forwarded_proto_missing"
    HOST_NOT_FORWARDED = "host_not_forwarded"
    CLIENT_IP_SPOOFABLE = "client_ip_spoofable"
    WEBSOCKET_BLOCKED = "websocket_blocked"


@dataclass(frozen=True, slots=True)
class ProxyReport:
    """The verdict, the proxy's address as HA saw it, and what HA received."""

    verdict: ProxyVerdict
    detail: str
    proxy_address: str | None = None
    observation: Observation | None = None


def _host_header(target: Target) -> str:
    name = target.expected_name
    name = f"[{name}]" if ":" in name else name
    return name if target.port == DEFAULT_PORT else f"{name}:{target.port}"


def _base_url(target: Target) -> str:
    where = target.address or target.host
    where = f"[{where}]" if ":" in where else where
    return f"https://{where}:{target.port}"


def judge_observation(
    observation: Observation, target: Target
) -> tuple[ProxyVerdict, str, str | None]:
    """Judge the headers of a plain request: verdict, detail and the proxy's address.

    OK means the headers are right; whether the client address can be spoofed and whether
    WebSocket gets through are checked next, with more requests.
    """
    if observation.forwarded_for is None:
        if observation.scheme == "https":
            return ProxyVerdict.DIRECT, "Home Assistant serves TLS itself", None
        return (
            ProxyVerdict.FORWARDED_FOR_MISSING,
            f"a proxy at {observation.peer} terminates TLS but sends no X-Forwarded-For",
            observation.peer,
        )
    if observation.forwarded_proto is None:
        return ProxyVerdict.FORWARDED_PROTO_MISSING, NO_PROTO, observation.peer
    if host_name(observation.host) != target.expected_name.lower():
        seen = f"Home Assistant sees the host {_shown(observation.host)}"
        return (
            ProxyVerdict.HOST_NOT_FORWARDED,
            f"{seen} instead of {_host_header(target)}",
            observation.peer,
        )
    return ProxyVerdict.OK, FORWARDS_ALL, observation.peer


def host_name(host: str) -> str | None:
    """Return the lowercased name of a Host value: `name` or `[IPv6]`, with an optional `:port`.

    None for anything else: a received value is never taken for the target's name because a
    parser dropped part of it (userinfo, a path, a tab) or folded a character (Kelvin sign to k).
    """
    if not host.isascii():
        return None
    if host.startswith("["):
        name, bracket, port = host[1:].partition("]")
        if not bracket or ":" not in name:
            return None
    else:
        name, colon, port = host.partition(":")
        port = colon + port
    return name.lower() if _PORT.fullmatch(port) else None


def _shown(value: str) -> str:
    """Make a received value fit for a repair's Markdown: no userinfo, host characters, short."""
    value = value.rpartition("@")[2]
    cut = len(value) > MAX_SHOWN_HOST
    value = _NOT_SHOWN.sub("?", value[:MAX_SHOWN_HOST])
    return f"{value}..." if cut else value


def is_spoofed(observation: Observation) -> bool:
    """Whether HA took the made-up X-Forwarded-For of a request for the client's address."""
    return observation.remote == SPOOFED_CLIENT


class ProxyCheck:
    """One check of one endpoint: a plain request, a spoofed one, and a WebSocket upgrade."""

    def __init__(self, hass: HomeAssistant, self_probe: SelfProbe, target: Target) -> None:
        """Use HA's shared session without certificate checks: the probe judges certificates."""
        self._session = async_get_clientsession(hass, verify_ssl=False)
        self._self_probe = self_probe
        self._target = target
        self._headers = {"Host": _host_header(target)}

    async def run(self) -> ProxyReport:
        """Classify the path; network trouble is a verdict too, never an exception."""
        self._self_probe.checking += 1
        try:
            return await self._run()
        finally:
            self._self_probe.checking -= 1

    async def _run(self) -> ProxyReport:
        started = time.monotonic()
        observation, status = await self._observe()
        if observation is None:
            return self._refused(started, status)
        verdict, detail, proxy_address = judge_observation(observation, self._target)
        if verdict is ProxyVerdict.OK:
            verdict, detail = await self._judge_spoofing_and_websocket()
        return ProxyReport(verdict, detail, proxy_address, observation)

    async def _judge_spoofing_and_websocket(self) -> tuple[ProxyVerdict, str]:
        spoofed, _ = await self._observe({"X-Forwarded-For": SPOOFED_CLIENT})
        if spoofed is not None and is_spoofed(spoofed):
            return ProxyVerdict.CLIENT_IP_SPOOFABLE, SPOOFABLE
        if not await self._websocket_works():
            return ProxyVerdict.WEBSOCKET_BLOCKED, NO_WEBSOCKET
        return ProxyVerdict.OK, FORWARDS_ALL

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

    def _refused(self, started: float, status: int | None) -> ProxyReport:
        refusals = self._self_probe.refusals_since(started)
        if status == 400 and refusals:  # noqa: PLR2004
            refusal = refusals[-1]
            verdict = ProxyVerdict(refusal.reason)
            if verdict is ProxyVerdict.SUPPORT_DISABLED:
                detail = (
                    f"the proxy at {refusal.proxy_address} sends X-Forwarded-For, but reverse "
                    "proxy support is off in Home Assistant: it answers 400 Bad Request"
                )
            else:
                detail = (
                    f"the proxy at {refusal.proxy_address} is not in trusted_proxies: "
                    "Home Assistant answers 400 Bad Request"
                )
            return ProxyReport(verdict, detail, refusal.proxy_address)
        answered = f"answered {status}" if status is not None else "did not answer"
        return ProxyReport(
            ProxyVerdict.NOT_HOME_ASSISTANT,
            f"the URL does not lead to this Home Assistant (it {answered})",
        )

    async def _websocket_works(self) -> bool:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                async with self._session.ws_connect(
                    f"{_base_url(self._target)}/api/websocket",
                    headers=self._headers,
                    server_hostname=self._target.sni,
                ) as socket:
                    message = await socket.receive_json()
        except aiohttp.ClientError, TimeoutError, ValueError, TypeError:
            return False
        return isinstance(message, dict) and message.get("type") == "auth_required"
