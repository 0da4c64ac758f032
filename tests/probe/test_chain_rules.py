"""Chains `cryptography`'s verifier refuses, each served by a real TLS server: never `ok`, and why.

Each case is a certificate chain that breaks one rule of RFC 5280 or the CA/Browser Forum server
profile (or one that looks odd but is valid), the names the probe expects, and the verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import ipaddress
import ssl
import warnings

from cryptography import x509
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    ExtensionOID,
)
import pytest

from custom_components.tls_health.probe import Prober, Target, Verdict
from tests.certs import DAY, NOW, Issued, Pki, issue, tampered

from .conftest import CallbackWatch
from .test_verdicts import HOST, run

WEAK = "DEFAULT:@SECLEVEL=0"  # lets the test server present weak keys and SHA-1


def _dns(*names: str) -> list[x509.GeneralName]:
    return [x509.DNSName(name) for name in names]


def _ip(*networks: str) -> list[x509.GeneralName]:
    return [x509.IPAddress(ipaddress.ip_network(network)) for network in networks]


def constrained_root(
    pki: Pki,
    permitted: list[x509.GeneralName] | None = None,
    excluded: list[x509.GeneralName] | None = None,
) -> Issued:
    """A private root limited by name constraints, written as the CA file `constrained.pem`."""
    root = issue(
        "Home Constrained Root",
        ca=True,
        name_constraints=x509.NameConstraints(permitted, excluded),
    )
    pki.write("constrained.pem", root)
    return root


@dataclass(frozen=True, slots=True)
class Case:
    """Served certificates (leaf first), the CA file, the expected name and the verdict."""

    served: tuple[Issued, ...]
    verdict: Verdict
    host: str = HOST
    ca_file: str = "test-root.pem"
    ciphers: str | None = None
    says: str = ""  # a fragment the detail must hold
    described: int | None = None  # certificates in the report; None: all served


def nc_permitted_dns(pki: Pki) -> Case:
    root = constrained_root(pki, permitted=_dns("home.example"))
    leaf = issue("bank.example.com", issuer=root, names=("bank.example.com",))
    return Case(
        (leaf,),
        Verdict.CHAIN_CONSTRAINT_VIOLATED,
        "bank.example.com",
        "constrained.pem",
        says="does not allow the name bank.example.com",
    )


def nc_permitted_dns_inside(pki: Pki) -> Case:
    root = constrained_root(pki, permitted=_dns("home.example"))
    leaf = issue("nas.home.example", issuer=root, names=("nas.home.example",))
    return Case((leaf,), Verdict.OK, "nas.home.example", "constrained.pem")


def nc_excluded_dns(pki: Pki) -> Case:
    root = constrained_root(pki, excluded=_dns("bank.example.com"))
    leaf = issue("www.bank.example.com", issuer=root, names=("www.bank.example.com",))
    return Case(
        (leaf,),
        Verdict.CHAIN_CONSTRAINT_VIOLATED,
        "www.bank.example.com",
        "constrained.pem",
        says="name constraints",
    )


def nc_permitted_ip(pki: Pki) -> Case:
    root = constrained_root(pki, permitted=_ip("192.168.0.0/16"))
    leaf = issue("127.0.0.1", issuer=root, names=("127.0.0.1",))
    return Case(
        (leaf,),
        Verdict.CHAIN_CONSTRAINT_VIOLATED,
        "127.0.0.1",
        "constrained.pem",
        says="does not allow the name 127.0.0.1",
    )


def nc_excluded_ip(pki: Pki) -> Case:
    root = constrained_root(pki, excluded=_ip("127.0.0.0/8"))
    leaf = issue("127.0.0.1", issuer=root, names=("127.0.0.1",))
    return Case((leaf,), Verdict.CHAIN_CONSTRAINT_VIOLATED, "127.0.0.1", "constrained.pem")


def nc_malformed_in_ca_file(pki: Pki) -> Case:
    """A trusted root whose name constraint `cryptography` cannot even parse (a wildcard)."""
    tree = b"\x30\x0b\x82\x09*.example"  # GeneralSubtree { dNSName "*.example" }
    value = b"\x30\x0f\xa0\x0d" + tree  # NameConstraints { permittedSubtrees [0] }
    odd = x509.UnrecognizedExtension(ExtensionOID.NAME_CONSTRAINTS, value)
    root = issue("Odd Constrained Root", ca=True, extra=((odd, True),))
    pki.write("constrained.pem", root)
    leaf = issue("nas.example", issuer=root, names=("nas.example",))
    return Case(
        (leaf,),
        Verdict.CERTIFICATE_REJECTED,
        "nas.example",
        "constrained.pem",
        says="root certificate Odd Constrained Root has extensions that cannot be parsed",
    )


def nc_intermediate(pki: Pki) -> Case:
    """Constraints on a served intermediate bind too."""
    lower = issue(
        "Lan Only",
        issuer=pki.intermediate,
        ca=True,
        name_constraints=x509.NameConstraints(_dns("lan.example"), None),
    )
    leaf = pki.leaf(HOST, issuer=lower)
    return Case(
        (leaf, lower, pki.intermediate),
        Verdict.CHAIN_CONSTRAINT_VIOLATED,
        says="intermediate certificate Lan Only does not allow the name",
    )


def path_length(pki: Pki) -> Case:
    top = issue("No Deeper", issuer=pki.root, ca=True, path_length=0)
    lower = issue("Too Deep", issuer=top, ca=True)
    leaf = pki.leaf(HOST, issuer=lower)
    return Case(
        (leaf, lower, top),
        Verdict.CHAIN_CONSTRAINT_VIOLATED,
        says="No Deeper allows 0 intermediate certificates below it",
    )


def not_a_ca(pki: Pki) -> Case:
    fake = issue("Not A CA", issuer=pki.root, ca=True, basic_ca=False)
    leaf = pki.leaf(HOST, issuer=fake)
    return Case((leaf, fake), Verdict.CHAIN_CONSTRAINT_VIOLATED, says="is not a CA certificate")


def leaf_without_server_eku(pki: Pki) -> Case:
    leaf = pki.leaf(HOST, eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))
    return Case(
        (leaf, pki.intermediate),
        Verdict.CHAIN_CONSTRAINT_VIOLATED,
        says="lacks serverAuth",
    )


def intermediate_eku(pki: Pki) -> Case:
    mail = issue("Mail Only", issuer=pki.root, ca=True, eku=(ExtendedKeyUsageOID.EMAIL_PROTECTION,))
    leaf = pki.leaf(HOST, issuer=mail)
    return Case((leaf, mail), Verdict.CHAIN_CONSTRAINT_VIOLATED, says="extended key usage")


def ca_as_leaf(pki: Pki) -> Case:
    leaf = pki.leaf(HOST, basic_ca=True)
    return Case((leaf, pki.intermediate), Verdict.CHAIN_CONSTRAINT_VIOLATED, says="is a CA")


def unknown_critical_extension(pki: Pki) -> Case:
    odd = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00")
    leaf = pki.leaf(HOST, extra=((odd, True),))
    return Case(
        (leaf, pki.intermediate),
        Verdict.CERTIFICATE_REJECTED,
        says="critical extension clients do not know (1.3.6.1.4.1.55555.1)",
    )


def weak_rsa_intermediate(pki: Pki) -> Case:
    weak = issue("Weak RSA", issuer=pki.root, ca=True, key="rsa1024")
    leaf = pki.leaf(HOST, issuer=weak)
    return Case(
        (leaf, weak), Verdict.CERTIFICATE_REJECTED, ciphers=WEAK, says="RSA key of 1024 bits"
    )


def dsa_intermediate(pki: Pki) -> Case:
    old = issue("DSA CA", issuer=pki.root, ca=True, key="dsa")
    leaf = pki.leaf(HOST, issuer=old)
    return Case((leaf, old), Verdict.CERTIFICATE_REJECTED, ciphers=WEAK, says="dsa")


def odd_curve_intermediate(pki: Pki) -> Case:
    odd = issue("Bitcoin Curve CA", issuer=pki.root, ca=True, key="secp256k1")
    leaf = pki.leaf(HOST, issuer=odd)
    return Case((leaf, odd), Verdict.CERTIFICATE_REJECTED, ciphers=WEAK, says="secp256k1")


def sha1_signature(pki: Pki) -> Case:
    leaf = tampered(pki.leaf(HOST), pki.intermediate, sha1=True)
    return Case((leaf, pki.intermediate), Verdict.CERTIFICATE_REJECTED, ciphers=WEAK, says="SHA1")


def negative_serial(pki: Pki) -> Case:
    leaf = tampered(pki.leaf(HOST), pki.intermediate, serial=b"\xff\x01")
    return Case((leaf, pki.intermediate), Verdict.CERTIFICATE_REJECTED, says="negative serial")


def overlong_serial(pki: Pki) -> Case:
    leaf = tampered(pki.leaf(HOST), pki.intermediate, serial=b"\x01" * 22)
    return Case((leaf, pki.intermediate), Verdict.CERTIFICATE_REJECTED, says="20 octets")


def duplicate_extension(pki: Pki) -> Case:
    leaf = tampered(
        pki.leaf(HOST), pki.intermediate, duplicate=ExtensionOID.SUBJECT_ALTERNATIVE_NAME
    )
    return Case(
        (leaf, pki.intermediate), Verdict.CERTIFICATE_REJECTED, says="Duplicate", described=0
    )


def forged_signature(pki: Pki) -> Case:
    """Signed by another key under the intermediate's name (a chain mixed up after a re-key)."""
    impostor = issue("TLS Health Test Intermediate R1", issuer=pki.root, ca=True)
    leaf = pki.leaf(HOST, issuer=impostor)
    return Case((leaf, pki.intermediate), Verdict.CERTIFICATE_REJECTED, says="does not verify")


