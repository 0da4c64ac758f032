"""The proxy check's WebSocket reader against a hostile endpoint: seeded, mutated conversations."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
import hashlib
from pathlib import Path
import random
import struct
import time

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from hypothesis import given, settings, strategies as st
import pytest

from custom_components.tls_health import proxy
from custom_components.tls_health.probe import parse_target
from custom_components.tls_health.proxy import MAX_WEBSOCKET_MESSAGE, ProxyCheck, is_auth_required
from custom_components.tls_health.selfprobe import async_get_self_probe

from .certs import Pki
from .conftest import StartServer
from .loop_cpu import longest_loop_callback

SEED = 20261202
CONVERSATIONS = 100
# A server that stalls (a truncated frame, a lying length) holds the check for its timeout.
TIMEOUT = 0.3
LOOP_BUDGET = 0.05
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
AUTH_REQUIRED = b'{"type": "auth_required", "ha_version": "2026.10.4"}'


def frame(payload: bytes, opcode: int = 1, *, fin: bool = True, length: int | None = None) -> bytes:
    """One server frame (unmasked); `length` may lie about the payload."""
    size = len(payload) if length is None else length
    first = (0x80 if fin else 0) | opcode
    if size < 126:
        header = struct.pack("!BB", first, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", first, 126, size)
    else:
        header = struct.pack("!BBQ", first, 127, size & (1 << 64) - 1)
    return header + payload


def mutated(rng: random.Random, data: bytes) -> bytes:
    """Flip, drop, insert or repeat bytes."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        where = rng.randrange(len(data) + 1)
        match rng.randrange(4):
            case 0 if data:
                data[min(where, len(data) - 1)] = rng.randrange(256)
            case 1:
                del data[where : where + rng.randint(1, 8)]
            case 2:
                data[where:where] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            case _:
                data[where:where] = data[where : where + 16] * rng.randint(2, 64)
    return bytes(data)


def conversation(rng: random.Random) -> tuple[bytes, float]:
    """What the hostile endpoint sends after the 101, and how slowly (seconds per byte)."""
    nested = rng.choice([b"[", b'{"a":']) * rng.choice([10, 1_000, 100_000])
    payloads = [
        AUTH_REQUIRED,
        mutated(rng, AUTH_REQUIRED),
        nested,
        b'{"type": "auth_required"' + b" " * rng.choice([0, 5_000]) + b"}",
        b"9" * rng.choice([10, 5_000]),
        b"\x00\x01\x1b[31m\xff\xfe",
        bytes(rng.randrange(256) for _ in range(rng.randint(0, 300))),
        b'{"type": "auth_required"}' * rng.randint(1, 400),
    ]
    payload = rng.choice(payloads)
    frames = [
        frame(payload),
        frame(payload, opcode=2),  # binary
        frame(payload[:10], fin=False) + frame(payload[10:], opcode=0),  # fragmented
        frame(b"", opcode=9) * rng.randint(1, 50) + frame(payload),  # pings first
        frame(b"\x03\xe8bye", opcode=8),  # close
        frame(payload, length=rng.choice([0, 1 << 20, (1 << 63) + 5])),  # a lying length
        frame(payload)[: rng.randint(0, 12)],  # truncated
        mutated(rng, frame(payload)),
        b"",
    ]
    sent = rng.choice(frames)
    drip = 0.02 if rng.random() < 0.02 else 0.0
    return sent, drip


class HostileWebSocket:
    """Upgrades /api/websocket, then sends the next seeded conversation."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.next: tuple[bytes, float] = (b"", 0.0)

    def prepare(self) -> None:
        self.next = conversation(self.rng)

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())  # noqa: S324 - the RFC's
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        sent, drip = self.next
        if drip:
            for byte in sent[:100]:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(drip)
        else:
            writer.write(sent)
        await writer.drain()
        await reader.read()  # until the check hangs up


def open_descriptors() -> int:
    return sum(1 for _ in Path("/proc/self/fd").iterdir())


async def test_hostile_websocket_answers_end_in_a_verdict(
    hass: HomeAssistant,
    pki: Pki,
    serve: StartServer,
    tls_context: Callable[..., object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert await async_setup_component(hass, "http", {})
    hostile = HostileWebSocket(SEED)
    server = await serve(hostile, context=tls_context(pki.leaf(), pki.intermediate))
    target = parse_target(f"https://hass.example.test:{server.port}", address="127.0.0.1")
    check = ProxyCheck(hass, async_get_self_probe(hass), target)
    outcomes: dict[bool | None, int] = {}
    slowest = 0.0
    with longest_loop_callback() as longest:
        for sent, works in (
            (frame(AUTH_REQUIRED), True),
            (
                frame(b"", opcode=9) * 3
                + frame(AUTH_REQUIRED[:9], fin=False)
                + frame(AUTH_REQUIRED[9:], opcode=0),
                True,
            ),
            (frame(AUTH_REQUIRED, opcode=2), False),
            (frame(b"[" * 4000 + b"]" * 4000), False),
        ):
            hostile.next = (sent, 0.0)
            assert await check._websocket_works() is works
        monkeypatch.setattr(proxy, "REQUEST_TIMEOUT", TIMEOUT)
        monkeypatch.setattr(proxy, "WEBSOCKET_CLOSE_TIMEOUT", TIMEOUT / 2)
        descriptors = open_descriptors()
        for _ in range(CONVERSATIONS):
            hostile.prepare()
            started = time.perf_counter()
            works = await check._websocket_works()
            slowest = max(slowest, time.perf_counter() - started)
            outcomes[works] = outcomes.get(works, 0) + 1
    await asyncio.sleep(0.1)
    assert set(outcomes) <= {True, False, None}
    assert outcomes.get(False, 0) > CONVERSATIONS // 2
    assert longest.cpu < LOOP_BUDGET
    assert slowest < 3  # bounded by the shortened timeout, far below the usual 10 s
    assert open_descriptors() <= descriptors


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=MAX_WEBSOCKET_MESSAGE + 10),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=8), inner, max_size=4)
            ),
            max_leaves=30,
        ).map(repr),
        st.integers(1, 200_000).map(lambda depth: "[" * depth + "]" * depth),
        st.sampled_from(['{"type": "auth_required"}', '{"type": "auth_ok"}', "null"]),
    )
)
def test_any_first_message_is_read_without_raising(text: str) -> None:
    started = time.thread_time()  # CPU time: the machine may be shared
    assert is_auth_required(text) in {True, False}
    assert time.thread_time() - started < LOOP_BUDGET
    if len(text) > MAX_WEBSOCKET_MESSAGE:
        assert not is_auth_required(text)


@pytest.mark.parametrize("depth", [10, 100_000, 3_000_000])
def test_deep_nesting_is_not_home_assistant(depth: int) -> None:
    assert not is_auth_required("[" * depth + "]" * depth)
