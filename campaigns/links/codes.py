"""Short links: an unguessable code per URL of each recipient's message, made in bulk."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field, replace
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.models import Campaign, OutboundMessage, ShortLink
from providers.base import OutgoingMessage

ALPHABET = string.digits + string.ascii_letters  # base62: no character a URL must escape
CODE_LENGTH = 8  # 62**8 is about 2.2e14: a guesser finds one live link in trillions of tries
CODE = re.compile(rf"[0-9A-Za-z]{{{CODE_LENGTH}}}")
# An http(s) address up to white space; punctuation that ends a sentence is not part of it.
URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
TRAILING = ".,;:!?)]}"
INSERT_TRIES = 3  # a code clash is a one-in-trillions event; a fresh set of codes cures it


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def short_url(code: str) -> str:
    return f"{settings.SHORT_LINK_BASE_URL}{code}"


def short_url_length() -> int:
    """How long every short link is, for counting a message's segments before it is sent."""
    return len(short_url("x" * CODE_LENGTH))


def urls_in(text: str) -> list[tuple[int, int]]:
    """Where each http(s) address in ``text`` starts and ends, trailing punctuation left out."""
    spans = []
    for match in URL.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in TRAILING:
            end -= 1
        if end - start > len("https://"):
            spans.append((start, end))
    return spans


def with_short_links(text: str, make_code) -> tuple[str, list[tuple[str, str]]]:
    """``text`` with each address replaced by a short link; the (code, address) pairs made."""
    made: list[tuple[str, str]] = []
    parts: list[str] = []
    at = 0
    for start, end in urls_in(text):
        code = make_code()
        made.append((code, text[start:end]))
        parts += [text[at:start], short_url(code)]
        at = end
    parts.append(text[at:])
    return "".join(parts), made


@dataclass
class LinkBatch:
    """The short links of one batch of campaign messages about to be handed over, saved with one INSERT.

    The send pipeline renders each message, passes it through ``shorten``, and calls ``save``
    before the hand-over keeps the rewritten texts as the messages' bodies (so a retry sends the
    same links). A message whose body was kept already is not shortened again. A WhatsApp
    template's values are shortened too (their media and URL-button values left as written), and
    kept as its sent_template, so a retry sends the same links in them.
    """

    links: list[ShortLink] = field(default_factory=list)

    def shorten(self, message: OutboundMessage, rendered: OutgoingMessage) -> OutgoingMessage:
        campaign: Campaign | None = message.campaign
        if campaign is None or not campaign.track_links:
            return rendered
        made: list[tuple[str, str]] = []
        if not message.body and URL.search(rendered.text):
            text, made = with_short_links(rendered.text, new_code)
            rendered = replace(rendered, text=text)
        if rendered.template and not message.sent_template:  # a retry sends its kept values again
            variables = _shortened_values(rendered.template.get("variables"), made)
            rendered = replace(rendered, template={**rendered.template, "variables": variables})
        if not made:
            return rendered
        now = timezone.now()
        expires = now + timedelta(days=settings.SHORT_LINK_DAYS)
        self.links += [
            ShortLink(
                code=code, message_id=message.pk, campaign_id=campaign.pk, url=url, created_at=now, expires_at=expires
            )
            for code, url in made
        ]
        return rendered

    def save(
        self, outgoing: list[OutgoingMessage], texts: dict[int, str]
    ) -> tuple[list[OutgoingMessage], dict[int, str]]:
        """One INSERT for the batch; the messages and texts to send, with new codes after a clash."""
        for attempt in range(INSERT_TRIES):
            try:
                with transaction.atomic():
                    ShortLink.objects.bulk_create(self.links, batch_size=5000)
                break
            except IntegrityError:
                if attempt == INSERT_TRIES - 1:
                    raise
                outgoing, texts = self._new_codes(outgoing, texts)
        self.links = []
        return outgoing, texts

    def _new_codes(
        self, outgoing: list[OutgoingMessage], texts: dict[int, str]
    ) -> tuple[list[OutgoingMessage], dict[int, str]]:
        renamed: dict[int, dict[str, str]] = {}
        for link in self.links:
            old, link.code = link.code, new_code()
            renamed.setdefault(link.message_id, {})[short_url(old)] = short_url(link.code)

        def renew(message_id: int, text: str) -> str:
            for old, new in renamed.get(message_id, {}).items():
                text = text.replace(old, new)
            return text

        def renewed(message: OutgoingMessage) -> OutgoingMessage:
            if message.id not in renamed:
                return message
            template = message.template
            if template and template.get("variables"):
                template = {**template, "variables": _mapped(template["variables"], lambda t: renew(message.id, t))}
            return replace(message, text=renew(message.id, message.text), template=template)

        outgoing = [renewed(m) for m in outgoing]
        return outgoing, {pk: renew(pk, text) for pk, text in texts.items()}


# A WhatsApp template's values that must reach the provider as written: the header's media (the
# provider fetches it) and a URL button's value (a suffix the template's own address ends with).
KEPT_AS_WRITTEN = {"MEDIA_URL", "Buttons"}


def _shortened_values(values: object, made: list[tuple[str, str]]) -> object:
    """A template's variable values (Twilio's flat, or Gupshup's by part) with each URL in a text
    value a short link; the (code, address) pairs are added to ``made``."""
    if isinstance(values, dict):
        return {
            key: value if key in KEPT_AS_WRITTEN else _shortened_values(value, made) for key, value in values.items()
        }
    if isinstance(values, str) and URL.search(values):
        text, found = with_short_links(values, new_code)
        made += found
        return text
    return values


def _mapped(values: object, change) -> object:
    """``values`` with ``change`` applied to every string in it, however nested."""
    if isinstance(values, dict):
        return {key: _mapped(value, change) for key, value in values.items()}
    return change(values) if isinstance(values, str) else values
