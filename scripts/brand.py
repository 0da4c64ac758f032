#!/usr/bin/env python3
"""Draw TLS Health's brand images: a padlock whose body carries a heartbeat line.

Everything is geometry in this file (no font, no bitmap source), drawn at four times the size and
scaled down, so the same Pillow draws the same pixels. Writes custom_components/tls_health/brand/;
`--check` compares the files with a fresh drawing and exits 1 when they differ.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
import io
import itertools
import math
from pathlib import Path
import sys

from PIL import Image, ImageDraw

BRAND = Path(__file__).resolve().parent.parent / "custom_components" / "tls_health" / "brand"
SUPERSAMPLE = 4

type Point = tuple[float, float]
type Stroke = Sequence[Point]
type Color = tuple[int, int, int, int]

BODY: Color = (11, 143, 172, 255)  # teal blue
PULSE: Color = (255, 255, 255, 255)
# (shackle, lettering) on a light and on a dark background
LIGHT: tuple[Color, Color] = ((55, 71, 79, 255), (38, 50, 56, 255))
DARK: tuple[Color, Color] = ((176, 190, 197, 255), (236, 239, 241, 255))


def _angles(start: float, end: float, steps: int = 48) -> list[float]:
    return [math.radians(start + (end - start) * i / steps) for i in range(steps + 1)]


def arc(cx: float, cy: float, r: float, start: float, end: float) -> list[Point]:
    """Points along a circle, angles in degrees, counter-clockwise with y pointing up."""
    return [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in _angles(start, end)]


# Lettering: strokes in a box whose cap height is 1 (y up, baseline 0), and each glyph's advance.
GLYPHS: dict[str, tuple[float, list[Stroke]]] = {
    "T": (0.72, [[(0, 1), (0.72, 1)], [(0.36, 1), (0.36, 0)]]),
    "L": (0.56, [[(0, 1), (0, 0), (0.56, 0)]]),
    "S": (0.6, [arc(0.3, 0.75, 0.25, 20, 270) + arc(0.3, 0.25, 0.25, 90, -160)[1:]]),
    "H": (0.68, [[(0, 0), (0, 1)], [(0.68, 0), (0.68, 1)], [(0, 0.5), (0.68, 0.5)]]),
    "e": (0.62, [[(0.01, 0.34), (0.61, 0.34), *arc(0.31, 0.34, 0.3, 0, 315)[1:]]]),
    "a": (0.6, [arc(0.3, 0.34, 0.3, 0, 360), [(0.6, 0.68), (0.6, 0)]]),
    "l": (0.0, [[(0, 0), (0, 1.05)]]),
    "t": (
        0.42,
        [
            [(0.14, 0.98), (0.14, 0.12), *arc(0.3, 0.12, 0.16, 180, 300)[1:]],
            [(0, 0.68), (0.42, 0.68)],
        ],
    ),
    "h": (0.58, [[(0, 0), (0, 1.05)], [(0, 0.4), *arc(0.29, 0.4, 0.29, 180, 0)[1:], (0.58, 0)]]),
    " ": (0.1, []),
}
LETTER_GAP = 0.28  # between glyphs, in cap heights
WORDMARK = "TLS Health"


def polyline(draw: ImageDraw.ImageDraw, points: Iterable[Point], width: float, fill: Color) -> None:
    """Draw a stroke with round caps and joins."""
    pts = list(points)
    radius = width / 2
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        length = math.hypot(x1 - x0, y1 - y0) or 1
        dx, dy = (y0 - y1) / length * radius, (x1 - x0) / length * radius
        draw.polygon(
            [(x0 + dx, y0 + dy), (x1 + dx, y1 + dy), (x1 - dx, y1 - dy), (x0 - dx, y0 - dy)],
            fill=fill,
        )
    for x, y in pts:
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=fill)


def padlock(
    draw: ImageDraw.ImageDraw, left: float, top: float, size: float, shackle: Color
) -> None:
    """Draw the icon in a size x size square at (left, top), y pointing down."""

    def at(x: float, y: float) -> Point:
        return (left + x * size, top + y * size)

    # Shackle: a U of thick stroke, its legs entering the body.
    stroke = 0.11 * size
    cx, cy, r = 0.5, 0.33, 0.235
    top_arc = [at(cx + r * math.cos(a), cy - r * math.sin(a)) for a in _angles(180, 0)]
    polyline(draw, [at(cx - r, 0.52), *top_arc, at(cx + r, 0.52)], stroke, shackle)
    # Body: a rounded rectangle filling the lower part of the square.
    x0, y0 = at(0.03, 0.44)
    x1, y1 = at(0.97, 1.0)
    draw.rounded_rectangle((x0, y0, x1, y1), radius=0.12 * size, fill=BODY)
    # Heartbeat across the body.
    beat = [
        (0.16, 0.73),
        (0.36, 0.73),
        (0.43, 0.62),
        (0.52, 0.9),
        (0.6, 0.55),
        (0.67, 0.73),
        (0.84, 0.73),
    ]
    polyline(draw, [at(x, y) for x, y in beat], 0.075 * size, PULSE)


def wordmark_width(cap: float) -> float:
    """Width of the lettering at a cap height, without the outer stroke caps."""
    advances = [GLYPHS[char][0] for char in WORDMARK]
    return cap * (sum(advances) + LETTER_GAP * (len(advances) - 1))


def lettering(
    draw: ImageDraw.ImageDraw, left: float, baseline: float, cap: float, fill: Color
) -> None:
    """WORDMARK with its baseline at `baseline`, y pointing down."""
    x = left
    for char in WORDMARK:
        advance, strokes = GLYPHS[char]
        for stroke in strokes:
            polyline(
                draw, [(x + px * cap, baseline - py * cap) for px, py in stroke], 0.15 * cap, fill
            )
        x += (advance + LETTER_GAP) * cap


def _finish(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return image.resize(size, Image.Resampling.LANCZOS)


def icon(size: int, *, dark: bool) -> Image.Image:
    """Square icon, transparent around the padlock."""
    big = size * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    padlock(ImageDraw.Draw(image), 0, 0, big, (DARK if dark else LIGHT)[0])
    return _finish(image, (size, size))


def logo(height: int, *, dark: bool) -> Image.Image:
    """Draw the padlock and the lettering side by side, trimmed to them."""
    shackle, ink = DARK if dark else LIGHT
    big = height * SUPERSAMPLE
    cap = 0.5 * big
    stroke = 0.15 * cap
    text_left = big * 1.14 + stroke / 2
    width = math.ceil((text_left + wordmark_width(cap) + stroke / 2) / SUPERSAMPLE)
    image = Image.new("RGBA", (width * SUPERSAMPLE, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    padlock(draw, 0, 0, big, shackle)
    lettering(draw, text_left, big * 0.75, cap, ink)
    return _finish(image, (width, height))


def images() -> dict[str, Image.Image]:
    """Every brand file by name (sizes per Home Assistant's brand image rules)."""
    drawn: dict[str, Image.Image] = {}
    for prefix, dark in (("", False), ("dark_", True)):
        drawn[f"{prefix}icon.png"] = icon(256, dark=dark)
        drawn[f"{prefix}icon@2x.png"] = icon(512, dark=dark)
        drawn[f"{prefix}logo.png"] = logo(128, dark=dark)
        drawn[f"{prefix}logo@2x.png"] = logo(256, dark=dark)
    return drawn


def png(image: Image.Image) -> bytes:
    """Losslessly compressed PNG without metadata."""
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def differences(folder: Path = BRAND) -> list[str]:
    """Names whose file is missing or whose pixels differ from a fresh drawing."""
    wrong = []
    for name, image in images().items():
        path = folder / name
        if not path.is_file():
            wrong.append(name)
            continue
        with Image.open(path) as stored:
            if stored.size != image.size or stored.convert("RGBA").tobytes() != image.tobytes():
                wrong.append(name)
    return wrong


def main(argv: Sequence[str]) -> int:
    """Write the images, or with --check compare them."""
    if "--check" in argv:
        if wrong := differences():
            print(f"out of date (run scripts/brand.py): {', '.join(wrong)}")
            return 1
        return 0
    BRAND.mkdir(exist_ok=True)
    for name, image in images().items():
        (BRAND / name).write_bytes(png(image))
        print(f"{BRAND / name}: {image.size[0]}x{image.size[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
