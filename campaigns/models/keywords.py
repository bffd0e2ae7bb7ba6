"""Keywords per channel: the words that opt a number out, back in, ask for help or join a list, and
what we answer (campaigns.conversations.keywords acts on them).

A keyword counts only when it is the whole message, in any case, ignoring the spaces and punctuation
around it: "Stop." counts, "stop please" does not (the carriers' rule). ``keyword_key`` is that
rule: compatibility forms folded (full-width letters read as the plain ones), then Unicode case folding, so
words in any script compare the way their readers would ("ARRÊT" and "arrêt", "ΤΈΛΟΣ" and "τέλος").
"""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.db import models

from contacts.models import ContactList
from providers.models import Channel

# Twilio's Advanced Opt-Out defaults (its "Default keywords" list): the words US carriers expect.
DEFAULT_OPT_OUT_WORDS = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"]
DEFAULT_OPT_IN_WORDS = ["START", "YES", "UNSTOP"]
DEFAULT_HELP_WORDS = ["HELP", "INFO"]
# Twilio's own default STOP answer, and answers in its spirit for START and HELP.
DEFAULT_OPT_OUT_REPLY = (
    "You have successfully been unsubscribed. You will not receive any more messages from this number. "
    "Reply START to resubscribe."
)
DEFAULT_OPT_IN_REPLY = (
    "You have successfully been re-subscribed to messages from this number. Reply HELP for help. "
    "Reply STOP to unsubscribe."
)
DEFAULT_JOIN_REPLY = "Thanks, you have joined our list. Reply HELP for help, STOP to unsubscribe."
DEFAULT_CONFIRM_REQUEST = "Reply YES within 24 hours to confirm you want our messages. Reply STOP to opt out."

KEYWORD_MAX_LENGTH = 20  # InboundMessage.keyword's width; no carrier keyword comes near it
WORDS_PER_LIST = 50
REPLY_MAX_LENGTH = 480  # three SMS segments: a confirmation is short, and each segment is paid for
LONGEST_MESSAGE_READ = 100  # a longer message is no keyword: not worth folding


def keyword_key(text: str) -> str:
    """What ``text`` is as a keyword, for comparing: compatibility forms folded, surrounding spaces,
    punctuation and invisible characters dropped, case folded ("  Stop. " -> "stop"); "" for a
    message too long to be one."""
    if len(text) > LONGEST_MESSAGE_READ:
        return ""
    folded = unicodedata.normalize("NFKC", text)
    start, end = 0, len(folded)
    while start < end and _is_edge(folded[start]):
        start += 1
    while end > start and _is_edge(folded[end - 1]):
        end -= 1
    return folded[start:end].casefold()


def _is_edge(character: str) -> bool:
    # Spaces, punctuation (any script's: "¡", "。", "؟") and invisible characters (a zero-width space).
    return character.isspace() or unicodedata.category(character)[0] in ("P", "Z", "C")


def check_word(word: str, field: str) -> str:
    """The word as stored (in capitals where that changes nothing), or a ValidationError naming the
    field and the word."""
    typed = unicodedata.normalize("NFKC", word).strip()
    key = keyword_key(word)
    if not key:
        raise ValidationError(f"{field}: {word!r} has no letters or digits, so no message could match it.")
    if key != typed.casefold():
        raise ValidationError(
            f"{field}: {word!r} has punctuation around it; type the word alone (punctuation around a "
            "message's word is ignored anyway)."
        )
    if any(character.isspace() for character in key):
        raise ValidationError(f"{field}: {word!r} is more than one word; a keyword is one word.")
    if len(key) > KEYWORD_MAX_LENGTH:
        raise ValidationError(f"{field}: {word!r} is longer than {KEYWORD_MAX_LENGTH} characters.")
    # Capitals read as keywords, but not where they would change the word (a Turkish dotless i would become a plain I).
    return typed.upper() if keyword_key(typed.upper()) == key else typed


def check_reply(text: str, field: str) -> str:
    if len(text) > REPLY_MAX_LENGTH:
        raise ValidationError(
            f"{field}: {len(text)} characters is too long; at most {REPLY_MAX_LENGTH} (three SMS segments)."
        )
    if bad := next((c for c in text if unicodedata.category(c) == "Cc" and c not in "\n\t"), None):
        raise ValidationError(f"{field}: the text holds the control character {bad!r}; remove it.")
    return text.strip()


def mentions(text: str, words: list[str]) -> bool:
    """Whether ``text`` names one of ``words`` as a word of its own."""
    said = {keyword_key(part) for part in text.split()}
    return any(keyword_key(word) in said for word in words)


