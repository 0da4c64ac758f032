"""Print the PyPI requirements of what scripts/develop loads: HA defaults and config/."""

from __future__ import annotations

import json
from pathlib import Path

from homeassistant import bootstrap, components as ha_components
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPONENTS = Path(ha_components.__file__).parent


def manifest(domain: str) -> dict[str, object]:
    """Return a manifest of HA core or of this project."""
    for folder in (COMPONENTS / domain, ROOT / "custom_components" / domain):
        path = folder / "manifest.json"
        if path.exists():
            return json.loads(path.read_text())  # type: ignore[no-any-return]
    return {}


def configured_domains() -> set[str]:
    """Top-level keys of config/configuration.yaml (HA's own !tags are ignored)."""
    loader = yaml.SafeLoader
    loader.add_multi_constructor("!", lambda _loader, _suffix, _node: None)
    config = yaml.load((ROOT / "config" / "configuration.yaml").read_text(), loader) or {}  # noqa: S506
    return {key.split(" ")[0] for key in config}


def main() -> None:
    """Resolve dependencies through the manifests and print the requirements, once each."""
    pending = set(bootstrap.CORE_INTEGRATIONS) | set(bootstrap.DEFAULT_INTEGRATIONS)
    pending |= configured_domains() | {"tls_health"}
    seen: set[str] = set()
    requirements: set[str] = set()
    while pending:
        domain = pending.pop()
        if domain in seen:
            continue
        seen.add(domain)
        data = manifest(domain)
        requirements.update(data.get("requirements", []))  # type: ignore[arg-type]
        pending.update(data.get("dependencies", []))  # type: ignore[arg-type]
    print("\n".join(sorted(requirements)))


if __name__ == "__main__":
    main()
