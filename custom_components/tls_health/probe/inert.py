"""Make text that came from the network inert before it is shown, stored or logged."""

from __future__ import annotations

from typing import Final
import unicodedata

MAX_SHOWN: Final = 256
# Control, format (bidi overrides, zero-width), line and paragraph separator characters.
_INVISIBLE: Final = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_WHITESPACE: Final = frozenset("\t\n\r\v\f")
# Texts show network values in code spans; a backtick would end the span, so it becomes a lookalike.
_BACKTICK_LOOKALIKE: Final = "\u02cb"


def inert(value: str, limit: int = MAX_SHOWN) -> str:
    """Return `value` on one line, without invisible characters or backticks, at most `limit` long.

    Shown inside a code span, the result renders as plain text: no link, image, heading or markup.
    """
    cut = len(value) > limit
    shown = []
    for char in value[: limit - 1] if cut else value:
        if char == "`":
            shown.append(_BACKTICK_LOOKALIKE)
        elif char in _WHITESPACE:
            shown.append(" ")
        elif unicodedata.category(char) in _INVISIBLE:
            shown.append("\ufffd")
        else:
            shown.append(char)
    return "".join(shown) + ("\u2026" if cut else "")
