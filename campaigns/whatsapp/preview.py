"""A WhatsApp template as the phone shows it: header (text or media), body, footer and buttons, with
each {{n}} filled with the value sent, and the record a message keeps of what it handed over.

Values come in the stored shape of a provider template (campaigns/admin/template_forms.py):
Twilio's {"1": ..., "2": ...} fill every part; Gupshup's {"MEDIA_URL", "Header", "Body", "Buttons"}
fill each its own. A variable given no value stays {{n}}, so a gap is seen, not hidden.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from campaigns.models import WhatsAppTemplate

NUMBERED = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
GUPSHUP_PARTS = ("Header", "Body", "Buttons")
MEDIA_HEADERS = {"media", "image", "video", "document"}


@dataclass
class PhonePreview:
    header_text: str = ""
    header_media: str = ""  # the media's address, when the header is an image, video or document
    header_kind: str = ""  # text, image, video, document, media
    body: str = ""
    footer: str = ""
    buttons: list[dict] = field(default_factory=list)  # {"title", "url"?}

    def as_text(self) -> str:
        """The preview in a few plain lines, for the message log."""
        lines = []
        if self.header_media:
            lines.append(f"[{self.header_kind or 'media'}: {self.header_media}]")
        if self.header_text:
            lines.append(self.header_text)
        lines.append(self.body)
        if self.footer:
            lines.append(self.footer)
        lines.extend(f"[{b['title']}{' → ' + b['url'] if b.get('url') else ''}]" for b in self.buttons)
        return "\n".join(line for line in lines if line)

    def as_dict(self) -> dict:
        return {**asdict(self), "text": self.as_text()}


def fill(text: str, values: dict) -> str:
    """``text`` with each {{n}} replaced by its value; one without a value left as it is."""

    def value(match: re.Match) -> str:
        found = values.get(match.group(1))
        return match.group(0) if found is None or isinstance(found, dict) else str(found)

    return NUMBERED.sub(value, text or "")


def part_values(variables: object) -> dict[str, dict]:
    """The values for each part (header, body, buttons) and the media address, from either shape."""
    variables = variables if isinstance(variables, dict) else {}
    nested = any(key in variables for key in (*GUPSHUP_PARTS, "MEDIA_URL"))
    if not nested:
        flat = {str(k): v for k, v in variables.items()}
        return {"Header": flat, "Body": flat, "Buttons": flat, "media": ""}
    parts = {name: variables.get(name) if isinstance(variables.get(name), dict) else {} for name in GUPSHUP_PARTS}
    return {**parts, "media": str(variables.get("MEDIA_URL") or "")}


def phone_preview(template: WhatsAppTemplate | None, variables: object, samples: bool = False) -> PhonePreview:
    """How the phone shows ``template`` with these values (``samples``: the template's own samples
    fill what the values leave out, for a preview before any contact is chosen)."""
    if template is None:
        return PhonePreview(body="(this template has not been synced: its text is not known here)")
    values = part_values(variables)
    if samples:
        sample_values = {str(k): v for k, v in (template.variables or {}).items()}
        for part in GUPSHUP_PARTS:
            values[part] = {**sample_values, **{k: v for k, v in values[part].items() if v not in ("", None)}}
    header = template.header if isinstance(template.header, dict) else {}
    kind = str(header.get("type") or "").lower()
    preview = PhonePreview(
        header_kind=kind,
        body=fill(template.body, values["Body"]),
        footer=template.footer,
        buttons=[_button(button, values["Buttons"]) for button in (template.buttons or []) if isinstance(button, dict)],
    )
    if kind in MEDIA_HEADERS:
        preview.header_media = values["media"] or str(header.get("url") or "")
    elif kind == "text":
        preview.header_text = fill(str(header.get("text") or ""), values["Header"])
    return preview


def _button(button: dict, values: dict) -> dict:
    shown = {"title": str(button.get("title") or button.get("type") or "Button")}
    if button.get("url"):
        shown["url"] = fill(str(button["url"]), values)
    return shown


def media_header_rule(template: WhatsAppTemplate) -> str:
    """The media header rule in staff words, or '' when the template has none."""
    header = template.header if isinstance(template.header, dict) else {}
    kind = str(header.get("type") or "").lower()
    if kind not in MEDIA_HEADERS:
        return ""
    what = {"image": "an image", "video": "a video", "document": "a document"}.get(kind, "a picture or file")
    sample = str(header.get("url") or "")
    if template.channel.provider == "gswa":
        example = f" (the approved sample is {sample})" if sample else ""
        return (
            f"It starts with {what}: Gupshup sends the one whose address is in the “Media URL” row below, an "
            f"http or https address Gupshup can fetch{example}. A message template's own media is not sent "
            "with a Gupshup template."
        )
    approved = f" ({sample})" if sample else ""
    return f"It starts with {what} approved with the template{approved}: Twilio sends that one, nothing to fill in."


def sent_record(template: WhatsAppTemplate | None, sent: dict) -> dict:
    """What a message keeps at hand-over: the template's id and name, the values sent, the preview."""
    variables = sent.get("variables") or {}
    return {
        "id": str(sent.get("id") or ""),
        "name": template.name if template else "",
        "language": template.language if template else "",
        "variables": variables,
        "preview": phone_preview(template, variables).as_text() if template else "",
    }


