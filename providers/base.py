"""The contract every provider class keeps with the send pipeline.

The pipeline hands a provider a batch of rendered messages and gets back one SendResult per
message. It never branches on which provider it is talking to: everything provider-specific
(addresses, payloads, how answers are classified) lives behind this interface.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from providers.http import TransportError
    from providers.models import Channel


class Outcome(enum.StrEnum):
    ACCEPTED = "accepted"  # the provider took it; provider_message_id is set
    FAILED = "failed"  # permanent: retrying cannot help (bad number, opted out, blocked...)
    RETRY = "retry"  # transient: the provider did not take it; safe to send again later
    UNKNOWN = "unknown"  # the request may have reached the provider: never resend blindly


@dataclass(frozen=True)
class OutgoingMessage:
    """One message as the provider sees it: personalisation already applied."""

    id: int
    to: str  # E.164 with +
    text: str = ""
    media_urls: tuple[str, ...] = ()
    template: dict | None = None  # provider template: {"id": ..., "variables": {...}}


@dataclass(frozen=True)
class SendResult:
    message_id: int
    outcome: Outcome
    provider_message_id: str = ""
    error_code: str = ""
    error_message: str = ""
    retry_after: float | None = None  # seconds, from Retry-After or the provider's own advice
    opted_out: bool = False  # the provider says the recipient unsubscribed (Twilio 21610)
    throttled: bool = False  # a RETRY because the provider asked us to slow down (429): not a failed try


LATE = "late"  # the error code of a request held back because it could not leave by its booked time


def unanswered(message_id: int, error: TransportError) -> SendResult:
    """The result of a request with no answer: sent again when it never left, unknown when it may have.

    A request held back because it could not leave by its booked time (``Late``) is the pipeline
    slowing itself down, as a 429 is the provider's doing: its try does not count.
    """
    from providers import http

    if isinstance(error, http.Late):
        return SendResult(message_id, Outcome.RETRY, error_code=LATE, error_message=error.message, throttled=True)
    if isinstance(error, http.NotSent):
        return SendResult(message_id, Outcome.RETRY, error_code="not_sent", error_message=error.message)
    return SendResult(message_id, Outcome.UNKNOWN, error_code="no_answer", error_message=error.message)


@dataclass(frozen=True)
class LookUp:
    """What the provider says about a message whose outcome we do not know."""

    found: bool | None  # True: it has the message; False: it has no such message; None: cannot tell
    status: str = ""  # the provider's own word for where the message is (queued, delivered, failed...)
    provider_message_id: str = ""
    detail: str = ""  # a sentence for the administrator deciding what to do


class ChannelError(Exception):
    """A problem with the channel itself (bad credentials, no credit): stop using it, tell staff.

    Raised by a provider when no message of the batch can go; the pipeline pauses the channel,
    puts the batch back in the queue and records ``reason`` for staff to read.
    """

    def __init__(self, reason: str, code: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.code = code


class MessageRefused(ValueError):
    """The message cannot be sent on this channel at all (e.g. media on a text-only channel)."""


# WhatsApp templates (Twilio Content, Gupshup) take at most this many variables.
MAX_TEMPLATE_VARIABLES = 100


@dataclass(frozen=True)
class Problem:
    """One thing about a message that its provider would refuse.

    ``field`` names the part of the message: "text", "media_urls" (all of them), "media_urls[1]"
    (one), "template", "template.id", "template.variables" or "template.variables.<name>". The
    API turns these into its own field names; ``message`` names the value and the rule.
    """

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def shown(value: object) -> str:
    """A value as it was given, cut short so that a refusal never echoes a megabyte back."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    text = text if len(text) <= 60 else text[:57] + "..."
    return text.encode("utf-8", "backslashreplace").decode("utf-8")  # a lone surrogate, escaped


def template_variable_count(variables: object) -> int:
    """How many values a template's variables hold, nested parts (Gupshup's Body, ...) counted inside."""
    if not isinstance(variables, dict):
        return 0
    return sum(template_variable_count(value) if isinstance(value, dict) else 1 for value in variables.values())


