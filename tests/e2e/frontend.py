"""A real hass with one repair of each family, seen through its frontend in headless Chromium."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta
from http import HTTPStatus
import json
from pathlib import Path
import re
import shutil
import sys
from typing import Any, Final

from playwright.async_api import (
    ConsoleMessage,
    Page,
    Route,
    TimeoutError as PlaywrightTimeoutError,
    ViewportSize,
    async_playwright,
)
import yaml

from custom_components.tls_health.proxy_judgement import REPEATED_REFUSALS
from tests.certs import NOW, Issued, Pki, issue
from tests.servers import HttpHandler, Server

from .authorities import EXPLANATION, ca_endpoints
from .hass_process import ROOT, HassProcess, run_hass
from .proxies import NginxProxy, ProxyMode, nginx_binary

CHROMIUM = "/usr/bin/chromium"
USERNAME = "owner"
PASSWORD = "e2e-password-not-secret"  # noqa: S105 - the throwaway owner hass_process onboards
# The repairs (catalogue keys) whose dialogs are opened, one or two of each family; proxy and
# traffic need nginx.
DIALOGS = {
    "endpoint_self_signed": "self_signed_certificate",  # endpoint family
    "endpoint_expired": "certificate_expired",
    "endpoint_revoked": "certificate_revoked",  # what the CA says: need nginx for the CRL
    "endpoint_renew_now": "renewal_requested_by_ca",
    "proxy": "forwarded_proto_missing",  # proxy family
    "traffic": "reverse_proxy_not_trusted_traffic",  # traffic family
    "own_certificate": "certificate_file_renewal_overdue",  # Home Assistant family
    "trusted_proxies": "trusted_proxies_too_broad",
}
TRUSTED_PROXY = "127.0.0.5"
# An endpoint name as long as real ones get, for the dashboard card.
LONG_NAME = "expired-certificate.garage-door.home.example.test"
UNTRUSTED_PROXY = "127.0.0.6"
# Beyond private ranges: 172.16.0.0/12 is private, the rest of 172/8 is not.
BROAD_TRUSTED_NETWORK = "172.0.0.0/8"
BRAND_IMAGES = (
    "icon.png",
    "logo.png",
    "icon@2x.png",
    "logo@2x.png",
    "dark_icon.png",
    "dark_logo.png",
    "dark_icon@2x.png",
    "dark_logo@2x.png",
)


class HttpsUpstreamNginx(NginxProxy):
    """nginx in front of a Home Assistant that serves TLS itself."""

    def config(self) -> str:
        """The usual configuration, speaking TLS to the upstream."""
        return super().config().replace("proxy_pass http://", "proxy_pass https://")


@dataclass
class Scene:
    """The running hass, its endpoints and the repairs they raised."""

    hass: HassProcess
    entries: dict[str, str] = field(default_factory=dict)  # endpoint role -> entry id
    issue_ids: dict[str, str] = field(default_factory=dict)  # repair key -> issue id

    async def raised(self) -> dict[str, str]:
        """Issue ids of the open TLS Health repairs, by repair key (the first entry's)."""
        open_ids = {issue["issue_id"] for issue in await self.hass.issues()}
        raised: dict[str, str] = {}
        for key in DIALOGS.values():
            for issue_id in (key, *(f"{key}_{entry}" for entry in self.entries.values())):
                if issue_id in open_ids:
                    raised.setdefault(key, issue_id)
        return raised


def cache_brand_misses(config_dir: Path) -> None:
    """Mark the brands CDN as having no TLS Health images nor placeholder, as hass itself does
    after a 404, so a missing brand folder shows as a missing image without leaving loopback."""
    for domain in ("tls_health", "_placeholder"):
        folder = config_dir / ".cache" / "brands" / "integrations" / domain
        folder.mkdir(parents=True, exist_ok=True)
        for image in BRAND_IMAGES:
            (folder / image).write_bytes(b"")


def onboard_all_but_the_owner(config_dir: Path) -> None:
    """Mark onboarding's later steps done (location, analytics, default integrations), so the
    frontend opens on the dashboard once the owner is created and nothing reaches the internet."""
    (config_dir / ".storage").mkdir(parents=True, exist_ok=True)
    (config_dir / ".storage" / "onboarding").write_text(
        json.dumps(
            {
                "version": 4,
                "minor_version": 1,
                "key": "onboarding",
                "data": {"done": ["core_config", "analytics", "integration"]},
            }
        )
    )


@contextlib.asynccontextmanager
async def tls_server(pki: Pki, leaf: Issued, *chain: Issued) -> AsyncIterator[Server]:
    """A TLS server presenting leaf + chain until the block ends."""
    server = Server(HttpHandler(), context=pki.server_context(leaf, *chain))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def repairs_scene(directory: Path) -> AsyncIterator[Scene]:
    """hass serving TLS with a certificate near its end, trusting too broad a network, watching
    a self-signed and an expired endpoint and one behind nginx that drops X-Forwarded-Proto, and
    refusing traffic from an untrusted nginx; every repair raised."""
    (directory / "pki").mkdir(parents=True)
    pki = Pki(directory / "pki")
    own = pki.leaf(not_before=NOW - timedelta(days=80), not_after=NOW + timedelta(days=10))
    chain, key = pki.server_files("hass", own, pki.intermediate)
    http = {
        "ssl_certificate": str(chain),
        "ssl_key": str(key),
        "use_x_forwarded_for": True,
        "trusted_proxies": [f"{TRUSTED_PROXY}/32", BROAD_TRUSTED_NETWORK],
    }
    config_dir = directory / "config"
    cache_brand_misses(config_dir)
    onboard_all_but_the_owner(config_dir)
    self_signed = issue("hass.example.test", names=("hass.example.test",))
    expired = pki.leaf(
        LONG_NAME,
        not_before=NOW - timedelta(days=90),
        not_after=NOW - timedelta(days=3, minutes=10),
    )
    async with contextlib.AsyncExitStack() as stack:
        self_signed_server = await stack.enter_async_context(tls_server(pki, self_signed))
        expired_server = await stack.enter_async_context(tls_server(pki, expired, pki.intermediate))
        hass = await stack.enter_async_context(run_hass(config_dir, http=http))
        scene = Scene(hass)
        scene.entries["self_signed"] = await hass.watch(self_signed_server.port, pki.root_file)
        created = await hass.add_endpoint(
            f"https://{LONG_NAME}:{expired_server.port}",
            address="127.0.0.1",
            ca_file=str(pki.root_file),
        )
        assert created["type"] == "create_entry", created
        scene.entries["expired"] = created["result"]["entry_id"]
        await hass.wait_first_check(scene.entries["expired"])
        expected = set(DIALOGS.values())
        if nginx_binary():
            files = pki.server_files("proxy", pki.leaf(), pki.intermediate)
            proxy = await stack.enter_async_context(
                HttpsUpstreamNginx(
                    ProxyMode.NO_FORWARDED_PROTO,
                    chain_file=files[0],
                    key_file=files[1],
                    upstream_port=hass.port,
                    directory=directory / "nginx",
                    source_address=TRUSTED_PROXY,
                )
            )
            scene.entries["proxy"] = await hass.watch(proxy.port, pki.root_file, leads_here=True)
            authority = await stack.enter_async_context(ca_endpoints(hass, directory / "authority"))
            scene.entries.update({f"ca_{role}": entry for role, entry in authority.entries.items()})
            untrusted = await stack.enter_async_context(
                HttpsUpstreamNginx(
                    ProxyMode.GOOD,
                    chain_file=files[0],
                    key_file=files[1],
                    upstream_port=hass.port,
                    directory=directory / "nginx-untrusted",
                    source_address=UNTRUSTED_PROXY,
                )
            )
            # refused again and again: one refusal alone is no pattern worth a repair
            for _ in range(REPEATED_REFUSALS):
                async with hass.session.get(
                    f"https://127.0.0.1:{untrusted.port}/manifest.json",
                    headers={"Host": f"hass.example.test:{untrusted.port}"},
                ) as response:
                    assert response.status == HTTPStatus.BAD_REQUEST  # what its users get
        else:
            expected -= {
                DIALOGS[name]
                for name in ("proxy", "traffic", "endpoint_revoked", "endpoint_renew_now")
            }
        # The first check ran at set-up; a finding is raised when the next agrees. The traffic
        # repair comes from hass's log, a moment after the refused request.
        async with asyncio.timeout(60):
            while True:
                await hass.rest("POST", "/api/services/tls_health/check_now", {})
                scene.issue_ids = await scene.raised()
                if expected <= set(scene.issue_ids):
                    break
                await asyncio.sleep(0.5)
        yield scene


async def frontend_tokens(hass: HassProcess) -> dict[str, Any]:
    """Log in as the owner the way the frontend does; the `hassTokens` it keeps."""
    client_id = f"{hass.url}/"
    flow = await _post(
        hass,
        "/auth/login_flow",
        {"client_id": client_id, "handler": ["homeassistant", None], "redirect_uri": client_id},
    )
    done = await _post(
        hass,
        f"/auth/login_flow/{flow['flow_id']}",
        {"client_id": client_id, "username": USERNAME, "password": PASSWORD},
    )
    async with hass.session.post(
        f"{hass.url}/auth/token",
        data={"grant_type": "authorization_code", "code": done["result"], "client_id": client_id},
    ) as response:
        response.raise_for_status()
        tokens = dict(await response.json())
    return tokens | {"hassUrl": hass.url, "clientId": client_id}


async def _post(hass: HassProcess, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with hass.session.post(f"{hass.url}{path}", json=body) as response:
        response.raise_for_status()
        return dict(await response.json())


# Visible text, code spans, links and images of an element and everything rendered inside it,
# through open shadow roots. Code spans and line breaks become SEPARATOR in the text.
COLLECT = """
(root) => {
  const SEPARATOR = "\\u241e";
  const CODE = new Set(["CODE", "PRE", "KBD", "SAMP"]);
  const out = { text: "", code: [], links: [], images: [] };
  const visible = (element) =>
    element.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true });
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) {
      if (node.parentElement && visible(node.parentElement)) out.text += node.data;
      return;
    }
    if (node.nodeType !== Node.ELEMENT_NODE && node.nodeType !== Node.DOCUMENT_FRAGMENT_NODE) {
      return;
    }
    if (node.nodeType === Node.ELEMENT_NODE) {
      if (["SCRIPT", "STYLE", "TEMPLATE"].includes(node.tagName)) return;
      if (node.tagName === "IMG") {
        out.images.push({
          src: node.currentSrc || node.src,
          complete: node.complete,
          naturalWidth: node.naturalWidth,
        });
      }
      if (CODE.has(node.tagName)) {
        if (visible(node)) {
          out.code.push(node.textContent);
          out.text += SEPARATOR;
        }
        return;
      }
      if (node.tagName === "A" && visible(node)) out.links.push(node.textContent);
      const display = visible(node) ? getComputedStyle(node).display : "none";
      const block = !display.startsWith("inline") && display !== "contents";
      if (block) out.text += "\\n";
      if (node.shadowRoot) walk(node.shadowRoot);
      for (const child of node.childNodes) walk(child);
      if (block) out.text += "\\n";
      return;
    }
    for (const child of node.childNodes) walk(child);
  };
  walk(root);
  return out;
}
"""

# Text inside `root` that does not fit its box: clipped, ellipsised, or to be scrolled sideways.
CUT_TEXT = """
(root) => {
  const cut = [];
  const walk = (node) => {
    for (const child of node.children) {
      const style = getComputedStyle(child);
      const hides = style.textOverflow === "ellipsis" || style.overflowX !== "visible";
      if (hides && child.scrollWidth > child.clientWidth + 1 && child.textContent.trim()) {
        cut.push(child.textContent.trim());
      }
      if (child.shadowRoot) walk(child.shadowRoot);
      walk(child);
    }
  };
  walk(root.shadowRoot || root);
  return cut;
}
"""

# Every text holding a long hex value (a serial or fingerprint) inside `root`, and whether a line
# of it runs past the edge of the card around it (the `ha-card`, or `root` itself).
HEX_RUNS = """
(root) => {
  const inside = root.shadowRoot || root;
  const card = inside.querySelector("ha-card") || root;
  const box = card.getBoundingClientRect();
  const found = [];
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) {
      if (/[0-9a-f]{16,}/.test(node.data)) {
        const range = document.createRange();
        range.selectNodeContents(node);
        const out = [...range.getClientRects()].some(
          (line) => line.width > 0 && (line.left < box.left - 1 || line.right > box.right + 1)
        );
        found.push({ text: node.data.trim(), out });
      }
      return;
    }
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  walk(inside);
  return found;
}
"""

# Whether the Repairs list shows every one of these issues.
LISTS_ISSUES = """
(issueIds) => {
  const shown = new Set();
  const walk = (node) => {
    for (const child of node.children) {
      if (child.issue) shown.add(child.issue.issue_id);
      if (child.shadowRoot) walk(child.shadowRoot);
      walk(child);
    }
  };
  walk(document);
  return issueIds.every((issueId) => shown.has(issueId));
}
"""

# Clicks the Repairs list entry of one issue (list items carry their issue as a property).
OPEN_ISSUE = """
(issueId) => {
  const find = (node) => {
    for (const child of node.children) {
      if (child.issue && child.issue.issue_id === issueId) return child;
      const found = (child.shadowRoot && find(child.shadowRoot)) || find(child);
      if (found) return found;
    }
    return null;
  };
  const item = find(document);
  if (!item) return false;
  item.click();
  return true;
}
"""

SEPARATOR = "\u241e"
LANGUAGES = ("en", "zh-Hans")
PAGES = ("integration", "devices", "device", "repairs")
DESKTOP: Final = ViewportSize(width=1280, height=900)
PHONE: Final = ViewportSize(width=390, height=844)
DASHBOARDS = {"dashboard": DESKTOP, "dashboard_phone": PHONE}
VIEWS = (*PAGES, *(f"dialog_{family}" for family in DIALOGS), *DASHBOARDS)
CHINESE = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")
# Where a run of English words ends: Chinese text or punctuation, a code span, a line break, or
# ASCII punctuation that ends a phrase. "Nginx Proxy Manager" or "Home Assistant" stay short.
PHRASE_BREAK = re.compile(
    r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef\u241e\n,;:()\[\]/|\"]"
)
WORD = re.compile(r"[A-Za-z]+(?:['\u2019-][A-Za-z]+)*")
ENGLISH_RUN = 4
AUTOLINK = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.|[\w-]+(?:\.[\w-]+)+)", re.IGNORECASE)
# An ICU placeholder left in the text. Outside code a spaced `{ name }` counts too; inside code it
# is configuration syntax (HAProxy's `{ ssl_fc }`).
PLACEHOLDER_IN_TEXT = re.compile(r"\{\s*[A-Za-z_]\w*\s*\}")
PLACEHOLDER_IN_CODE = re.compile(r"\{[A-Za-z_]\w*\}")
# What the devices list shows for a missing manufacturer or model, in English and Chinese.
UNKNOWN = re.compile(r"<unknown>|<未知>")
# What the frontend shows for a text it cannot format; markdown may eat the colon.
TRANSLATION_ERROR = re.compile(r"translation\s*(?:error|\[formatjs)", re.IGNORECASE)


@dataclass
class Seen:
    """What one view showed: text, code spans, links, images, console errors, cut text."""

    text: str = ""
    code: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    cut: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # endpoint names that must be shown whole
    hex: list[dict[str, Any]] = field(default_factory=list)  # long hex values and if they overflow
    # what each endpoint's row must say of its revocation, by endpoint name
    revocation: dict[str, str] = field(default_factory=dict)


def translation_errors(seen: Seen) -> list[str]:
    """Lines the frontend could not format ("Translation error: [formatjs Error: ...")."""
    lines = (seen.text + "\n" + "\n".join(seen.code)).splitlines()
    return [line.strip() for line in lines if TRANSLATION_ERROR.search(line)]


def raw_placeholders(seen: Seen) -> list[str]:
    """Placeholders shown as typed instead of filled in."""
    return PLACEHOLDER_IN_TEXT.findall(seen.text) + [
        found for code in seen.code for found in PLACEHOLDER_IN_CODE.findall(code)
    ]


def broken_images(seen: Seen) -> list[str]:
    """TLS Health images that loaded nothing; a view without any is judged as missing its image."""
    ours = [image for image in seen.images if "tls_health" in image["src"]]
    if not ours:
        return ["no TLS Health image at all"]
    return [image["src"] for image in ours if image["complete"] and image["naturalWidth"] == 0]


def english_sentences(seen: Seen) -> list[str]:
    """Runs of ENGLISH_RUN or more English words in running text (code spans, links, host names,
    numbers and product names of three words or fewer do not count)."""
    return [
        " ".join(phrase.split())
        for phrase in PHRASE_BREAK.split(seen.text)
        if len(_plain_words(phrase)) >= ENGLISH_RUN
    ]


def _plain_words(phrase: str) -> list[str]:
    """Whitespace-separated tokens that are words, not host names, addresses or numbers."""
    return [token for token in phrase.split() if WORD.fullmatch(token.strip(".!?*_"))]


def swallowing_links(seen: Seen) -> list[str]:
    """Auto-links (a URL or host name made a link) whose text runs on into the sentence."""
    return [
        link
        for link in seen.links
        if AUTOLINK.match(link.strip()) and (CHINESE.search(link) or len(link.split()) > 1)
    ]


def unknown_values(seen: Seen) -> list[str]:
    """Lines showing a value the frontend calls unknown (a device without manufacturer or model)."""
    return [line.strip() for line in seen.text.splitlines() if UNKNOWN.search(line)]


def console_errors(seen: Seen) -> list[str]:
    """Console errors that name TLS Health."""
    return [line for line in seen.console if "tls_health" in line.lower()]


def cut_text(seen: Seen) -> list[str]:
    """Endpoint names not shown, and text that does not fit (clipped or scrolled sideways)."""
    return [f"missing: {name}" for name in seen.names if name not in seen.text] + seen.cut


def _rows(seen: Seen) -> dict[str, list[str]]:
    """The text after each occurrence of each endpoint name, up to the next name."""
    found = sorted(
        (match.start(), match.end(), name)
        for name in seen.names
        for match in re.finditer(re.escape(name) + r"(?!\d)", seen.text)
    )
    rows: dict[str, list[str]] = {name: [] for name in seen.names}
    for index, (_, end, name) in enumerate(found):
        following = found[index + 1][0] if index + 1 < len(found) else len(seen.text)
        rows[name].append(seen.text[end:following])
    return rows


def repeated_endpoints(seen: Seen) -> list[str]:
    """Endpoints listed more than once, or not at all (one row per endpoint)."""
    return [f"{name} x{len(found)}" for name, found in _rows(seen).items() if len(found) != 1]


def missing_revocation(seen: Seen) -> list[str]:
    """Endpoints whose row does not say what the CA says of its certificate."""
    rows = _rows(seen)
    return [
        f"{name}: no {expected!r}"
        for name, expected in seen.revocation.items()
        if not any(expected in row for row in rows.get(name, []))
    ]


def markup_from_the_ca(seen: Seen) -> list[str]:
    """The CA's explanation URL (hostile here) not shown whole as text in a code span."""
    shown = EXPLANATION.replace("`", "\u02cb")  # what inert() leaves of its backticks
    if shown in seen.code:
        return []
    return [f"not as text: {shown}", *(link for link in seen.links if "evil" in link)]


def overflowing_hex(seen: Seen) -> list[str]:
    """Serials and fingerprints that run past the card's edge; none shown at all is one too."""
    if not seen.hex:
        return ["no serial or fingerprint shown"]
    return [found["text"] for found in seen.hex if found["out"]]


CHECKS: dict[str, Callable[[Seen], list[str]]] = {
    "translation_error": translation_errors,
    "raw_placeholder": raw_placeholders,
    "broken_image": broken_images,
    "english_sentence": english_sentences,
    "swallowing_link": swallowing_links,
    "console_error": console_errors,
    "unknown_value": unknown_values,
    "cut_text": cut_text,
    "repeated_endpoint": repeated_endpoints,
    "missing_revocation": missing_revocation,
    "overflowing_hex": overflowing_hex,
    "markup_from_the_ca": markup_from_the_ca,
}


def checks_of(language: str, view: str) -> list[str]:
    """The checks that apply to a view in a language."""
    checks = ["translation_error", "raw_placeholder", "console_error"]
    if view in PAGES:
        checks.append("broken_image")
    if view == "devices":
        checks.append("unknown_value")
    if view.startswith("dialog_"):
        checks.append("swallowing_link")
        if language != "en":
            checks.append("english_sentence")
    if view == "dialog_endpoint_renew_now":
        checks.append("markup_from_the_ca")
    if view in DASHBOARDS:
        checks += ["cut_text", "repeated_endpoint", "missing_revocation", "overflowing_hex"]
    return checks


def cases() -> list[tuple[str, str, str]]:
    """Every (language, view, check) the browser test judges."""
    return [
        (language, view, check)
        for language in LANGUAGES
        for view in VIEWS
        for check in checks_of(language, view)
    ]


def readme_card() -> dict[str, Any]:
    """The card of the README's Dashboard section."""
    section = (ROOT / "README.md").read_text().split("\n## Dashboard\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```yaml\n", 1)[1].split("\n```", 1)[0]
    return dict(yaml.safe_load(block))


async def add_dashboard(hass: HassProcess, card: dict[str, Any]) -> str:
    """A storage dashboard holding one card; its URL path."""
    await hass.ws(
        {
            "type": "lovelace/dashboards/create",
            "url_path": "tls-health",
            "title": "TLS Health",
            "mode": "storage",
            "show_in_sidebar": True,
            "require_admin": False,
        }
    )
    await hass.ws(
        {
            "type": "lovelace/config/save",
            "url_path": "tls-health",
            "config": {"views": [{"title": "TLS", "path": "tls", "cards": [card]}]},
        }
    )
    return "/tls-health/tls"


async def device_of(hass: HassProcess, entry_id: str) -> dict[str, Any]:
    """The device of a TLS Health entry."""
    devices = await hass.ws({"type": "config/device_registry/list"})
    return next(device for device in devices if entry_id in device["config_entries"])


class Browser:
    """One browser context of the owner in one language; records what each view shows."""

    def __init__(self, scene: Scene, page: Page, artifacts: Path, language: str) -> None:
        self.scene = scene
        self.page = page
        self.artifacts = artifacts
        self.language = language
        self.console: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.console.append(f"{error}"))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        if "Failed to load resource" in message.text and "/api/brands/" in url:
            return  # a missing image is judged by the image check
        self.console.append(f"{message.text} ({url})")

    async def open(self, path: str, ready: str, text: str = "") -> None:
        """Go to a frontend path and wait until `ready` (holding `text`) shows and the network
        is quiet.

        Loaded once more when it does not show in time: on a 2-core machine busy with other
        end-to-end tests, the frontend sometimes never finished a first render (a table or a
        card stayed empty for 30 s, then rendered at once on a reload). A view that does not
        show on the second load fails, with a screenshot of it in the artifacts.
        """
        for attempt in range(OPEN_ATTEMPTS):
            self.console.clear()
            await self.page.goto(f"{self.scene.hass.url}{path}")
            try:
                await self.page.locator(ready).filter(has_text=text).first.wait_for()
                break
            except PlaywrightTimeoutError:
                if attempt + 1 == OPEN_ATTEMPTS:
                    shot = (
                        self.artifacts
                        / f"{self.language}-not-shown-{ready.split(maxsplit=1)[0]}.png"
                    )
                    await self.page.screenshot(path=shot, full_page=True)
                    raise
        await self.page.wait_for_load_state("networkidle")

    async def open_repairs(self) -> None:
        """Go to the Repairs list and wait until it shows every issue raised."""
        await self.open("/config/repairs", "ha-list-item-button")
        await self.page.wait_for_function(LISTS_ISSUES, arg=list(self.scene.issue_ids.values()))
        await self.page.wait_for_load_state("networkidle")

    async def look(self, view: str, region: str = "body") -> Seen:
        """What `region` shows now; a screenshot of the page is kept."""
        await self.page.wait_for_timeout(SETTLE_MS)
        collected = await self.page.locator(region).first.evaluate(COLLECT)
        cut = await self.page.locator(region).first.evaluate(CUT_TEXT)
        hex_runs = await self.page.locator(region).first.evaluate(HEX_RUNS)
        await self.page.screenshot(path=self.artifacts / f"{self.language}-{view}.png")
        return Seen(
            text=collected["text"],
            code=collected["code"],
            links=collected["links"],
            images=collected["images"],
            console=list(self.console),
            cut=cut,
            hex=hex_runs,
        )

    async def open_issue(self, issue_id: str) -> None:
        """Click an issue in the Repairs list and wait for its dialog's text."""
        self.console.clear()
        assert await self.page.evaluate(OPEN_ISSUE, issue_id), issue_id
        await self.page.locator(f"{DIALOG} ha-markdown-element > *").first.wait_for()

    async def close_dialog(self) -> None:
        """Close the open repair dialog."""
        await self.page.keyboard.press("Escape")
        await self.page.locator(f"{DIALOG} .dialog-content").first.wait_for(state="detached")


