"""What Home Assistant itself receives through a reverse proxy.

A view answers only to one-time nonces the integration issued and records what reached it: peer,
resolved remote, scheme, host and the raw X-Forwarded-* headers. Requests that HA's forwarded
middleware refuses (400) never reach a view, so its log records are watched too: a refusal of a
request for an issued nonce (read from the refused request itself) is that check's answer, and
every other refusal is someone else's traffic, counted but never named.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from ipaddress import IPv4Address, IPv6Address, ip_address
import logging
import secrets
import sys
import time
from types import FrameType
from typing import Final

from aiohttp import web
from homeassistant.components.http import forwarded
from homeassistant.const import EVENT_HOMEASSISTANT_CLOSE
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.http import HomeAssistantView
from homeassistant.util.hass_dict import HassKey

from .proxy_judgement import ForwardedRefusal, Observation, RefusalReason, RefusalTally

__all__ = ["ForwardedRefusal", "Observation", "SelfProbe", "async_get_self_probe"]

SELF_PROBE_PREFIX: Final = "/api/tls_health/self_probe/"
FORWARDED_LOGGER: Final = "homeassistant.components.http.forwarded"
NONCE_LIFETIME: Final = 60.0
# How far up the logging call the refusing middleware's frame may be.
MAX_FRAMES: Final = 24
_MIDDLEWARE: Final = "forwarded_middleware"

DATA_SELF_PROBE: HassKey[SelfProbe] = HassKey("tls_health_self_probe")


type Waiter = asyncio.Future[Observation | ForwardedRefusal]


class _ForwardedLogWatch(logging.Handler):
    """Turns the forwarded middleware's refusals into ForwardedRefusal records."""

    def __init__(self, on_refusal: Callable[[ForwardedRefusal, str | None], None]) -> None:
        super().__init__(logging.ERROR)
        self._on_refusal = on_refusal

    def emit(self, record: logging.LogRecord) -> None:
        # Runs inside the logging call of whoever logs here: read defensively, never raise.
        if (refusal := _refusal_of(record)) is not None:
            self._on_refusal(refusal, _refused_path())


def _refused_path() -> str | None:
    """Return the path of the request HA's forwarded middleware is refusing right now.

    The middleware logs from inside its own call, so its frame, holding the request, is on this
    thread's stack. None when it is not (another caller logged, or HA changed its middleware):
    such a refusal is then nobody's answer.
    """
    try:
        frame: FrameType | None = sys._getframe(1)  # noqa: SLF001
        for _ in range(MAX_FRAMES):
            if frame is None:
                return None
            code = frame.f_code
            if code.co_name == _MIDDLEWARE and code.co_filename == forwarded.__file__:
                request = frame.f_locals.get("request")
                return request.path if isinstance(request, web.BaseRequest) else None
            frame = frame.f_back
    except Exception:  # noqa: BLE001 - never raise inside someone else's logging call
        return None
    return None


def _refusal_of(record: logging.LogRecord) -> ForwardedRefusal | None:
    """Read a refusal from a record HA logged as (message, proxy address); None otherwise."""
    message, args = record.msg, record.args
    if not isinstance(message, str) or not isinstance(args, tuple) or not args:
        return None
    if "not set-up for reverse proxies" in message:
        reason = RefusalReason.SUPPORT_DISABLED
    elif "untrusted proxy" in message:
        reason = RefusalReason.PROXY_NOT_TRUSTED
    else:
        return None
    # HA passes an ip_address; a string is read too, anything else is not a proxy address.
    if not isinstance(args[0], str | IPv4Address | IPv6Address):
        return None
    try:
        address = str(ip_address(str(args[0])))
    except ValueError:
        return None
    return ForwardedRefusal(time.monotonic(), reason, address)


