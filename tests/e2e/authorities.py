"""Endpoints whose CA has something to say, watched by a real hass: revoked, good, unknown, renew now.

A real `openssl ca` issues and revokes, nginx serves its CRL, `openssl ocsp` answers for it, and an
RFC 9773 renewal information server asks for one certificate to be renewed now (tests/authority.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
import ssl

from tests.authority import AriHandler, Leaf, NginxFiles, OcspResponder, OpenSslCa
from tests.certs import DAY, NOW, Pki
from tests.daemons import free_ports, running
from tests.servers import HttpHandler, Server

from .hass_process import HassProcess

HOST = "hass.example.test"
# What the endpoint of each role shows in its revocation sensor.
REVOCATION = {
    "good": "good",
    "revoked": "revoked",
    "revoked_ocsp": "revoked",
    "unknown": "unknown",
    "renew_now": "unknown",  # the test PKI's leaf names no CRL or OCSP responder
}
# The CA's page on why it asks for renewal, as a hostile CA could write it: shown as text only.
EXPLANATION = "https://ca.example.test/incident-42/`x`[click](https://evil.example.test)**bold**"
# The options form as a user leaves it, plus the CA's ACME directory.
OPTIONS = {
    "scan_interval": 60,
    "warning_days": 14,
    "critical_days": 7,
    "scan_legacy": False,
    "check_revocation": True,
    "check_renewal_info": True,
}


@dataclass
class CaEndpoints:
    """The entry of each role, its certificate, and the CA's renewal window."""

    entries: dict[str, str] = field(default_factory=dict)
    serials: dict[str, str] = field(default_factory=dict)
    window: tuple[datetime, datetime] = (NOW - 2 * DAY, NOW - DAY)


def context_of(leaf: Leaf) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(leaf.cert_file, leaf.key_file)
    return context


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@contextlib.asynccontextmanager
async def started(server: Server) -> AsyncIterator[Server]:
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def _authority(directory: Path) -> tuple[OpenSslCa, Path]:
    """A CA in directory, and the folder nginx serves its CRL from."""
    for folder in (directory, directory / "www", directory / "pki"):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o755)  # nginx's workers read the CRL
    return OpenSslCa(directory / "ca"), directory / "www"


@contextlib.asynccontextmanager
async def ca_endpoints(hass: HassProcess, directory: Path) -> AsyncIterator[CaEndpoints]:
    """Watch an endpoint of each role in `hass`; every one has had its first check."""
    ca, www = _authority(directory)
    ocsp_port = free_ports(1)[0]
    scene = CaEndpoints()
    with contextlib.ExitStack() as daemons:
        nginx = daemons.enter_context(running(NginxFiles(directory, www)))
        assert isinstance(nginx, NginxFiles)
        crl = nginx.url("ca.crl")
        leaves = {
            "good": ca.issue(HOST, crl_url=crl),
            "revoked": ca.issue(HOST, crl_url=crl),
            "revoked_ocsp": ca.issue(HOST, ocsp_url=f"http://127.0.0.1:{ocsp_port}/"),
            "unknown": ca.issue(HOST),  # names no source, as many private CAs
        }
        ca.revoke(leaves["revoked"], "keyCompromise")
        ca.revoke(leaves["revoked_ocsp"], "superseded")
        ca.crl(www / "ca.crl")
        responder = ca.issue("TLS Health OCSP Responder", extensions="ocsp_ext")
        daemons.enter_context(
            running(OcspResponder(ca, responder.cert_file, responder.key_file, ocsp_port))
        )
        async with contextlib.AsyncExitStack() as servers:
            for role, leaf in leaves.items():
                server = await servers.enter_async_context(
                    started(Server(HttpHandler(), context=context_of(leaf)))
                )
                scene.entries[role] = await hass.watch(server.port, ca.root_file)
                scene.serials[role] = format(leaf.cert.serial_number, "x")

            # A certificate of an ACME CA that asks, with its page on why, for renewal now.
            pki = Pki(directory / "pki")
            ari = AriHandler()
            ari_server = await servers.enter_async_context(
                started(
                    Server(ari, context=pki.server_context(pki.leaf("127.0.0.1"), pki.intermediate))
                )
            )
            ari.base = f"https://127.0.0.1:{ari_server.port}"
            leaf = pki.leaf(HOST)
            start, end = scene.window
            ari.window(leaf.cert, iso(start), iso(end), explanationURL=EXPLANATION)
            server = await servers.enter_async_context(
                started(Server(HttpHandler(), context=pki.server_context(leaf, pki.intermediate)))
            )
            entry_id = await hass.watch(server.port, pki.root_file)
            saved = await hass.set_options(entry_id, {**OPTIONS, "acme_directory": ari.directory()})
            assert saved["type"] == "create_entry", saved
            scene.entries["renew_now"] = entry_id
            scene.serials["renew_now"] = format(leaf.cert.serial_number, "x")
            await hass.wait_issue(f"renewal_requested_by_ca_{entry_id}")
            yield scene