DIALOG = "dialog-repairs-issue"
SETTLE_MS = 300
OPEN_ATTEMPTS = 2
FLAGS = (  # headless=True adds --headless; Playwright gives each launch a fresh profile
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


async def browse(scene: Scene, artifacts: Path) -> dict[tuple[str, str], Seen]:
    """Open every view in every language; what each showed, by (language, view)."""
    tokens = await frontend_tokens(scene.hass)
    dashboard = await add_dashboard(scene.hass, readme_card())
    device = await device_of(scene.hass, scene.entries["self_signed"])
    names = [str((await device_of(scene.hass, entry))["name"]) for entry in scene.entries.values()]
    revocation = {
        name: await scene.hass.state((await scene.hass.entities(entry))["revocation"])
        for name, entry in zip(names, scene.entries.values(), strict=True)
    }
    seen: dict[tuple[str, str], Seen] = {}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(FLAGS), headless=True
        )
        try:
            for language in LANGUAGES:
                context = await browser.new_context(
                    ignore_https_errors=True,  # hass serves a certificate of the test PKI
                    viewport=DESKTOP,
                    locale="zh-CN" if language == "zh-Hans" else "en-US",
                )
                await context.add_init_script(logged_in(tokens, language))
                await context.route("**/*", stay_on(scene.hass.url))
                tab = Browser(scene, await context.new_page(), artifacts, language)
                await tab.open(
                    "/config/integrations/integration/tls_health", "ha-config-entry-row", names[-1]
                )
                seen[language, "integration"] = await tab.look("integration")
                await tab.open("/config/devices/dashboard", "ha-data-table", LONG_NAME)
                seen[language, "devices"] = await tab.look("devices")
                await tab.open(
                    f"/config/devices/device/{device['id']}", "ha-device-info-card", "TLS Health"
                )
                seen[language, "device"] = await tab.look("device")
                await tab.open_repairs()
                seen[language, "repairs"] = await tab.look("repairs")
                for family, key in DIALOGS.items():
                    if key not in scene.issue_ids:
                        continue  # not raised here (proxy and traffic need nginx)
                    await tab.open_issue(scene.issue_ids[key])
                    view = f"dialog_{family}"
                    seen[language, view] = await tab.look(view, f"{DIALOG} .dialog-content")
                    await tab.close_dialog()
                for view, size in DASHBOARDS.items():
                    await tab.page.set_viewport_size(size)
                    await tab.open(dashboard, "hui-markdown-card ha-markdown-element li", LONG_NAME)
                    seen[language, view] = await tab.look(view, "hui-markdown-card")
                    seen[language, view].names = names
                    seen[language, view].revocation = revocation_texts(revocation)
                await context.close()
        finally:
            await browser.close()
    return seen