def templates_by_id(channel_id: int, ids: set[str]) -> dict[str, WhatsAppTemplate]:
    """The synced templates of a channel with these provider ids (one query)."""
    if not ids:
        return {}
    found = WhatsAppTemplate.objects.filter(channel_id=channel_id, provider_id__in=list(ids)).select_related("channel")
    return {row.provider_id: row for row in found}


# --- what the campaign form asks for a synced template ----------------------------------------------
# The parts of the form's variable rows (campaigns/admin/template_forms.py spells them the same).
VARIABLE, MEDIA, HEADER, BODY, BUTTONS = "variable", "media", "header", "body", "buttons"


def numbers_in(text: str) -> list[str]:
    return list(dict.fromkeys(NUMBERED.findall(text or "")))


def needed_rows(template: WhatsAppTemplate) -> list[tuple[str, int | None]]:
    """The (part, number) rows the template's variables need, in the order the form lists them."""
    header = template.header if isinstance(template.header, dict) else {}
    header_text = str(header.get("text") or "") if str(header.get("type") or "").lower() == "text" else ""
    button_urls = " ".join(str(b.get("url") or "") for b in template.buttons or [] if isinstance(b, dict))
    if template.channel.provider != "gswa":
        found = numbers_in(header_text) + numbers_in(template.body) + numbers_in(button_urls)
        found += [str(k) for k in (template.variables or {})]
        numbers = sorted({int(n) for n in found if str(n).isdigit()})
        return [(VARIABLE, n) for n in numbers]
    rows: list[tuple[str, int | None]] = []
    if str(header.get("type") or "").lower() in MEDIA_HEADERS:
        rows.append((MEDIA, None))
    for part, text in ((HEADER, header_text), (BODY, template.body), (BUTTONS, button_urls)):
        rows.extend((part, int(n)) for n in sorted({n for n in numbers_in(text) if n.isdigit()}, key=int))
    return rows


def row_label(part: str, number: int | None) -> str:
    if part == MEDIA:
        return "Media URL"
    prefix = "" if part == VARIABLE else part.capitalize() + " "
    return f"{prefix}{{{{{number}}}}}"


def template_rules(template: WhatsAppTemplate) -> list[str]:
    """What staff must know about this template before saving, in their words."""
    rules = []
    rows = needed_rows(template)
    numbered = [row_label(part, n) for part, n in rows if part != MEDIA]
    if numbered:
        rules.append(
            f"It has {len(numbered)} variable{'s' if len(numbered) != 1 else ''} ({', '.join(numbered)}): "
            "give each a row below saying which contact field fills it, or a fixed value."
        )
    else:
        rules.append("It has no variables: every recipient gets the same message.")
    if media := media_header_rule(template):
        rules.append(media)
    if template.channel.provider == "gswa" and any(part == BUTTONS for part, _ in rows):
        rules.append("Gupshup fills the Header values first, then the Body's, then the Buttons': keep their numbers.")
    return rules


GUPSHUP_KEYS = {HEADER: "Header", BODY: "Body", BUTTONS: "Buttons"}


def provider_variables(template: WhatsAppTemplate, values: dict[tuple[str, int | None], str]) -> dict:
    """Values for the template's rows in the shape its provider takes (Twilio flat, Gupshup by part)."""
    if template.channel.provider != "gswa":
        return {str(number): value for (_, number), value in sorted(values.items(), key=lambda item: item[0][1] or 0)}
    variables: dict = {}
    for (part, number), value in values.items():
        if part == MEDIA:
            variables["MEDIA_URL"] = value
        else:
            variables.setdefault(GUPSHUP_KEYS[part], {})[str(number)] = value
    return variables


def sample_for(template: WhatsAppTemplate, part: str, number: int | None) -> str:
    """The template's own sample for a row: its media header's address, or the variable's sample value."""
    if part == MEDIA:
        header = template.header if isinstance(template.header, dict) else {}
        return str(header.get("url") or "")
    return str((template.variables or {}).get(str(number)) or "")
