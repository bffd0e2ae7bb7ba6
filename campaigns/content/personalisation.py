"""Placeholders such as {{ name }} in message text, filled per recipient.

A small subset of Django's template syntax, compiled by hand: ``{{ field }}``, ``{{ a.b }}`` and
``{{ field|default:"text" }}``; no tags, no other filters, no attribute access on objects. Staff and
API clients write these, so they must reach nothing but the values we hand in, and SMS text is
never HTML-escaped (an "&" stays an "&"). Django's Template would do both jobs with autoescape off,
but renders three to ten times slower (bench/render.py), and the pipeline renders every message.

Compile once per text (``compile_text`` caches), then each message is a handful of dict lookups
and one ``str.format``. A placeholder the recipient has no value for renders as its default, or
empty; ``missing`` says up front which ones those are, so staff learn it before sending.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

# Anything between {{ and }}; what is inside is then read by PLACEHOLDER or reported.
TAG = re.compile(r"{{(.*?)}}", re.DOTALL)
BLOCK_TAG = re.compile(r"{%.*?%}", re.DOTALL)
PLACEHOLDER = re.compile(
    r"""\s*(?P<name>[A-Za-z_]\w*(?:\.\w+)*)\s*
        (?:\|\s*default\s*:\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>-?\d+(?:\.\d+)?))\s*)?$""",
    re.VERBOSE | re.ASCII,  # ASCII names, as the browser's twin (static/js/template_editor.js) reads them
)
# The fields every recipient has, besides their contact's extra fields.
BUILT_IN_FIELDS = ("name", "first_name", "phone")


@dataclass(frozen=True)
class Placeholder:
    """One {{ ... }} in a text: the field it reads, and what to put when the recipient has none."""

    name: str
    default: str | None = None
    source: str = ""  # as written, e.g. '{{ city|default:"there" }}'

    def value(self, context: Mapping[str, object]) -> str:
        found = _lookup(context, self.name)
        if found is None:
            return self.default or ""
        return found


def _lookup(context: Mapping[str, object], dotted: str) -> str | None:
    """The field's value as text, or None when the recipient has none (absent, null or blank)."""
    value: object = context
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    # A blank value counts as none so the default applies; 0 is a value (Django's default would
    # replace it, which is wrong for "you have {{ points }} points").
    return text if text.strip() else None


