"""Keywords: a reply that is one word such as STOP or START changes whether we may message its number.

The store (campaigns.conversations.store) calls ``act_on_keyword`` once for each newly stored
message, never for a provider's retry of one already stored, and records what it returns in
InboundMessage.keyword. A keyword counts only when it is the whole message, in any case, ignoring
surrounding spaces and punctuation ("Stop." counts, "stop please" does not: the carriers' rule);
compatibility forms are folded first, so STOP typed in full-width letters (U+FF33...) is STOP too.
What the provider decided itself (Twilio's OptOutType, when its Advanced Opt-Out is on) wins over
our reading of the text.
"""

from __future__ import annotations

import logging
import unicodedata

from campaigns.events import record_opt_outs
from campaigns.models import InboundMessage
from contacts.models import Contact, Suppression

log = logging.getLogger(__name__)

# Twilio's Advanced Opt-Out defaults (../shared/PROVIDERS.md), the words US carriers expect.
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})

STOP, START, HELP = "STOP", "START", "HELP"
# Twilio's OptOutType values are already these family names.
PROVIDER_WORDS = {STOP: STOP, START: START, HELP: HELP}


def act_on_keyword(message: InboundMessage, provider_word: str = "") -> str:
    """Act on ``message`` if it is a keyword; return the keyword to record ("" when it is none).

    ``message`` is saved (it has an id, channel, phone, text, received_at and, when known, contact);
    ``message.channel`` is loaded. ``provider_word`` is the provider's own reading (Twilio's
    OptOutType: STOP, START or HELP), which wins over the text.

    Keep this signature: the store depends on it. It runs inside the store's transaction, once per
    new message of a batch of up to thousands, so a message that is no keyword must cost no query,
    and anything sent in answer (an automatic reply) goes with transaction.on_commit.
    """
    keyword = PROVIDER_WORDS.get(provider_word.strip().upper()) or keyword_in(message.text)
    said = word_of(message.text) if keyword_in(message.text) == keyword else keyword  # UNSUBSCRIBE, or Twilio's STOP
    if keyword == STOP:
        reason, source, channel = f"Replied {said}", Suppression.Source.REPLY, message.channel.name
        if Contact.opt_out_phone(message.phone, reason, source=source, channel=channel):
            record_opt_outs([message.phone], source=source, reason=reason, channel=channel)
    elif keyword == START:
        Contact.opt_in_phone(message.phone, f"Replied {said}")
    if keyword:
        log.info(
            "reply %s on channel %s from %s is the keyword %s", message.pk, message.channel_id, message.phone, keyword
        )
    return keyword


def keyword_in(text: str) -> str:
    """The keyword family (STOP, START, HELP) the whole text is, or ""."""
    word = word_of(text)
    if word in OPT_OUT_WORDS:
        return STOP
    if word in OPT_IN_WORDS:
        return START
    if word in HELP_WORDS:
        return HELP
    return ""


def word_of(text: str) -> str:
    """The text as one upper-case word: compatibility forms folded, surrounding spaces and punctuation
    dropped ("  Stop. " -> "STOP"); "" when it is empty or longer than any keyword could be."""
    if len(text) > 100:
        return ""
    folded = unicodedata.normalize("NFKC", text)
    start, end = 0, len(folded)
    while start < end and _is_edge(folded[start]):
        start += 1
    while end > start and _is_edge(folded[end - 1]):
        end -= 1
    return folded[start:end].upper()


def _is_edge(character: str) -> bool:
    # Spaces, punctuation and invisible characters (a zero-width space) around the word do not count.
    return character.isspace() or unicodedata.category(character)[0] in ("P", "Z", "C")
