"""Who a campaign sends to: its lists, less opted-out contacts and its exclusion lists, duplicates by policy."""

from __future__ import annotations

import pytest
from django.db.models import ProtectedError

from campaigns.fanout import fan_out
from campaigns.models import Campaign, OutboundMessage

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


def test_a_campaign_with_messages_cannot_be_deleted(channel, lists):
    campaign = launched(channel, lists, ["customers"])
    with pytest.raises(ProtectedError):
        campaign.delete()
    assert campaign.messages.count() == 3
