"""Write translations/en.json from strings.json, resolving `[%key:...%]` references.

Home Assistant resolves these references when it builds core; a custom integration ships the
resolved English file itself. `common::` keys come from Home Assistant's own strings.json.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
import sys
from typing import Any

import homeassistant

COMPONENT = Path(__file__).parent.parent / "custom_components" / "tls_health"
REFERENCE = re.compile(r"\[%key:([a-z0-9_:]+)%\]")


def _lookup(path: str, strings: dict[str, Any], common: dict[str, Any]) -> str:
    parts = path.split("::")
    if parts[:2] == ["component", "tls_health"]:
        node: Any = strings
        parts = parts[2:]
    else:
        node = common
    for part in parts:
        node = node[part]
    if not isinstance(node, str):
        raise TypeError(path)
    return node


def resolve(strings: dict[str, Any], common: dict[str, Any]) -> dict[str, Any]:
    """Return strings with every reference replaced by the text it names (resolved too)."""

    def text(value: str, depth: int = 0) -> str:
        if depth > 5:  # noqa: PLR2004
            raise ValueError(f"reference loop at {value}")
        return REFERENCE.sub(
            lambda match: text(_lookup(match[1], strings, common), depth + 1), value
        )

    def walk(node: object) -> object:
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        return text(node) if isinstance(node, str) else node

    return {key: walk(value) for key, value in strings.items()}


def home_assistant_strings() -> dict[str, Any]:
    """Home Assistant's own strings.json, with its `common` texts."""
    path = Path(homeassistant.__file__).parent / "strings.json"
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def main() -> int:
    """Write translations/en.json; exit 1 when it changed and --check was given."""
    strings = json.loads((COMPONENT / "strings.json").read_text(encoding="utf-8"))
    english = json.dumps(resolve(strings, home_assistant_strings()), indent=2, ensure_ascii=False)
    target = COMPONENT / "translations" / "en.json"
    if "--check" in sys.argv[1:]:
        return 0 if target.read_text(encoding="utf-8") == english + "\n" else 1
    target.write_text(english + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
