"""The keywords page of a channel (administrators change it, Marketing reads it), the channel page's
link to it, and the consent records page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import ChannelKeywords, JoinKeyword
from contacts.models import Consent, ContactList
from providers.models import Channel
from tests.browser import choose_in_autocomplete, log_in, shot

pytestmark = pytest.mark.django_db
ADD = "/admin/campaigns/channelkeywords/add/"


@pytest.fixture
def sms(db) -> Channel:
    return Channel.objects.create(name="Acme SMS", provider="sandbox", sender="+15005550006")


def form_data(channel: Channel, **changes) -> dict:
    data = {
        "channel": channel.pk,
        "opt_out_words": "STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT",
        "opt_in_words": "START YES UNSTOP",
        "help_words": "HELP, INFO",
        "opt_out_reply": "You are unsubscribed. Reply START to resubscribe.",
        "opt_in_reply": "You are subscribed again. Reply STOP to unsubscribe.",
        "help_reply": "Acme: reply STOP to unsubscribe.",
        "join_keywords-TOTAL_FORMS": "0",
        "join_keywords-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return data


def join_form(n: int, word: str, contact_list: ContactList, **fields) -> dict:
    values = {"word": word, "contact_list": contact_list.pk, "reply": "Welcome!", "confirm_request": "Reply YES."}
    values.update(fields)
    return {f"join_keywords-{n}-{name}": value for name, value in values.items()}


def test_a_new_channels_page_starts_from_the_defaults_and_states_the_rule(admin_client, sms):
    page = admin_client.get(f"{ADD}?channel={sms.pk}").content.decode()
    assert "STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT" in page
    assert "Acme SMS: reply STOP to unsubscribe" in page  # the HELP answer names the sender
    assert "“stop please” does not" in page


def test_keywords_and_a_join_word_are_saved(admin_client, sms):
    offers = ContactList.objects.create(name="Offers")
    data = form_data(sms, opt_out_words="STOP, arrêt, Baja", **{"join_keywords-TOTAL_FORMS": "1"})
    data.update(join_form(0, "join", offers, double_opt_in="on"))
    response = admin_client.post(ADD, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    keywords = ChannelKeywords.objects.get(channel=sms)
    assert keywords.opt_out_words == ["STOP", "ARRÊT", "BAJA"]
    assert keywords.opt_in_words == ["START", "YES", "UNSTOP"]
    join = JoinKeyword.objects.get()
    assert (join.word, join.contact_list, join.double_opt_in) == ("JOIN", offers, True)


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"opt_in_words": "START, STOP"}, "Opt-in words: &#x27;STOP&#x27; is also in Opt-out words"),
        ({"help_reply": "Call us."}, "HELP answer: &#x27;Call us.&#x27; does not say how to opt out"),
        ({"opt_out_words": "STOP, stop please!"}, "Opt-out words: &#x27;please!&#x27; has punctuation around it"),
    ],
)
def test_a_wrong_value_is_refused_naming_the_field_and_the_value(admin_client, sms, changes, said):
    response = admin_client.post(ADD, form_data(sms, **changes))
    assert response.status_code == 200
    assert said in response.content.decode()
    assert not ChannelKeywords.objects.exists()


def test_a_join_word_twice_or_an_opt_in_word_is_refused_by_name(admin_client, sms):
    offers = ContactList.objects.create(name="Offers")
    data = form_data(sms, **{"join_keywords-TOTAL_FORMS": "2"})
    data.update(join_form(0, "JOIN", offers))
    data.update(join_form(1, "join", offers))
    assert "Join word: &#x27;JOIN&#x27; is given twice" in admin_client.post(ADD, data).content.decode()
    data = form_data(sms, **{"join_keywords-TOTAL_FORMS": "1"})
    data.update(join_form(0, "Yes", offers))
    assert "Join word: &#x27;YES&#x27; is in Opt-in words" in admin_client.post(ADD, data).content.decode()
    assert not ChannelKeywords.objects.exists()


def test_marketing_reads_the_keywords_but_cannot_change_them(client, marketing_staff, sms):
    keywords = ChannelKeywords.defaults_for(sms)
    keywords.save()
    client.force_login(marketing_staff)
    url = f"/admin/campaigns/channelkeywords/{keywords.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200 and "STOPALL" in page.content.decode()
    assert client.post(url, form_data(sms, opt_out_words="STOP")).status_code == 403
    assert client.get(ADD).status_code == 403
    assert ChannelKeywords.objects.get().opt_out_words[1] == "STOPALL"


def test_the_channel_page_shows_the_keywords_and_links_to_them(admin_client, sms):
    page = admin_client.get(f"/admin/providers/channel/{sms.pk}/change/").content.decode()
    assert "Set this channel's keywords and answers" in page
    assert f"{ADD}?channel={sms.pk}" in page
    keywords = ChannelKeywords.defaults_for(sms)
    keywords.save()
    page = admin_client.get(f"/admin/providers/channel/{sms.pk}/change/").content.decode()
    assert f"/admin/campaigns/channelkeywords/{keywords.pk}/change/" in page


def test_marketing_reads_consent_records_and_nobody_edits_them(client, marketing_staff):
    consent = Consent.objects.create(
        number="+447911123456", list_name="Offers", channel="Acme SMS", keyword="JOIN", message_id=7,
        texted_at=timezone.now(), state=Consent.State.JOINED,
    )  # fmt: skip
    client.force_login(marketing_staff)
    listing = client.get("/admin/contacts/consent/?q=+44 7911").content.decode()
    assert "+447911123456" in listing and "Offers" in listing and "Joined" in listing
    assert client.post(f"/admin/contacts/consent/{consent.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Consent.objects.filter(pk=consent.pk).exists()


def test_an_administrator_sets_a_channels_keywords_in_the_browser(page, live_server, administrator, sms):
    ContactList.objects.create(name="Newsletter")
    log_in(page, live_server, administrator.username, f"/admin/providers/channel/{sms.pk}/change/")
    shot(page, "keywords-channel-page")
    page.click("text=Set this channel's keywords and answers")
    page.wait_for_selector("#id_opt_out_words")
    page.fill("#id_opt_out_words", page.input_value("#id_opt_out_words") + ", ARRÊT, BAJA, PARAR")
    page.click("text=Add another join keyword")
    page.fill("#id_join_keywords-0-word", "JOIN")
    choose_in_autocomplete(page, "contact_list", "Newsletter")
    page.check("#id_join_keywords-0-double_opt_in")
    shot(page, "keywords-add-page")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    shot(page, "keywords-list")
    assert "STOP, STOPALL, UNSUBSCRIBE, CANCEL and 7 more" in page.inner_text("#result_list")
    keywords = ChannelKeywords.objects.get(channel=sms)
    assert keywords.opt_out_words[-3:] == ["ARRÊT", "BAJA", "PARAR"]
    assert keywords.join_keywords.get().double_opt_in


def test_marketing_reads_the_consent_records_in_the_browser(page, live_server, marketing_staff):
    Consent.objects.create(
        number="+447911123456", list_name="Newsletter", channel="Acme SMS", keyword="JOIN", message_id=41,
        provider_message_id="SM" + "ab" * 16, texted_at=timezone.now(), state=Consent.State.JOINED,
    )  # fmt: skip
    Consent.objects.create(
        number="+447911123999", list_name="Newsletter", channel="Acme SMS", keyword="JOIN", message_id=42,
        texted_at=timezone.now() - timedelta(hours=30), state=Consent.State.WAITING, double_opt_in=True,
    )  # fmt: skip
    log_in(page, live_server, marketing_staff.username, "/admin/contacts/consent/")
    shot(page, "keywords-consent-records")
    rows = page.inner_text("#result_list")
    assert "Joined" in rows and "Expired (no YES in 24 h)" in rows
    assert "UTC" in rows  # times named in the viewer's time zone