def revocation_texts(states: dict[str, str]) -> dict[str, str]:
    """What the card says of each endpoint's revocation state: a template renders in Home
    Assistant's own language (English here), whatever the frontend's."""
    strings = json.loads((ROOT / "custom_components" / "tls_health" / "strings.json").read_text())
    shown = strings["entity"]["sensor"]["revocation"]["state"]
    return {
        name: "revocation unknown" if state == "unknown" else shown[state]
        for name, state in states.items()
    }


def logged_in(tokens: dict[str, Any], language: str) -> str:
    """A script that gives every page the owner's tokens and language, as after a login."""
    return f"""
        const tokens = {json.dumps(tokens)};
        tokens.expires = Date.now() + tokens.expires_in * 1000;
        localStorage.setItem("hassTokens", JSON.stringify(tokens));
        localStorage.setItem("selectedLanguage", JSON.stringify({json.dumps(language)}));
    """


def stay_on(origin: str) -> Callable[[Route], Awaitable[None]]:
    """Route handler: nothing leaves hass; other integrations' images are not looked up."""

    async def route(route: Route) -> None:
        url = route.request.url
        if not url.startswith(origin):
            await route.abort()
        elif "/api/brands/" in url and "/tls_health/" not in url:
            await route.fulfill(status=404)
        else:
            await route.continue_()

    return route


