"""What Home Assistant itself receives through a reverse proxy.

A view answers only to one-time nonces the integration issued and records what reached it: peer,
resolved remote, scheme, host and the raw X-Forwarded-* headers. Requests that HA's forwarded
middleware refuses (400) never reach a view, so its log records are watched too.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
import contextlib
from ipaddress import IPv4Address, IPv6Address, ip_address
import logging
import secrets
import time
from typing import Final

from aiohttp import web
from homeassistant.const import EVENT_HOMEASSISTANT_CLOSE
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.http import HomeAssistantView
from homeassistant.util.hass_dict import HassKey

from .proxy_judgement import ForwardedRefusal, Observation, RefusalReason, RefusalTally

__all__ = ["ForwardedRefusal", "Observation", "SelfProbe", "async_get_self_probe"]

SELF_PROBE_PREFIX: Final = "/api/tls_health/self_probe/"
FORWARDED_LOGGER: Final = "homeassistant.components.http.forwarded"
NONCE_LIFETIME: Final = 60.0
KEPT_RECORDS: Final = 50

DATA_SELF_PROBE: HassKey[SelfProbe] = HassKey("tls_health_self_probe")


class _ForwardedLogWatch(logging.Handler):
    """Turns the forwarded middleware's refusals into ForwardedRefusal records."""

    def __init__(self, on_refusal: Callable[[ForwardedRefusal], None]) -> None:
        super().__init__(logging.ERROR)
        self._on_refusal = on_refusal

    def emit(self, record: logging.LogRecord) -> None:
        # Runs inside the logging call of whoever logs here: read defensively, never raise.
        if (refusal := _refusal_of(record)) is not None:
            self._on_refusal(refusal)


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
    """Nonces, what arrived for them, and recent refusals of the forwarded middleware."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Register the view and watch the forwarded middleware's log."""
        self._hass = hass
        self._waiting: dict[str, tuple[float, asyncio.Future[Observation]]] = {}
        self.refusals: deque[ForwardedRefusal] = deque(maxlen=KEPT_RECORDS)
        # Our own checks run with this above zero; refusals outside them come from real traffic.
        self.checking = 0
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

    def issue(self) -> tuple[str, asyncio.Future[Observation]]:
        """Return a fresh one-time nonce and the future its observation will land in."""
        self._forget_expired()
        nonce = secrets.token_urlsafe(24)
        waiter: asyncio.Future[Observation] = self._hass.loop.create_future()
        self._waiting[nonce] = (time.monotonic() + NONCE_LIFETIME, waiter)
        return nonce, waiter

    def withdraw(self, nonce: str) -> None:
        """Forget a nonce whose request is over."""
        self._waiting.pop(nonce, None)

    def arrived(self, nonce: str, observation: Observation) -> bool:
        """Record a request for a nonce; False for an unknown, used or expired one."""
        entry = self._waiting.pop(nonce, None)
        if entry is None or entry[1].done():
            return False
        if entry[0] < time.monotonic():
            entry[1].cancel()
            return False
        entry[1].set_result(observation)
        return True

    def refusals_since(self, moment: float) -> list[ForwardedRefusal]:
        """Refusals logged since a time.monotonic() moment."""
        return [refusal for refusal in self.refusals if refusal.at >= moment]

    def _refused(self, refusal: ForwardedRefusal) -> None:
        # Called from the logging call; hop onto the loop before touching shared state.
        with contextlib.suppress(RuntimeError):  # the loop is closing
            self._hass.loop.call_soon_threadsafe(self._record, refusal)

    def _record(self, refusal: ForwardedRefusal) -> None:
        self.refusals.append(refusal)
        if self.checking:
            return  # our own check, or traffic at the same moment: never counted
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