def leaf_without_key_identifier(pki: Pki) -> Case:
    leaf = pki.leaf(HOST, key_identifier=False)
    return Case(
        (leaf, pki.intermediate), Verdict.CERTIFICATE_REJECTED, says="authority key identifier"
    )


def critical_authority_access(pki: Pki) -> Case:
    issuers = x509.AccessDescription(
        AuthorityInformationAccessOID.CA_ISSUERS,
        x509.UniformResourceIdentifier("http://ca.example.test/intermediate.der"),
    )
    leaf = pki.leaf(HOST, extra=((x509.AuthorityInformationAccess([issuers]), True),))
    return Case(
        (leaf, pki.intermediate),
        Verdict.CERTIFICATE_REJECTED,
        says="marks its authority information access extension critical",
    )


def no_san(pki: Pki) -> Case:
    leaf = issue(HOST, issuer=pki.intermediate)
    return Case((leaf, pki.intermediate), Verdict.NO_SUBJECT_ALT_NAME, says="no subject alt")


def underscore_name(pki: Pki) -> Case:
    """Underscores are common on LANs; the verifier cannot take the name, clients can."""
    leaf = pki.leaf("my_nas.home.example")
    return Case((leaf, pki.intermediate), Verdict.OK, "my_nas.home.example")


def underscore_name_elsewhere(pki: Pki) -> Case:
    leaf = pki.leaf("my_nas.home.example")
    return Case((leaf, pki.intermediate), Verdict.HOSTNAME_MISMATCH, says="my_nas.home.example")


