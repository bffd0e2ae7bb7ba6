"""WhatsApp templates as the providers list them, read into one neutral shape.

Providers answer with many shapes (Twilio's Content types, Gupshup's JSON-in-strings), and with
fields missing, unknown types or statuses never seen before. Everything is read tolerantly: what
cannot be understood is kept as text for staff to see, never a crash. campaigns.whatsapp stores
what is listed here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

MAX_TEXT = 4096  # WhatsApp's own limit on a template's body; longer is not a template we can show
VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


@dataclass(frozen=True)
class ListedTemplate:
    """One template a provider lists for a channel."""

    provider_id: str  # Twilio's HX... sid, Gupshup's template id
    name: str
    language: str = ""
    category: str = ""  # MARKETING, UTILITY, AUTHENTICATION (as the provider spells it)
    kind: str = ""  # twilio/text, twilio/media, whatsapp/card...; Gupshup's TEXT, IMAGE...
    body: str = ""
    header: dict = field(default_factory=dict)  # {"type": "text", "text": ...} or {"type": "image", "url": ...}
    footer: str = ""
    buttons: list = field(default_factory=list)  # [{"type": "URL", "title": ..., "url": ...}, ...]
    variables: dict = field(default_factory=dict)  # variable name -> sample value
    status: str = ""  # lower case: approved, pending, rejected, paused, disabled, unsubmitted...
    rejection_reason: str = ""


class TemplateListUnavailable(Exception):
    """The provider did not list its templates: ``reason`` in staff words; ``retry_after`` seconds if it said."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


# --- Twilio Content API ----------------------------------------------------------------------------

# The Content types a WhatsApp template can be, in the order we look for the one to show.
TWILIO_TYPES = (
    "whatsapp/card",
    "twilio/card",
    "twilio/call-to-action",
    "twilio/quick-reply",
    "twilio/media",
    "twilio/text",
    "whatsapp/authentication",
    "twilio/list-picker",
    "twilio/location",
    "twilio/catalog",
    "twilio/carousel",
)


def from_twilio(item: object) -> ListedTemplate | None:
    """One entry of Twilio's ContentAndApprovals list; None when it has no sid to send it by."""
    if not isinstance(item, dict) or not text(item.get("sid")):
        return None
    types = item.get("types") if isinstance(item.get("types"), dict) else {}
    kind = next((name for name in TWILIO_TYPES if name in types), next(iter(types), ""))
    content = types.get(kind) if isinstance(types.get(kind), dict) else {}
    approval = twilio_approval(item.get("approval_requests"))
    return ListedTemplate(
        provider_id=text(item.get("sid")),
        name=text(approval.get("name")) or text(item.get("friendly_name")) or text(item.get("sid")),
        language=text(item.get("language")),
        category=text(approval.get("category")),
        kind=text(kind),
        body=text(content.get("body"))[:MAX_TEXT],
        header=_twilio_header(content),
        footer=text(content.get("footer")),
        buttons=[_button(action) for action in _list(content.get("actions"))],
        variables={text(k): text(v) for k, v in (item.get("variables") or {}).items()}
        if isinstance(item.get("variables"), dict)
        else {},
        status=text(approval.get("status")).lower() or "unsubmitted",
        rejection_reason=text(approval.get("rejection_reason")),
    )


def twilio_approval(raw: object) -> dict:
    """approval_requests, flat (the spec's example) or under "whatsapp" (what much client code reads)."""
    if not isinstance(raw, dict):
        return {}
    nested = raw.get("whatsapp")
    return nested if isinstance(nested, dict) else raw


def _twilio_header(content: dict) -> dict:
    media = [text(url) for url in _list(content.get("media")) if text(url)]
    if media:
        return {"type": "media", "url": media[0]}
    heading = text(content.get("header_text")) or text(content.get("title"))
    return {"type": "text", "text": heading} if heading else {}


# --- Gupshup --------------------------------------------------------------------------------------


def from_gupshup(item: object) -> ListedTemplate | None:
    """One entry of Gupshup's template list; its containerMeta and meta are JSON inside strings."""
    if not isinstance(item, dict) or not text(item.get("id")):
        return None
    container = _json_text(item.get("containerMeta"))
    meta = _json_text(item.get("meta"))
    kind = text(item.get("templateType")).upper()
    body = text(item.get("data")) or text(container.get("data"))
    header: dict = {}
    if kind in ("IMAGE", "VIDEO", "DOCUMENT"):
        header = {"type": kind.lower(), "url": text(container.get("mediaUrl") or container.get("sampleMedia"))}
    elif text(container.get("header")):
        header = {"type": "text", "text": text(container.get("header"))}
    samples = _gupshup_samples(text(container.get("sampleText")) or text(meta.get("example")), body)
    return ListedTemplate(
        provider_id=text(item.get("id")),
        name=text(item.get("elementName")) or text(item.get("id")),
        language=text(item.get("languageCode")),
        category=text(item.get("category")),
        kind=kind,
        body=body[:MAX_TEXT],
        header=header,
        footer=text(container.get("footer")),
        buttons=[_button(button) for button in _list(container.get("buttons"))],
        variables=samples,
        status=text(item.get("status")).lower(),
        rejection_reason=text(item.get("reason") or item.get("rejectedReason")),
    )


def _gupshup_samples(sample: str, body: str) -> dict[str, str]:
    """Gupshup's sample is the body with each {{n}} written out in [brackets]: read them back."""
    names = VARIABLE.findall(body)
    values = re.findall(r"\[([^\]]*)\]", sample)
    return {name: (values[index] if index < len(values) else "") for index, name in enumerate(names)}


# --- shared ---------------------------------------------------------------------------------------


def _button(raw: object) -> dict:
    if not isinstance(raw, dict):
        return {"type": "", "title": text(raw)}
    button = {"type": text(raw.get("type")).upper(), "title": text(raw.get("title") or raw.get("text"))}
    for key in ("url", "phone", "phone_number", "code"):
        if text(raw.get(key)):
            button[key.removesuffix("_number")] = text(raw.get(key))
    return button


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def _json_text(value: object) -> dict:
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value) if isinstance(value, str) and value else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def text(value: object) -> str:
    """Any JSON value as text to store and show (numbers and odd types too); NULs dropped."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("\x00", "").strip()
    if isinstance(value, dict | list):
        return json.dumps(value)[:500]
    return str(value)
