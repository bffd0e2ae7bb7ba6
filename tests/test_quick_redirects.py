"""Quick redirects (messaging_site/fast_lane.py QuickRedirects): once the plain lane has answered a
link found for a host and scheme, later links from them are answered without Django's request and
response, and every answer is still Django's own, Location aside, with the click logged once."""

from __future__ import annotations

import pytest
from django.utils import timezone

from campaigns.links import redirect
from campaigns.models import Campaign, LinkClick, ShortLink
from messaging_site import fast_lane
from tests.test_fast_lane import call, fresh, link, twilio  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)
BROWSER = {"HTTP_USER_AGENT": "Mozilla/5.0"}


@pytest.fixture
def campaign_link(twilio) -> ShortLink:  # noqa: F811 - the imported fixture
    campaign = Campaign.objects.create(name="Spring", channel=twilio, text="x", link_utm="utm_source=sms")
    now = timezone.now()
    return ShortLink.objects.create(
        code="Qr5tUv7W",
        message_id=0,
        campaign=campaign,
        url="https://shop.example/sale?size=m",
        created_at=now,
        expires_at=now + timezone.timedelta(days=1),
    )


@pytest.fixture
def no_plain_lane(monkeypatch):
    """Fails any request that reaches the plain lane (it builds a LaneRequest first)."""

    def refuse(environ):
        raise AssertionError(f"{environ['PATH_INFO']} went through the plain lane")

    def refusing():
        monkeypatch.setattr(fast_lane, "LaneRequest", refuse)

    return refusing


def test_the_second_link_from_a_host_is_answered_quickly_and_as_django_answers_it(
    link,  # noqa: F811
    campaign_link,
    no_plain_lane,
):
    lane, django = fresh()
    first = call(lane, "GET", "/l/Ab3dE5gH", **BROWSER)
    assert first[0] == "302 Found" and len(lane.quick.kept) == 1
    no_plain_lane()
    quick = call(lane, "GET", "/l/Qr5tUv7W", **BROWSER)
    assert LinkClick.objects.count() == 2
    assert dict(quick[1])["Location"] == "https://shop.example/sale?size=m&utm_source=sms"
    assert quick == call(django, "GET", "/l/Qr5tUv7W", **BROWSER)


def test_a_preview_or_head_is_answered_quickly_and_not_counted(link, no_plain_lane):  # noqa: F811
    lane, django = fresh()
    call(lane, "GET", "/l/Ab3dE5gH", **BROWSER)
    call(lane, "HEAD", "/l/Ab3dE5gH", **BROWSER)  # HEAD learns its own answer
    LinkClick.objects.all().delete()
    no_plain_lane()
    preview = call(lane, "GET", "/l/Ab3dE5gH", HTTP_USER_AGENT="WhatsApp/2.23.20.0")
    head = call(lane, "HEAD", "/l/Ab3dE5gH", **BROWSER)
    assert preview[0] == head[0] == "302 Found"
    assert LinkClick.objects.count() == 0
    assert head == call(django, "HEAD", "/l/Ab3dE5gH", **BROWSER)


def test_an_unknown_code_after_a_quick_one_gets_djangos_404_and_log_line(link, caplog):  # noqa: F811
    lane, django = fresh()
    call(lane, "GET", "/l/Ab3dE5gH", **BROWSER)
    caplog.set_level("WARNING", logger="django.request")
    answer = call(lane, "GET", "/l/Zz9yX8wV", **BROWSER)
    assert answer == call(django, "GET", "/l/Zz9yX8wV", **BROWSER)
    assert answer[0] == "404 Not Found"
    assert [r.getMessage() for r in caplog.records if r.name == "django.request"] == ["Not Found: /l/Zz9yX8wV"] * 2


def test_each_host_and_scheme_is_checked_by_the_plain_lane_first(link, settings):  # noqa: F811
    settings.ALLOWED_HOSTS = ["shop.example", "go.shop.example"]
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    lane, django = fresh()
    call(lane, "GET", "/l/Ab3dE5gH", HTTP_HOST="shop.example", **BROWSER)
    for headers in (
        {"HTTP_HOST": "evil.example"},  # refused, never kept
        {"HTTP_HOST": "go.shop.example"},
        {"HTTP_HOST": "shop.example", "HTTP_X_FORWARDED_PROTO": "https"},  # HSTS
    ):
        for _ in range(2):  # learnt, then quick (if allowed)
            assert call(lane, "GET", "/l/Ab3dE5gH", **headers, **BROWSER) == call(
                django, "GET", "/l/Ab3dE5gH", **headers, **BROWSER
            ), headers
    assert len(lane.quick.kept) == 3
    assert call(lane, "GET", "/l/Ab3dE5gH", HTTP_HOST="evil.example", **BROWSER)[0] == "400 Bad Request"


def test_a_settings_change_forgets_what_was_kept(link, settings):  # noqa: F811
    lane, _ = fresh()
    call(lane, "GET", "/l/Ab3dE5gH", **BROWSER)
    assert lane.quick.kept
    settings.SECURE_HSTS_SECONDS = 60
    assert not lane.quick.kept


@pytest.mark.parametrize("setting", ["DEBUG", "DISALLOWED_USER_AGENTS", "SECURE_REDIRECT_EXEMPT"])
def test_settings_that_make_the_answer_depend_on_more_turn_quick_redirects_off(link, settings, setting):  # noqa: F811
    lane, _ = fresh()
    call(lane, "GET", "/l/Ab3dE5gH", **BROWSER)
    setattr(settings, setting, True if setting == "DEBUG" else [r"^nothing$"])
    call(lane, "GET", "/l/Ab3dE5gH", **BROWSER)  # learnt again...
    assert not lane.quick.allowed() and not lane.quick.kept  # ...but not kept


def test_a_campaigns_utm_parameters_are_kept_and_forgotten_when_it_is_saved(campaign_link):
    campaign = campaign_link.campaign
    assert redirect.campaign_utm(campaign.pk) == "utm_source=sms"
    Campaign.objects.filter(pk=campaign.pk).update(link_utm="utm_source=changed")
    assert redirect.campaign_utm(campaign.pk) == "utm_source=sms"  # fixed once links exist: kept
    campaign.refresh_from_db()
    campaign.save()
    assert redirect.campaign_utm(campaign.pk) == "utm_source=changed"
    assert redirect.campaign_utm(None) == ""
