"""Real TLS services from Debian packages, run on loopback from a temporary configuration.

Mosquitto (MQTT), Dovecot (IMAP, POP3 and SMTP submission, each with STARTTLS and direct TLS),
OpenLDAP's slapd and PostgreSQL; scripts/setup installs them without starting any system
service. Each daemon runs in the foreground on free ports with the certificate it is given,
writes its log to a file the tests read, and is stopped (SIGTERM) afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
import contextlib
from dataclasses import dataclass
import os
from pathlib import Path
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from .certs import DAY, NOW, Pki
from .e2e.proxies import _binary

START_WITHIN = 10.0
STOP_WITHIN = 5.0
LOG_WAIT = 5.0


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


_LISTEN = "0A"  # TCP state in /proc/net/tcp


def _listening(port: int) -> bool:
    """Whether something listens on the port; found without connecting (a server would log it)."""
    for table in ("tcp", "tcp6"):
        path = Path("/proc/net", table)
        lines = path.read_text().splitlines()[1:] if path.exists() else []
        for line in lines:
            fields = line.split()
            if fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


@dataclass(frozen=True, slots=True)
class CertFiles:
    """A server's certificate chain and key, as files."""

    chain: Path
    key: Path


class Daemon:
    """One foreground server process and its log file."""

    # Log lines that are errors, whatever the cause.
    error_pattern: re.Pattern[str] = re.compile(r"error|fatal|panic", re.IGNORECASE)
    # Lines that match error_pattern but are harmless (e.g. the daemon's own shutdown).
    harmless: re.Pattern[str] | None = None
    stop_signal: signal.Signals = signal.SIGTERM

    def __init__(
        self, argv: Sequence[str], log: Path, ports: Sequence[int], user: str | None = None
    ) -> None:
        """Start argv and wait until every port accepts connections."""
        self.log = log
        self.ports = list(ports)
        with log.open("ab") as output:
            self._process = subprocess.Popen(  # noqa: S603 - argv built by the tests
                argv,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                user=user,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_WITHIN
        while not all(_listening(port) for port in self.ports):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{argv[0]} did not start:\n{self.text()[-2000:]}")
            time.sleep(0.05)

    def text(self) -> str:
        """The whole log so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def mark(self) -> int:
        """Where the log ends now."""
        return len(self.text())

    def wait_for(self, pattern: str, since: int, count: int = 1) -> str:
        """The log written since `since`, once pattern occurs count times in it (or after LOG_WAIT)."""
        deadline = time.monotonic() + LOG_WAIT
        while True:
            written = self.text()[since:]
            if len(re.findall(pattern, written)) >= count or time.monotonic() > deadline:
                return written
            time.sleep(0.05)

    def errors(self, since: int) -> list[str]:
        """Error lines written since `since`."""
        return [
            line
            for line in self.text()[since:].splitlines()
            if self.error_pattern.search(line)
            and not (self.harmless is not None and self.harmless.search(line))
        ]

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, self.stop_signal)
            try:
                self._process.wait(STOP_WITHIN)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(STOP_WITHIN)


# -- Mosquitto ----------------------------------------------------------------------------------


class Mosquitto(Daemon):
    """An MQTT broker with one TLS listener."""

    error_pattern = re.compile(r"error|protocol error|unable|failed", re.IGNORECASE)

    def __init__(self, directory: Path, cert: CertFiles) -> None:
        """Listen with TLS on a free port."""
        (self.port,) = free_ports(1)
        config = directory / "mosquitto.conf"
        config.write_text(
            "per_listener_settings false\nallow_anonymous true\npersistence false\n"
            "user root\nlog_dest stderr\nlog_type all\n"
            f"listener {self.port} 127.0.0.1\ncertfile {cert.chain}\nkeyfile {cert.key}\n"
        )
        super().__init__(
            [_required("mosquitto"), "-c", str(config)], directory / "mosquitto.log", [self.port]
        )


# -- Dovecot ------------------------------------------------------------------------------------

DOVECOT_SERVICES = (
    # service, plain listener, TLS listener
    ("imap-login", "imap", "imaps"),
    ("pop3-login", "pop3", "pop3s"),
    ("submission-login", "submission", "submissions"),
)


class Dovecot(Daemon):
    """IMAP, POP3 and SMTP submission, each on a plain (STARTTLS) and, with TLS, a TLS port."""

    error_pattern = re.compile(r": (Error|Fatal|Panic|Warning):")
    harmless = re.compile(r"Killed with signal 15|Shutting down logging")

    def __init__(self, directory: Path, cert: CertFiles | None, ports: Sequence[int] = ()) -> None:
        """With cert None, TLS is off: nothing offers STARTTLS and there are no TLS ports."""
        self.port: dict[str, int] = {}
        listeners = []
        ports = iter(ports or free_ports(6))
        for service, plain, tls in DOVECOT_SERVICES:
            self.port[plain] = next(ports)
            block = f"  inet_listener {plain} {{\n    port = {self.port[plain]}\n  }}\n"
            if cert is not None:
                self.port[tls] = next(ports)
                block += (
                    f"  inet_listener {tls} {{\n    port = {self.port[tls]}\n    ssl = yes\n  }}\n"
                )
            else:  # Dovecot's defaults would listen on 993 and 995
                block += f"  inet_listener {tls} {{\n    port = 0\n  }}\n"
            listeners.append(f"service {service} {{\n{block}}}\n")
        ssl = (
            f"ssl = yes\nssl_cert = <{cert.chain}\nssl_key = <{cert.key}\n"
            if cert is not None
            else "ssl = no\n"
        )
        for sub in ("run", "state", "home"):
            (directory / sub).mkdir(exist_ok=True)
        config = directory / "dovecot.conf"
        config.write_text(
            f"base_dir = {directory}/run\nstate_dir = {directory}/state\n"
            f"log_path = {directory}/dovecot.log\n"
            "protocols = imap pop3 submission\nlisten = 127.0.0.1\n"
            f"{ssl}hostname = mail.test\nsubmission_relay_host = 127.0.0.1\n"
            f"mail_location = maildir:{directory}/mail\n"
            "passdb {\n  driver = static\n  args = password=unused\n}\n"
            f"userdb {{\n  driver = static\n  args = uid=nobody gid=nogroup home={directory}/home\n}}\n"
            + "".join(listeners)
        )
        super().__init__(
            [_required("dovecot"), "-F", "-c", str(config)],
            directory / "dovecot.log",
            list(self.port.values()),
        )


# -- OpenLDAP -----------------------------------------------------------------------------------


class Slapd(Daemon):
    """slapd with an empty database on ldap:// and, with a certificate, ldaps://."""

    error_pattern = re.compile(
        r"connection lost|TLS negotiation failure|err=[1-9]|error", re.IGNORECASE
    )

    def __init__(self, directory: Path, cert: CertFiles | None) -> None:
        """With cert None, TLS is not configured: StartTLS is refused."""
        self.port, self.tls_port = free_ports(2)
        (directory / "db").mkdir(exist_ok=True)
        tls = (
            f"TLSCertificateFile {cert.chain}\nTLSCertificateKeyFile {cert.key}\n"
            if cert is not None
            else ""
        )
        config = directory / "slapd.conf"
        config.write_text(
            f"include /etc/ldap/schema/core.schema\npidfile {directory}/slapd.pid\n"
            f"argsfile {directory}/slapd.args\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\n"
            f'{tls}database mdb\nsuffix "dc=test"\ndirectory {directory}/db\n'
        )
        urls = f"ldap://127.0.0.1:{self.port}/"
        ports = [self.port]
        if cert is not None:
            urls += f" ldaps://127.0.0.1:{self.tls_port}/"
            ports.append(self.tls_port)
        super().__init__(
            [_required("slapd"), "-d", "256", "-h", urls, "-f", str(config)],
            directory / "slapd.log",
            ports,
        )


# -- PostgreSQL ---------------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: p.parent.parent.name
    )
    return found[-1].parent if found else None


