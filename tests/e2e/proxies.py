"""Real reverse proxies (nginx, HAProxy, Caddy) on loopback, terminating TLS before an HTTP upstream.

A proxy listens on 127.0.0.1:<free port> with a given certificate chain and key, and forwards
plain HTTP (or, with `upstream_tls`, HTTPS to another proxy in front of it) to 127.0.0.1:<upstream_port>, connecting FROM `source_address` (default 127.0.0.5) so
the upstream can tell the proxy apart from a test client on 127.0.0.1. With `source_address=None`
the proxy connects from 127.0.0.1, like a proxy on the same host in its usual configuration.
Caddy 2.6 cannot choose its source address: it always connects from 127.0.0.1.

What the upstream receives, per `ProxyMode` (verified by tests/e2e/test_proxies.py):

- Every mode strips a client-sent X-Forwarded-Host; none adds one.
- GOOD: X-Forwarded-For is the client's value with the client address appended (nginx: one
  header `203.0.113.77, 127.0.0.1` via $proxy_add_x_forwarded_for; HAProxy: `option forwardfor`
  adds a second header line `127.0.0.1` after the client's), X-Forwarded-Proto `https` (a
  client-sent value is replaced), the client's Host header unchanged, WebSocket upgrades passed.
- NO_FORWARDED_FOR: as GOOD, but no X-Forwarded-For at all (a client-sent one is removed too).
- NO_FORWARDED_PROTO: as GOOD, but no X-Forwarded-Proto at all (a client-sent one is removed).
- HOST_REWRITTEN: as GOOD, but Host is `127.0.0.1:<upstream_port>`.
- NO_WEBSOCKET: as GOOD, but Upgrade is dropped (nginx sends no Connection header, HAProxy
  `Connection: close`), so the upstream answers a WebSocket handshake with 400.
- CLIENT_XFF_PASSED: the proxy appends to a client-sent X-Forwarded-For instead of replacing it.
  That is what both nginx ($proxy_add_x_forwarded_for) and HAProxy (`option forwardfor`) do in
  their usual configuration, so this mode's configuration is the same as GOOD for both proxies;
  it exists so tests can name the behaviour they rely on. Caddy appends only for clients in its
  own `trusted_proxies` (here: all private ranges, loopback included).
- PASS_THROUGH: X-Forwarded-For is exactly what the client sent, nothing appended, none when
  the client sent none (nginx `$http_x_forwarded_for`, HAProxy without `option forwardfor`).
  Caddy (`header_up X-Forwarded-For {http.request.header.X-Forwarded-For}`) sends an empty
  header when the client sent none.

Caddy's GOOD replaces a client-sent X-Forwarded-For with the client's address (clients are not
in its `trusted_proxies`); every other mode behaves as described above.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
import contextlib
from enum import Enum, StrEnum
import os
from pathlib import Path
import shutil
import signal
import ssl
from typing import Any, Literal, Self

from .hass_process import free_port

START_WITHIN = 10.0
STOP_WITHIN = 5.0
BIND_ATTEMPTS = 3
SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")


RELOADED_IN_A_ROW = 10


class ProxyMode(Enum):
    """A configuration variant; see the module docstring for what the upstream receives."""

    GOOD = "good"
    NO_FORWARDED_FOR = "no_forwarded_for"
    NO_FORWARDED_PROTO = "no_forwarded_proto"
    HOST_REWRITTEN = "host_rewritten"
    NO_WEBSOCKET = "no_websocket"
    CLIENT_XFF_PASSED = "client_xff_passed"
    PASS_THROUGH = "pass_through"  # noqa: S105 (a mode, not a password)


class ProxyKind(StrEnum):
    """Which reverse proxy."""

    NGINX = "nginx"
    HAPROXY = "haproxy"
    CADDY = "caddy"


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for directory in SBIN:  # /usr/sbin is often not on PATH outside login shells
        candidate = Path(directory) / name
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def nginx_binary() -> str | None:
    """Path of the nginx binary, or None when it is not installed (see scripts/setup)."""
    return _binary("nginx")


def haproxy_binary() -> str | None:
    """Path of the haproxy binary, or None when it is not installed (see scripts/setup)."""
    return _binary("haproxy")


def proxy_binary(kind: ProxyKind | str) -> str | None:
    """Path of the binary for `kind`, or None."""
    return _binary(str(ProxyKind(kind)))


class ProxyStartError(RuntimeError):
    """The proxy did not accept TLS connections in time; the message carries its logs."""


class ReverseProxy(ABC):
    """A real reverse proxy run in the foreground as a child process.

    `await start()` picks a free port, writes the configuration under `directory`, runs the proxy
    and waits until its TLS port accepts connections; `await stop()` ends it (and its workers)
    and waits for the exit. Also an async context manager.
    """

    kind: ProxyKind

    def __init__(
        self,
        mode: ProxyMode,
        *,
        chain_file: Path,
        key_file: Path,
        upstream_port: int,
        directory: Path,
        source_address: str | None = "127.0.0.5",
        binary: str | None = None,
        upstream_tls: bool = False,
    ) -> None:
        self.mode = mode
        # The upstream is another proxy's TLS port (certificate not verified): a second hop.
        self.upstream_tls = upstream_tls
        self.chain_file = Path(chain_file)
        self.key_file = Path(key_file)
        self.upstream_port = upstream_port
        self.directory = Path(directory)
        self.source_address = source_address
        self.host = "127.0.0.1"
        self.port = 0
        found = binary or proxy_binary(self.kind)
        if found is None:
            raise FileNotFoundError(f"{self.kind} is not installed (run scripts/setup)")
        self.binary = found
        self._process: asyncio.subprocess.Process | None = None

    @property
    def config_file(self) -> Path:
        """The configuration file written by `start`."""
        return self.directory / f"{self.kind}.conf"

    @property
    def stderr_file(self) -> Path:
        """The proxy's stdout and stderr."""
        return self.directory / "stderr.log"

    @property
    def running(self) -> bool:
        """Whether the proxy process is alive."""
        return self._process is not None and self._process.returncode is None

    @abstractmethod
    def config(self) -> str:
        """The configuration text for the current port and mode."""

    @abstractmethod
    def command(self) -> list[str]:
        """The command line running the proxy in the foreground."""

    def extra_files(self) -> dict[Path, bytes]:
        """Files the configuration needs besides itself, written by `start`."""
        return {}

    def environment(self) -> dict[str, str] | None:
        """The proxy's environment; None inherits the test's."""
        return None

    @property
    def error_log(self) -> Path:
        """The proxy's error log (nginx); HAProxy reports on stderr."""
        return self.directory / "error.log"

    def logs(self) -> str:
        """The proxy's stderr and error log, for failure messages."""
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}"
            for path in (self.stderr_file, self.error_log)
            if path.exists()
        )

    async def start(self) -> Self:
        """Run the proxy and wait until its TLS port accepts connections."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, BIND_ATTEMPTS + 1):
            self.port = free_port()
            for path, content in self.extra_files().items():
                path.write_bytes(content)
            self.config_file.write_text(self.config())
            self.error_log.unlink(missing_ok=True)
            try:
                await self._run()
            except ProxyStartError:
                # Another test may have taken the free port between probe and bind.
                if attempt < BIND_ATTEMPTS and "already in use" in self.logs():
                    continue
                raise
            return self
        raise AssertionError("unreachable")  # pragma: no cover

    async def restart(self, upstream_port: int) -> None:
        """Run again on the same port, forwarding to another upstream port."""
        await self.stop()
        self.upstream_port = upstream_port
        self.config_file.write_text(self.config())
        await self._run()

    async def _run(self) -> None:
        with self.stderr_file.open("wb") as output:
            self._process = await asyncio.create_subprocess_exec(
                *self.command(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
                env=self.environment(),
                start_new_session=True,  # its own process group: workers die with it
            )
        try:
            async with asyncio.timeout(START_WITHIN):
                await self._until_accepting(self._process)
        except TimeoutError:
            await self.stop()
            raise ProxyStartError(
                f"{self.kind} did not accept connections on {self.host}:{self.port} within "
                f"{START_WITHIN} s:\n{self.logs()}"
            ) from None
        except BaseException:
            await self.stop()
            raise

    async def _until_accepting(self, process: asyncio.subprocess.Process) -> None:
        while not await self._accepts():
            if process.returncode is not None:
                raise ProxyStartError(
                    f"{self.kind} exited with {process.returncode}:\n{self.logs()}"
                )
            await asyncio.sleep(0.02)

    async def _accepts(self) -> bool:
        """Whether the port completes a TLS handshake presenting our leaf certificate.

        Checking the certificate tells this proxy apart from another process that took the
        port between `free_port` and the proxy's bind.
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            async with asyncio.timeout(2):
                _, writer = await asyncio.open_connection(self.host, self.port, ssl=context)
        except OSError, TimeoutError:
            return False
        ssl_object = writer.get_extra_info("ssl_object")
        presented = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(2):
                await writer.wait_closed()
        return presented == self._leaf_der()

    def _leaf_der(self) -> bytes:
        pem = self.chain_file.read_text()
        end = "-----END CERTIFICATE-----"
        return ssl.PEM_cert_to_DER_cert(pem[: pem.index(end) + len(end)])

    async def reload(self) -> None:
        """Reload as after a renewal (SIGHUP), until every connection gets the chain file's leaf.

        Old workers finish gracefully and may still take a connection for a moment: the reload
        is done once several handshakes in a row present the new certificate.
        """
        assert self._process is not None
        self._process.send_signal(signal.SIGHUP)
        async with asyncio.timeout(START_WITHIN):
            in_a_row = 0
            while in_a_row < RELOADED_IN_A_ROW:
                in_a_row = in_a_row + 1 if await self._accepts() else 0
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """End the proxy (SIGTERM, then SIGKILL to its process group) and wait for the exit."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_WITHIN):
                    await process.wait()
            if process.returncode is not None and process.returncode <= 0:
                return  # ended on our SIGTERM (or cleanly)
        # Killed, crashed or hung: make sure no worker of its group lingers.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.mode.name} {self.host}:{self.port}>"


NGINX_CONFIG = """\
{user}worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log notice;
events {{
    worker_connections 64;
}}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        '' close;
    }}
    server {{
        listen {host}:{port} ssl;
        server_name _;
        ssl_certificate {chain};
        ssl_certificate_key {key};
        location / {{
            proxy_pass {scheme}://127.0.0.1:{upstream_port};
{bind}            proxy_http_version 1.1;
            proxy_read_timeout 1h;
            proxy_set_header X-Forwarded-Host "";
{headers}
        }}
    }}
}}
"""


class NginxProxy(ReverseProxy):
    """nginx in the foreground (`daemon off`), everything it writes under `directory`."""

    kind = ProxyKind.NGINX

    def config(self) -> str:
        """nginx.conf for the current port and mode."""
        mode = self.mode
        host = "$proxy_host" if mode is ProxyMode.HOST_REWRITTEN else "$http_host"
        headers = {"Host": host, "X-Forwarded-For": "$proxy_add_x_forwarded_for"}
        headers["X-Forwarded-Proto"] = "https"
        headers |= {"Upgrade": "$http_upgrade", "Connection": "$connection_upgrade"}
        if mode is ProxyMode.NO_FORWARDED_FOR:
            headers["X-Forwarded-For"] = '""'  # nginx does not send a header set to ""
        elif mode is ProxyMode.NO_FORWARDED_PROTO:
            headers["X-Forwarded-Proto"] = '""'
        elif mode is ProxyMode.NO_WEBSOCKET:
            # Upgrade is hop-by-hop: nginx drops it unless set here.
            del headers["Upgrade"]
            headers["Connection"] = '""'
        elif mode is ProxyMode.PASS_THROUGH:
            headers["X-Forwarded-For"] = "$http_x_forwarded_for"
        source = self.source_address
        return NGINX_CONFIG.format(
            user="user root;\n" if os.geteuid() == 0 else "",
            dir=self.directory,
            host=self.host,
            port=self.port,
            chain=self.chain_file,
            key=self.key_file,
            upstream_port=self.upstream_port,
            scheme="https" if self.upstream_tls else "http",
            bind=f"            proxy_bind {source};\n" if source else "",
            headers="\n".join(
                f"            proxy_set_header {name} {value};" for name, value in headers.items()
            ),
        )

    def command(self) -> list[str]:
        """nginx -p DIR -e ERROR_LOG -c FILE -g 'daemon off;'."""
        return [
            self.binary,
            "-p",
            f"{self.directory}/",
            "-e",
            str(self.directory / "error.log"),
            "-c",
            str(self.config_file),
            "-g",
            "daemon off;",
        ]


HAPROXY_CONFIG = """\
global
    maxconn 100
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout tunnel 1h
frontend tls
    bind {host}:{port} ssl crt {pem}
    http-request del-header X-Forwarded-Host
{rules}
    default_backend upstream
