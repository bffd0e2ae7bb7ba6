"""An administrator gives a key its scope on the admin page, in Chromium, and sees it there."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from campaigns.models import ApiKey
from contacts.models import ContactList
from providers.models import Channel
from tests.browser import choose_in_autocomplete, log_in, shot

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_administrator_scopes_a_new_key_and_sees_it_on_its_page(page, live_server, administrator):
    shop = get_user_model().objects.create_user("shop", is_staff=True)
    Channel.objects.create(name="Shop SMS", provider="sandbox")
    ContactList.objects.create(name="Newsletter")
    log_in(page, live_server, administrator.username, "/admin/campaigns/apikey/add/")

    page.select_option("#id_user", str(shop.pk))
    page.fill("#id_name", "webshop")
    page.uncheck("#id_every_channel")
    choose_in_autocomplete(page, "channels", "Shop SMS")
    page.select_option("#id_contact_saving", "new")
    choose_in_autocomplete(page, "contact_lists", "Newsletter")
    page.fill("#id_daily_recipient_quota", "5000")
    shot(page, "api_key_add")
    page.click("input[name=_save]")

    assert "The new API key is mk_" in page.locator(".messagelist").inner_text()
    key = ApiKey.objects.get()
    page.goto(f"{live_server.url}/admin/campaigns/apikey/{key.pk}/change/")
    text = page.locator("#content").inner_text()
    assert "Works" in text
    assert "Shop SMS" in text and "Newsletter" in text
    assert f"Only its owner, shop (user_id {shop.pk}); any other user_id is refused." in text
    assert "0 of 5,000 (this key's quota); counts start again at midnight UTC" in text
    shot(page, "api_key_change")


def test_an_expired_key_shows_expired_in_the_list_and_on_its_page(page, live_server, administrator):
    shop = get_user_model().objects.create_user("shop", is_staff=True)
    key = ApiKey.issue(shop, name="old shop", expires_at=timezone.now() - timedelta(days=2))[0]
    ApiKey.issue(shop, name="live shop")
    log_in(page, live_server, administrator.username, "/admin/campaigns/apikey/")
    row = page.locator("#result_list tr", has_text="old shop")
    assert "Expired" in row.inner_text()
    shot(page, "api_key_list")
    page.goto(f"{live_server.url}/admin/campaigns/apikey/{key.pk}/change/")
    assert "Expired on" in page.locator(".field-state").inner_text()
    shot(page, "api_key_expired")
