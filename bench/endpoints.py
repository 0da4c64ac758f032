"""What the Home Assistant benchmarks share: one loopback TLS server that answers for any name under
*.bench.test, and endpoints on it added through the config flow API."""

from __future__ import annotations

from pathlib import Path
import sys

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.certs import Pki, issue
from tests.e2e.hass_process import HassProcess
from tests.servers import HttpHandler, Server


async def start_wildcard_server(folder: Path) -> tuple[Pki, Server]:
    """A private PKI under folder and a server with a *.bench.test certificate, started."""
    pki = Pki(folder)
    leaf = issue("bench.test", issuer=pki.intermediate, names=("*.bench.test",))
    server = Server(HttpHandler(), context=pki.server_context(leaf, pki.intermediate))
    return pki, await server.start()


async def add_endpoints(hass: HassProcess, count: int, port: int, root: Path) -> None:
    """Add e0.bench.test ... on the server, pinned to 127.0.0.1 and trusting the test root."""
    for index in range(count):
        created = await hass.add_endpoint(
            f"https://e{index}.bench.test:{port}", address="127.0.0.1", ca_file=str(root)
        )
        if created["type"] != "create_entry":
            raise RuntimeError(created)
