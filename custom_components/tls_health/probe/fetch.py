"""Bounded HTTP/1.1 requests to a CA: CRLs and OCSP over http, ACME Renewal Information over https.

Built on the probe's own sockets (`connection.py`) and response-head parser (`http.py`), like the
rest of the engine, so the probe needs no HTTP library: one request per connection, a body by
Content-Length, chunks or until the end, nothing decompressed, a few redirects. Every request is
bounded in size (`max_bytes`; the head 64 KiB) and the caller bounds its time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
import socket
import ssl
from typing import Final
from urllib.parse import urljoin, urlsplit

from .connection import HandshakeEOFError, PlainStream, Stream, TlsStream, open_tcp
from .http import MAX_HEAD_BYTES, USER_AGENT, HttpError, parse_head
from .inert import inert
from .models import UnknownReason, bracketed

MAX_REDIRECTS: Final = 3
MAX_ADDRESSES: Final = 2
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_MAX_CHUNK_LINE: Final = 1024
_MAX_LENGTH_DIGITS: Final = 19
# Chunks decoded from what was read before the loop gets a turn (a body of tiny chunks).
_CHUNKS_PER_TURN: Final = 256


class FetchError(Exception):
    """A request that gave no usable answer; `reason` classifies it, the message tells it."""

    def __init__(self, reason: UnknownReason, detail: str) -> None:
        """Keep why, as a code and an inert sentence (it quotes URLs and errors as they came)."""
        detail = inert(detail)
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Answer:
    """A successful answer: its status, headers (lower-case names) and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def plain_http(url: str) -> bool:
    """Tell whether `url` is an http:// URL with a host (CRLs and OCSP are fetched over http)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme == "http" and bool(parts.hostname)


async def fetch(  # noqa: PLR0913
    url: str,
    *,
    max_bytes: int,
    context: ssl.SSLContext | None,
    data: bytes | None = None,
    content_type: str | None = None,
    accept: str = "*/*",
) -> Answer:
    """GET (or POST `data`) and read the whole body; FetchError on any failure.

    https:// URLs need a verifying `context`; without one only http:// is fetched. A 2xx answer
    is returned; 404 raises FetchError UNKNOWN_TO_SOURCE, other statuses UNREACHABLE. The caller
    bounds the time (asyncio.timeout).
    """
    request = _Request(url, data, content_type, accept)
    secure = url.lower().startswith("https:")
    for _ in range(MAX_REDIRECTS + 1):
        status, headers, body = await _exchange(request, max_bytes, context)
        url = request.url
        if status in _REDIRECTS and (location := headers.get("location")):
            data = None if status == 303 else data  # noqa: PLR2004
            try:
                target = urljoin(url, location)
            except ValueError as err:  # e.g. an unclosed IPv6 bracket
                raise FetchError(
                    UnknownReason.MALFORMED, f"{url} redirects nowhere usable"
                ) from err
            request = _Request(target, data, content_type, accept)
            if secure and not request.url.lower().startswith("https:"):
                raise FetchError(
                    UnknownReason.NOT_SUPPORTED, f"{url} redirects from https to plain http"
                )
            continue
        if status == 404:  # noqa: PLR2004
            raise FetchError(UnknownReason.UNKNOWN_TO_SOURCE, f"{url} answered 404 Not Found")
        if not 200 <= status < 300:  # noqa: PLR2004
            raise FetchError(UnknownReason.UNREACHABLE, f"{url} answered HTTP {status}")
        return Answer(status, headers, body)
    raise FetchError(UnknownReason.UNREACHABLE, f"{url} redirects too often")


@dataclass(frozen=True, slots=True)
class _Request:
    url: str
    data: bytes | None
    content_type: str | None
    accept: str

    def encode(self, target: str, host: str) -> bytes:
        """Write the request: GET, or POST with the data."""
        lines = [
            f"{'GET' if self.data is None else 'POST'} {target} HTTP/1.1",
            f"Host: {host}",
            f"User-Agent: {USER_AGENT}",
            f"Accept: {self.accept}",
            "Accept-Encoding: identity",
            "Connection: close",
        ]
        if self.data is not None:
            lines += [f"Content-Type: {self.content_type or 'application/octet-stream'}"]
            lines += [f"Content-Length: {len(self.data)}"]
        return "\r\n".join([*lines, "", ""]).encode("ascii") + (self.data or b"")


async def _exchange(
    request: _Request, max_bytes: int, context: ssl.SSLContext | None
) -> tuple[int, dict[str, str], bytes]:
    url = request.url
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError as err:
        raise FetchError(UnknownReason.MALFORMED, f"{url} is not a usable URL") from err
    secure = parts.scheme == "https"
    if not host or parts.scheme not in {"http", "https"} or (secure and context is None):
        raise FetchError(UnknownReason.NOT_SUPPORTED, f"{url} is not a URL this check fetches")
    port = port or (443 if secure else 80)
    default_port = 443 if secure else 80
    host_value = bracketed(host) if port == default_port else f"{bracketed(host)}:{port}"
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    try:
        raw = request.encode(target, host_value)
    except UnicodeError as err:
        raise FetchError(UnknownReason.MALFORMED, f"{url} is not a usable URL") from err
    stream = await _connect(host, port, context if secure else None, url)
    try:
        await stream.send(raw)
        return await _response(stream, max_bytes, url)
    except HttpError as err:
        raise FetchError(UnknownReason.MALFORMED, f"{url}: {err}") from err
    except (OSError, ssl.SSLError, HandshakeEOFError) as err:
        raise FetchError(UnknownReason.UNREACHABLE, f"{url} could not be fetched ({err})") from err
    finally:
        stream.close()


async def _connect(host: str, port: int, context: ssl.SSLContext | None, url: str) -> Stream:
    """Connect to the first of the host's addresses that accepts; TLS when `context` is given."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as err:
        raise FetchError(UnknownReason.UNREACHABLE, f"{url}: {host} cannot be resolved") from err
    failure: OSError | None = None
    usable = [info for info in infos if info[0] in {socket.AF_INET, socket.AF_INET6}]
    for family, _type, _proto, _name, sockaddr in usable[:MAX_ADDRESSES]:
        try:
            sock = await open_tcp(family, sockaddr)  # type: ignore[arg-type]
        except OSError as err:
            failure = err
            continue
        if context is None:
            return PlainStream(sock)
        stream = TlsStream(sock, context, host)
        try:
            await stream.handshake()
        except ssl.SSLCertVerificationError as err:
            stream.close()
            raise FetchError(
                UnknownReason.UNVERIFIABLE,
                f"{url}: the server's certificate is not trusted ({err.verify_message})",
            ) from err
        except (OSError, ssl.SSLError, HandshakeEOFError) as err:
            stream.close()
            raise FetchError(
                UnknownReason.UNREACHABLE, f"{url}: the TLS handshake failed ({err})"
            ) from err
        except BaseException:
            stream.close()
            raise
        return stream
    reason = failure.strerror if failure is not None and failure.strerror else "no address"
    raise FetchError(UnknownReason.UNREACHABLE, f"{url} could not be reached ({reason})")


