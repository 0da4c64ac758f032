"""Chain parsing and judgement without a network: names, keys, order, strict-verifier fallbacks."""

from __future__ import annotations

import json
import time

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import verification
from cryptography.x509.oid import NameOID
import pytest

from custom_components.tls_health.probe.certificates import (
    UnparsableCertificateError,
    chain_in_order,
    describe,
    parse_certificates,
)
from custom_components.tls_health.probe.models import Target, Verdict
from custom_components.tls_health.probe.names import matches_name
from custom_components.tls_health.probe.trust import TrustStore, load_ca_file, load_default_trust
from custom_components.tls_health.probe.verify import judge
from tests.certs import NOW, Pki, issue

from .test_verdicts import HOST, run, target_for


@pytest.fixture
def trust(pki: Pki) -> TrustStore:
    return TrustStore.build([pki.root.cert])


@pytest.mark.parametrize(
    ("names", "expected", "covered"),
    [
        (("*.example.test",), "a.example.test", True),
        (("*.example.test",), "A.Example.Test.", True),
        (("*.example.test",), "a.b.example.test", False),
        (("*.example.test",), "example.test", False),
        (("*.test",), "example.test", False),
        (("a*.example.test",), "ab.example.test", False),
        (("hass.example.test",), "hass.example.test", True),
        (("127.0.0.1",), "127.0.0.1", True),
        (("127.0.0.1",), "127.0.0.2", False),
        (("::1",), "0:0::1", True),
        (("hass.example.test",), "127.0.0.1", False),
    ],
)
def test_matches_name(names: tuple[str, ...], expected: str, covered: bool) -> None:
    cert = issue(names[0], names=names).cert
    assert matches_name(cert, expected) is covered


def test_common_name_used_only_without_san() -> None:
    assert matches_name(issue(HOST).cert, HOST)
    assert not matches_name(issue(HOST, names=("other.test",)).cert, HOST)
    # An IP target is never matched through the CN.
    assert not matches_name(issue("127.0.0.1").cert, "127.0.0.1")


def test_parse_garbage() -> None:
    with pytest.raises(UnparsableCertificateError):
        parse_certificates([b"\x30\x03\x02\x01\x01"])


def test_describe_keys() -> None:
    ed = describe(issue("ed.example.test", names=("ed.example.test",), key="ed25519").cert)
    assert ed.key_type == "Ed25519"
    assert ed.key_size == 256
    assert ed.signature_algorithm == "ed25519"
    rsa = describe(issue("rsa.example.test", key="rsa").cert)
    assert (rsa.key_type, rsa.key_size) == ("RSA", 2048)
    assert rsa.sans == ()
    assert rsa.common_name == "rsa.example.test"
    assert rsa.self_issued


def test_describe_issuer_parts_bounded_and_inert(pki: Pki) -> None:
    """The issuer's organization and common name: the first of each, inert, cut to 256."""
    parts = [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"u{i}") for i in range(4700)]
    huge = x509.Name(
        [
            *parts,
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Evil\n`Org`\u202e" + "o" * 400),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Second Org"),
            x509.NameAttribute(NameOID.COMMON_NAME, "R11"),
        ]
    )
    ca = issue(None, ca=True, subject=huge, issuer=pki.root)
    info = describe(pki.leaf(issuer=ca).cert)
    assert info.issuer_organization is not None
    assert info.issuer_organization.startswith("Evil \u02cbOrg\u02cb\ufffdooo")
    assert len(info.issuer_organization) == 256
    assert info.issuer_organization.endswith("\u2026")
    assert info.issuer_common_name == "R11"
    plain = describe(pki.leaf().cert)
    assert (plain.issuer_organization, plain.issuer_common_name) == (
        "TLS Health Tests",
        "TLS Health Test Intermediate R1",
    )
    root = describe(pki.root.cert)
    assert root.issuer_common_name == "TLS Health Test Root CA"
    country = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US")])
    unnamed = describe(issue(None, subject=country, names=("a.test",)).cert)
    assert (unnamed.issuer_organization, unnamed.issuer_common_name) == (None, None)


