"""A minimal HTTP/1.1 exchange: one GET, read the status line and headers only."""

from __future__ import annotations

from dataclasses import dataclass
import re
import time

from .connection import Stream
from .inert import inert
from .models import bracketed

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100  # header lines, as Python's http.client allows
# A delta-seconds value past what a client can hold counts as 2^31 (RFC 9111 section 1.2.2).
MAX_DELTA_SECONDS = 2**31
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "TLS-Health"
_STATUS_LINE = re.compile(r"HTTP/\d(?:\.\d)? (\d{3})(?: .*)?", re.ASCII)
_MAX_AGE = re.compile(r'(?:^|;)\s*max-age\s*=\s*"?(\d+)"?\s*(?:;|$)', re.IGNORECASE | re.ASCII)


class HttpError(Exception):
    """The answer was not a readable HTTP/1.x response head; the message says why."""


@dataclass(frozen=True, slots=True)
class ResponseHead:
    """Status and headers (lower-case names, first value kept) of one response."""

    status: int
    headers: dict[str, str]
    first_byte_ms: float


def request(host_header: str) -> bytes:
    """Build the GET / request the probe sends."""
    return (
        f"GET / HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {USER_AGENT}\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii")


def host_header(host: str, port: int, default_port: int) -> str:
    """Host header value: brackets for IPv6, port unless it is the scheme's default."""
    name = bracketed(host)
    return name if port == default_port else f"{name}:{port}"


async def exchange(stream: Stream, host_value: str) -> ResponseHead:
    """Send GET / and read the response head; the caller bounds the time."""
    started = time.perf_counter()
    await stream.send(request(host_value))
    buffer = bytearray()
    first_byte_ms: float | None = None
    searched = 0
    while True:
        end = _head_end(buffer, searched)
        if end is not None:
            break
        searched = max(0, len(buffer) - 3)  # a marker may straddle two reads
        if len(buffer) > MAX_HEAD_BYTES:
            raise HttpError("response headers exceed 64 KiB")
        chunk = await stream.recv()
        if not chunk:
            if not buffer:
                raise HttpError("connection closed without an HTTP answer")
            raise HttpError("connection closed in the middle of the response headers")
        if first_byte_ms is None:
            first_byte_ms = round((time.perf_counter() - started) * 1000, 3)
        buffer += chunk[: MAX_HEAD_BYTES + 1 - len(buffer)]
    assert first_byte_ms is not None  # noqa: S101 - the loop read at least one chunk
    return parse_head(bytes(buffer[:end]), first_byte_ms)


def _head_end(buffer: bytearray, start: int) -> int | None:
    """Where the head ends; bytes before `start` were searched already."""
    ends = [
        index
        for marker in (b"\r\n\r\n", b"\n\n")
        if (index := buffer.find(marker, start, MAX_HEAD_BYTES + len(marker))) >= 0
    ]
    return min(ends, default=None)


def parse_head(head: bytes, first_byte_ms: float) -> ResponseHead:
    """Parse a status line and at most MAX_HEADERS header lines."""
    lines = head.decode("latin-1").replace("\r\n", "\n").split("\n", MAX_HEADERS + 1)
    match = _STATUS_LINE.fullmatch(lines[0].strip())
    if match is None:
        raise HttpError(f"not an HTTP response: {inert(lines[0], 40)!r}")
    if len(lines) > MAX_HEADERS + 1:
        raise HttpError(f"more than {MAX_HEADERS} header lines")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon and name.strip():
            headers.setdefault(name.strip().lower(), value.strip())
    return ResponseHead(int(match.group(1)), headers, first_byte_ms)


def hsts_max_age(value: str) -> int | None:
    """max-age of a Strict-Transport-Security value; one past 2^31 seconds counts as 2^31."""
    match = _MAX_AGE.search(value)
    if match is None:
        return None
    digits = match.group(1).lstrip("0")
    if len(digits) > len(str(MAX_DELTA_SECONDS)):
        return MAX_DELTA_SECONDS
    return min(int(digits or "0"), MAX_DELTA_SECONDS)


def redirects_to_https(head: ResponseHead) -> bool:
    """Whether a plain-HTTP answer sends the client to https://."""
    location = head.headers.get("location", "")
    return head.status in REDIRECT_STATUSES and location.lower().startswith("https://")
