# ruff: noqa: RUF001 - Chinese sample texts use full-width punctuation
"""What a person sees in Home Assistant's frontend, in English and Chinese, in headless Chromium.

One real hass (serving TLS itself, behind nginx) with a repair of each family is opened once for
the module (`python -m tests.e2e.frontend`, a process of its own: Playwright drives Chromium from
asyncio, apart from the test harness's event loop and socket guard). Each case below judges one
view in one language by one check; screenshots go to tests/artifacts/browser/.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

from custom_components.tls_health.catalogue import REPAIRS, Family

from .frontend import (
    CHROMIUM,
    DIALOGS,
    LANGUAGES,
    Seen,
    broken_images,
    cases,
    checks_of,
    cut_text,
    english_sentences,
    missing_revocation,
    overflowing_hex,
    raw_placeholders,
    repeated_endpoints,
    seen_in,
    swallowing_links,
    translation_errors,
    unknown_values,
)
from .hass_process import ROOT

ARTIFACTS = ROOT / "tests" / "artifacts" / "browser"
BROWSE_WITHIN = 420
HAVE_CHROMIUM = Path(CHROMIUM).exists()

pytestmark = [pytest.mark.timeout(BROWSE_WITHIN + 60), pytest.mark.xdist_group("browser")]

# Known defects, each marked xfail(strict) by (language, view, check): a fix makes its case pass
# and the mark then fails until it is removed here. On the code this test was written against, 18
# cases failed: no brand images (broken image on the integration page, devices list, device page
# and Repairs list), `{ ssl_fc }` taken for a placeholder ("Translation error", a raw `{endpoint}`
# and a console error in the forwarded_proto_missing dialog, in both languages), `<unknown>`
# manufacturer and model in the devices list, and the probe's English detail in the Chinese
# self-signed text; all are fixed.
KNOWN: dict[tuple[str, str, str], str] = {}


def _params() -> list[object]:
    return [
        pytest.param(
            language,
            view,
            check,
            id=f"{language}-{view}-{check}",
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN[language, view, check])]
            if (language, view, check) in KNOWN
            else [],
        )
        for language, view, check in cases()
    ]


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str] | None]:
    """Open every view once; the problems of each case, None where a view was not shown."""
    if not HAVE_CHROMIUM:
        pytest.skip(f"no {CHROMIUM} (scripts/setup installs it)")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    work = tmp_path_factory.mktemp("browser")
    done = subprocess.run(  # noqa: S603 - this interpreter running this repository's module
        [sys.executable, "-m", "tests.e2e.frontend", str(work), str(ARTIFACTS)],
        cwd=ROOT,
        # Not measured by coverage (the .pth it starts from reads COVERAGE_PROCESS_*): traced,
        # this hass took 4.5 min instead of 1.5 and missed the dashboard's 30 s wait. What it
        # shows is the point here; the other end-to-end tests measure the integration.
        env={
            **{key: value for key, value in os.environ.items() if not key.startswith("COVERAGE_")},
            "PYTHONPATH": str(ROOT),
        },
        capture_output=True,
        text=True,
        timeout=BROWSE_WITHIN,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return dict(json.loads((ARTIFACTS / "findings.json").read_text()))


@pytest.mark.parametrize(("language", "view", "check"), _params())
def test_view(findings: dict[str, list[str] | None], language: str, view: str, check: str) -> None:
    problems = findings[f"{language}/{view}/{check}"]
    if problems is None:
        pytest.skip(f"{view} was not shown (proxy and traffic repairs need nginx: scripts/setup)")
    assert problems == [], f"{view} in {language}, see {ARTIFACTS}/{language}-{view}.png"


def test_a_dialog_of_every_family_in_both_languages() -> None:
    assert {REPAIRS[key].family for key in DIALOGS.values()} == set(Family)
    judged = {(language, view) for language, view, _ in cases()}
    assert {(language, f"dialog_{name}") for language in LANGUAGES for name in DIALOGS} <= judged
    assert checks_of("zh-Hans", "dialog_endpoint_self_signed") == [
        *checks_of("en", "dialog_endpoint_self_signed"),
        "english_sentence",
    ]


def test_each_endpoint_once_with_its_revocation_state() -> None:
    names = ["hass.example.test:40001", "hass.example.test:4000", "other.example.test:40002"]
    once = Seen(
        text=(
            "hass.example.test:40001\nOK · Revoked · 20 days left\n"
            "hass.example.test:4000\nOK · Not revoked · 30 days left\n"
            "other.example.test:40002\nSelf-signed · revocation unknown"
        ),
        names=names,
        revocation={
            "hass.example.test:40001": "Revoked",
            "hass.example.test:4000": "Not revoked",
            "other.example.test:40002": "revocation unknown",
        },
    )
    assert repeated_endpoints(once) == []
    assert missing_revocation(once) == []
    # the card as it was: the renewal moment listed as a second expiry of each endpoint
    twice = Seen(text=once.text + "\n" + once.text, names=names, revocation=once.revocation)
    assert repeated_endpoints(twice) == [f"{name} x2" for name in names]
    wrong = Seen(
        text=once.text.replace("· Revoked", "· Not revoked"),
        names=names,
        revocation=once.revocation,
    )
    assert missing_revocation(wrong) == ["hass.example.test:40001: no 'Revoked'"]


# The checks on text as the collector returns it: what they flag and what they let through.
@pytest.mark.parametrize(
    ("text", "code", "flagged"),
    [
        ("检测结果：the certificate is self-signed; replace it", [], True),
        (
            "获取真实证书（通过 Certbot、Caddy、Traefik 或 Nginx Proxy Manager 从 Let's Encrypt 获取）",
            [],
            False,
        ),
        ("打开 *Use X-Forwarded-For*，并只信任 ␞，即代理", ["127.0.0.5/32"], False),
        ("**hass.example.test:44033** 提供的是自签名证书 ␞。", ["CN=a b c d e"], False),
        ("返回 **400 Bad Request**。Home Assistant 会认为", [], False),
        ("Home Assistant Core Integration reports this", [], True),
    ],
)
def test_english_sentence_heuristic(text: str, code: list[str], flagged: bool) -> None:
    assert bool(english_sentences(Seen(text=text, code=code))) is flagged


SAMPLE = """
<p>Shown <span style="display:none">hidden words are not seen</span> text
  <code>if { ssl_fc }</code> and <code>{subject}</code> and { endpoint }.</p>
