"""Sockets for probing: TCP connect, and TLS over memory BIOs so every raw byte is visible.

Driving `ssl.SSLObject` by hand (instead of an asyncio SSL transport) keeps each connection a
plain non-blocking socket: the first bytes the server sent are known (a plain-HTTP answer on
the TLS port is recognisable), and closing is a single `socket.close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from typing import Protocol

READ_SIZE = 65536


class Stream(Protocol):
    """Bytes in, bytes out; `recv` returns b"" at the end."""

    async def send(self, data: bytes) -> None:
        """Send all of data."""

    async def recv(self) -> bytes:
        """Receive what is available, at most READ_SIZE bytes; b"" at the end."""

    def close(self) -> None:
        """Close the socket; idempotent."""


class HandshakeEOFError(ConnectionError):
    """The server closed the connection before the handshake completed."""


async def open_tcp(
    family: socket.AddressFamily, sockaddr: tuple[str, int] | tuple[str, int, int, int]
) -> socket.socket:
    """Connect a non-blocking TCP socket; the caller bounds the time."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)  # noqa: FBT003
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await loop.sock_connect(sock, sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


class PlainStream:
    """A connected TCP socket."""

    def __init__(self, sock: socket.socket) -> None:
        """Wrap a connected non-blocking socket (this object owns it)."""
        self._sock = sock
        self._loop = asyncio.get_running_loop()

    async def send(self, data: bytes) -> None:
        """Send all of data."""
        await self._loop.sock_sendall(self._sock, data)

    async def recv(self) -> bytes:
        """Receive up to READ_SIZE bytes."""
        return await self._loop.sock_recv(self._sock, READ_SIZE)

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()


class TlsStream:
    """TLS client over a connected socket, driven through memory BIOs."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, sni: str | None) -> None:
        """Prepare (not start) a handshake; this object owns the socket."""
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self.ssl_object = context.wrap_bio(
            self._incoming, self._outgoing, server_side=False, server_hostname=sni
        )
        self.first_bytes = b""

    async def handshake(self) -> None:
        """Complete the handshake; ssl.SSLError, OSError or HandshakeEOFError on failure."""
        while True:
            try:
                self.ssl_object.do_handshake()
            except ssl.SSLWantReadError:
                await self._flush()
                if not await self._receive():
                    raise HandshakeEOFError("connection closed during the handshake") from None
                continue
            except ssl.SSLError:
                # Let the server see our alert, when the socket still takes it.
                self._flush_nowait()
                raise
            await self._flush()
            return

    async def send(self, data: bytes) -> None:
        """Encrypt and send all of data."""
        self.ssl_object.write(data)
        await self._flush()

    async def recv(self) -> bytes:
        """Decrypted bytes; b"" at close_notify or at the end of the socket."""
        while True:
            try:
                return self.ssl_object.read(READ_SIZE)
            except ssl.SSLWantReadError:
                await self._flush()
                if not await self._receive():
                    return b""
            except ssl.SSLZeroReturnError, ssl.SSLEOFError:
                return b""

    def close(self) -> None:
        """Send close_notify when possible, then close the socket."""
        if self._sock.fileno() < 0:
            return
        with contextlib.suppress(ssl.SSLError, ValueError):
            self.ssl_object.unwrap()
        self._flush_nowait()
        self._sock.close()

    async def _receive(self) -> bool:
        data = await self._loop.sock_recv(self._sock, READ_SIZE)
        if not data:
            self._incoming.write_eof()
            return False
        if len(self.first_bytes) < 16:  # noqa: PLR2004
            self.first_bytes += data[: 16 - len(self.first_bytes)]
        self._incoming.write(data)
        return True

    async def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            await self._loop.sock_sendall(self._sock, data)

    def _flush_nowait(self) -> None:
        data = self._outgoing.read()
        if data and self._sock.fileno() >= 0:
            with contextlib.suppress(OSError):
                self._sock.send(data)