async def _response(stream: Stream, max_bytes: int, url: str) -> tuple[int, dict[str, str], bytes]:
    buffer = bytearray()
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        if len(buffer) > MAX_HEAD_BYTES:
            raise HttpError("response headers exceed 64 KiB")
        chunk = await stream.recv()
        if not chunk:
            raise HttpError("connection closed before the response headers ended")
        buffer += chunk
    head = parse_head(bytes(buffer[:end]), 0.0)
    rest = bytearray(buffer[end + 4 :])
    headers = head.headers
    if head.status in _REDIRECTS and "location" in headers:
        return head.status, headers, b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _chunked(stream, rest, max_bytes, url)
    elif (length := headers.get("content-length")) is not None:
        digits = length.strip()
        if not (digits.isascii() and digits.isdigit() and len(digits) <= _MAX_LENGTH_DIGITS):
            raise HttpError(f"unreadable Content-Length {length[:20]!r}")
        size = int(digits)
        if size > max_bytes:
            raise FetchError(UnknownReason.TOO_LARGE, f"{url} sends {size} bytes, over {max_bytes}")
        body = await _exactly(stream, rest, size)
    else:
        body = await _until_closed(stream, rest, max_bytes, url)
    return head.status, headers, body


async def _exactly(stream: Stream, buffer: bytearray, size: int) -> bytes:
    while len(buffer) < size:
        chunk = await stream.recv()
        if not chunk:
            raise HttpError("connection closed before the body ended")
        buffer += chunk
    return bytes(buffer[:size])


async def _until_closed(stream: Stream, buffer: bytearray, max_bytes: int, url: str) -> bytes:
    while chunk := await stream.recv():
        buffer += chunk
        _bound(buffer, max_bytes, url)
    _bound(buffer, max_bytes, url)
    return bytes(buffer)


def _bound(buffer: bytearray, max_bytes: int, url: str) -> None:
    if len(buffer) > max_bytes:
        raise FetchError(UnknownReason.TOO_LARGE, f"{url} sends more than {max_bytes} bytes")


async def _chunked(stream: Stream, buffer: bytearray, max_bytes: int, url: str) -> bytes:
    """Decode a chunked body (RFC 9112, section 7.1); trailers are skipped."""
    body = bytearray()
    chunks = 0
    while True:
        chunks += 1
        if chunks % _CHUNKS_PER_TURN == 0:
            await asyncio.sleep(0)
        line = await _line(stream, buffer)
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError as err:
            raise HttpError("unreadable chunk size") from err
        if size == 0:
            while await _line(stream, buffer):  # trailers, up to the empty line
                pass
            return bytes(body)
        if len(body) + size > max_bytes:
            raise FetchError(UnknownReason.TOO_LARGE, f"{url} sends more than {max_bytes} bytes")
        while len(buffer) < size + 2:
            chunk = await stream.recv()
            if not chunk:
                raise HttpError("connection closed inside a chunk")
            buffer += chunk
        body += buffer[:size]
        del buffer[: size + 2]


async def _line(stream: Stream, buffer: bytearray) -> bytes:
    while (end := buffer.find(b"\r\n")) < 0:
        if len(buffer) > _MAX_CHUNK_LINE:
            raise HttpError("chunk line too long")
        chunk = await stream.recv()
        if not chunk:
            raise HttpError("connection closed inside the chunked body")
        buffer += chunk
    line = bytes(buffer[:end])
    del buffer[: end + 2]
    return line
