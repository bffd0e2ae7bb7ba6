# ruff: noqa: F811  (fixture parameters share the names of the imported fixtures)
"""Tracked links on a bulk API job: on by default, off with track_links=false, clicks counted the same."""

from __future__ import annotations

import pytest

from campaigns.links import apply_clicks
from campaigns.models import ShortLink
from providers.sandbox import SandboxProvider
from tests.test_api_message import api_key, api_user, call, errors  # noqa: F401
from tests.test_bulk_api import create_job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent(monkeypatch):
    texts: list[str] = []
    original = SandboxProvider.send_batch

    def spy(self, batch):
        texts.extend(m.text for m in batch)
        return original(self, batch)

    monkeypatch.setattr(SandboxProvider, "send_batch", spy)
    return texts


def test_a_bulk_jobs_links_are_tracked_by_default_and_clicks_counted(call, channel, worker, sent, client, settings):
    settings.SHORT_LINK_BASE_URL = "https://s.example/l/"
    job = create_job(call, channel, [{"to": "+14155550123"}, {"to": "+14155550124"}], text="See https://a.example/x")
    assert job.track_links
    worker()
    links = {link.message.to: link for link in ShortLink.objects.select_related("message")}
    assert sorted(sent) == sorted(f"See https://s.example/l/{link.code}" for link in links.values())
    link = links["+14155550123"]
    assert client.get(f"/l/{link.code}")["Location"] == "https://a.example/x"
    assert apply_clicks() == 1
    link.refresh_from_db()
    assert link.click_count == 1 and link.first_click_at is not None


def test_track_links_false_sends_addresses_as_written(call, channel, worker, sent):
    job = create_job(call, channel, [{"to": "+14155550123"}], text="See https://a.example/x", track_links=False)
    assert not job.track_links
    worker()
    assert sent == ["See https://a.example/x"] and not ShortLink.objects.exists()


def test_track_links_must_be_a_boolean(call, channel):
    status, answer, _ = call(
        "POST",
        "/messages/bulk",
        {
            "provider": "sandbox",
            "channel_key": channel.channel_key,
            "recipients": [{"to": "+14155550123"}],
            "text": "x",
            "track_links": "no",
        },
    )
    assert status == 400
    assert 'track_links: "no" is a string; expected true or false.' in errors(answer)