@dataclass
class Provider:
    """Base class of the provider services, one subclass per provider code."""

    channel: Channel
    code: ClassVar[str] = ""
    label: ClassVar[str] = ""
    # Names of the keys this provider needs in Channel.credentials, with a label for the admin.
    credential_fields: ClassVar[dict[str, str]] = {}
    # Messages one HTTP request can carry; the pipeline hands send_batch at most this many.
    max_batch_size: ClassVar[int] = 1
    supports_media: ClassVar[bool] = True
    # True when the provider drops a second request carrying the same id of ours, so a message
    # whose fate is unknown can safely be sent again.
    deduplicates_by_our_id: ClassVar[bool] = False
    # True where a message to many people must be a provider-approved template (WhatsApp: free
    # text only answers a customer within 24 hours); campaign pages refuse free text before launch.
    campaign_needs_template: ClassVar[bool] = False
    # Default messages per second for a new channel of this provider.
    default_rate_limit: ClassVar[float] = 10.0
    # The webhooks this provider calls us on: the last part of each URL (Channel.webhook_url) and
    # what it is called on the channel page; and how staff point the provider at them there.
    webhooks: ClassVar[dict[str, str]] = {}
    webhook_setup: ClassVar[tuple[str, ...]] = ()
    # True where the provider lists the channel's approved templates (list_templates).
    lists_templates: ClassVar[bool] = False
    # WhatsApp error codes (as the receipt's error_code) saying the recipient is not on WhatsApp: the
    # number is remembered as off WhatsApp, and an SMS fallback fits. ``sms_fallback_codes`` are every
    # code for which an SMS fallback fits (these and, say, a user WhatsApp keeps out of an experiment).
    not_on_whatsapp_codes: ClassVar[frozenset[str]] = frozenset()
    sms_fallback_codes: ClassVar[frozenset[str]] = frozenset()

    def notes_each_request(self) -> bool:
        """True when send_batch sends each message in a request of its own through
        http.request_many, each Call naming its message (``message_id``): the pipeline then notes
        each request as it is written (http.noting_writes), not the whole batch ahead of time."""
        return False

    def batch_size(self) -> int:
        configured = self.channel.batch_size or self.max_batch_size
        return max(1, min(configured, self.max_batch_size))

    def list_templates(self) -> list:
        """The provider's templates for this channel (providers.templates.ListedTemplate), every page.

        Raises providers.templates.TemplateListUnavailable with the reason when it cannot list them.
        """
        from providers.templates import TemplateListUnavailable

        raise TemplateListUnavailable(f"{self.label} lists no templates.")

    def credential_urls(self) -> list[str]:
        """The base URLs this channel, as configured now, would send its credentials to.

        A provider that sends credentials overrides it, and passes every such URL through
        ``credentials_may_go_to`` before using it.
        """
        return []

    def credentials_may_go_to(self, url: str) -> str:
        """``url`` if the credentials were entered for its origin; else a ChannelError that says so."""
        if self.channel.credentials_may_go_to(url):
            return url
        from providers.destinations import origin_of

        entered_for = self.channel.credentials_entered_for.replace(" ", ", ") or "no address"
        raise ChannelError(
            f"api_base_url: the credentials were entered for {entered_for}, not {origin_of(url)}: "
            "an administrator must type them again on the channel's page before they are sent there.",
            code="credentials_address",
        )

    def missing_credentials(self) -> list[str]:
        creds = self.channel.credentials or {}
        return [name for name in self.credential_fields if not str(creds.get(name, "")).strip()]

    def validate(self, message: OutgoingMessage) -> None:
        """Raise MessageRefused for a message this channel can never carry, naming every problem."""
        problems = self.problems(message)
        if problems:
            raise MessageRefused("; ".join(str(problem) for problem in problems))

    def problems(self, message: OutgoingMessage) -> list[Problem]:
        """Everything about this message the provider would refuse: the one rule set that both the
        API (before answering) and the send pipeline (before sending) apply. Subclasses extend it."""
        problems: list[Problem] = []
        if message.media_urls and not self.supports_media:
            urls = ", ".join(shown(url) for url in message.media_urls)
            problems.append(Problem("media_urls", f"{self.label} channels cannot send media; remove {urls}."))
        if not (message.text or message.media_urls or message.template):
            problems.append(Problem("text", "a message needs text, media or a template."))
        if isinstance(message.template, dict):
            count = self.template_variable_count(message.template)
            if count > MAX_TEMPLATE_VARIABLES:
                problems.append(
                    Problem(
                        "template.variables",
                        f"{count} variables; a WhatsApp template takes at most {MAX_TEMPLATE_VARIABLES}.",
                    )
                )
        return problems

    def template_variable_count(self, template: dict) -> int:
        """How many variables a template fills: every value, nested parts counted inside."""
        return template_variable_count(template.get("variables"))

    def send_batch(self, messages: list[OutgoingMessage]) -> list[SendResult]:
        raise NotImplementedError

    def look_up(self, message: OutgoingMessage, provider_message_id: str, since: datetime) -> LookUp:
        """Ask the provider whether it has this message (sent ``since`` then, by its id when we have
        it). Providers that can look a message up override this; the answer guides a person deciding
        whether to resend, it decides nothing by itself."""
        return LookUp(None, detail=f"{self.label} offers no way to look a message up: check its dashboard.")

    def check_credentials(self) -> str:
        """Ask the provider whether the credentials work; return a sentence for staff.

        Raises ChannelError with the provider's reason when they do not.
        """
        missing = self.missing_credentials()
        if missing:
            raise ChannelError(f"Missing credentials: {', '.join(missing)}.")
        return "Credentials are present (this provider offers no way to check them)."
