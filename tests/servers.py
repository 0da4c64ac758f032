"""Real servers on loopback for probe tests: TLS + minimal HTTP/1.1, and raw TCP behaviours."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
import contextlib
import os
from pathlib import Path
import socket
import ssl

type Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def http_response(status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    lines = [f"HTTP/1.1 {status} Status", "Content-Length: 2", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\nok").encode()


class Server:
    """An asyncio server on loopback port 0; `stop` closes every client too."""

    def __init__(
        self,
        handler: Handler,
        *,
        context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self._handler = handler
        self.context = context
        self.host = host
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections = 0

    async def start(self) -> Server:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            if self.context is not None:
                # Upgrading here rather than in start_server keeps a refused handshake (a legacy
                # protocol probe) inside this handler, out of the event loop's exception handler.
                await writer.start_tls(self.context, ssl_handshake_timeout=5)
            await self._handler(reader, writer)
        except OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError:
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(2):
                    await writer.wait_closed()

    def present(self, chain_file: Path, key_file: Path) -> None:
        """Serve another certificate from the next handshake on, as a reloaded server would."""
        assert self.context is not None
        self.context.load_cert_chain(chain_file, key_file)

    async def stop(self) -> None:
        """Stop listening and drop every client; `start` again listens on the same port."""
        if self._server is not None:
            self._server.close()
            self._server.close_clients()
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            async with asyncio.timeout(5):
                await asyncio.gather(*tasks, return_exceptions=True)
                await self._server.wait_closed()
            self._server = None


H2_SETTINGS_FRAME = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


class HttpHandler:
    """Answer one HTTP/1.1 request; with ALPN h2 (or h2_only) send an HTTP/2 SETTINGS frame."""

    def __init__(
        self,
        status: int = 200,
        headers: tuple[tuple[str, str], ...] = (),
        *,
        h2_only: bool = False,
    ) -> None:
        self.response = http_response(status, headers)
        self.requests: list[bytes] = []
        self.h2_only = h2_only

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ssl_object = writer.get_extra_info("ssl_object")
        if self.h2_only or (ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2"):
            # Speak HTTP/2 whatever the client said, then hang up.
            writer.write(H2_SETTINGS_FRAME)
            await writer.drain()
            return
        async with asyncio.timeout(5):
            request = await reader.readuntil(b"\r\n\r\n")
        self.requests.append(request)
        writer.write(self.response)
        await writer.drain()


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept and never say a word (until the client or the test closes)."""
    await reader.read()


async def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A plain-HTTP server: whatever arrives, answer 400 like nginx or uvicorn would."""
    await reader.read(1)
    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    await writer.drain()


def record_sni(context: ssl.SSLContext) -> list[str | None]:
    """Names the clients sent in SNI (kept after any sni_callback already set)."""
    names: list[str | None] = []
    previous = context.sni_callback

    def callback(ssl_object: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        names.append(name)
        if previous is not None:
            previous(ssl_object, name, ctx)

    context.sni_callback = callback  # type: ignore[assignment]
    return names


def redirect_to(location: str, status: int = 301) -> Handler:
    return HttpHandler(status, (("Location", location),))


def drip(interval: float) -> Handler:
    """A status line, then one header byte per interval, forever."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\n")
        while True:
            writer.write(b"X")
            await writer.drain()
            await asyncio.sleep(interval)

    return handler


