"""Properties of the chain judgement over generated chains: `ok` exactly when the verifier accepts."""

from __future__ import annotations

from datetime import datetime
import ipaddress

from cryptography import x509
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier
from hypothesis import HealthCheck, event, given, settings, strategies as st

from custom_components.tls_health.probe.models import Target, Verdict
from custom_components.tls_health.probe.trust import TrustStore
from custom_components.tls_health.probe.verify import judge
from tests.certs import DAY, NOW, Issued, issue

NAMES = (
    "hass.example.test",
    "nas.home.example",
    "*.home.example",
    "my_nas.home.example",
    "127.0.0.1",
    "bank.example",
    ".example.com",
    "ba*.example.com",
)
EXPECTED = (
    "hass.example.test",
    "nas.home.example",
    "a.home.example",
    "my_nas.home.example",
    "127.0.0.1",
    "bank.example",
    "bar.example.com",
)
CONSTRAINTS = (
    None,
    x509.NameConstraints([x509.DNSName("home.example")], None),
    x509.NameConstraints(None, [x509.DNSName("bank.example")]),
    x509.NameConstraints([x509.IPAddress(ipaddress.ip_network("10.0.0.0/8"))], None),
)
USAGES: tuple[tuple[ObjectIdentifier, ...] | None, ...] = (
    None,
    (ExtendedKeyUsageOID.SERVER_AUTH,),
    (ExtendedKeyUsageOID.CLIENT_AUTH,),
    (ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,),
)
WINDOWS = ((-30, 60), (-90, -1), (2, 90))  # valid, expired, not yet valid (days from NOW)


def often[T](usual: T, others: tuple[T, ...]) -> st.SearchStrategy[T]:
    """`usual` seven times in eight, else one of `others`: most chains break a rule at most."""
    return st.one_of(*(st.just(usual) for _ in range(7)), st.sampled_from(others))


@st.composite
def chains(draw: st.DrawFn) -> tuple[list[x509.Certificate], Issued, str]:
    """(served certificates, trusted root, expected name) with one rule or another varied."""
    root = issue("Property Root", ca=True, name_constraints=draw(often(None, CONSTRAINTS[1:])))
    issuer = root
    intermediates = []
    for depth in range(draw(st.integers(0, 2))):
        basic_ca = draw(often(None, (False,)))
        issuer = issue(
            f"Property Intermediate {depth}",
            issuer=issuer,
            ca=True,
            basic_ca=basic_ca,
            path_length=None if basic_ca is False else draw(often(None, (0, 1))),
            eku=draw(often(None, USAGES[1:])),
        )
        intermediates.append(issuer)
    names = (draw(often(NAMES[0], NAMES[1:])), *draw(st.lists(st.sampled_from(NAMES), max_size=2)))
    names = tuple(dict.fromkeys(names)) if draw(often(True, (False,))) else ()
    begin, end = draw(often(WINDOWS[0], WINDOWS[1:]))
    leaf = issue(
        draw(st.sampled_from((None, "hass.example.test"))) if names else "hass.example.test",
        issuer=issuer,
        names=names,
        basic_ca=draw(often(None, (True,))),
        eku=draw(often(None, USAGES[1:])),
        not_before=NOW + begin * DAY,
        not_after=NOW + end * DAY,
    )
    pool = draw(st.permutations([cert.cert for cert in intermediates]))
    if draw(st.integers(0, 5)) == 0:
        pool = pool[1:]
    if draw(st.booleans()):
        pool = [*pool, root.cert]
    return [leaf.cert, *pool], root, draw(often(EXPECTED[0], EXPECTED[1:]))


def verifier_accepts(
    served: list[x509.Certificate], root: Issued, expected: str, now: datetime
) -> bool | None:
    """cryptography's server verifier on the same chain; None when it cannot take the name."""
    try:
        subject: verification.Subject = verification.IPAddress(  # type: ignore[attr-defined]
            ipaddress.ip_address(expected)
        )
    except ValueError:
        subject = verification.DNSName(expected)  # type: ignore[attr-defined]
    builder = verification.PolicyBuilder().store(verification.Store([root.cert])).time(now)
    try:
        verifier = builder.build_server_verifier(subject)
    except ValueError:
        return None
    try:
        verifier.verify(served[0], served[1:])
    except verification.VerificationError:
        return False
    return True


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(chains())
def test_ok_exactly_when_the_verifier_accepts(
    chain: tuple[list[x509.Certificate], Issued, str],
) -> None:
    served, root, expected = chain
    judgement = judge(served, TrustStore.build([root.cert]), Target(host=expected), NOW)
    accepted = verifier_accepts(served, root, expected, NOW)
    event(str(judgement.verdict))
    if accepted is None:
        # An underscore: the verifier cannot take the name. `ok` still needs it to validate the
        # chain now (for any name) and a SAN that covers the name.
        if judgement.verdict is Verdict.OK:
            assert chain_accepted_for_any_name(served, root, NOW)
            sans = served[0].extensions.get_extension_for_class(x509.SubjectAlternativeName)
            assert {expected, "*.home.example"} & set(sans.value.get_values_for_type(x509.DNSName))
        return
    assert (judgement.verdict is Verdict.OK) == accepted, judgement.detail


def chain_accepted_for_any_name(
    served: list[x509.Certificate], root: Issued, now: datetime
) -> bool:
    """The server profile without its name check (a client verifier demanding serverAuth)."""

    def server_auth(_policy: object, _cert: object, eku: x509.ExtendedKeyUsage | None) -> None:
        if eku is not None and ExtendedKeyUsageOID.SERVER_AUTH not in eku:
            raise ValueError

    def ca_server_auth(_policy: object, _cert: object, eku: x509.ExtendedKeyUsage | None) -> None:
        allowed = {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
        if eku is not None and not allowed & set(eku):
            raise ValueError

    ee = verification.ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.ExtendedKeyUsage, verification.Criticality.NON_CRITICAL, server_auth
    )
    ca = verification.ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, verification.Criticality.NON_CRITICAL, ca_server_auth
    )
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store([root.cert]))
        .time(now)
        .extension_policies(ca_policy=ca, ee_policy=ee)
        .build_client_verifier()
    )
    try:
        verifier.verify(served[0], served[1:])
    except verification.VerificationError:
        return False
    return True
