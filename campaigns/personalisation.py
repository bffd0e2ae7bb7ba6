"""Placeholders such as {{ name }} in message text, filled per recipient.

Deliberately tiny (no tags, no filters, no attribute access on objects): staff and API clients
write these, so they must not be able to reach anything but the values we hand in. Compiled once
per distinct text, then rendering is a single regex substitution per message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache

PLACEHOLDER = re.compile(r"{{\s*([A-Za-z_][\w.]*)\s*}}")


@lru_cache(maxsize=256)
def compile_text(text: str) -> Callable[[Mapping[str, object]], str]:
    if "{{" not in text:
        return lambda context: text

    def render(context: Mapping[str, object]) -> str:
        return PLACEHOLDER.sub(lambda match: _lookup(context, match.group(1)), text)

    return render


def _lookup(context: Mapping[str, object], dotted: str) -> str:
    value: object = context
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return ""
        value = value[part]
    return "" if value is None else str(value)


def placeholders(text: str) -> list[str]:
    """The placeholder names a text uses, in order of first appearance."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))


def render(text: str, context: Mapping[str, object]) -> str:
    return compile_text(text)(context)
