"""Translation files agree with strings.json and with the code that uses their keys."""

from __future__ import annotations

from collections.abc import Iterator
import importlib
import importlib.util
import json
from pathlib import Path
import re
from typing import Any

import pytest
import yaml

from . import icu

COMPONENT = Path(__file__).parent.parent / "custom_components" / "tls_health"
TRANSLATIONS = COMPONENT / "translations"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
CODE = re.compile(r"`([^`]+)`")

# Imported lazily: the catalogue and probe modules must not break the pure file checks.
CATALOGUE = "custom_components.tls_health.catalogue"
MODELS = "custom_components.tls_health.probe.models"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the conftest fixture: these tests read files and need no `hass`."""


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _strings() -> dict[str, Any]:
    return _load(COMPONENT / "strings.json")


def _leaves(tree: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key path, value) of every non-object value."""
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            yield from _leaves(value, path)
        else:
            yield path, value


def _paths(tree: dict[str, Any]) -> set[str]:
    return {path for path, _ in _leaves(tree)}


def _paired_strings() -> list[tuple[str, str, str]]:
    """(path, English, Simplified Chinese) for every path both files have."""
    zh = dict(_leaves(_load(TRANSLATIONS / "zh-Hans.json")))
    return [(path, en, zh[path]) for path, en in _leaves(_strings()) if path in zh]


