"""A strict parser of the ICU MessageFormat subset Home Assistant's texts may use.

The frontend formats every translation with intl-messageformat (formatjs), which parses `{name}`
as an argument even with spaces inside (`{ ssl_fc }`), and `<tag>` as rich-text markup. This
parser follows formatjs on what it accepts and refuses more than it: plural/select/number
arguments, tags, an unmatched `}` and an unclosed quote are errors here, since none of the
project's texts needs them and each usually means a text was meant literally.
"""

from __future__ import annotations

from dataclasses import dataclass
import re

# formatjs: Pattern_White_Space and Pattern_Syntax end an argument name; ASCII is enough here.
NAME = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*")


class IcuError(ValueError):
    """The text is not valid in the subset (or not at all)."""


@dataclass(frozen=True, slots=True)
class Argument:
    """A `{name}` argument."""

    name: str


def parse(message: str) -> list[str | Argument]:
    """Literal pieces and arguments, quotes resolved as formatjs resolves them."""
    parts: list[str | Argument] = []
    literal: list[str] = []
    i = 0
    while i < len(message):
        char = message[i]
        if char == "'":
            following = message[i + 1 : i + 2]
            if following == "'":
                literal.append("'")
                i += 2
                continue
            if following in {"{", "}", "<", ">"}:
                i, quoted = _quoted(message, i + 1)
                literal.append(quoted)
                continue
            literal.append(char)  # an apostrophe in prose, e.g. "Let's"
            i += 1
        elif char == "{":
            if literal:
                parts.append("".join(literal))
                literal = []
            i, argument = _argument(message, i)
            parts.append(argument)
        elif char == "}":
            raise IcuError(f"unmatched }} at {i}")
        elif char == "<" and (message[i + 1 : i + 2].isalpha() or message[i + 1 : i + 2] == "/"):
            raise IcuError(f"rich-text tag at {i}")
        else:
            literal.append(char)
            i += 1
    if literal:
        parts.append("".join(literal))
    return parts


def _argument(message: str, start: int) -> tuple[int, Argument]:
    """The argument opened at `start`, and where it ends."""
    end = message.find("}", start)
    if end < 0:
        raise IcuError(f"unclosed argument at {start}")
    body = message[start + 1 : end]
    if "{" in body:
        raise IcuError(f"nested brace in argument at {start}")
    if "," in body:
        raise IcuError(f"typed argument (plural, select, number, ...) at {start}: {body!r}")
    if (match := NAME.fullmatch(body)) is None:
        raise IcuError(f"invalid argument name at {start}: {body!r}")
    return end + 1, Argument(match.group(1))


def _quoted(message: str, start: int) -> tuple[int, str]:
    """Text from `start` to the closing apostrophe (`''` inside stands for one)."""
    text: list[str] = []
    i = start
    while i < len(message):
        if message[i] == "'":
            if message[i + 1 : i + 2] == "'":
                text.append("'")
                i += 2
                continue
            return i + 1, "".join(text)
        text.append(message[i])
        i += 1
    raise IcuError(f"quote opened at {start - 1} is never closed")


def arguments(message: str) -> set[str]:
    """Names of the arguments of a text."""
    return {part.name for part in parse(message) if isinstance(part, Argument)}


def render(message: str, values: dict[str, str]) -> str:
    """The text as the frontend shows it (before markdown)."""
    return "".join(part if isinstance(part, str) else values[part.name] for part in parse(message))
