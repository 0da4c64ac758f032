"""A real TLS server on 127.0.0.1 whose certificate can be swapped while it runs."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
import ssl

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class SwappableTlsServer:
    """Answers HTTP/1.1 200 over TLS; `serve()` replaces the certificate for new connections."""

    def __init__(self, *, legacy: bool = False) -> None:
        """Build the context; `legacy` also accepts TLS 1.0 and 1.1."""
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if legacy:
            self.context.set_ciphers("DEFAULT:@SECLEVEL=0")
            self.context.minimum_version = ssl.TLSVersion.TLSv1
        self.port = 0
        self._server: asyncio.Server | None = None

    def serve(self, chain_pem: Path, key_pem: Path) -> None:
        """Serve this certificate chain from the next handshake on."""
        self.context.load_cert_chain(chain_pem, key_pem)

    async def start(self) -> None:
        """Listen on 127.0.0.1 (on the same port again after `stop`)."""
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening: new connections are refused."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # TLS is started here rather than by the server, so a refused handshake (a legacy
        # protocol probe) ends quietly instead of in the event loop's exception handler.
        with contextlib.suppress(
            OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError
        ):
            await writer.start_tls(self.context, ssl_handshake_timeout=5)
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            writer.write(RESPONSE)
            await writer.drain()
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