def _translations_script() -> Any:
    spec = importlib.util.spec_from_file_location(
        "translations_script", COMPONENT.parent.parent / "scripts" / "translations.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_en_is_strings_with_references_resolved() -> None:
    script = _translations_script()
    resolved = script.resolve(_strings(), script.home_assistant_strings())
    assert _load(TRANSLATIONS / "en.json") == resolved, "run scripts/translations.py"
    assert not script.REFERENCE.search(json.dumps(resolved))


def test_zh_hans_has_the_same_keys() -> None:
    en = _paths(_strings())
    zh = _paths(_load(TRANSLATIONS / "zh-Hans.json"))
    assert en == zh, f"missing in zh-Hans.json: {sorted(en - zh)}; extra: {sorted(zh - en)}"


def test_zh_hans_values_are_strings() -> None:
    wrong = [
        path
        for path, value in _leaves(_load(TRANSLATIONS / "zh-Hans.json"))
        if not isinstance(value, str) or not value.strip()
    ]
    assert not wrong, f"not a non-empty string: {wrong}"


def test_zh_hans_keeps_placeholders() -> None:
    wrong = {
        path: (sorted(set(PLACEHOLDER.findall(en))), sorted(set(PLACEHOLDER.findall(zh))))
        for path, en, zh in _paired_strings()
        if set(PLACEHOLDER.findall(en)) != set(PLACEHOLDER.findall(zh))
    }
    assert not wrong, f"placeholders differ (en, zh-Hans): {wrong}"


def test_zh_hans_keeps_code_verbatim() -> None:
    lost = {
        path: codes
        for path, en, zh in _paired_strings()
        if (codes := [code for code in CODE.findall(en) if f"`{code}`" not in zh])
    }
    assert not lost, f"backtick-quoted text not kept: {lost}"


def test_every_repair_has_text() -> None:
    catalogue = importlib.import_module(CATALOGUE)
    issues = _strings()["issues"]
    missing = [
        f"issues.{text}.{part}"
        for repair in catalogue.REPAIRS.values()
        for text in repair.texts or (repair.key,)
        for part in ("title", "fix_flow" if repair.fixable else "description")
        if part not in issues.get(text, {})
    ]
    assert not missing, f"missing in strings.json: {missing}"
    assert set(issues) == catalogue.translation_keys(), "texts for repairs the catalogue lacks"


def test_fixable_repairs_have_a_fix_flow() -> None:
    catalogue = importlib.import_module(CATALOGUE)
    flows = importlib.import_module("custom_components.tls_health.repairs").FIX_FLOWS
    assert set(flows) == {key for key, repair in catalogue.REPAIRS.items() if repair.fixable}


def test_every_verdict_has_a_state() -> None:
    verdict = importlib.import_module(MODELS).Verdict
    states = _strings()["entity"]["sensor"]["handshake"]["state"]
    missing = sorted(value.value for value in verdict if value.value not in states)
    assert not missing, f"no entity.sensor.handshake.state for: {missing}"


def test_services_match_services_yaml() -> None:
    services = yaml.safe_load((COMPONENT / "services.yaml").read_text(encoding="utf-8"))
    strings = _strings()["services"]
    assert set(strings) == set(services)
    for name, service in services.items():
        fields = set((service or {}).get("fields") or {})
        assert set(strings[name].get("fields", {})) == fields, name


def test_repair_texts_use_only_their_placeholders() -> None:
    catalogue = importlib.import_module(CATALOGUE)
    issues = _strings()["issues"]
    unknown = {
        text: names
        for repair in catalogue.REPAIRS.values()
        for text in repair.texts or (repair.key,)
        if (
            names := sorted(
                {name for _, value in _leaves(issues[text]) for name in PLACEHOLDER.findall(value)}
                - repair.placeholders
            )
        )
    }
    assert not unknown, f"placeholders the catalogue does not declare: {unknown}"


def _enum_sensors() -> dict[str, list[str]]:
    sensor = importlib.import_module("custom_components.tls_health.sensor")
    return {
        description.key: list(description.options)
        for description in (*sensor.SENSORS, sensor.REVERSE_PROXY)
        if description.options is not None
    }


@pytest.mark.parametrize("key", ["handshake", "reverse_proxy", "revocation"])
def test_every_state_has_a_translation_and_an_icon(key: str) -> None:
    options = _enum_sensors()[key]
    texts = _strings()["entity"]["sensor"][key]["state"]
    icons = _load(COMPONENT / "icons.json")["entity"]["sensor"][key]["state"]
    assert set(options) == set(texts), "state translations"
    assert set(options) == set(icons), "state icons"


def test_enum_states_are_the_verdicts() -> None:
    verdicts = importlib.import_module(MODELS).Verdict
    proxy = importlib.import_module("custom_components.tls_health.proxy").ProxyVerdict
    sensors = _enum_sensors()
    assert sensors["handshake"] == [verdict.value for verdict in verdicts]
    assert sensors["reverse_proxy"] == [verdict.value for verdict in proxy]
    revocation = importlib.import_module(MODELS).RevocationState
    assert sensors["revocation"] == [state.value for state in revocation]


# --- ICU MessageFormat, as the frontend parses every text -------------------------------------

TRANSLATION_FILES = {
    "strings.json": COMPONENT / "strings.json",
    "en.json": TRANSLATIONS / "en.json",
    "zh-Hans.json": TRANSLATIONS / "zh-Hans.json",
}
# Text outside code spans that the frontend's markdown would turn into a link.
AUTOLINKED = re.compile(r"https?://|www\.|\w@\w")
# Placeholders that carry host names, addresses or paths: always inside a code span in markdown.
HOST_PLACEHOLDERS = frozenset(
    {"endpoint", "host", "names", "expected_name", "url", "subject", "issuer", "missing_issuer"}
    | {"proxy_address", "trusted_entry", "networks", "path", "key_path", "banned_address"}
)
# Texts shown as plain text, not markdown: titles of repairs, flow titles, exceptions, names.
PLAIN = re.compile(r"(^issues\.[^.]+\.title$|\.flow_title$|^exceptions\.|\.name$|\.state\.)")


def _provided() -> dict[str, set[str]]:
    """Placeholders the code supplies, by translation path prefix (the longest prefix wins)."""
    catalogue = importlib.import_module(CATALOGUE)
    provided: dict[str, set[str]] = {}
    for repair in catalogue.REPAIRS.values():
        for text in repair.texts or (repair.key,):
            # a text that several repairs show gets only what every one of them supplies
            path = f"issues.{text}"
            provided[path] = provided.get(path, set(repair.placeholders)) & repair.placeholders
    provided |= {
        "config.flow_title": {"name"},
        "config.step.discovery_confirm.description": {"url"},
        "config.step.service_confirm.description": {"url", "service"},
        "options.step.init.description": {"endpoint"},
        "exceptions.entry_not_found": {"entry_id"},
        "exceptions.entry_not_loaded": {"title"},
        "exceptions.invalid_target": {"url", "reason"},
    }
    return provided


def _supplied(provided: dict[str, set[str]], path: str) -> set[str]:
    prefixes = [prefix for prefix in provided if path == prefix or path.startswith(f"{prefix}.")]
    return provided[max(prefixes, key=len)] if prefixes else set()


def _every_text() -> Iterator[tuple[str, str, str]]:
    for name, path in TRANSLATION_FILES.items():
        for key, text in _leaves(_load(path)):
            yield name, key, text


def test_every_text_parses_as_icu_messageformat() -> None:
    wrong = {}
    for name, key, text in _every_text():
        try:
            icu.parse(text)
        except icu.IcuError as err:
            wrong[f"{name}: {key}"] = str(err)
    assert not wrong, f"not valid ICU MessageFormat: {wrong}"


def test_every_placeholder_is_supplied_by_the_code() -> None:
    provided = _provided()
    unknown = {
        f"{name}: {key}": sorted(extra)
        for name, key, text in _every_text()
        if (extra := icu.arguments(text) - _supplied(provided, key))
    }
    assert not unknown, f"placeholders the code does not supply: {unknown}"


def test_haproxy_condition_reads_literally() -> None:
    text = _strings()["issues"]["forwarded_proto_missing"]["description"]
    rendered = icu.render(text, dict.fromkeys(icu.arguments(text), "x"))
    assert "`http-request set-header X-Forwarded-Proto https if { ssl_fc }`" in rendered


def test_no_host_name_is_auto_linked() -> None:
    wrong = {}
    for name, key, text in _every_text():
        if PLAIN.search(key):
            continue
        prose = icu.render(re.sub(r"`[^`]*`", "", text), dict.fromkeys(icu.arguments(text), ""))
        exposed = sorted(icu.arguments(re.sub(r"`[^`]*`", "", text)) & HOST_PLACEHOLDERS)
        if exposed or AUTOLINKED.search(prose):
            wrong[f"{name}: {key}"] = exposed or AUTOLINKED.findall(prose)
    assert not wrong, f"host names outside code spans (auto-linked by markdown): {wrong}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain {name} text", {"name"}),
        ("spaces { name } count", {"name"}),
        ("Let's quote '{' and '}' and ''", set()),
        ("if '{ ssl_fc }'", set()),
    ],
)
def test_icu_parser_accepts(text: str, expected: set[str]) -> None:
    assert icu.arguments(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "unclosed {name",
        "stray } brace",
        "{}",
        "{ a b }",
        "{n, plural, one {x} other {y}}",
        "<b>x</b>",
        "runaway '{ quote",
    ],
)
def test_icu_parser_refuses(text: str) -> None:
    with pytest.raises(icu.IcuError):
        icu.parse(text)


def test_no_text_embeds_the_probes_english_prose() -> None:
    """`detail` is the probe's English sentence: texts show structured values instead."""
    for language in (_strings(), _load(TRANSLATIONS / "zh-Hans.json")):
        embedding = [
            path
            for path, text in _leaves(language)
            if isinstance(text, str) and "detail" in icu.arguments(text)
        ]
        assert not embedding
