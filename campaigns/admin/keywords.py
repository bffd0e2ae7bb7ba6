"""A channel's keywords: the words that opt out, opt back in, ask for help or join a list, and the
automatic answers (administrators change them; Marketing views them). The channel page links here."""

from __future__ import annotations

import re

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from campaigns.models import ChannelKeywords, JoinKeyword
from campaigns.models.keywords import WORDS_PER_LIST, keyword_key
from providers.models import Channel

RULE = (
    "A keyword counts only when it is the whole message, in any case, ignoring spaces and punctuation "
    "around it: “Stop.” and “ stop ” count, “stop please” does not. That is the carriers' rule. Words in "
    "other scripts and alphabets are matched the same way (ARRÊT, ΤΈΛΟΣ, СТОП)."
)
ANSWERS = (
    "Each is one message through the normal pipeline, on this channel. Twilio's Advanced Opt-Out (on a "
    "Messaging Service) answers STOP, START and HELP itself (its reply then carries OptOutType): we then "
    "stay silent unless you tick the last box. US carriers require the confirmations when nobody else sends them."
)
WORD_LISTS = ("opt_out_words", "opt_in_words", "help_words")
SEPARATORS = re.compile(r"[,;\s]+")
TYPED_WORDS_MAX = 2000  # characters in one word list: fifty words of twenty and their commas, generously


class WordsField(forms.CharField):
    """A list of keywords typed as one line: commas or spaces between them."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("widget", forms.TextInput(attrs={"class": "vLargeTextField", "spellcheck": "false"}))
        super().__init__(max_length=TYPED_WORDS_MAX, required=False, **kwargs)

    def prepare_value(self, value) -> str:
        return ", ".join(value) if isinstance(value, list) else (value or "")

    def to_python(self, value) -> list[str]:
        text = super().to_python(value)
        return [word for word in SEPARATORS.split(text) if word]


class ChannelKeywordsForm(forms.ModelForm):
    opt_out_words = WordsField(
        label="Opt-out words", help_text="Put the number on the suppression list, e.g. STOP, ARRET, BAJA."
    )
    opt_in_words = WordsField(
        label="Opt-in words",
        help_text="Take the number off the suppression list, and confirm a join waiting for its YES.",
    )
    help_words = WordsField(label="Help words", help_text="Answered with the HELP answer.")

    class Meta:
        model = ChannelKeywords
        fields = ["channel", *WORD_LISTS, "opt_out_reply", "opt_in_reply", "help_reply", "reply_when_provider_answered"]
        widgets = {name: forms.Textarea(attrs={"rows": 3}) for name in ("opt_out_reply", "opt_in_reply", "help_reply")}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "channel" in self.fields:  # adding: only channels without keywords of their own yet
            self.fields["channel"].queryset = Channel.objects.filter(keywords__isnull=True)
        for name in WORD_LISTS:
            self.fields[name].help_text += f" Commas or spaces between words; at most {WORDS_PER_LIST}."


class JoinKeywordForm(forms.ModelForm):
    class Meta:
        model = JoinKeyword
        fields = ["word", "contact_list", "reply", "double_opt_in", "confirm_request"]
        widgets = {name: forms.Textarea(attrs={"rows": 2}) for name in ("reply", "confirm_request")}


class JoinKeywordFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        """Two join keywords with one word: named (the database would refuse the second)."""
        super().clean()
        seen = set()
        for join_form in self.forms:
            if not (join_form.cleaned_data or {}).get("word") or join_form.cleaned_data.get("DELETE"):
                continue
            word = join_form.instance.word  # as the model's clean wrote it (JOIN)
            if keyword_key(word) in seen:
                raise ValidationError(f"Join word: {word!r} is given twice; a word joins one list.")
            seen.add(keyword_key(word))


class JoinKeywordInline(admin.StackedInline):
    model = JoinKeyword
    form = JoinKeywordForm
    formset = JoinKeywordFormSet
    extra = 0
    verbose_name = "join keyword"
    verbose_name_plural = "Join keywords: a word that puts whoever texts it on a list, with their consent recorded"
    autocomplete_fields = ["contact_list"]


def in_short(words: list[str], shown: int = 4) -> str:
    more = f" and {len(words) - shown} more" if len(words) > shown else ""
    return ", ".join(words[:shown]) + more


@admin.register(ChannelKeywords)
class ChannelKeywordsAdmin(admin.ModelAdmin):
    form = ChannelKeywordsForm
    inlines = [JoinKeywordInline]
    list_display = ["channel", "opt_out", "opt_in", "join", "answers"]
    list_select_related = ["channel"]
    search_fields = ["channel__name"]

    def get_fieldsets(self, request, obj=None):
        return [
            (None, {"fields": ["channel"]}),
            ("Keywords", {"description": RULE, "fields": list(WORD_LISTS)}),
            (
                "Automatic answers",
                {
                    "description": ANSWERS,
                    "fields": ["opt_out_reply", "opt_in_reply", "help_reply", "reply_when_provider_answered"],
                },
            ),
        ]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return ["channel"] if obj is not None else []

    def get_changeform_initial_data(self, request) -> dict:
        """A new channel's keywords start as the defaults (the HELP answer naming the channel)."""
        initial = super().get_changeform_initial_data(request)
        chosen = str(initial.get("channel", ""))
        channel = Channel.objects.filter(pk=int(chosen)).first() if chosen.isdigit() else None
        defaults = ChannelKeywords.defaults_for(channel or Channel(name="Your business name"))
        for name in (*WORD_LISTS, "opt_out_reply", "opt_in_reply", "help_reply"):
            initial.setdefault(name, getattr(defaults, name))
        return initial

    def get_queryset(self, request) -> QuerySet:
        return super().get_queryset(request).prefetch_related("join_keywords")

    @admin.display(description="Opt-out words")
    def opt_out(self, row: ChannelKeywords) -> str:
        return in_short(row.opt_out_words)

    @admin.display(description="Opt-in words")
    def opt_in(self, row: ChannelKeywords) -> str:
        return in_short(row.opt_in_words)

    @admin.display(description="Help words")
    def help(self, row: ChannelKeywords) -> str:
        return in_short(row.help_words)

    @admin.display(description="Join words")
    def join(self, row: ChannelKeywords) -> str:
        return ", ".join(join.word for join in row.join_keywords.all()) or "—"

    @admin.display(description="Automatic answers")
    def answers(self, row: ChannelKeywords) -> str:
        sent = [
            label
            for label, text in (("opt-out", row.opt_out_reply), ("opt-in", row.opt_in_reply), ("HELP", row.help_reply))
            if text
        ]
        return ", ".join(sent) or "none"