class SelfProbe:
    """Nonces, what arrived for them, and the forwarded middleware's refusals of other traffic."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Register the view and watch the forwarded middleware's log."""
        self._hass = hass
        self._waiting: dict[str, tuple[float, Waiter]] = {}
        self.traffic = {reason: RefusalTally() for reason in RefusalReason}
        # Called with a reason whose repair is to be raised or updated (see RefusalTally).
        self.on_traffic_refused: Callable[[RefusalReason, RefusalTally], None] | None = None
        self._watch = _ForwardedLogWatch(self._refused)
        logging.getLogger(FORWARDED_LOGGER).addHandler(self._watch)
        hass.http.register_view(SelfProbeView(self))

    def close(self) -> None:
        """Stop watching the log (the view stays registered; without nonces it answers 404)."""
        logging.getLogger(FORWARDED_LOGGER).removeHandler(self._watch)
        for _, waiter in self._waiting.values():
            waiter.cancel()
        self._waiting.clear()

    def issue(self) -> tuple[str, Waiter]:
        """Return a fresh one-time nonce and the future its answer will land in.

        The answer is what reached the view, or the forwarded middleware's refusal of the very
        request that carried the nonce.
        """
        self._forget_expired()
        nonce = secrets.token_urlsafe(24)
        waiter: Waiter = self._hass.loop.create_future()
        self._waiting[nonce] = (time.monotonic() + NONCE_LIFETIME, waiter)
        return nonce, waiter

    def withdraw(self, nonce: str) -> None:
        """Forget a nonce whose request is over."""
        self._waiting.pop(nonce, None)

    def arrived(self, nonce: str, answer: Observation | ForwardedRefusal) -> bool:
        """Record the answer for a nonce; False for an unknown, used or expired one."""
        entry = self._waiting.pop(nonce, None)
        if entry is None or entry[1].done():
            return False
        if entry[0] < time.monotonic():
            entry[1].cancel()
            return False
        entry[1].set_result(answer)
        return True

    def _refused(self, refusal: ForwardedRefusal, path: str | None) -> None:
        # Called from the logging call; hop onto the loop before touching shared state.
        with contextlib.suppress(RuntimeError):  # the loop is closing
            self._hass.loop.call_soon_threadsafe(self._record, refusal, path)

    def _record(self, refusal: ForwardedRefusal, path: str | None) -> None:
        nonce = path.removeprefix(SELF_PROBE_PREFIX) if path else None
        if nonce is not None and nonce != path and self.arrived(nonce, refusal):
            return  # a check's own request: its answer, judged by that check
        tally = self.traffic[refusal.reason]
        if tally.add(refusal.proxy_address, refusal.at) and self.on_traffic_refused is not None:
            self.on_traffic_refused(refusal.reason, tally)

    def forget_traffic(self, reason: RefusalReason) -> None:
        """Start counting anew once a check showed what the refusals were about."""
        self.traffic[reason] = RefusalTally()

    def _forget_expired(self) -> None:
        now = time.monotonic()
        for nonce in [nonce for nonce, (until, _) in self._waiting.items() if until < now]:
            self._waiting.pop(nonce)[1].cancel()


class SelfProbeView(HomeAssistantView):
    """Answers to nonces only. Unknown nonce: a bare 404, nothing reflected, no auth involved."""

    url = SELF_PROBE_PREFIX + "{nonce}"
    name = "api:tls_health:self_probe"
    requires_auth = False

    def __init__(self, self_probe: SelfProbe) -> None:
        """Answer for this SelfProbe."""
        self._self_probe = self_probe

    async def get(self, request: web.Request, nonce: str) -> web.Response:
        """Record what arrived for a known nonce."""
        if not self._self_probe.arrived(nonce, Observation.of(request)):
            return web.Response(status=404)
        return web.Response(status=204)


@callback
def async_get_self_probe(hass: HomeAssistant) -> SelfProbe:
    """Return the one SelfProbe of this Home Assistant, created on first use."""
    if (self_probe := hass.data.get(DATA_SELF_PROBE)) is None:
        self_probe = hass.data[DATA_SELF_PROBE] = SelfProbe(hass)
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_CLOSE, lambda _: self_probe.close())
    return self_probe
