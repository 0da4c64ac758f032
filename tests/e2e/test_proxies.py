"""The reverse proxy fixtures, proven against a real upstream: what it sees per proxy and mode."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
import ssl
from typing import Any

import aiohttp
from aiohttp import web
import pytest

from tests.certs import Pki

from .proxies import ProxyFactory, ProxyKind, ProxyMode, ReverseProxy, proxy_binary

pytestmark = pytest.mark.timeout(60)

NAME = "hass.example.test"
SPOOFED = "203.0.113.77"
CLIENT = "127.0.0.1"


async def echo(request: web.Request) -> web.Response:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return web.json_response(
        {
            "peer": peer[0] if peer else None,
            "host": request.headers.getall("Host", []),
            "x_forwarded_for": request.headers.getall("X-Forwarded-For", []),
            "x_forwarded_proto": request.headers.getall("X-Forwarded-Proto", []),
            "x_forwarded_host": request.headers.getall("X-Forwarded-Host", []),
        }
    )


async def websocket(request: web.Request) -> web.WebSocketResponse:
    socket_ = web.WebSocketResponse()
    await socket_.prepare(request)
    await socket_.send_json({"type": "auth_required"})
    await socket_.close()
    return socket_


@pytest.fixture
async def upstream() -> AsyncIterator[int]:
    """An aiohttp upstream on 127.0.0.1:<free port> echoing what it received; its port."""
    app = web.Application()
    app.router.add_get("/echo", echo)
    app.router.add_get("/ws", websocket)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert runner.addresses
    yield runner.addresses[0][1]
    await runner.cleanup()


@pytest.fixture(params=list(ProxyKind), ids=str)
def kind(request: pytest.FixtureRequest) -> ProxyKind:
    kind = ProxyKind(request.param)
    if proxy_binary(kind) is None:
        pytest.skip(f"{kind} is not installed (scripts/setup installs the Debian package)")
    return kind


@pytest.fixture
async def client(pki: Pki) -> AsyncIterator[aiohttp.ClientSession]:
    context = ssl.create_default_context(cafile=pki.root_file)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
        yield session


async def through(
    client: aiohttp.ClientSession, proxy: ReverseProxy, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """GET /echo through the proxy as https://hass.example.test:<port>."""
    async with client.get(
        f"https://{proxy.host}:{proxy.port}/echo",
        server_hostname=NAME,
        headers={"Host": f"{NAME}:{proxy.port}", **(headers or {})},
    ) as response:
        assert response.status == 200, await response.text()
        return dict(await response.json())


async def websocket_through(client: aiohttp.ClientSession, proxy: ReverseProxy) -> Any:
    """Connect to /ws through the proxy; the first message."""
    async with client.ws_connect(
        f"wss://{proxy.host}:{proxy.port}/ws",
        server_hostname=NAME,
        headers={"Host": f"{NAME}:{proxy.port}"},
    ) as socket_:
        return await socket_.receive_json(timeout=5)


@pytest.mark.parametrize("mode", list(ProxyMode), ids=lambda mode: mode.value)
async def test_upstream_sees_what_the_mode_promises(
    kind: ProxyKind,
    mode: ProxyMode,
    pki: Pki,
    upstream: int,
    reverse_proxy: ProxyFactory,
    client: aiohttp.ClientSession,
) -> None:
    chain, key = pki.server_files("proxy", pki.leaf(NAME), pki.intermediate)
    proxy = await reverse_proxy(kind, mode, chain_file=chain, key_file=key, upstream_port=upstream)
    assert proxy.source_address == (None if kind is ProxyKind.CADDY else "127.0.0.5")

    plain = await through(client, proxy)
    spoofed = await through(
        client,
        proxy,
        {
            "X-Forwarded-For": SPOOFED,
            "X-Forwarded-Proto": "gopher",
            "X-Forwarded-Host": "evil.example",
        },
    )

    for seen in (plain, spoofed):
        assert seen["peer"] == (proxy.source_address or CLIENT)
        assert seen["x_forwarded_host"] == []
        if mode is ProxyMode.HOST_REWRITTEN:
            assert seen["host"] == [f"127.0.0.1:{upstream}"]
        else:
            assert seen["host"] == [f"{NAME}:{proxy.port}"]
        if mode is ProxyMode.NO_FORWARDED_PROTO:
            assert seen["x_forwarded_proto"] == []
        else:
            assert seen["x_forwarded_proto"] == ["https"]

    if mode is ProxyMode.NO_FORWARDED_FOR:
        assert plain["x_forwarded_for"] == []
        assert spoofed["x_forwarded_for"] == []
    elif mode is ProxyMode.PASS_THROUGH:  # exactly the client's, nothing appended
        assert plain["x_forwarded_for"] == ([""] if kind is ProxyKind.CADDY else [])
        assert spoofed["x_forwarded_for"] == [SPOOFED]
    elif kind is ProxyKind.CADDY:  # the client's is replaced unless the client is trusted
        assert plain["x_forwarded_for"] == [CLIENT]
        appended = mode is ProxyMode.CLIENT_XFF_PASSED
        assert spoofed["x_forwarded_for"] == [f"{SPOOFED}, {CLIENT}" if appended else CLIENT]
    elif kind is ProxyKind.NGINX:  # $proxy_add_x_forwarded_for: one header, appended
        assert plain["x_forwarded_for"] == [CLIENT]
        assert spoofed["x_forwarded_for"] == [f"{SPOOFED}, {CLIENT}"]
    else:  # option forwardfor: one more header line, after the client's
        assert plain["x_forwarded_for"] == [CLIENT]
        assert spoofed["x_forwarded_for"] == [SPOOFED, CLIENT]

    if mode is ProxyMode.NO_WEBSOCKET:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await websocket_through(client, proxy)
    else:
        assert await websocket_through(client, proxy) == {"type": "auth_required"}


async def test_proxy_is_gone_after_stop(
    kind: ProxyKind, pki: Pki, upstream: int, tmp_path: Path
) -> None:
    chain, key = pki.server_files("proxy", pki.leaf(NAME), pki.intermediate)
    factory = ProxyFactory(tmp_path)
    proxy = await factory(kind, chain_file=chain, key_file=key, upstream_port=upstream)
    assert proxy.running
    await factory.aclose()
    assert not proxy.running
    assert not await proxy._accepts()