<p>Translation error: [formatjs Error: MISSING_VALUE]</p>
<p>Manufacturer &lt;unknown&gt;</p>
<div id="host"></div>
<div style="width:60px; white-space:nowrap; overflow:hidden; text-overflow:ellipsis">
  hass.example.test:44033</div>
<div style="width:50px; overflow-x:auto; white-space:nowrap">a wide table</div>
<ha-card style="display:block; width:160px; overflow-wrap:break-word">
  <p>Serial <code>00112233445566778899aabbccddeeff</code> wraps</p>
  <table><tr><td>ffeeddccbbaa99887766554433221100</td></tr></table>
</ha-card>
<p><a href="https://hass.example.test/">hass.example.test 后面的中文</a>
  <a href="https://www.home-assistant.io/">the documentation</a></p>
<script>
  document.getElementById("host").attachShadow({mode: "open"}).innerHTML =
    '<b>inside a shadow root</b><img src="data:image/png;name=tls_health;base64,AAAA">';
</script>
"""


@pytest.mark.skipif(not HAVE_CHROMIUM, reason=f"no {CHROMIUM} (scripts/setup installs it)")
async def test_collectors_see_what_a_person_sees() -> None:
    seen = await seen_in(SAMPLE, ["hass.example.test:44033", "not-shown.example.test"])
    assert "Shown" in seen.text
    assert "inside a shadow root" in seen.text
    assert "hidden words" not in seen.text
    assert seen.code == ["if { ssl_fc }", "{subject}", "00112233445566778899aabbccddeeff"]
    assert raw_placeholders(seen) == ["{ endpoint }", "{subject}"]
    assert translation_errors(seen) == ["Translation error: [formatjs Error: MISSING_VALUE]"]
    assert unknown_values(seen) == ["Manufacturer <unknown>"]
    assert broken_images(seen) == ["data:image/png;name=tls_health;base64,AAAA"]
    assert cut_text(seen) == [
        "missing: not-shown.example.test",
        "hass.example.test:44033",
        "a wide table",
    ]
    # a long hex value wraps in running text, and runs past the card's edge in a table
    assert overflowing_hex(seen) == ["ffeeddccbbaa99887766554433221100"]
    assert overflowing_hex(Seen()) == ["no serial or fingerprint shown"]
    assert swallowing_links(seen) == ["hass.example.test 后面的中文"]
