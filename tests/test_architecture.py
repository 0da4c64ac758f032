"""The layers stay apart: the probe engine knows nothing of Home Assistant, and the HA layer
uses only the engine's public API."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

COMPONENT = Path(__file__).parent.parent / "custom_components" / "tls_health"
PROBE = COMPONENT / "probe"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the conftest fixture: these tests read files and need no `hass`."""


def _imports(path: Path) -> list[tuple[int, str]]:
    """(level, module) of every import: level 0 is absolute, 1 is `.`, 2 is `..`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def test_probe_engine_imports_no_home_assistant() -> None:
    wrong = {
        f"{path.name}: {module}"
        for path in PROBE.glob("*.py")
        for level, module in _imports(path)
        if (level == 0 and module.split(".")[0] in {"homeassistant", "custom_components"})
        or level > 1
    }
    assert not wrong


def test_home_assistant_layer_uses_the_probe_api_only() -> None:
    wrong = {
        f"{path.name}: .{module}"
        for path in COMPONENT.glob("*.py")
        for level, module in _imports(path)
        if level == 1 and module.startswith("probe.")
    }
    assert not wrong, "import from .probe (its __init__), not from its modules"


def test_nothing_imports_the_config_flow() -> None:
    wrong = {
        path.name
        for path in COMPONENT.rglob("*.py")
        for level, module in _imports(path)
        if (level, module) == (1, "config_flow")
    }
    assert not wrong