def underscore_name_expired(pki: Pki) -> Case:
    leaf = pki.leaf("my_nas.home.example", not_before=NOW - 90 * DAY, not_after=NOW - DAY)
    return Case((leaf, pki.intermediate), Verdict.CERTIFICATE_EXPIRED, "my_nas.home.example")


def _odd_wildcard(name: str) -> Callable[[Pki], Case]:
    def case(pki: Pki) -> Case:
        leaf = issue("Odd Names", issuer=pki.intermediate, names=(name,))
        return Case((leaf, pki.intermediate), Verdict.HOSTNAME_MISMATCH, "bar.example.com")

    return case


def name_constraint_budget(pki: Pki) -> Case:
    """1024 names against 1025 subtrees: past the verifier's million checks, it gives up."""
    trees = _dns(*(f"x{index}.example" for index in range(1024)), "home.example")
    root = constrained_root(pki, permitted=trees)
    names = tuple(f"h{index}.home.example" for index in range(1023))
    leaf = issue("h.home.example", issuer=root, names=("h.home.example", *names))
    return Case(
        (leaf,),
        Verdict.CHAIN_CONSTRAINT_VIOLATED,
        "h.home.example",
        "constrained.pem",
        says="Exceeded maximum name constraint check limit",
    )


def cross_signed_dead_end(pki: Pki) -> Case:
    """Two certificates for one CA name: the first leads nowhere, the cross-signed one home.

    The leaf may not serve TLS (clientAuth only): the explanation must name that, not the
    dead end's missing issuer.
    """
    old_root = issue("Retired Root", ca=True)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Shared CA")])
    dead_end = issue(None, subject=name, issuer=old_root, ca=True)
    cross = issue(None, subject=name, issuer=pki.root, ca=True, key=dead_end.key)
    leaf = issue(HOST, issuer=dead_end, names=(HOST,), eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))
    return Case((leaf, dead_end, cross), Verdict.CHAIN_CONSTRAINT_VIOLATED, says="lacks serverAuth")