def judge(seen: dict[tuple[str, str], Seen]) -> dict[str, list[str] | None]:
    """Problems of every case, keyed "language/view/check"; None where the view was not shown."""
    judged: dict[str, list[str] | None] = {}
    for language, view, check in cases():
        shown = seen.get((language, view))
        judged[f"{language}/{view}/{check}"] = None if shown is None else CHECKS[check](shown)
    return judged


async def run(directory: Path, artifacts: Path) -> dict[str, list[str] | None]:
    """Build the scene, browse it, judge what was seen."""
    try:
        async with repairs_scene(directory) as scene:
            seen = await browse(scene, artifacts)
    finally:
        log = directory / "config" / "hass-stdout.log"
        if log.exists():
            shutil.copyfile(log, artifacts / "hass.log")
    return judge(seen)


async def seen_in(html: str, names: list[str]) -> Seen:
    """What the collectors see on a page of `html` (a check of the collectors themselves)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(FLAGS), headless=True
        )
        try:
            page = await browser.new_page()
            await page.set_content(html)
            body = page.locator("body")
            collected = await body.evaluate(COLLECT)
            return Seen(
                text=collected["text"],
                code=collected["code"],
                links=collected["links"],
                images=collected["images"],
                cut=await body.evaluate(CUT_TEXT),
                names=names,
                hex=await body.evaluate(HEX_RUNS),
            )
        finally:
            await browser.close()


if __name__ == "__main__":
    # python -m tests.e2e.frontend WORK_DIR ARTIFACTS_DIR: writes ARTIFACTS_DIR/findings.json
    work, artifacts = Path(sys.argv[1]), Path(sys.argv[2])
    artifacts.mkdir(parents=True, exist_ok=True)
    findings = asyncio.run(run(work, artifacts))
    (artifacts / "findings.json").write_text(json.dumps(findings, indent=1, ensure_ascii=False))
