"""Who a campaign sends to: its lists, less opted-out contacts and its exclusion lists, duplicates by policy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import ProtectedError
from django.utils import timezone

from campaigns.models import Campaign, OutboundMessage
from campaigns.pipeline.fanout import fan_out, insert_audience, start_due_campaigns

pytestmark = pytest.mark.django_db(transaction=True)
Status = OutboundMessage.Status
ANN, BOB, CAT, DAN = "+447911123401", "+447911123402", "+447911123403", "+447911123404"


@pytest.fixture
def lists(make_contact, make_list):
    ann, bob, cat, dan = (
        make_contact(phone, name) for phone, name in [(ANN, "Ann"), (BOB, "Bob"), (CAT, "Cat"), (DAN, "Dan")]
    )
    dan.opt_out_phone(DAN, "STOP")
    return {
        "customers": make_list("Customers", [ann, bob, dan]),
        "newsletter": make_list("Newsletter", [bob, cat]),
        "complained": make_list("Complained", [cat]),
    }


def launched(channel, lists, include, exclude=(), duplicates=False) -> Campaign:
    campaign = Campaign.objects.create(
        name="Sale", channel=channel, text="Hi {{ name }}", duplicates_allowed=duplicates
    )
    campaign.lists.set([lists[name] for name in include])
    campaign.exclude_lists.set([lists[name] for name in exclude])
    assert campaign.launch()
    fan_out(campaign.pk)
    return campaign


def rows(campaign: Campaign) -> list[tuple[str, str]]:
    return sorted(campaign.messages.values_list("to", "status"))


def test_exclusion_lists_leave_their_contacts_out(channel, lists):
    campaign = launched(channel, lists, ["customers", "newsletter"], exclude=["complained"])
    assert rows(campaign) == [(ANN, Status.QUEUED), (BOB, Status.QUEUED), (DAN, Status.CANCELLED)]


def test_one_message_per_number_unless_duplicates_are_allowed(channel, lists):
    once = launched(channel, lists, ["customers", "newsletter"])
    assert [to for to, _ in rows(once)] == [ANN, BOB, CAT, DAN]

    twice = launched(channel, lists, ["customers", "newsletter"], exclude=["complained"], duplicates=True)
    assert [to for to, _ in rows(twice)] == [ANN, BOB, BOB, DAN]
    fan_out(twice.pk)  # a second run adds nothing
    assert twice.messages.count() == 4


def test_audience_definition_is_the_fan_outs(channel, lists):
    campaign = Campaign.objects.create(name="Sale", channel=channel, text="Hi")
    campaign.lists.set([lists["customers"], lists["newsletter"]])
    campaign.exclude_lists.set([lists["complained"]])
    assert sorted(campaign.audience_contacts().distinct().values_list("phone", flat=True)) == [ANN, BOB, DAN]


def test_a_long_fan_out_is_not_taken_for_a_lost_one_while_its_slices_go_in(channel, lists, settings):
    settings.CAMPAIGN_AUDIENCE_SLICE = 1  # one contact id per committed step
    campaign = Campaign.objects.create(name="Sale", channel=channel, text="Hi")
    campaign.lists.set([lists["customers"], lists["newsletter"]])
    long_ago = timezone.now() - timedelta(seconds=settings.QUEUED_STALE_SECONDS + 60)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING, updated_at=long_ago)
    assert insert_audience(campaign) is None  # all in; started long ago, still going: every slice says so
    assert campaign.messages.count() == 4
    assert start_due_campaigns() == 0  # so the reconciler starts no second fan-out beside it

    Campaign.objects.filter(pk=campaign.pk).update(updated_at=long_ago)  # no slice since: its worker died
    assert start_due_campaigns() == 1
    assert fan_out(campaign.pk) == 4  # the new one skips the rows already in
    assert sorted(to for to, _ in rows(campaign)) == [ANN, BOB, CAT, DAN]


def test_a_campaign_with_messages_cannot_be_deleted(channel, lists):
    campaign = launched(channel, lists, ["customers"])
    with pytest.raises(ProtectedError):
        campaign.delete()
    assert campaign.messages.count() == 3
