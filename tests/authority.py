"""A real certificate authority on loopback: `openssl ca` issues and revokes, nginx serves its
CRL, `openssl ocsp` answers for it, and a small ACME Renewal Information server (RFC 9773).

Debian's pebble 2.4.0 predates ARI (its binary holds no `renewalInfo`), so `AriHandler` speaks
the RFC's JSON itself: a directory naming `renewalInfo`, and one window per certificate ID.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Iterable, Iterator
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import json
import os
from pathlib import Path
import shutil
import subprocess
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from .daemons import Daemon, free_ports, running, service_directory
from .e2e.proxies import nginx_binary

OPENSSL = shutil.which("openssl")

CA_CONFIG = """\
[ ca ]
default_ca = ca_default

[ ca_default ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/issued
certificate = $dir/root.pem
private_key = $dir/root.key
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 30
default_crl_days = 2
policy = policy_any
unique_subject = no
crl_extensions = crl_ext

[ policy_any ]
commonName = supplied

[ crl_ext ]
authorityKeyIdentifier = keyid

[ root_ext ]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
"""

OCSP_EXTENSIONS = """\
[ ocsp_ext ]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,OCSPSigning
authorityKeyIdentifier = keyid
subjectKeyIdentifier = hash
"""

LEAF_EXTENSIONS = """\
[ leaf_ext ]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:{host}
authorityKeyIdentifier = keyid
subjectKeyIdentifier = hash
{sources}
"""


def _run(*argv: str, cwd: Path) -> None:
    assert OPENSSL is not None
    subprocess.run(  # noqa: S603 - argv built by the tests
        [OPENSSL, *argv], cwd=cwd, check=True, capture_output=True, timeout=30
    )


@dataclass(frozen=True, slots=True)
class Leaf:
    """A certificate `openssl ca` issued: its files and parsed form."""

    cert_file: Path
    key_file: Path
    cert: x509.Certificate


class OpenSslCa:
    """A root CA run by `openssl ca`: index.txt, serials, revocation and CRLs."""

    def __init__(self, directory: Path, name: str = "TLS Health Revoking CA") -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "issued").mkdir(exist_ok=True)
        (directory / "index.txt").write_text("")
        (directory / "serial").write_text("1000\n")
        (directory / "crlnumber").write_text("1000\n")
        self.config = directory / "ca.cnf"
        self.config.write_text(CA_CONFIG.format(dir=directory))
        _run(
            *("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"),
            *("-keyout", "root.key", "-out", "root.pem", "-days", "365", "-subj", f"/CN={name}"),
            *("-config", str(self.config), "-extensions", "root_ext"),
            cwd=directory,
        )
        self.root_file = directory / "root.pem"
        self.root = x509.load_pem_x509_certificate(self.root_file.read_bytes())
        self.key = serialization.load_pem_private_key((directory / "root.key").read_bytes(), None)
        self._count = 0

    def issue(
        self,
        host: str,
        *,
        crl_url: str | None = None,
        ocsp_url: str | None = None,
        extensions: str = "leaf_ext",
    ) -> Leaf:
        """Issue a server certificate for host with the given CRL and OCSP URLs."""
        self._count += 1
        stem = f"leaf{self._count}"
        sources = []
        if crl_url:
            sources.append(f"crlDistributionPoints = URI:{crl_url}")
        if ocsp_url:
            sources.append(f"authorityInfoAccess = OCSP;URI:{ocsp_url}")
        extfile = self.dir / f"{stem}.ext"
        extfile.write_text(
            LEAF_EXTENSIONS.format(host=host, sources="\n".join(sources)) + OCSP_EXTENSIONS
        )
        _run(
            *("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"),
            *("-keyout", f"{stem}.key", "-out", f"{stem}.csr", "-subj", f"/CN={host}"),
            cwd=self.dir,
        )
        _run(
            *("ca", "-batch", "-config", str(self.config), "-notext", "-in", f"{stem}.csr"),
            *("-out", f"{stem}.pem", "-extfile", str(extfile), "-extensions", extensions),
            cwd=self.dir,
        )
        cert_file = self.dir / f"{stem}.pem"
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        return Leaf(cert_file, self.dir / f"{stem}.key", cert)

    def revoke(self, leaf: Leaf, reason: str = "keyCompromise") -> None:
        """`openssl ca -revoke`: the index marks the certificate revoked."""
        _run(
            *("ca", "-config", str(self.config), "-revoke", str(leaf.cert_file)),
            *("-crl_reason", reason),
            cwd=self.dir,
        )

    def revoke_many(self, count: int) -> None:
        """Add `count` revoked certificates to the index, as `openssl ca -revoke` writes them."""
        expiry = "301231235959Z"
        revoked = "251201000000Z,superseded"
        with (self.dir / "index.txt").open("a") as index:
            for serial in range(0x10_0000_0000, 0x10_0000_0000 + count):
                index.write(f"R\t{expiry}\t{revoked}\t{serial:X}\tunknown\t/CN=old{serial}\n")

    def crl(self, path: Path, *extra: str) -> Path:
        """`openssl ca -gencrl`, written as DER to path."""
        _run(
            *("ca", "-config", str(self.config), "-gencrl", "-out", "crl.pem", *extra),
            cwd=self.dir,
        )
        _run("crl", "-in", "crl.pem", "-outform", "DER", "-out", str(path), cwd=self.dir)
        return path


class NginxFiles(Daemon):
    """nginx serving a directory of static files over plain http on 127.0.0.1."""

    def __init__(self, directory: Path, root: Path) -> None:
        binary = nginx_binary()
        assert binary is not None
        self.port = free_ports(1)[0]
        (directory / "nginx").mkdir(exist_ok=True)
        config = directory / "nginx" / "nginx.conf"
        user = "user root;\n" if os.geteuid() == 0 else ""
        config.write_text(
            f"{user}worker_processes 1;\npid {directory}/nginx/nginx.pid;\n"
            f"events {{ worker_connections 64; }}\n"
            f"http {{\n  access_log {directory}/nginx/access.log;\n"
            f"  client_body_temp_path {directory}/nginx/body;\n"
            f"  types {{ application/pkix-crl crl; }}\n"
            f"  server {{\n    listen 127.0.0.1:{self.port};\n    root {root};\n  }}\n}}\n"
        )
        super().__init__(
            [
                binary,
                *("-p", f"{directory}/nginx/", "-e", f"{directory}/nginx/error.log"),
                *("-c", str(config), "-g", "daemon off;"),
            ],
            directory / "nginx" / "stdout.log",
            [self.port],
        )

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def requests(self, path: Path) -> int:
        """How many requests for the file nginx logged."""
        log = path.parent.parent / "nginx" / "access.log"
        return log.read_text().count(f"GET /{path.name} ") if log.exists() else 0


def crl_of(
    issuer: x509.Name,
    key: Any,
    serials: Iterable[int] = (),
    *,
    extensions: Iterable[x509.ExtensionType] = (),
) -> bytes:
    """A DER CRL in `issuer`'s name signed by `key`, current for a day, revoking `serials` two
    hours ago; each extension critical."""
    now = datetime.now(UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer)
        .last_update(now - timedelta(hours=1))
        .next_update(now + timedelta(days=1))
    )
    for serial in serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(now - timedelta(hours=2))
            .build()
        )
    for value in extensions:
        builder = builder.add_extension(value, critical=True)
    crl = builder.sign(key, hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.DER)


@contextlib.contextmanager
def served_authority() -> Iterator[tuple[OpenSslCa, NginxFiles, Path]]:
    """A real openssl CA, and nginx serving the files put in the yielded www directory."""
    with service_directory() as directory:
        ca = OpenSslCa(directory / "ca")
        www = directory / "www"
        www.mkdir()
        www.chmod(0o755)
        with running(NginxFiles(directory, www)) as nginx:
            assert isinstance(nginx, NginxFiles)
            yield ca, nginx, www


class OcspResponder(Daemon):
    """`openssl ocsp` answering from the CA's index, signed by `signer` (a delegated responder)."""

    def __init__(self, ca: OpenSslCa, signer: Path, signer_key: Path, port: int) -> None:
        assert OPENSSL is not None
        self.port = port
        super().__init__(
            [
                OPENSSL,
                # OpenSSL 3.0 takes a port number only (and listens on every address).
                *("ocsp", "-index", str(ca.dir / "index.txt"), "-port", str(port)),
                *("-rsigner", str(signer), "-rkey", str(signer_key), "-CA", str(ca.root_file)),
                *("-nmin", "60"),
            ],
            ca.dir / f"ocsp-{port}.log",
            [port],
        )

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


def certificate_id(cert: x509.Certificate) -> str:
    """RFC 9773's certificate ID, computed independently of the probe."""
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier is not None
    serial = cert.serial_number
    encoded = serial.to_bytes((serial.bit_length() + 8) // 8, "big")

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return f"{b64(aki.key_identifier)}.{b64(encoded)}"


class AriHandler:
    """An ACME directory with `renewalInfo`, and renewal windows per certificate ID."""

    def __init__(self) -> None:
        self.base = ""  # https://127.0.0.1:PORT, set once the server listens
        self.windows: dict[str, bytes] = {}  # certificate ID -> JSON body
        self.retry_after: str | None = "21600"
        self.requests: list[str] = []
        self.directory_body: Callable[[], bytes] | None = None

    def directory(self) -> str:
        return f"{self.base}/directory"

    def window(self, cert: x509.Certificate, start: str, end: str, **extra: object) -> None:
        self.windows[certificate_id(cert)] = json.dumps(
            {"suggestedWindow": {"start": start, "end": end}, **extra}
        ).encode()

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        while (await reader.readline()).strip():
            pass
        path = line.split()[1].decode() if len(line.split()) > 1 else "/"
        self.requests.append(path)
        status, body, headers = 404, b"{}", ""
        if path == "/directory":
            status = 200
            body = (
                self.directory_body()
                if self.directory_body
                else json.dumps(
                    {"newNonce": f"{self.base}/nonce", "renewalInfo": f"{self.base}/renewal-info/"}
                ).encode()
            )
        elif path.startswith("/renewal-info/") and (found := self.windows.get(path[14:])):
            status, body = 200, found
            if self.retry_after is not None:
                headers = f"Retry-After: {self.retry_after}\r\n"
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{headers}"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
