"""A channel's keywords: the matching rule (whole message, any case, any script), the defaults, and the
settings page's validation, which names the field and the value."""

from __future__ import annotations

import pytest

from campaigns.models import ChannelKeywords, JoinKeyword
from campaigns.models.keywords import DEFAULT_OPT_OUT_WORDS, keyword_key
from contacts.models import ContactList
from providers.models import Channel

pytestmark = pytest.mark.django_db


# --- the rule: the whole message, any case, ignoring spaces and punctuation around it --------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("STOP", "stop"),
        ("Stop.", "stop"),
        ("  stop!!  ", "stop"),
        ('"STOP"', "stop"),
        ("\u200bSTOP\u200b", "stop"),  # zero-width spaces a keyboard slipped in
        ("ＳＴＯＰ", "stop"),  # full-width letters  # noqa: RUF001
        ("¡BAJA!", "baja"),  # Spanish punctuation
        ("«Arrêt»", "arrêt"),
        ("停止。", "停止"),  # an ideographic full stop
        ("توقف؟", "توقف"),  # an Arabic question mark
        ("ΤΈΛΟΣ", "τέλοσ"),  # Greek capitals fold like the small letters, final sigma too
        ("stop please", "stop please"),
        ("", ""),
        ("x" * 101, ""),  # too long to be a keyword: not even folded
    ],
)
def test_a_message_is_read_as_a_keyword_by_the_carriers_rule(text, key):
    assert keyword_key(text) == key


@pytest.fixture
def sms(db) -> Channel:
    return Channel.objects.create(name="Acme SMS", provider="sandbox", sender="+15005550006")


def test_a_channel_without_keywords_has_twilios_defaults(sms):
    keywords = ChannelKeywords.for_channel(sms)
    assert keywords.pk is None
    assert keywords.opt_out_words == DEFAULT_OPT_OUT_WORDS
    assert keywords.opt_in_words == ["START", "YES", "UNSTOP"]
    assert keywords.help_words == ["HELP", "INFO"]
    assert "Acme SMS" in keywords.help_reply and "STOP" in keywords.help_reply
    assert not keywords.reply_when_provider_answered


@pytest.mark.parametrize(
    ("text", "meaning"),
    [("Stop.", "STOP"), ("stop please", ""), ("yes!", "START"), ("Info", "HELP"), ("arrêt", ""), ("thanks", "")],
)
def test_the_defaults_mean_what_twilio_means(sms, text, meaning):
    assert ChannelKeywords.for_channel(sms).meaning(keyword_key(text))[0] == meaning


def test_words_in_other_languages_can_be_added(sms):
    keywords = ChannelKeywords.defaults_for(sms)
    keywords.opt_out_words += ["ARRÊT", "baja", "parar", "停止", "τέλος"]
    keywords.full_clean()
    keywords.save()
    keywords = ChannelKeywords.for_channel(sms)
    assert keywords.opt_out_words[-5:] == ["ARRÊT", "BAJA", "PARAR", "停止", "ΤΈΛΟΣ"]
    for text in ("Arrêt", "¡Baja!", "PARAR.", "停止。", "Τέλος"):
        assert keywords.meaning(keyword_key(text))[0] == "STOP", text


def keywords_with(sms, **fields) -> ChannelKeywords:
    keywords = ChannelKeywords.defaults_for(sms)
    for name, value in fields.items():
        setattr(keywords, name, value)
    return keywords


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"opt_in_words": ["START", "STOP"]}, "opt_in_words", "Opt-in words: 'STOP' is also in Opt-out words"),
        ({"help_words": ["HELP", "stop"]}, "help_words", "Help words: 'STOP' is also in Opt-out words"),
        ({"opt_out_words": ["STOP", "STOP!"]}, "opt_out_words", "Opt-out words: 'STOP!' has punctuation around it"),
        ({"opt_out_words": ["STOP", "..."]}, "opt_out_words", "Opt-out words: '...' has no letters or digits"),
        ({"opt_out_words": ["STOP", "x" * 21]}, "opt_out_words", f"Opt-out words: '{'x' * 21}' is longer than 20"),
        ({"opt_out_words": ["BAJA"]}, "opt_out_words", "Opt-out words: BAJA lacks STOP"),
        ({"opt_out_words": ["STOP"] + [f"W{n}" for n in range(50)]}, "opt_out_words", "51 words; at most 50"),
        ({"help_reply": "Acme: call 555 0100."}, "help_reply", "HELP answer: 'Acme: call 555 0100.' does not say how"),
        ({"opt_in_reply": "x" * 481}, "opt_in_reply", "Opt-in confirmation: 481 characters is too long"),
        ({"opt_out_reply": "Bye\x00"}, "opt_out_reply", "Opt-out confirmation: the text holds the control character"),
    ],
)
def test_a_wrong_setting_is_refused_naming_the_field_and_the_value(sms, fields, field, message):
    with pytest.raises(Exception) as refused:
        keywords_with(sms, **fields).full_clean()
    errors = refused.value.message_dict
    assert any(message in text for text in errors[field]), errors


def test_a_word_typed_twice_in_one_list_is_kept_once(sms):
    keywords = keywords_with(sms, opt_out_words=["STOP", "stop", "Baja", "BAJA"])
    keywords.full_clean()
    assert keywords.opt_out_words == ["STOP", "BAJA"]


def test_a_join_word_may_not_be_an_opt_in_word_nor_ask_for_a_yes_it_does_not_name(sms):
    keywords = ChannelKeywords.defaults_for(sms)
    keywords.save()
    newsletter = ContactList.objects.create(name="Newsletter")
    with pytest.raises(Exception) as refused:
        JoinKeyword(keywords=keywords, word="yes", contact_list=newsletter).full_clean()
    assert "Join word: 'YES' is in Opt-in words" in str(refused.value)
    with pytest.raises(Exception) as refused:
        JoinKeyword(
            keywords=keywords, word="JOIN", contact_list=newsletter, double_opt_in=True, confirm_request="Sure?"
        ).full_clean()
    assert "Request for YES: 'Sure?' names no opt-in word" in str(refused.value)
    JoinKeyword(keywords=keywords, word="join", contact_list=newsletter, double_opt_in=True).full_clean()
