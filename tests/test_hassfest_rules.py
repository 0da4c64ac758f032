"""The rules Home Assistant's hassfest applies to an integration's strings and repository layout.

hassfest itself lives in Home Assistant core's repository, not in the `homeassistant` package, so
its translation rules are restated here: keys of entity states, attributes, services and their
fields are lowercase letters, digits, `-` and `_` (not first, not last, never doubled); platform
and exception keys are slugs; every text is free of HTML, of placeholders in single quotes, of
leading or trailing spaces and of references mixed with text; a data description belongs to a
field of its step; a repair has a title and either a description or a fix flow.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path
import re
import shutil
import subprocess
from typing import Any

from homeassistant.helpers import config_validation as cv
import probatio as vol
import pytest
import yaml

ROOT = Path(__file__).parent.parent
COMPONENT = ROOT / "custom_components" / "tls_health"
FILES = [COMPONENT / "strings.json", COMPONENT / "translations" / "en.json"]
TRANSLATION_KEY = re.compile(r"^(?!.+[_-]{2})(?![_-])[a-z0-9-_]+(?<![_-])$")
PLACEHOLDER_IN_SINGLE_QUOTES = re.compile(r"'{\w+}'")
COMBINED_REFERENCE = re.compile(r"(.+\[%)|(%\].+)")


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the conftest fixture: these tests read files and need no `hass`."""


def _leaves(tree: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            yield from _leaves(value, path)
        else:
            yield path, value


def _keys(strings: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(kind, path, key) of every key hassfest validates: kind is `translation_key` or `slug`."""
    for platform, entities in strings.get("entity", {}).items():
        yield "slug", f"entity.{platform}", platform
        for key, entity in entities.items():
            yield "translation_key", f"entity.{platform}.{key}", key
            for state in entity.get("state", {}):
                yield "translation_key", f"entity.{platform}.{key}.state", state
            for attribute, spec in entity.get("state_attributes", {}).items():
                yield "translation_key", f"entity.{platform}.{key}.state_attributes", attribute
                for state in spec.get("state", {}):
                    yield "translation_key", f"entity.{platform}.{key}.state_attributes", state
    for service, spec in strings.get("services", {}).items():
        yield "translation_key", "services", service
        for field in spec.get("fields", {}):
            yield "translation_key", f"services.{service}.fields", field
    for key in strings.get("exceptions", {}):
        yield "slug", "exceptions", key
    for selector, spec in strings.get("selector", {}).items():
        yield "slug", "selector", selector
        for option in spec.get("options", {}):
            yield "translation_key", f"selector.{selector}.options", option


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_keys(path: Path) -> None:
    strings = json.loads(path.read_text(encoding="utf-8"))
    wrong = []
    for kind, where, key in _keys(strings):
        if kind == "translation_key" and not TRANSLATION_KEY.match(key):
            wrong.append(f"{where}: {key}")
        elif kind == "slug":
            try:
                cv.slug(key)
            except vol.Invalid:
                wrong.append(f"{where}: {key}")
    assert not wrong, f"keys hassfest refuses: {wrong}"


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_values(path: Path) -> None:
    strings = json.loads(path.read_text(encoding="utf-8"))
    wrong = {}
    for where, text in _leaves(strings):
        try:
            cv.string_with_no_html(text)
        except vol.Invalid as err:
            wrong[where] = str(err)
            continue
        if PLACEHOLDER_IN_SINGLE_QUOTES.search(text):
            wrong[where] = "placeholder in single quotes"
        elif COMBINED_REFERENCE.search(text):
            wrong[where] = "reference combined with text"
        elif text != text.strip():
            wrong[where] = "leading or trailing space"
    assert not wrong, f"texts hassfest refuses: {wrong}"


def test_data_descriptions_describe_fields_of_their_step() -> None:
    strings = json.loads((COMPONENT / "strings.json").read_text(encoding="utf-8"))
    flows = [strings["config"], strings["options"]]
    flows += [issue["fix_flow"] for issue in strings["issues"].values() if "fix_flow" in issue]
    wrong = [
        f"{step_id}: {key}"
        for flow in flows
        for step_id, step in flow["step"].items()
        for key in step.get("data_description", {})
        if key not in step.get("data", {})
    ]
    assert not wrong, f"data_description without a field: {wrong}"


def test_repairs_have_a_title_and_a_description_or_a_fix_flow() -> None:
    strings = json.loads((COMPONENT / "strings.json").read_text(encoding="utf-8"))
    wrong = [
        key
        for key, issue in strings["issues"].items()
        if "title" not in issue or ("description" in issue) == ("fix_flow" in issue)
    ]
    assert not wrong, wrong


def test_only_the_integration_has_a_manifest() -> None:
    """hassfest's action validates every manifest.json of the repository as an integration."""
    git = shutil.which("git")
    assert git is not None
    tracked = subprocess.run(  # noqa: S603 (git with fixed arguments)
        [git, "ls-files", "--cached", "--others", "--exclude-standard", "*manifest.json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert tracked == ["custom_components/tls_health/manifest.json"]


# hassfest's quality scale rules (script/hassfest/quality_scale.py), Bronze to Platinum.
QUALITY_SCALE_RULES = frozenset(
    [
        "action-setup",
        "appropriate-polling",
        "brands",
        "common-modules",
        "config-flow",
        "config-flow-test-coverage",
        "dependency-transparency",
        "docs-actions",
        "docs-conditions",
        "docs-high-level-description",
        "docs-installation-instructions",
        "docs-removal-instructions",
        "docs-triggers",
        "entity-event-setup",
        "entity-unique-id",
        "has-entity-name",
        "runtime-data",
        "test-before-configure",
        "test-before-setup",
        "unique-config-entry",
        "action-exceptions",
        "config-entry-unloading",
        "docs-configuration-parameters",
        "docs-installation-parameters",
        "entity-unavailable",
        "integration-owner",
        "log-when-unavailable",
        "parallel-updates",
        "reauthentication-flow",
        "test-coverage",
        "devices",
        "diagnostics",
        "discovery",
        "discovery-update-info",
        "docs-data-update",
        "docs-examples",
        "docs-known-limitations",
        "docs-supported-devices",
        "docs-supported-functions",
        "docs-troubleshooting",
        "docs-use-cases",
        "dynamic-devices",
        "entity-category",
        "entity-device-class",
        "entity-disabled-by-default",
        "entity-translations",
        "exception-translations",
        "icon-translations",
        "reconfiguration-flow",
        "repair-issues",
        "stale-devices",
        "async-dependency",
        "inject-websession",
        "strict-typing",
    ]
)


def test_quality_scale_lists_every_rule_with_a_status() -> None:
    rules = yaml.safe_load((COMPONENT / "quality_scale.yaml").read_text(encoding="utf-8"))["rules"]
    assert set(rules) == QUALITY_SCALE_RULES
    for name, rule in rules.items():
        status = rule if isinstance(rule, str) else rule["status"]
        assert status in {"done", "todo", "exempt"}, name
        if status == "exempt":
            assert rule.get("comment"), f"{name}: an exemption needs its reason"
