"""Keywords: a reply that is one word such as STOP, START, HELP or JOIN is acted on, and answered.

The store (campaigns.conversations.store) calls ``act_on_keyword`` once for each newly stored
message, never for a provider's retry of one already stored, and records what it returns in
InboundMessage.keyword. A keyword counts only when it is the whole message, in any case, ignoring
surrounding spaces and punctuation ("Stop." counts, "stop please" does not: the carriers' rule; see
campaigns.models.keywords.keyword_key, which also folds other scripts' cases and full-width forms).
Each channel has its words and answers (ChannelKeywords; the defaults are Twilio's Advanced Opt-Out).
What the provider decided itself (Twilio's OptOutType, when its Advanced Opt-Out is on) wins over our
reading of the text, and then the provider has answered: we stay silent unless the channel says not to.

- An opt-out word puts the number on the suppression list. The opt-out confirmation goes only when
  that word put it there (of two STOPs at once, one): the one message a suppressed number is sent.
- An opt-in word takes it off, and confirms the number's joins still waiting for a YES (then their
  confirmation is the answer; else the opt-in confirmation, if the number was suppressed).
- A help word gets the HELP answer, also from a suppressed number (carriers, CTIA, expect HELP
  answered whatever the opt-in state): the one other message a suppressed number may be sent. It
  changes nothing: the number stays suppressed until START.
- A join word records the number's consent (contacts.Consent) and puts it on the list, or, with
  double opt-in, asks for a YES within DOUBLE_OPT_IN_HOURS first. Joining never lifts a suppression
  (only an opt-in word does, as carriers treat START): a suppressed number that texts JOIN is
  recorded and put on the list but sent nothing, and still nothing until it texts START.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction

from campaigns.events import record_opt_outs
from campaigns.models import InboundMessage, OutboundMessage
from campaigns.models.keywords import (
    HELP,
    JOIN,
    KEYWORD_MAX_LENGTH,
    START,
    STOP,
    ChannelKeywords,
    JoinKeyword,
    keyword_key,
)
from campaigns.pipeline.queueing import enqueue_send
from contacts.models import DOUBLE_OPT_IN_HOURS, Consent, Contact, Suppression
from providers.models import Channel

log = logging.getLogger(__name__)

REPLY_LABEL = "Keyword reply"  # who the inbox and message log show as the sender of an automatic answer
# Twilio's OptOutType values are already these family names.
PROVIDER_WORDS = {STOP: STOP, START: START, HELP: HELP}


def act_on_keyword(message: InboundMessage, provider_word: str = "") -> str:
    """Act on ``message`` if it is a keyword; return the keyword to record ("" when it is none).

    ``message`` is saved (it has an id, channel, phone, text, received_at and, when known, contact);
    ``message.channel`` is loaded. ``provider_word`` is the provider's own reading (Twilio's
    OptOutType: STOP, START or HELP), which wins over the text.

    Keep this signature: the store depends on it. It runs inside the store's transaction, once per
    new message of a batch of up to thousands, so a message that cannot be a keyword costs no query
    (a one-word one costs its channel's keywords once a batch), and anything sent in answer goes
    after the commit, in one send job for the batch.
    """
    provider_kind = PROVIDER_WORDS.get(provider_word.strip().upper(), "")
    key = keyword_key(message.text)
    if not provider_kind and not could_be_keyword(key):
        return ""
    keywords = keywords_of(message.channel)
    kind, join = keywords.meaning(key)
    kind = provider_kind or kind
    if not kind:
        return ""
    said = keywords.word_for(key) or kind  # "Replied STOP" for "stop.", as the channel spells it
    answer_ours = not provider_kind or keywords.reply_when_provider_answered
    if kind == STOP:
        _opt_out(message, keywords, said, answer_ours)
    elif kind == START:
        _opt_in(message, keywords, said, answer_ours)
    elif kind == HELP and answer_ours:
        _answer(message, keywords.help_reply, answers_help=True)
    elif kind == JOIN:
        _join(message, join)
    log.info("reply %s on channel %s from %s is the keyword %s", message.pk, message.channel_id, message.phone, kind)
    return kind


def keyword_in(text: str, keywords: ChannelKeywords | None = None) -> str:
    """The keyword (STOP, START, HELP, JOIN) the whole text is for ``keywords`` (by default Twilio's
    words), or ""."""
    keywords = keywords or ChannelKeywords.defaults_for(Channel(name=""))
    return keywords.meaning(keyword_key(text))[0]


def could_be_keyword(key: str) -> bool:
    return bool(key) and len(key) <= KEYWORD_MAX_LENGTH and not any(character.isspace() for character in key)


def keywords_of(channel: Channel) -> ChannelKeywords:
    """The channel's keywords, read once per Channel object (the store loads a batch's channels once)."""
    cached = getattr(channel, "_keywords", None)
    if cached is None:
        cached = channel._keywords = ChannelKeywords.for_channel(channel)
    return cached


def _opt_out(message: InboundMessage, keywords: ChannelKeywords, said: str, answer_ours: bool) -> None:
    reason, source, channel = f"Replied {said}", Suppression.Source.REPLY, message.channel.name
    if not Contact.opt_out_phone(message.phone, reason, source=source, channel=channel):
        return  # on the list already: told once, confirmed once
    record_opt_outs([message.phone], source=source, reason=reason, channel=channel)
    if answer_ours:
        _answer(message, keywords.opt_out_reply, confirms_opt_out=True)


def _opt_in(message: InboundMessage, keywords: ChannelKeywords, said: str, answer_ours: bool) -> None:
    lifted = Contact.opt_in_phone(message.phone, f"Replied {said}")
    joined = _confirm_waiting_joins(message)
    if joined:
        for text in dict.fromkeys(joined):  # two lists with one confirmation: sent once
            _answer(message, text)
    elif lifted and answer_ours:
        _answer(message, keywords.opt_in_reply)


def _join(message: InboundMessage, join: JoinKeyword) -> None:
    contact = message.contact or Contact.objects.get_or_create(phone=message.phone)[0]
    Consent.objects.create(
        number=message.phone,
        contact=contact,
        contact_list=join.contact_list,
        list_name=join.contact_list.name,
        channel=message.channel.name,
        keyword=join.word,
        message_id=message.pk,
        provider_message_id=message.provider_message_id,
        texted_at=message.received_at,
        double_opt_in=join.double_opt_in,
        state=Consent.State.WAITING if join.double_opt_in else Consent.State.JOINED,
    )
    if join.double_opt_in:
        _answer(message, join.confirm_request)
        return
    join.contact_list.add_contacts(Contact.objects.filter(pk=contact.pk))
    _answer(message, join.reply)


def _confirm_waiting_joins(message: InboundMessage) -> list[str]:
    """Put the number on the lists it asked to join within DOUBLE_OPT_IN_HOURS before this YES;
    returns the confirmations to send."""
    waiting = Consent.objects.filter(
        number=message.phone,
        channel=message.channel.name,
        state=Consent.State.WAITING,
        texted_at__gte=message.received_at - timedelta(hours=DOUBLE_OPT_IN_HOURS),
        texted_at__lte=message.received_at,
    ).select_related("contact_list")
    consents = list(waiting)
    if not consents:
        return []
    contact = message.contact or Contact.objects.get_or_create(phone=message.phone)[0]
    Consent.objects.filter(pk__in=[c.pk for c in consents], state=Consent.State.WAITING).update(
        state=Consent.State.JOINED,
        confirmed_at=message.received_at,
        confirmed_by_message_id=message.pk,
        contact=contact,
    )
    replies = []
    for consent in consents:
        if consent.contact_list is None:
            continue  # the list was deleted while waiting: the record keeps its name
        consent.contact_list.add_contacts(Contact.objects.filter(pk=contact.pk))
        join = consent.contact_list.join_keywords.filter(
            keywords__channel=message.channel, word=consent.keyword
        ).first()
        replies.append(join.reply if join is not None else "")
    return [text for text in replies if text]


def _answer(message: InboundMessage, text: str, confirms_opt_out: bool = False, answers_help: bool = False) -> None:
    """Send ``text`` to the number that wrote, as a single message through the normal pipeline."""
    if not text:
        return
    try:
        reply = OutboundMessage.send_one(
            channel=message.channel,
            to=message.phone,
            text=text,
            contact=message.contact,
            sender_label=REPLY_LABEL,
            enqueue=False,
            confirms_opt_out=confirms_opt_out,
            answers_help=answers_help,
        )
    except ValidationError as error:
        # A suppressed number (its JOIN goes unanswered until it texts START) or a switched-off channel.
        log.info("no answer to reply %s from %s: %s", message.pk, message.phone, " ".join(error.messages))
        return
    _send_after_commit(reply.pk)


class _RepliesToSend:
    """The answers of one transaction, given one send job when it commits (not one job each)."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.sent = False

    def __call__(self) -> None:
        self.sent = True
        enqueue_send(self.ids)


def _send_after_commit(message_id: int) -> None:
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        enqueue_send([message_id])
        return
    # The batch's callback while its transaction is open; Django drops it on a rollback, and so do we.
    pending = next(
        (func for _, func, _ in connection.run_on_commit if isinstance(func, _RepliesToSend) and not func.sent), None
    )
    if pending is None:
        pending = _RepliesToSend()
        transaction.on_commit(pending)
    pending.ids.append(message_id)
