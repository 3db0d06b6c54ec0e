"""One-line error messages from pydantic validation, with field paths.

Protocol files and headset profiles report every problem as
``field.path[index]: reason`` so a user can fix a whole file in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required field is missing",
}


def field_path(loc: Sequence[Any]) -> str:
    """``("phases", 1, "duration")`` -> ``"phases[1].duration"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(file)"


def error_lines(exc: ValidationError) -> list[str]:
    """One ``path: reason (got value)`` line per field that failed, first error per field."""
    lines: list[str] = []
    seen: set[str] = set()
    for err in exc.errors():
        path = field_path(err["loc"])
        if path in seen:  # unions report each alternative; the first says enough
            continue
        seen.add(path)
        msg = _MESSAGES.get(err["type"]) or err["msg"].removeprefix("Value error, ")
        msg = msg[0].lower() + msg[1:] if msg else msg
        inp = err.get("input")
        if err["type"] not in _MESSAGES and isinstance(inp, str | int | float | bool):
            msg += f" (got {inp!r})"
        lines.append(f"{path}: {msg}")
    return lines
