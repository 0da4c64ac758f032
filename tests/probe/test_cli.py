"""scripts/probe: exit codes and the --json schema, against a loopback fixture server."""

from __future__ import annotations

import asyncio
from datetime import timedelta
import json
from pathlib import Path
import sys

import pytest

from custom_components.tls_health.probe import ProbeReport, Target, Verdict
from custom_components.tls_health.probe._cli import format_report
from custom_components.tls_health.probe.certificates import describe
from tests.certs import NOW
from tests.daemons import Dovecot, cert_files, installed, running, service_directory

from .test_verdicts import HOST

ROOT = Path(__file__).resolve().parents[2]


async def cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        ROOT / "scripts" / "probe",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    async with asyncio.timeout(50):
        stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_cli_json_ok_and_problem(pki, serve, tls_context) -> None:
    good = await serve(context=tls_context(pki.leaf(HOST), pki.intermediate))
    code, out, err = await cli(
        f"https://{HOST}:{good.port}",
        "--json",
        "--address",
        "127.0.0.1",
        "--ca-file",
        str(pki.root_file),
        "--timeout",
        "5",
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["verdict"] == "ok"
    assert data["target"]["host"] == HOST
    assert data["http"]["status"] == 200
    assert data["protocols"]["tls1_3"] is True
    assert data["chain"][0]["sans"] == [HOST]
    # the leaf lives 90 days (30 behind, 60 ahead): renewed with 30 days left
    lifetime = data["lifetime"]
    assert (lifetime["days"], lifetime["renewal_aware"]) == (90, True)
    assert lifetime["not_after"] == data["chain"][0]["not_after"]
    assert lifetime["renewal_point"] == (NOW + timedelta(days=30)).isoformat()

    code, out, _ = await cli(
        f"{HOST}:{good.port}", "--json", "--address", "127.0.0.1", "--no-legacy", "--no-http"
    )
    assert code == 1
    data = json.loads(out)
    assert data["verdict"] == "incomplete_chain"  # the test root is not trusted without --ca-file
    assert data["http"] is None


async def test_cli_human_output(pki, serve, tls_context) -> None:
    server = await serve(context=tls_context(pki.leaf("other.example.test"), pki.intermediate))
    code, out, _ = await cli(
        f"https://{HOST}:{server.port}",
        "--address",
        "127.0.0.1",
        "--ca-file",
        str(pki.root_file),
        "--no-legacy",
    )
    assert code == 1
    first, detail = out.splitlines()[:2]
    assert first.endswith("HOSTNAME_MISMATCH")
    assert "other.example.test" in detail
    assert "Chain as served" in out
    assert "HTTP:      status 200" in out
    renewal = NOW + timedelta(days=30)
    assert f"Lifetime:  90 days; an ACME client renews it at {renewal:%Y-%m-%d %H:%M} UTC" in out


async def test_cli_bad_url() -> None:
    code, out, err = await cli("ftp://example.test")
    assert code == 2
    assert out == ""
    assert "not_https" in err


async def test_engine_imports_nothing_of_home_assistant() -> None:
    code = (
        "import sys; import probe, probe.__main__; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'homeassistant', 'aiohttp'}))"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        stdout=asyncio.subprocess.PIPE,
        env={"PYTHONPATH": str(ROOT / "custom_components" / "tls_health")},
    )
    stdout, _ = await process.communicate()
    assert process.returncode == 0
    assert stdout.decode().strip() == "[]"


async def test_cli_speaks_the_scheme(pki, tmp_path: Path) -> None:
    """A STARTTLS URL against real Dovecot: the header names the scheme, no legacy scan."""
    if not installed("dovecot"):
        pytest.skip("dovecot not installed")
    with service_directory() as directory:
        cert = cert_files(pki, directory, HOST)
        with running(Dovecot(directory, cert)) as mail:
            url = f"imap://{HOST}:{mail.port['imap']}"
            common = ("--address", "127.0.0.1", "--ca-file", str(pki.root_file), "--timeout", "5")
            code, out, err = await cli(url, *common)
            assert code == 0, err
            assert out.startswith(f"{url}  OK"), out
            assert "starttls " in out
            assert "Legacy:" not in out
            code, out, err = await cli(url, "--json", "--legacy", *common)
            assert code == 0, err
            assert json.loads(out)["protocols"]["tls1_0"] is False
            code, _, err = await cli(url, "--legacy", "--no-legacy", *common)
            assert code == 2, err


def test_lifetime_of_a_long_lived_certificate(pki) -> None:
    leaf = pki.leaf(not_before=NOW - timedelta(days=300), not_after=NOW + timedelta(days=65))
    info = describe(leaf.cert)
    report = ProbeReport(
        target=Target(host=HOST), checked_at=NOW, verdict=Verdict.OK, detail="", chain=(info,)
    )
    assert "Lifetime:  365 days, renewed by hand (judged by days before expiry)" in (
        format_report(report).splitlines()
    )