def default_help_reply(channel: Channel) -> str:
    return f"{channel.name}: reply STOP to unsubscribe, START to subscribe again. Msg & data rates may apply."


class ChannelKeywords(models.Model):
    """One channel's keywords and automatic answers. A channel without a row uses the defaults
    (``for_channel``): Twilio's Advanced Opt-Out words, its confirmations, and a HELP answer."""

    channel = models.OneToOneField(Channel, on_delete=models.CASCADE, related_name="keywords")
    opt_out_words = models.JSONField(
        "Opt-out words", default=list, help_text="Words that put the number on the suppression list."
    )
    opt_in_words = models.JSONField(
        "Opt-in words",
        default=list,
        help_text="Words that take the number off the suppression list (and confirm a join).",
    )
    help_words = models.JSONField("Help words", default=list, help_text="Words that ask who we are and how to stop.")
    opt_out_reply = models.TextField(
        "Opt-out confirmation",
        blank=True,
        help_text="Sent once to a number an opt-out word has just put on the suppression list: the only "
        "message a suppressed number is ever sent. Empty: no confirmation.",
    )
    opt_in_reply = models.TextField(
        "Opt-in confirmation",
        blank=True,
        help_text="Sent when an opt-in word takes the number off the suppression list. Empty: no confirmation.",
    )
    help_reply = models.TextField(
        "HELP answer",
        blank=True,
        help_text="Sent in answer to a help word: name who you are and how to opt out. Empty: no answer.",
    )
    reply_when_provider_answered = models.BooleanField(
        "Answer even when the provider has answered",
        default=False,
        help_text="Twilio's Advanced Opt-Out answers STOP, START and HELP itself (its reply carries "
        "OptOutType): we then send nothing, unless this is ticked.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "channel keywords"
        verbose_name_plural = "channel keywords"

    def __str__(self) -> str:
        return f"Keywords of {self.channel.name}" if self.channel_id else "Keywords"

    @classmethod
    def defaults_for(cls, channel: Channel) -> ChannelKeywords:
        """The keywords a channel has before anyone sets them (unsaved)."""
        return cls(
            channel=channel,
            opt_out_words=list(DEFAULT_OPT_OUT_WORDS),
            opt_in_words=list(DEFAULT_OPT_IN_WORDS),
            help_words=list(DEFAULT_HELP_WORDS),
            opt_out_reply=DEFAULT_OPT_OUT_REPLY,
            opt_in_reply=DEFAULT_OPT_IN_REPLY,
            help_reply=default_help_reply(channel),
        )

    @classmethod
    def for_channel(cls, channel: Channel) -> ChannelKeywords:
        """The channel's keywords with its join keywords loaded (two queries), or the defaults."""
        found = cls.objects.filter(channel=channel).prefetch_related("join_keywords__contact_list").first()
        if found is None:
            found = cls.defaults_for(channel)
        found.channel = channel
        return found

    def joins(self) -> list[JoinKeyword]:
        return list(self.join_keywords.all()) if self.pk else []

    def meaning(self, key: str) -> tuple[str, JoinKeyword | None]:
        """What a message whose keyword_key is ``key`` asks: (STOP|START|HELP|JOIN|"", the join keyword)."""
        if not key:
            return "", None
        for kind, words in ((STOP, self.opt_out_words), (START, self.opt_in_words), (HELP, self.help_words)):
            if any(keyword_key(word) == key for word in words):
                return kind, None
        for join in self.joins():
            if keyword_key(join.word) == key:
                return JOIN, join
        return "", None

    def clean(self) -> None:
        errors = {}
        for name in ("opt_out_words", "opt_in_words", "help_words"):
            try:
                setattr(self, name, self._checked_words(name))
            except ValidationError as error:
                errors[name] = error.messages
        for name in ("opt_out_reply", "opt_in_reply", "help_reply"):
            try:
                setattr(self, name, check_reply(getattr(self, name) or "", self.label(name)))
            except ValidationError as error:
                errors[name] = error.messages
        if errors:
            raise ValidationError(errors)
        self._check_no_word_twice()
        if not any(keyword_key(word) == "stop" for word in self.opt_out_words):
            raise ValidationError(
                {
                    "opt_out_words": f"Opt-out words: {', '.join(self.opt_out_words) or 'none'} lacks STOP, "
                    "which carriers require to work everywhere."
                }
            )
        if self.help_reply and not mentions(self.help_reply, self.opt_out_words):
            raise ValidationError(
                {
                    "help_reply": f"HELP answer: {self.help_reply!r} does not say how to opt out: name one of the "
                    f"opt-out words ({', '.join(self.opt_out_words[:3])}...) in it."
                }
            )

    @classmethod
    def label(cls, name: str) -> str:
        return str(cls._meta.get_field(name).verbose_name).capitalize()

    def _checked_words(self, name: str) -> list[str]:
        label = self.label(name)
        words = getattr(self, name) or []
        if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
            raise ValidationError(f"{label}: {words!r} is not a list of words.")
        if len(words) > WORDS_PER_LIST:
            raise ValidationError(f"{label}: {len(words)} words; at most {WORDS_PER_LIST}.")
        checked = [check_word(word, label) for word in words]
        return list(dict.fromkeys(checked))  # a word typed twice in one list is kept once, in place

    def _check_no_word_twice(self) -> None:
        """A word means one thing: in two lists it would do both (opt out and in at once)."""
        seen: dict[str, str] = {}
        for name in ("opt_out_words", "opt_in_words", "help_words"):
            for word in getattr(self, name):
                if (other := seen.setdefault(keyword_key(word), name)) != name:
                    said = f"{self.label(name)}: {word!r} is also in {self.label(other)}; a word may mean one thing."
                    raise ValidationError({name: said})

    def word_for(self, key: str) -> str:
        """The word as this channel spells it (STOP for "stop."), or ""."""
        words = [*self.opt_out_words, *self.opt_in_words, *self.help_words, *(join.word for join in self.joins())]
        return next((word for word in words if keyword_key(word) == key), "")

    def word_list_of(self, key: str) -> str:
        """The label of the list holding the word whose keyword_key is ``key``, or ""."""
        for name in ("opt_out_words", "opt_in_words", "help_words"):
            if any(keyword_key(word) == key for word in getattr(self, name)):
                return self.label(name)
        return ""


STOP, START, HELP, JOIN = "STOP", "START", "HELP", "JOIN"


class JoinKeyword(models.Model):
    """A word that adds whoever texts it to a list, recording their consent (contacts.Consent).

    With double opt-in the number is added only once it answers an opt-in word (YES) within
    DOUBLE_OPT_IN_HOURS. Joining never takes a number off the suppression list: only an opt-in word
    does (the carriers' rule), so a join word may not be an opt-in word.
    """

    keywords = models.ForeignKey(ChannelKeywords, on_delete=models.CASCADE, related_name="join_keywords")
    word = models.CharField(max_length=KEYWORD_MAX_LENGTH, help_text="One word, e.g. JOIN.")
    contact_list = models.ForeignKey(
        ContactList, on_delete=models.CASCADE, related_name="join_keywords", help_text="The list it adds to."
    )
    reply = models.TextField(
        "Confirmation",
        blank=True,
        default=DEFAULT_JOIN_REPLY,
        help_text="Sent once the number is on the list. Empty: no confirmation.",
    )
    double_opt_in = models.BooleanField(
        "Double opt-in",
        default=False,
        help_text="Ask for a YES (an opt-in word) within 24 hours before adding the number.",
    )
    confirm_request = models.TextField(
        "Request for YES",
        blank=True,
        default=DEFAULT_CONFIRM_REQUEST,
        help_text="With double opt-in: sent at once, asking for the YES. It must name an opt-in word.",
    )

    class Meta:
        ordering = ["word"]
        constraints = [models.UniqueConstraint(fields=["keywords", "word"], name="one_join_keyword_per_word")]

    def __str__(self) -> str:
        return f"{self.word} joins {self.contact_list}" if self.contact_list_id else self.word

    def clean(self) -> None:
        errors = {}
        try:
            self.word = check_word(self.word or "", "Join word")
        except ValidationError as error:
            errors["word"] = error.messages
        for name in ("reply", "confirm_request"):
            try:
                setattr(self, name, check_reply(getattr(self, name) or "", self._meta.get_field(name).verbose_name))
            except ValidationError as error:
                errors[name] = error.messages
        if errors:
            raise ValidationError(errors)
        # The channel's keywords as typed on the same page (not saved yet when the page adds them).
        self._check_against(JoinKeyword.keywords.field.get_cached_value(self, None))

    def _check_against(self, keywords: ChannelKeywords | None) -> None:
        if keywords is None:
            return
        if taken := keywords.word_list_of(keyword_key(self.word)):
            raise ValidationError({"word": f"Join word: {self.word!r} is in {taken}; a word may mean one thing."})
        if self.double_opt_in and not mentions(self.confirm_request, keywords.opt_in_words):
            raise ValidationError(
                {
                    "confirm_request": f"Request for YES: {self.confirm_request!r} names no opt-in word "
                    f"({', '.join(keywords.opt_in_words[:3])}); the number could not know what to answer."
                }
            )