def huge_headers(size: int) -> Handler:
    """A status line and a header of `size` bytes that never ends."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nX-Big: ")
        chunk = b"a" * 16384
        for _ in range(size // len(chunk)):
            writer.write(chunk)
            await writer.drain()
        await reader.read()

    return handler


def alerting_tls(context: ssl.SSLContext) -> Handler:
    """A TLS server driven through memory BIOs that, unlike asyncio's, sends its fatal alerts.

    asyncio's SSL transport drops the connection on a failed handshake without flushing the
    alert; nginx, HAProxy and OpenSSL's s_server do send it. Successful handshakes answer 200.
    """

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_side=True)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                writer.write(outgoing.read())
                await writer.drain()
                data = await reader.read(65536)
                if not data:
                    return
                incoming.write(data)
            except ssl.SSLError:
                writer.write(outgoing.read())  # the alert
                await writer.drain()
                return
        writer.write(outgoing.read())
        request = b""
        while b"\r\n\r\n" not in request:
            try:
                chunk = tls.read(65536)
            except ssl.SSLWantReadError:
                data = await reader.read(65536)
                if not data:
                    return
                incoming.write(data)
                continue
            if not chunk:
                return
            request += chunk
        tls.write(http_response())
        writer.write(outgoing.read())
        await writer.drain()

    return handler


def _u8(body: bytes) -> bytes:
    return len(body).to_bytes(1) + body


def _u16(body: bytes) -> bytes:
    return len(body).to_bytes(2) + body


def _u24(body: bytes) -> bytes:
    return len(body).to_bytes(3) + body


def _offered_cipher_suites(client_hello: bytes) -> list[int]:
    """The cipher suites of a ClientHello handshake message."""
    assert client_hello[0] == 1, "not a ClientHello"
    position = 4 + 2 + 32  # header, legacy_version, random
    position += 1 + client_hello[position]  # legacy_session_id
    length = int.from_bytes(client_hello[position : position + 2])
    suites = client_hello[position + 2 : position + 2 + length]
    return [int.from_bytes(suites[i : i + 2]) for i in range(0, len(suites), 2)]


# ECDHE-ECDSA/RSA with AES-GCM: what any TLS 1.2 client offers, Python's default context too.
TLS12_ECDHE_GCM = (0xC02B, 0xC02C, 0xC02F, 0xC030)


def tls12_certificate_message(certificates: list[bytes]) -> Handler:
    """A hand-built TLS 1.2 server: ServerHello, a Certificate message of `certificates` as given
    (valid DER or not), ServerHelloDone; then it waits for the client to give up.

    No supported_versions extension, so a TLS 1.3 client settles for 1.2. The ServerHello
    carries renegotiation_info, which OpenSSL clients require.
    """

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        header = await reader.readexactly(5)
        assert header[0] == 0x16, "the client did not start with a handshake record"
        client_hello = await reader.readexactly(int.from_bytes(header[3:5]))
        offered = _offered_cipher_suites(client_hello)
        suite = next((suite for suite in offered if suite in TLS12_ECDHE_GCM), None)
        assert suite is not None, f"no ECDHE AES-GCM suite offered: {offered}"
        renegotiation_info = b"\xff\x01" + _u16(b"\x00")
        server_hello = (
            b"\x03\x03"
            + os.urandom(32)
            + _u8(b"")  # no session id: nothing to resume
            + suite.to_bytes(2)
            + b"\x00"  # no compression
            + _u16(renegotiation_info)
        )
        messages = (
            b"\x02" + _u24(server_hello)
            + b"\x0b" + _u24(_u24(b"".join(_u24(der) for der in certificates)))
            + b"\x0e" + _u24(b"")
        )  # fmt: skip
        writer.write(b"\x16\x03\x03" + _u16(messages))
        await writer.drain()
        await reader.read()

    return handler


@contextlib.contextmanager
def black_hole(host: str = "127.0.0.2") -> Iterator[int]:
    """A port on host whose connections never complete, like a route that drops packets.

    Its accept queue is full (backlog 0, one connection never accepted), so the kernel drops
    every further SYN and a connect waits until the client gives up.
    """
    with socket.socket() as listener:
        listener.bind((host, 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        with socket.create_connection((host, port), timeout=1):
            yield port


def ocsp_responder(answer: Callable[[], bytes]) -> Handler:
    """An OCSP responder over http: reads the POSTed request, answers `answer()`'s DER."""

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        body = answer()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    return respond