backend upstream
{backend}
    server upstream 127.0.0.1:{upstream_port}{tls}{source}
"""


class HaproxyProxy(ReverseProxy):
    """HAProxy in the foreground (`-db`), with one PEM holding chain and key."""

    kind = ProxyKind.HAPROXY

    @property
    def pem_file(self) -> Path:
        """Certificate chain followed by the key, as `bind ... ssl crt` wants it."""
        return self.directory / "haproxy.pem"

    def extra_files(self) -> dict[Path, bytes]:
        """The combined PEM."""
        chain = self.chain_file.read_bytes()
        separator = b"" if chain.endswith(b"\n") else b"\n"
        return {self.pem_file: chain + separator + self.key_file.read_bytes()}

    def config(self) -> str:
        """haproxy.cfg for the current port and mode."""
        mode = self.mode
        rules = ["http-request set-header X-Forwarded-Proto https"]
        backend = ["option forwardfor"]
        if mode is ProxyMode.NO_FORWARDED_FOR:
            rules.append("http-request del-header X-Forwarded-For")
            backend = []
        elif mode is ProxyMode.NO_FORWARDED_PROTO:
            rules = ["http-request del-header X-Forwarded-Proto"]
        elif mode is ProxyMode.HOST_REWRITTEN:
            rules.append(f"http-request set-header Host 127.0.0.1:{self.upstream_port}")
        elif mode is ProxyMode.NO_WEBSOCKET:
            rules += ["http-request del-header Upgrade", "http-request set-header Connection close"]
        elif mode is ProxyMode.PASS_THROUGH:
            backend = []  # HAProxy passes request headers on as they came
        return HAPROXY_CONFIG.format(
            host=self.host,
            port=self.port,
            pem=self.pem_file,
            rules="\n".join(f"    {rule}" for rule in rules),
            backend="\n".join(f"    {line}" for line in backend),
            upstream_port=self.upstream_port,
            tls=" ssl verify none" if self.upstream_tls else "",
            source=f" source {self.source_address}" if self.source_address else "",
        )

    def command(self) -> list[str]:
        """haproxy -f FILE -db."""
        return [self.binary, "-f", str(self.config_file), "-db"]


CADDY_CONFIG = """\
{{
	admin off
	auto_https off
	storage file_system {{
		root {dir}/data
	}}
}}
https://:{port} {{
	bind {host}
	tls {chain} {key}
	log {{
		output file {dir}/access.log
	}}
	reverse_proxy {scheme}127.0.0.1:{upstream_port} {{
{options}
	}}
}}
"""


class CaddyProxy(ReverseProxy):
    """Caddy in the foreground (`caddy run`), its state under `directory`."""

    kind = ProxyKind.CADDY

    def __init__(self, mode: ProxyMode, **kwargs: Any) -> None:
        super().__init__(mode, **kwargs)
        self.source_address = None  # Caddy 2.6 has no option to choose it

    def config(self) -> str:
        """Caddyfile for the current port and mode."""
        mode = self.mode
        options = ["header_up -X-Forwarded-Host"]
        if mode is ProxyMode.NO_FORWARDED_FOR:
            options.append("header_up -X-Forwarded-For")
        elif mode is ProxyMode.NO_FORWARDED_PROTO:
            options.append("header_up -X-Forwarded-Proto")
        elif mode is ProxyMode.HOST_REWRITTEN:
            options.append("header_up Host {upstream_hostport}")
        elif mode is ProxyMode.NO_WEBSOCKET:
            options += ["header_up -Upgrade", "header_up -Connection"]
        elif mode is ProxyMode.CLIENT_XFF_PASSED:
            options += ["trusted_proxies private_ranges", "header_up X-Forwarded-Proto https"]
        elif mode is ProxyMode.PASS_THROUGH:
            options.append("header_up X-Forwarded-For {http.request.header.X-Forwarded-For}")
        if self.upstream_tls:
            options.append("transport http {\n\t\t\ttls_insecure_skip_verify\n\t\t}")
        return CADDY_CONFIG.format(
            dir=self.directory,
            host=self.host,
            port=self.port,
            chain=self.chain_file,
            key=self.key_file,
            upstream_port=self.upstream_port,
            scheme="https://" if self.upstream_tls else "",
            options="\n".join(f"\t\t{option}" for option in options),
        )

    def environment(self) -> dict[str, str]:
        """Caddy keeps its state (autosaved config, data) under the proxy's directory."""
        return {
            **os.environ,
            "HOME": str(self.directory),
            "XDG_CONFIG_HOME": str(self.directory / "config"),
            "XDG_DATA_HOME": str(self.directory / "data"),
        }

    def command(self) -> list[str]:
        """caddy run --config FILE --adapter caddyfile."""
        return [self.binary, "run", "--config", str(self.config_file), "--adapter", "caddyfile"]

    @property
    def config_file(self) -> Path:
        """The Caddyfile written by `start`."""
        return self.directory / "Caddyfile"