class CompiledText:
    """A message text read once, ready to render for many recipients."""

    __slots__ = ("_format", "_simple", "placeholders", "problems", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        pieces: list[str] = []
        found: list[Placeholder] = []
        problems: list[str] = []
        position = 0
        for match in TAG.finditer(text):
            pieces.append(_escape_braces(text[position : match.start()]))
            placeholder = _read_placeholder(match.group(0), match.group(1))
            if placeholder is None:
                problems.append(_tag_problem(match.group(0)))
                pieces.append(_escape_braces(match.group(0)))  # left as written, visibly
            else:
                pieces.append(f"{{{len(found)}}}")
                found.append(placeholder)
            position = match.end()
        pieces.append(_escape_braces(text[position:]))
        problems.extend(
            f"{tag.group(0)}: tags are not supported, only placeholders such as {{{{ name }}}}."
            for tag in BLOCK_TAG.finditer(text)
        )
        self.placeholders: tuple[Placeholder, ...] = tuple(found)
        self.problems: tuple[str, ...] = tuple(problems)
        self._format = "".join(pieces).format
        # Plain names with no default (the usual case) skip the Placeholder method call.
        self._simple = tuple((p.name, p.default or "") if "." not in p.name else None for p in self.placeholders)

    def render(self, context: Mapping[str, object]) -> str:
        """The text with this recipient's values in place (never HTML-escaped)."""
        if not self.placeholders:
            return self.text
        values = []
        get = context.get
        for simple, placeholder in zip(self._simple, self.placeholders, strict=True):
            if simple is None:
                values.append(placeholder.value(context))
                continue
            value = get(simple[0])
            if value is None:
                values.append(simple[1])
            elif type(value) is str:
                values.append(value if value.strip() else simple[1])
            else:
                text = str(value)
                values.append(text if text.strip() else simple[1])
        return self._format(*values)

    __call__ = render

    @property
    def names(self) -> list[str]:
        """The fields the text reads, in order of first appearance."""
        return list(dict.fromkeys(p.name for p in self.placeholders))

    def missing(self, context: Mapping[str, object]) -> list[str]:
        """Fields the text needs that this recipient has no value for and that have no default."""
        lacking = [p.name for p in self.placeholders if p.default is None and _lookup(context, p.name) is None]
        return list(dict.fromkeys(lacking))

    def unknown(self, known_fields: Iterable[str]) -> list[str]:
        """Fields the text reads that no recipient has at all (a typo such as {{ frist_name }})."""
        known = set(known_fields)
        return [name for name in self.names if name.split(".", 1)[0] not in known]

    def __repr__(self) -> str:
        return f"CompiledText({self.text[:40]!r})"


def _escape_braces(literal: str) -> str:
    return literal.replace("{", "{{").replace("}", "}}")


def _read_placeholder(source: str, inside: str) -> Placeholder | None:
    match = PLACEHOLDER.match(inside)
    if match is None:
        return None
    default = match.group("dq")
    if default is None:
        default = match.group("sq")
    if default is None:
        default = match.group("bare")
    return Placeholder(match.group("name"), default, source)


def _tag_problem(source: str) -> str:
    inside = source[2:-2].strip()
    if not inside:
        return f"{source}: an empty placeholder; write a field name such as {{{{ name }}}}."
    if "|" in inside:
        return (
            f"{source}: only the default filter is supported, with the text in quotes, "
            f'e.g. {{{{ city|default:"there" }}}}.'
        )
    return f"{source}: not a field name; use plain letters (a-z), digits and _ such as {{{{ first_name }}}}."


@lru_cache(maxsize=512)
def compile_text(text: str) -> CompiledText:
    """The compiled form of a text, shared by every caller that renders the same text."""
    return CompiledText(text)


def render(text: str, context: Mapping[str, object]) -> str:
    return compile_text(text).render(context)


def placeholders(text: str) -> list[str]:
    """The field names a text uses, in order of first appearance."""
    return compile_text(text).names


def missing_fields(text: str, context: Mapping[str, object]) -> list[str]:
    """The fields a text needs that this recipient lacks (no value and no default)."""
    return compile_text(text).missing(context)


def first_name(name: str) -> str:
    words = name.split()
    return words[0] if words else ""


def recipient_context(
    phone: str = "",
    name: str = "",
    extra_fields: Mapping[str, object] | None = None,
    variables: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The values one recipient's message can use: phone, name, first_name and any extra field.

    ``variables`` (given with the message, e.g. by the bulk API) win over the contact's own values.
    first_name comes from the name unless given on its own.
    """
    context: dict[str, object] = {"phone": phone}
    context.update(extra_fields or {})
    context["name"] = name
    context.update(variables or {})
    if not str(context.get("first_name") or "").strip():
        context["first_name"] = first_name(str(context.get("name") or ""))
    return context


def contact_context(contact, variables: Mapping[str, object] | None = None, phone: str = "") -> dict[str, object]:
    """recipient_context for a Contact (or None: only the phone and the variables are known)."""
    if contact is None:
        return recipient_context(phone=phone, variables=variables)
    return recipient_context(
        phone=phone or contact.phone, name=contact.name, extra_fields=contact.extra_fields, variables=variables
    )


def message_context(message) -> dict[str, object]:
    """The values one OutboundMessage's text is rendered with: its contact's, then its own variables."""
    return contact_context(message.contact, variables=message.variables, phone=message.to)


def message_text(message) -> str:
    """The text of one OutboundMessage as its recipient gets (or got) it.

    A campaign message keeps the text it was sent with as its body (campaigns/pipeline/sending.py,
    hand_over): that is shown as it is. Until then it is the campaign's text filled in now.
    """
    campaign = message.campaign_id is not None and message.campaign
    if campaign and message.body:
        return message.body
    text = message.body or (campaign.message_text() if campaign else "")
    return render(text, message_context(message))
