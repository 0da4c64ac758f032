"""What a CA's server or someone on its path sends that must end in `unknown`, never raise.

Each case here was found by reading the code against the rules: digits that `int()` refuses,
a redirect that leaves https, a CRL that is another distribution point's, a renewal window with
no length, and the event loop held by a large CRL's signature and lookup.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
import json
import ssl
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
import pytest

from custom_components.tls_health.probe import RevocationState, UnknownReason, der
from custom_components.tls_health.probe.fetch import FetchError, fetch
from custom_components.tls_health.probe.renewal import (
    MIN_ASK_INTERVAL,
    RenewalInfoError,
    parse_window,
    retry_after,
)
from custom_components.tls_health.probe.revocation import (
    RevocationChecker,
    RevocationError,
    checked_crl,
    crl_status,
    load_crl,
)
from tests.authority import crl_of
from tests.certs import DAY, Pki
from tests.servers import ocsp_responder

URL = "http://127.0.0.1:9/ca.crl"


def answering(head: bytes):
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(head)
        await writer.drain()
        writer.close()

    return answer


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\n",  # a Latin-1 digit int() refuses
        b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: \xd9\xa1\r\n\r\n",  # an Arabic-Indic one
        b"HTTP/1.1 302 Found\r\nLocation: http://[::1/ca.crl\r\n\r\n",  # no usable URL
    ],
    ids=["superscript_two", "5000_digits", "arabic_indic_one", "redirect_nowhere"],
)
async def test_an_answer_int_or_urljoin_refuses_is_a_fetch_error(serve, head: bytes) -> None:
    point = await serve(answering(head))
    with pytest.raises(FetchError) as failed:
        await fetch(f"http://127.0.0.1:{point.port}/ca.crl", max_bytes=4096, context=None)
    assert failed.value.reason is UnknownReason.MALFORMED


async def test_a_redirect_from_https_to_plain_http_is_not_followed(
    serve, pki: Pki, tls_context
) -> None:
    plain = await serve(answering(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"))
    moved = f"Location: http://127.0.0.1:{plain.port}/renewal-info\r\n".encode()
    secure = await serve(
        answering(b"HTTP/1.1 302 Found\r\n" + moved + b"\r\n"),
        context=tls_context(pki.leaf("127.0.0.1"), pki.intermediate),
    )
    context = ssl.create_default_context(cafile=str(pki.root_file))
    with pytest.raises(FetchError) as failed:
        await fetch(f"https://127.0.0.1:{secure.port}/ari", max_bytes=4096, context=context)
    assert failed.value.reason is UnknownReason.NOT_SUPPORTED


async def test_a_fetch_error_quotes_the_url_inert(serve) -> None:
    point = await serve(answering(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"))
    with pytest.raises(FetchError) as failed:
        await fetch(f"http://127.0.0.1:{point.port}/a`b\x00c", max_bytes=4096, context=None)
    assert "`" not in failed.value.detail
    assert "\x00" not in failed.value.detail


@pytest.mark.parametrize("value", ["\u00b2", "\u0661\u0662", "1" * 40, "-5", ""])
def test_retry_after_that_is_not_ascii_seconds_waits_the_least(value: str) -> None:
    assert retry_after(value, datetime.now(UTC)) == MIN_ASK_INTERVAL


def test_a_renewal_window_with_no_length_is_malformed(pki: Pki) -> None:
    leaf = pki.leaf("hass.example.test").cert
    moment = (datetime.now(UTC) - DAY).isoformat()
    answer = json.dumps({"suggestedWindow": {"start": moment, "end": moment}}).encode()
    with pytest.raises(RenewalInfoError) as failed:
        parse_window(answer, leaf, "https://ca.example/ari/x")
    assert failed.value.reason is UnknownReason.MALFORMED


def crl_with_point(pki: Pki, point: x509.IssuingDistributionPoint | None, *serials: int) -> bytes:
    issuer = pki.intermediate
    return crl_of(issuer.cert.subject, issuer.key, serials, extensions=(point,) if point else ())


def point_named(
    full_name: list[x509.GeneralName] | None = None,
    relative_name: x509.RelativeDistinguishedName | None = None,
) -> x509.IssuingDistributionPoint:
    return x509.IssuingDistributionPoint(
        full_name=full_name,
        relative_name=relative_name,
        only_contains_user_certs=False,
        only_contains_ca_certs=False,
        only_some_reasons=None,
        indirect_crl=False,
        only_contains_attribute_certs=False,
    )


PARTITION = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "partition 7")])


@pytest.mark.parametrize(
    "point",
    [
        point_named(full_name=[x509.DirectoryName(PARTITION)]),
        point_named(
            relative_name=x509.RelativeDistinguishedName(
                [x509.NameAttribute(NameOID.COMMON_NAME, "partition 7")]
            )
        ),
        point_named(full_name=[x509.UniformResourceIdentifier("http://127.0.0.1:9/other.crl")]),
    ],
    ids=["directory_name", "relative_name", "other_url"],
)
def test_a_crl_of_another_distribution_point_is_not_used(
    pki: Pki, point: x509.IssuingDistributionPoint
) -> None:
    data = crl_with_point(pki, point, 5)
    with pytest.raises(RevocationError) as failed:
        load_crl(data, pki.intermediate.cert, URL)
    assert failed.value.reason is UnknownReason.UNVERIFIABLE


def test_a_crl_naming_the_url_it_came_from_is_used(pki: Pki) -> None:
    same = point_named(full_name=[x509.UniformResourceIdentifier(URL)])
    assert load_crl(crl_with_point(pki, same), pki.intermediate.cert, URL) is not None
    assert load_crl(crl_with_point(pki, None), pki.intermediate.cert, URL) is not None


def test_a_pem_crl_is_read_and_its_signature_checked(pki: Pki) -> None:
    der = crl_with_point(pki, None, 5)
    pem = x509.load_der_x509_crl(der).public_bytes(serialization.Encoding.PEM)
    crl, read = checked_crl(b"\n" + pem, pki.intermediate.cert, URL)
    assert read == der
    assert crl.get_revoked_certificate_by_serial_number(5) is not None
    tampered = bytearray(der)
    tampered[-1] ^= 1  # the signature's last byte
    with pytest.raises(RevocationError):
        load_crl(bytes(tampered), pki.intermediate.cert, URL)


def test_a_serial_the_crl_does_not_hold_is_good_without_a_walk(pki: Pki) -> None:
    leaf = pki.leaf("hass.example.test").cert
    serial = leaf.serial_number
    data = crl_with_point(pki, None, serial + 1, 0x80, 2**159 - 1)
    crl, _ = checked_crl(data, pki.intermediate.cert, URL)
    for value in (serial + 1, 0x80, 2**159 - 1):
        assert der.integer(value) in data
    now = datetime.now(UTC)
    assert crl_status(crl, leaf, URL, now, {}, der=data).state.value == "good"
    revoked = crl_with_point(pki, None, serial)
    crl, _ = checked_crl(revoked, pki.intermediate.cert, URL)
    assert crl_status(crl, leaf, URL, now, {}, der=revoked).state.value == "revoked"


def _elements(data: bytes) -> list[bytes]:
    """The elements of DER content, each whole."""
    items, at = [], 0
    while (found := der.header(data, at, 4)) is not None:
        start, size = found
        items.append(data[at : start + size])
        at = start + size
    return items


def _content(data: bytes) -> bytes:
    found = der.header(data, 0, 4)
    assert found is not None
    start, size = found
    return data[start : start + size]


def large_crl(pki: Pki, entries: int) -> bytes:
    """A CRL of the intermediate with `entries` entries, encoded by hand (the builder is slow)."""
    now = datetime.now(UTC)
    tbs, algorithm, _ = _elements(
        _content(crl_of(pki.intermediate.cert.subject, pki.intermediate.key))
    )
    revoked_at = der.element(0x17, now.strftime("%y%m%d%H%M%SZ").encode())
    listed = b"".join(
        der.element(der.SEQUENCE, der.integer(10**30 + index) + revoked_at)
        for index in range(entries)
    )
    signed = der.element(der.SEQUENCE, _content(tbs) + der.element(der.SEQUENCE, listed))
    key = pki.intermediate.key
    signature = (
        key.sign(signed, ec.ECDSA(hashes.SHA256()))  # type: ignore[union-attr,call-arg]
        if isinstance(key, ec.EllipticCurvePrivateKey)
        else key.sign(signed, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg]
    )
    return der.element(der.SEQUENCE, signed + algorithm + der.element(0x03, b"\x00" + signature))


def loop_stall(call) -> float:
    """Run `call` in the executor while a ticker runs on the loop: its longest gap (seconds)."""

    async def measure() -> float:
        loop = asyncio.get_running_loop()
        longest, done = 0.0, False

        async def tick() -> None:
            nonlocal longest
            last = time.perf_counter()
            while not done:
                await asyncio.sleep(0.001)
                longest = max(longest, time.perf_counter() - last)
                last = time.perf_counter()

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0.02)
        longest = 0.0
        await loop.run_in_executor(None, call)
        done = True
        await ticker
        return longest

    return asyncio.run(measure())


def test_a_large_crl_lets_the_event_loop_run_while_it_is_checked(pki: Pki) -> None:
    """Signature and lookup let the loop run; cryptography's own calls hold the GIL throughout.

    Measured against the calls the check made before, in the same run: a 6 MB CRL held the loop
    about 100 ms that way, and about 20 ms (its parse) now.
    """
    leaf = pki.leaf("hass.example.test").cert
    der = large_crl(pki, 200_000)
    now = datetime.now(UTC)
    crl, _ = checked_crl(der, pki.intermediate.cert, URL)
    assert crl_status(crl, leaf, URL, now, {}, der=der).state.value == "good"
    key = pki.intermediate.cert.public_key()

    def before() -> None:
        parsed = x509.load_der_x509_crl(der)
        assert parsed.is_signature_valid(key)  # type: ignore[arg-type]
        assert parsed.get_revoked_certificate_by_serial_number(leaf.serial_number) is None

    def now_checked() -> None:
        parsed, read = checked_crl(der, pki.intermediate.cert, URL)
        assert crl_status(parsed, leaf, URL, now, {}, der=read).state.value == "good"

    held_before = min(loop_stall(before) for _ in range(2))
    held_now = min(loop_stall(now_checked) for _ in range(2))
    assert held_now < held_before / 2, (held_now, held_before)


async def test_a_kept_ocsp_answer_without_next_update_is_not_used_once_outdated(
    pki: Pki, serve
) -> None:
    """Without nextUpdate an answer speaks for 4 days after thisUpdate; the cache keeps to that."""
    issuer = pki.intermediate
    asked: list[int] = []
    state: dict[str, x509.Certificate] = {}
    this_update = datetime.now(UTC) - timedelta(days=4) + timedelta(hours=1)

    def answer() -> bytes:
        asked.append(1)
        return (
            ocsp.OCSPResponseBuilder()
            .add_response(
                cert=state["leaf"],
                issuer=issuer.cert,
                algorithm=hashes.SHA1(),  # noqa: S303 - the CertID hash responders use
                cert_status=ocsp.OCSPCertStatus.GOOD,
                this_update=this_update,
                next_update=None,
                revocation_time=None,
                revocation_reason=None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, issuer.cert)
            .sign(issuer.key, hashes.SHA256())  # type: ignore[arg-type]
            .public_bytes(serialization.Encoding.DER)
        )

    server = await serve(ocsp_responder(answer))
    access = x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP,
                x509.UniformResourceIdentifier(f"http://127.0.0.1:{server.port}/"),
            )
        ]
    )
    leaf = pki.leaf("hass.example.test", extra=((access, False),)).cert
    state["leaf"] = leaf
    checker = RevocationChecker()
    now = datetime.now(UTC)
    status, _ = await checker.check([leaf, issuer.cert], leaf, now, 5)
    assert status.state is RevocationState.GOOD
    status, _ = await checker.check([leaf, issuer.cert], leaf, now + timedelta(minutes=30), 5)
    assert status.state is RevocationState.GOOD
    assert len(asked) == 1  # kept while current
    status, _ = await checker.check([leaf, issuer.cert], leaf, now + timedelta(hours=2), 5)
    assert len(asked) == 2  # asked again: the kept one is outdated by then
    assert status.state is RevocationState.UNKNOWN