def issued_in_a_circle(pki: Pki) -> Case:
    """Two CAs that issued each other, and nothing trusted above them: not a missing issuer."""
    first_b = issue("Circle B", ca=True)
    a = issue("Circle A", issuer=first_b, ca=True)
    b = issue(None, subject=first_b.cert.subject, issuer=a, ca=True, key=first_b.key)
    leaf = pki.leaf(HOST, issuer=a)
    return Case((leaf, a, b), Verdict.UNTRUSTED_ISSUER, says="goes round in a circle")


def cross_signed_ok(pki: Pki) -> Case:
    """An untrusted root served with its cross-certificate from a trusted one: valid."""
    other = issue("Other Root", ca=True)
    cross = issue(None, subject=other.cert.subject, issuer=pki.root, ca=True, key=other.key)
    lower = issue("Other Intermediate", issuer=other, ca=True)
    leaf = pki.leaf(HOST, issuer=lower)
    return Case((leaf, lower, other, cross), Verdict.OK)


CASES: dict[str, Callable[[Pki], Case]] = {
    "nc_permitted_dns": nc_permitted_dns,
    "nc_permitted_dns_inside": nc_permitted_dns_inside,
    "nc_excluded_dns": nc_excluded_dns,
    "nc_permitted_ip": nc_permitted_ip,
    "nc_excluded_ip": nc_excluded_ip,
    "nc_malformed_in_ca_file": nc_malformed_in_ca_file,
    "nc_intermediate": nc_intermediate,
    "path_length": path_length,
    "not_a_ca": not_a_ca,
    "leaf_without_server_eku": leaf_without_server_eku,
    "intermediate_eku": intermediate_eku,
    "ca_as_leaf": ca_as_leaf,
    "unknown_critical_extension": unknown_critical_extension,
    "weak_rsa_intermediate": weak_rsa_intermediate,
    "dsa_intermediate": dsa_intermediate,
    "odd_curve_intermediate": odd_curve_intermediate,
    "sha1_signature": sha1_signature,
    "negative_serial": negative_serial,
    "overlong_serial": overlong_serial,
    "duplicate_extension": duplicate_extension,
    "forged_signature": forged_signature,
    "leaf_without_key_identifier": leaf_without_key_identifier,
    "critical_authority_access": critical_authority_access,
    "no_san": no_san,
    "underscore_name": underscore_name,
    "underscore_name_elsewhere": underscore_name_elsewhere,
    "underscore_name_expired": underscore_name_expired,
    "wildcard_alone": _odd_wildcard("*"),
    "leading_dot": _odd_wildcard(".example.com"),
    "partial_wildcard": _odd_wildcard("ba*.example.com"),
    "bad_idna": _odd_wildcard("xn--a.example.com"),
    "name_constraint_budget": name_constraint_budget,
    "cross_signed_dead_end": cross_signed_dead_end,
    "cross_signed_ok": cross_signed_ok,
    "issued_in_a_circle": issued_in_a_circle,
}


def server_context(pki: Pki, case: Case) -> ssl.SSLContext:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pki.server_context(*case.served, ciphers=case.ciphers)


@pytest.fixture(params=CASES.values(), ids=list(CASES))
def case(request: pytest.FixtureRequest, pki: Pki) -> Case:
    """Built outside the event loop: generating keys is no work of the probe's."""
    return request.param(pki)  # type: ignore[no-any-return]


async def test_chain_rule(
    pki: Pki, prober: Prober, serve, case: Case, loop_stall_watch: CallbackWatch
) -> None:
    loop_stall_watch.limit = 0.05
    server = await serve(context=server_context(pki, case))
    target = Target(
        host=case.host,
        port=server.port,
        address="127.0.0.1",
        ca_file=str(pki.directory / case.ca_file),
    )
    report = await run(prober, target)
    assert report.verdict is case.verdict, report.detail
    assert case.says in report.detail
    described = len(case.served) if case.described is None else case.described
    assert len(report.chain) == described