def test_unordered_pool_verifies(pki: Pki, trust: TrustStore) -> None:
    """cryptography's verifier takes intermediates as an unordered pool."""
    lower = issue("Lower", issuer=pki.intermediate, ca=True)
    leaf = pki.leaf(HOST, issuer=lower)
    verifier = (
        verification.PolicyBuilder()
        .store(trust.store)
        .time(NOW)
        .build_server_verifier(verification.DNSName(HOST))  # type: ignore[attr-defined]
    )
    path = verifier.verify(leaf.cert, [pki.intermediate.cert, lower.cert])
    assert [cert.subject for cert in path] == [
        leaf.cert.subject,
        lower.cert.subject,
        pki.intermediate.cert.subject,
        pki.root.cert.subject,
    ]
    assert chain_in_order([leaf.cert, pki.intermediate.cert, lower.cert]) is False
    assert chain_in_order([leaf.cert, lower.cert, pki.intermediate.cert]) is True
    assert chain_in_order([leaf.cert]) is None


def test_cn_only_leaf_is_not_ok(pki: Pki, trust: TrustStore) -> None:
    """Browsers and the companion apps ignore the CN: a leaf without SAN is refused."""
    leaf = issue(HOST, issuer=pki.intermediate)
    result = judge([leaf.cert, pki.intermediate.cert], trust, Target(host=HOST), NOW)
    assert result.verdict is Verdict.NO_SUBJECT_ALT_NAME, result.detail
    assert result.details["subject"] == leaf.subject


def test_judgement_is_fast(pki: Pki) -> None:
    """Judging a served chain inline must stay far below a few milliseconds."""
    trust = load_default_trust().extended([pki.root.cert])
    certs = [pki.leaf(HOST).cert, pki.intermediate.cert]
    target = Target(host=HOST)
    judge(certs, trust, target, NOW)
    rounds = 50
    started = time.perf_counter()
    for _ in range(rounds):
        assert judge(certs, trust, target, NOW).verdict is Verdict.OK
    per_call_ms = (time.perf_counter() - started) * 1000 / rounds
    assert per_call_ms < 20  # generous for a loaded 2-core runner; typically well under 1 ms


def test_load_ca_file_der_and_errors(pki: Pki, tmp_path) -> None:
    der = tmp_path / "root.der"
    der.write_bytes(pki.root.cert.public_bytes(serialization.Encoding.DER))
    certs, error = load_ca_file(str(der))
    assert error is None
    assert certs == [pki.root.cert]
    certs, error = load_ca_file(str(tmp_path))
    assert certs == []
    assert error is not None


def test_default_trust_is_certifi() -> None:
    trust = load_default_trust()
    assert len(trust.certificates) > 50
    assert all(cert.subject == cert.issuer for cert in trust.certificates[:5])


async def test_as_dict_is_json(pki, prober, serve, tls_context) -> None:
    server = await serve(context=tls_context(pki.leaf(HOST), pki.intermediate))
    report = await run(prober, target_for(pki, server.port), check_http=True, scan_legacy=True)
    data = json.loads(json.dumps(report.as_dict()))
    assert data["verdict"] == "ok"
    assert data["chain"][0]["sans"] == [HOST]
    assert data["earliest_expiry"] == report.chain[0].not_after.isoformat()
    assert data["protocols"] == {"tls1_0": False, "tls1_1": False, "tls1_3": True}
    assert set(data["timings"]) == {"dns_ms", "connect_ms", "starttls_ms", "tls_ms", "http_ms"}
    assert data["timings"]["starttls_ms"] is None  # HTTPS has no exchange before TLS
    assert data["target"]["protocol"] == "https"
    assert all(isinstance(value, str) for value in data["details"].values())
