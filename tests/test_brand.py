"""Brand images: Home Assistant's sizes and modes, transparent, and what scripts/brand.py draws."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from PIL import Image
import pytest

ROOT = Path(__file__).parent.parent
BRAND = ROOT / "custom_components" / "tls_health" / "brand"
ICONS = {"icon.png": 256, "icon@2x.png": 512, "dark_icon.png": 256, "dark_icon@2x.png": 512}
LOGOS = {"logo.png": 128, "logo@2x.png": 256, "dark_logo.png": 128, "dark_logo@2x.png": 256}


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the conftest fixture: these tests read files and need no `hass`."""


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("brand", ROOT / "scripts" / "brand.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_file_and_nothing_else() -> None:
    assert {path.name for path in BRAND.iterdir()} == set(ICONS) | set(LOGOS)


@pytest.mark.parametrize(("name", "side"), ICONS.items())
def test_icon_is_square(name: str, side: int) -> None:
    with Image.open(BRAND / name) as image:
        assert image.format == "PNG"
        assert image.mode == "RGBA"
        assert image.size == (side, side)


@pytest.mark.parametrize(("name", "height"), LOGOS.items())
def test_logo_is_landscape_with_the_shortest_side_allowed(name: str, height: int) -> None:
    with Image.open(BRAND / name) as image:
        assert image.format == "PNG"
        assert image.mode == "RGBA"
        assert image.height == height
        assert image.width > 2 * height


@pytest.mark.parametrize("name", [*ICONS, *LOGOS])
def test_transparent_background_trimmed(name: str) -> None:
    with Image.open(BRAND / name) as image:
        alpha = image.getchannel("A")
        corners = [
            (0, 0),
            (image.width - 1, 0),
            (0, image.height - 1),
            (image.width - 1, image.height - 1),
        ]
        assert all(alpha.getpixel(corner) == 0 for corner in corners)
        # trimmed: the drawing reaches within 5 % of every edge
        left, top, right, bottom = alpha.getbbox() or (0, 0, 0, 0)
        margin = 0.05 * image.height
        assert left <= margin
        assert top <= margin
        assert image.width - right <= margin
        assert image.height - bottom <= margin


def test_dark_variants_differ_from_light() -> None:
    for name in ("icon.png", "logo.png"):
        with Image.open(BRAND / name) as light, Image.open(BRAND / f"dark_{name}") as dark:
            assert light.tobytes() != dark.tobytes()


def test_script_reproduces_the_files(tmp_path: Path) -> None:
    brand = _script()
    assert brand.differences() == []
    for path in BRAND.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "icon.png").write_bytes((BRAND / "dark_icon.png").read_bytes())
    (tmp_path / "logo@2x.png").unlink()
    assert brand.differences(tmp_path) == ["icon.png", "logo@2x.png"]