PROXIES: dict[ProxyKind, type[ReverseProxy]] = {
    ProxyKind.NGINX: NginxProxy,
    ProxyKind.HAPROXY: HaproxyProxy,
    ProxyKind.CADDY: CaddyProxy,
}


def make_proxy(
    kind: Literal["nginx", "haproxy", "caddy"] | ProxyKind,
    mode: ProxyMode,
    *,
    chain_file: Path,
    key_file: Path,
    upstream_port: int,
    tmp_path: Path,
    source_address: str | None = "127.0.0.5",
    upstream_tls: bool = False,
) -> ReverseProxy:
    """A proxy of `kind`, not started; its files go to a fresh folder under tmp_path."""
    kind = ProxyKind(kind)
    directory = tmp_path / f"{kind}-{mode.value}"
    for index in range(1, 1000):
        if not directory.exists():
            break
        directory = tmp_path / f"{kind}-{mode.value}-{index}"
    return PROXIES[kind](
        mode,
        chain_file=chain_file,
        key_file=key_file,
        upstream_port=upstream_port,
        directory=directory,
        source_address=source_address,
        upstream_tls=upstream_tls,
    )


class ProxyFactory:
    """Starts proxies for a test and stops all of them in `aclose` (for a fixture)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.proxies: list[ReverseProxy] = []

    async def __call__(
        self,
        kind: Literal["nginx", "haproxy", "caddy"] | ProxyKind,
        mode: ProxyMode = ProxyMode.GOOD,
        *,
        chain_file: Path,
        key_file: Path,
        upstream_port: int,
        source_address: str | None = "127.0.0.5",
        upstream_tls: bool = False,
    ) -> ReverseProxy:
        """Start a proxy; it is stopped by `aclose`. `upstream_tls`: in front of another proxy."""
        proxy = make_proxy(
            kind,
            mode,
            chain_file=chain_file,
            key_file=key_file,
            upstream_port=upstream_port,
            tmp_path=self.tmp_path,
            source_address=source_address,
            upstream_tls=upstream_tls,
        )
        self.proxies.append(proxy)
        return await proxy.start()

    async def aclose(self) -> None:
        """Stop every proxy started here."""
        for proxy in reversed(self.proxies):
            await proxy.stop()
