"""What staff see before a campaign goes out: its audience, missing data, cost, and what blocks it.

Every figure is counted in the database with the fan-out's own rules (Campaign.audience_contacts),
so the number on the page is the number of messages that will go. Problems are explained here,
in words, rather than discovered by failed messages afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Exists, OuterRef, Q
from django.db.models.fields.json import KT
from django.db.models.functions import Trim
from django.utils import timezone

from campaigns import variants
from campaigns.content.personalisation import compile_text
from campaigns.content.segments import count_segments
from campaigns.conversations.window import FREE_TEXT_WINDOW, keeps_window
from campaigns.links import CODE_LENGTH, with_short_links
from campaigns.models import Campaign, Conversation
from campaigns.whatsapp.checks import template_refusal
from contacts.models import ListMembership
from providers.base import MessageRefused
from providers.registry import provider_for

SAMPLE_SIZE = 200  # recipients rendered to estimate segments


@dataclass
class Placeholder:
    name: str
    default: str | None
    missing: int = 0  # recipients who have no value for it

    @property
    def fallback(self) -> str:
        """What a recipient without the value gets, in words."""
        return f'"{self.default}"' if self.default else "nothing (an empty gap)"


@dataclass
class Report:
    audience: int = 0  # messages that will go
    people: int = 0  # distinct reachable contacts among them
    opted_out: int = 0
    excluded: int = 0
    placeholders: list[Placeholder] = field(default_factory=list)
    encoding: str = ""
    segments_per_message: float = 0.0
    segments_total: int = 0
    price_per_segment: Decimal = Decimal(0)
    problems: list[str] = field(default_factory=list)
    # Free-form WhatsApp only: recipients who wrote to the channel within 24 hours, and the rest
    # (None when the rule does not apply: SMS, or a template).
    window_open: int | None = None
    window_closed: int | None = None

    @property
    def estimated_cost(self) -> Decimal:
        return (self.price_per_segment * self.segments_total).quantize(Decimal("0.01"))

    @property
    def ready(self) -> bool:
        return not self.problems


def placeholders_in(text: str) -> list[Placeholder]:
    """The fields a text reads (the top-level field of a dotted one), each with its default."""
    found: dict[str, Placeholder] = {}
    for placeholder in compile_text(text).placeholders:
        name = placeholder.name.split(".", 1)[0]
        found.setdefault(name, Placeholder(name, placeholder.default))
    return list(found.values())


def text_problems(campaign: Campaign) -> list[str]:
    """Placeholders written so they cannot work, e.g. {{ first name }} (the renderer's words)."""
    return [problem for text in texts_of(campaign) for problem in compile_text(text).problems]


def texts_of(campaign: Campaign) -> list[str]:
    """Every text personalised per recipient: the body and a provider template's variable values."""
    texts = []
    for content in [campaign, *(campaign.variants.all() if campaign.pk else [])]:  # and each A/B variant's
        texts.append(content.message_text())
        template = content.message_provider_template() or {}
        texts.extend(_strings(template.get("variables") or {}))
    return [text for text in texts if text]


def _strings(values: object) -> list[str]:
    if isinstance(values, dict):
        return [text for value in values.values() for text in _strings(value)]
    return [values] if isinstance(values, str) else []


def report(campaign: Campaign, at: datetime | None = None) -> Report:
    """The pre-launch panel's figures and the problems that block launching (``at``: the chosen time)."""
    result = Report(price_per_segment=campaign.channel.price_per_segment)
    result.problems = list(campaign.problems_before_launch()) + text_problems(campaign)
    has_lists = campaign.pk is not None and campaign.lists.exists()
    if has_lists:
        count_audience(campaign, result)
        count_missing(campaign, result)
        estimate_segments(campaign, result)
    if has_lists and result.audience == 0:
        result.problems.append("Its audience is empty: every contact in its lists opted out or is left out.")
    for placeholder in result.placeholders:
        if result.people and placeholder.missing == result.people and placeholder.default is None:
            result.problems.append(
                f"No recipient has a value for {{{{ {placeholder.name} }}}}: fix the field name, or give it a "
                f'default such as {{{{ {placeholder.name}|default:"there" }}}}.'
            )
    if at is not None and at < timezone.now() and campaign.status == Campaign.Status.DRAFT:
        result.problems.append("Its scheduled time has passed: choose a later time, or launch it now.")
    if has_lists and free_form_whatsapp(campaign):
        count_window(campaign, result)
    refusal = channel_refusal(campaign, result if result.window_closed is not None else None)
    if refusal:
        result.problems.append(refusal)
    return result


def count_audience(campaign: Campaign, result: Report) -> None:
    """Messages that will go (distinct numbers, or one per list membership when duplicates are
    allowed), and how many contacts of the lists are left out and why."""
    from contacts.models import Contact

    audience = campaign.audience_contacts()
    reachable = audience.reachable()
    result.people = reachable.distinct().count()
    if campaign.duplicates_allowed:
        memberships = ListMembership.objects.filter(contact_list__campaigns=campaign, contact__in=reachable)
        result.audience = memberships.count()
    else:
        result.audience = result.people
    result.opted_out = audience.suppressed().distinct().count()
    in_lists = Contact.objects.filter(memberships__contact_list__campaigns=campaign)
    result.excluded = in_lists.filter(memberships__contact_list__excluded_from_campaigns=campaign).distinct().count()


def count_missing(campaign: Campaign, result: Report) -> None:
    """For each placeholder, how many reachable recipients have no value for it (one COUNT each)."""
    reachable = campaign.audience_contacts().reachable().distinct()
    seen: set[str] = set()
    for text in texts_of(campaign):
        for placeholder in placeholders_in(text):
            if placeholder.name in seen:
                continue
            seen.add(placeholder.name)
            result.placeholders.append(placeholder)
            placeholder.missing = lacking(reachable, placeholder.name).count()


def lacking(contacts, name: str):
    """Those of ``contacts`` with no value (absent, null or blank) for a placeholder."""
    if name == "phone":
        return contacts.none()
    source = "name" if name in ("name", "first_name") else KT(f"extra_fields__{name}")
    return contacts.alias(placeholder_value=Trim(source)).filter(
        Q(placeholder_value__isnull=True) | Q(placeholder_value="")
    )


def estimate_segments(campaign: Campaign, result: Report) -> None:
    """Segments per message, averaged over a sample of real recipients' rendered texts."""
    from campaigns.pipeline.sending import render_message

    sample = campaign.audience_contacts().reachable().distinct().order_by("id")[:SAMPLE_SIZE]
    counts = [
        segments_of(as_sent(campaign, render_message(preview_message(campaign, contact)).text)) for contact in sample
    ]
    if not counts:
        return
    result.encoding = "UCS-2" if any(encoding == "UCS-2" for encoding, _ in counts) else "GSM-7"
    result.segments_per_message = sum(segments for _, segments in counts) / len(counts)
    result.segments_total = round(result.segments_per_message * result.audience)


def as_sent(campaign: Campaign, text: str) -> str:
    """``text`` as its recipient gets it: each URL a short link when the campaign tracks links, and
    the segments counted are the short link's, not the original address's."""
    if not campaign.track_links:
        return text
    return with_short_links(text, lambda: "0" * CODE_LENGTH)[0]


def preview_message(campaign: Campaign, contact, to: str = ""):
    """An unsaved message of this campaign to ``contact``, for rendering exactly as a worker would."""
    from campaigns.models import OutboundMessage

    phone = to or (contact.phone if contact is not None else "")
    variant = variants.preview_variant(campaign, phone)  # an A/B campaign's: the one its split gives this number
    return OutboundMessage(campaign=campaign, channel=campaign.channel, contact=contact, to=phone, variant=variant)


def free_form_whatsapp(campaign: Campaign) -> bool:
    """Text or media, no template, on a channel that keeps WhatsApp's 24-hour rule."""
    return keeps_window(campaign.channel) and not campaign.message_provider_template()


def count_window(campaign: Campaign, result: Report) -> None:
    """How many recipients wrote to the channel within 24 hours: one query, driven by the conversations
    open in the window (conv_window index: few, however large the audience), each checked against the
    audience by its contact's keys (phone, then list membership), never by reading the audience."""
    from contacts.models import Contact

    since = timezone.now() - FREE_TEXT_WINDOW
    recent = Conversation.objects.filter(channel=campaign.channel, last_inbound_at__gte=since).values("phone")
    in_lists = ListMembership.objects.filter(contact=OuterRef("pk"), contact_list__campaigns=campaign)
    left_out = ListMembership.objects.filter(contact=OuterRef("pk"), contact_list__excluded_from_campaigns=campaign)
    open_now = Contact.objects.filter(phone__in=recent).filter(Exists(in_lists)).exclude(Exists(left_out))
    result.window_open = open_now.reachable().count()
    result.window_closed = max(result.people - result.window_open, 0)


def window_problem(campaign: Campaign, counted: Report | None) -> str:
    """Free-form WhatsApp to recipients outside the 24-hour window, with their number when counted."""
    channel = campaign.channel.name
    if counted is not None and counted.people and not counted.window_closed:
        return ""  # everyone wrote within 24 hours: free text may reach them
    who = (
        f"{counted.window_closed} of its {counted.people} recipients have"
        if counted is not None and counted.people
        else "Recipients who have"
    )
    return (
        f"{who} not written to {channel!r} in the last 24 hours (or never have). On WhatsApp, free text "
        "or media reaches only people who wrote within 24 hours; everyone else gets only an approved "
        "template. Choose an approved WhatsApp template, or send to an SMS channel."
    )


def channel_refusal(campaign: Campaign, counted: Report | None = None) -> str:
    """The channel's own words when it cannot carry this content at all (media on SMS, free text on
    WhatsApp to people outside the 24-hour window: ``counted`` has their number when report() counted it)."""
    from campaigns.pipeline.sending import render_message

    if not (campaign.message_text() or campaign.message_media() or campaign.message_provider_template()):
        return ""  # already said: nothing to send
    provider = provider_for(campaign.channel)
    if free_form_whatsapp(campaign) and (refusal := window_problem(campaign, counted)):
        return refusal
    if refusal := template_refusal(campaign.channel, campaign.message_provider_template()):
        return refusal
    sample = campaign.audience_contacts().reachable().order_by("id").first() if campaign.pk else None
    message = render_message(preview_message(campaign, sample, to=sample.phone if sample else "+10000000000"))
    try:
        provider.validate(message)
    except MessageRefused as refusal:
        return f"Its channel {campaign.channel.name!r} cannot send this: {refusal}"
    return ""


def segments_of(text: str) -> tuple[str, int]:
    """(encoding, segments) of a text sent as SMS."""
    counted = count_segments(text)
    return ("UCS-2" if counted.encoding.upper().startswith("UCS") else "GSM-7"), counted.segments