def _postgres_user() -> str | None:
    """The server refuses to run as root: it runs as the `postgres` user when there is one."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return None
    return "postgres"


class PostgresCluster:
    """An initdb'ed data directory, made once and copied for each server."""

    def __init__(self, directory: Path) -> None:
        """Run initdb (about a second)."""
        binaries = postgres_bin()
        if binaries is None:
            raise RuntimeError("postgresql is not installed")
        self.bin = binaries
        self.user = _postgres_user()
        self.template = directory / "template"
        self._own(directory)
        subprocess.run(  # noqa: S603
            [
                str(binaries / "initdb"),
                "-D",
                str(self.template),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            user=self.user,
        )

    def _own(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            for item in (path, *path.rglob("*")):
                os.chown(item, entry.pw_uid, entry.pw_gid)

    def server(self, directory: Path, cert: CertFiles | None) -> Postgres:
        """A server on a copy of the template; with cert None, ssl is off."""
        data = directory / "data"
        shutil.copytree(self.template, data, symlinks=True)
        if cert is not None:
            shutil.copy(cert.chain, directory / "server.crt")
            shutil.copy(cert.key, directory / "server.key")
            (directory / "server.key").chmod(0o600)
        self._own(directory)
        data.chmod(0o700)
        return Postgres(self, directory, tls=cert is not None)


class Postgres(Daemon):
    """postgres in the foreground, listening on 127.0.0.1 and a socket in its directory."""

    error_pattern = re.compile(r"\b(ERROR|FATAL|PANIC|WARNING):|could not", re.IGNORECASE)
    stop_signal = signal.SIGINT  # fast shutdown

    def __init__(self, cluster: PostgresCluster, directory: Path, *, tls: bool) -> None:
        """Start on a free port; TLS settings as given."""
        (self.port,) = free_ports(1)
        settings = ["listen_addresses=127.0.0.1", "log_connections=on", "fsync=off"]
        if tls:
            settings += [
                "ssl=on",
                f"ssl_cert_file={directory}/server.crt",
                f"ssl_key_file={directory}/server.key",
            ]
        argv = [
            str(cluster.bin / "postgres"),
            "-D",
            str(directory / "data"),
            "-p",
            str(self.port),
            "-k",
            str(directory),
        ]
        for setting in settings:
            argv += ["-c", setting]
        super().__init__(argv, directory / "postgres.log", [self.port], user=cluster.user)


# -- HAProxy as a TCP load balancer ---------------------------------------------------------------


class LoadBalancer(Daemon):
    """HAProxy in TCP mode: one address, TLS passed through to backends in weighted round robin."""

    error_pattern = re.compile(r"\[(ALERT|WARNING)\]")

    def __init__(self, directory: Path, backends: Sequence[tuple[int, int]]) -> None:
        """Listen on a free port; `backends` are (port on 127.0.0.1, weight) pairs."""
        (self.port,) = free_ports(1)
        servers = "".join(
            f"    server backend{number} 127.0.0.1:{port} weight {weight}\n"
            for number, (port, weight) in enumerate(backends)
        )
        config = directory / "haproxy.cfg"
        config.write_text(
            "global\n    maxconn 100\n"
            "defaults\n    mode tcp\n    timeout connect 5s\n"
            "    timeout client 30s\n    timeout server 30s\n"
            f"frontend tls\n    bind 127.0.0.1:{self.port}\n    default_backend servers\n"
            f"backend servers\n    balance roundrobin\n{servers}"
        )
        super().__init__(
            [_required("haproxy"), "-f", str(config), "-db"],
            directory / "haproxy.log",
            [self.port],
        )


def _required(name: str) -> str:
    found = _binary(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed")
    return found


def installed(*names: str) -> bool:
    """Whether every named server binary is installed (scripts/setup installs them)."""
    return all(_binary(name) is not None for name in names)


@contextlib.contextmanager
def service_directory() -> Iterator[Path]:
    """A directory the servers' unprivileged users can read (pytest's tmp_path is 0700)."""
    directory = Path(tempfile.mkdtemp(prefix="tls-health-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def cert_files(pki: Pki, directory: Path, host: str, *, expired: bool = False) -> CertFiles:
    """Leaf and intermediate for host, readable by the servers."""
    dates = {"not_before": NOW - 100 * DAY, "not_after": NOW - 3 * DAY} if expired else {}
    leaf = pki.leaf(host, **dates)  # type: ignore[arg-type]
    name = "expired" if expired else "good"
    chain = directory / f"{name}-chain.pem"
    chain.write_bytes(leaf.pem + pki.intermediate.pem)
    key = directory / f"{name}-key.pem"
    key.write_bytes(leaf.key_pem)
    chain.chmod(0o644)
    key.chmod(0o644)
    return CertFiles(chain, key)


@contextlib.contextmanager
def running(daemon: Daemon) -> Iterator[Daemon]:
    """Stop the daemon afterwards."""
    try:
        yield daemon
    finally:
        daemon.stop()
