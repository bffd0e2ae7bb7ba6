"""A/B variants: stable assignment and the split, the form's checks, results per variant with the
chance test, and test-then-winner under faults (a job run twice, a restart between test and rest,
a pause during the wait), through a real worker against the loopback Twilio fake."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import django_rq
import pytest
from django.db.models import Count
from django.utils import timezone

from campaigns import variants
from campaigns.models import Campaign, CampaignVariant, OutboundMessage, ShortLink
from campaigns.models.variant import letter
from campaigns.pipeline.fanout import fan_out, insert_audience
from campaigns.pipeline.jobs import reconcile
from campaigns.variants import Plan, plan_for, two_proportion_p
from campaigns.variants.winner import winner_step
from tests import test_twilio_support as support
from tests.inbox_builders import a_conversation, a_reply

pytestmark = pytest.mark.django_db(transaction=True)
twilio_server, fake_twilio, make_twilio_channel = (
    support.twilio_server,
    support.fake_twilio,
    support.make_twilio_channel,
)
Status = Campaign.Status
Message = OutboundMessage.Status
NUMBERS = [f"+4479111236{n:02d}" for n in range(80)]
ADD = "/admin/campaigns/campaign/add/"


@pytest.fixture
def customers(make_contact, make_list):
    return make_list("Customers", [make_contact(phone, f"Person{n} Example") for n, phone in enumerate(NUMBERS)])


@pytest.fixture
def worker(worker):
    """The real worker, run again while a running campaign's message waits for its next attempt: on a
    loaded machine a request that could not leave by its booked time is held back ("late") and its
    campaign's dispatch job is scheduled a moment later."""

    def run() -> None:
        for _ in range(20):
            worker()
            waiting = OutboundMessage.objects.filter(
                status=Message.QUEUED, next_attempt_at__isnull=False, campaign__status=Status.RUNNING
            )
            due = waiting.order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
            if due is None:
                return
            time.sleep(min(max((due - timezone.now()).total_seconds(), 0) + 0.05, 2))

    return run


def ab_campaign(channel, customers, shares=(50, 50), **fields) -> Campaign:
    campaign = Campaign.objects.create(name="Spring A/B", channel=channel, text="", **fields)
    campaign.lists.set([customers])
    for position, share in enumerate(shares, start=1):
        CampaignVariant.objects.create(
            campaign=campaign, position=position, share=share, text=f"Offer {letter(position)} for {{{{ first_name }}}}"
        )
    return campaign


def reloaded(campaign: Campaign) -> Campaign:
    return Campaign.objects.get(pk=campaign.pk)


def rows_by_number(campaign: Campaign) -> dict[str, int | None]:
    return dict(campaign.messages.values_list("to", "variant"))


# --- assignment ----------------------------------------------------------------------------------


def test_assignment_is_stable_and_follows_the_split():
    plan = Plan(shares=((1, 20), (2, 30), (3, 50)))
    numbers = [f"+4479{n:08d}" for n in range(20_000)]
    first = [plan.assign(7, number) for number in numbers]
    assert first == [plan.assign(7, number) for number in numbers]  # the same every time it is asked
    shares = Counter(first)
    assert abs(shares[1] / len(numbers) - 0.20) < 0.015
    assert abs(shares[2] / len(numbers) - 0.30) < 0.015
    assert abs(shares[3] / len(numbers) - 0.50) < 0.015
    other = [plan.assign(8, number) for number in numbers]  # another campaign splits people afresh
    assert sum(a != b for a, b in zip(first, other, strict=True)) > len(numbers) / 3


def test_a_test_takes_its_share_and_the_rest_waits_for_the_winner():
    plan = Plan(shares=((1, 50), (2, 50)), test_share=20)
    numbers = [f"+4479{n:08d}" for n in range(20_000)]
    given = Counter(plan.assign(3, number) for number in numbers)
    assert abs(given[None] / len(numbers) - 0.80) < 0.015
    assert abs(given[1] / (given[1] + given[2]) - 0.5) < 0.03


def test_the_fan_out_writes_the_variant_python_computes_and_a_rerun_changes_nothing(channel, customers):
    campaign = ab_campaign(channel, customers, shares=(30, 70))
    campaign.launch()
    fan_out(campaign.pk)
    plan = plan_for(campaign)
    rows = rows_by_number(campaign)
    assert rows == {number: plan.assign(campaign.pk, number) for number in NUMBERS}
    assert set(rows.values()) == {1, 2}

    insert_audience(reloaded(campaign))  # a retry or a restart fans out again: ON CONFLICT keeps every row
    assert rows_by_number(campaign) == rows
    assert campaign.messages.count() == len(NUMBERS)


def test_an_opted_out_recipient_is_cancelled_and_a_test_rest_waits_without_a_variant(channel, customers):
    campaign = ab_campaign(channel, customers, test_share=25, test_wait=timedelta(hours=1), winner_by="clicks")
    customers.contacts.first().opt_out_phone(NUMBERS[0], "STOP")
    campaign.launch()
    fan_out(campaign.pk)
    plan = plan_for(campaign)
    for number, status, variant in campaign.messages.values_list("to", "status", "variant"):
        expected = plan.assign(campaign.pk, number)
        assert variant == expected
        if number == NUMBERS[0]:
            assert status == Message.CANCELLED
        else:
            assert status == (Message.QUEUED if expected else Message.SCHEDULED)
    due = reloaded(campaign).winner_due_at
    assert due is not None and due > timezone.now() + timedelta(minutes=59)


def test_a_bulk_jobs_inline_recipients_get_the_same_variants(channel):
    job = Campaign.objects.create(
        name="API",
        kind=Campaign.Kind.BULK_API,
        channel=channel,
        inline_recipients=[{"to": number} for number in NUMBERS[:20]],
    )
    for position in (1, 2):
        CampaignVariant.objects.create(campaign=job, position=position, share=50, text=f"T{position}")
    job.launch()
    fan_out(job.pk)
    plan = plan_for(job)
    assert rows_by_number(job) == {number: plan.assign(job.pk, number) for number in NUMBERS[:20]}


# --- the form ------------------------------------------------------------------------------------


def variant_rows(*rows: tuple[str, int], initial: int = 0) -> dict:
    data = {
        "variants-TOTAL_FORMS": str(len(rows)),
        "variants-INITIAL_FORMS": str(initial),
        "variants-MIN_NUM_FORMS": "0",
        "variants-MAX_NUM_FORMS": "5",
    }
    for n, (text, share) in enumerate(rows):
        data.update({f"variants-{n}-text": text, f"variants-{n}-share": str(share)})
    return data


def campaign_form(channel, customers, **extra) -> dict:
    return {"name": "Spring A/B", "channel": channel.pk, "text": "", "lists": [customers.pk], **extra}


def test_percentages_that_do_not_add_up_to_100_are_refused_naming_the_field(staff, channel, customers):
    response = staff.post(ADD, campaign_form(channel, customers, **variant_rows(("Hi A", 40), ("Hi B", 50))))
    page = response.content.decode()
    assert "share: the split percentages add up to 90 (40 + 50), not 100." in page
    assert not Campaign.objects.exists()

    response = staff.post(ADD, campaign_form(channel, customers, **variant_rows(("Hi A", 50))))
    assert "variants: a campaign has 2 to 5 variants (or none); 1 given." in response.content.decode()
    response = staff.post(ADD, campaign_form(channel, customers, **variant_rows(("Hi A", 0), ("Hi B", 100))))
    assert "share: 0 is not between 1 and 99" in response.content.decode()
    response = staff.post(ADD, campaign_form(channel, customers, **variant_rows(("", 50), ("Hi B", 50))))
    assert "text: variant A needs a text or a template." in response.content.decode()
    response = staff.post(ADD, campaign_form(channel, customers, text="Hi", test_share="20", winner_by="clicks"))
    page = response.content.decode()
    assert "test_share: a test needs at least two A/B variants below." in page
    assert "test_wait: choose how long to wait before picking the winner." in page
    assert not Campaign.objects.exists()


def test_variants_are_saved_in_order_and_sent_as_their_own_text(staff, channel, customers, worker):
    data = campaign_form(
        channel,
        customers,
        test_share="",
        **variant_rows(("Hi {{ first_name }}, A", 60), ("Hey {{ first_name }}, B", 40)),
    )
    response = staff.post(ADD, data, follow=True)
    assert response.status_code == 200
    campaign = Campaign.objects.get()
    assert list(campaign.variants.values_list("position", "share")) == [(1, 60), (2, 40)]
    page = staff.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert 'id="segment-tables"' in page and "campaign-variants.js" in page

    assert campaign.launch()
    worker()
    texts = dict(campaign.messages.values_list("to", "body"))
    plan = plan_for(campaign)
    for number in NUMBERS:
        first = f"Person{NUMBERS.index(number)}"
        assert texts[number] == (f"Hi {first}, A" if plan.assign(campaign.pk, number) == 1 else f"Hey {first}, B")
    assert reloaded(campaign).status == Status.COMPLETED


# --- results -------------------------------------------------------------------------------------


def test_the_two_proportion_test():
    assert 0.006 < two_proportion_p(50, 1000, 80, 1000) < 0.007  # z = 2.72
    assert two_proportion_p(5, 100, 5, 100) == 1.0
    assert two_proportion_p(0, 0, 3, 10) == 1.0
    assert two_proportion_p(0, 100, 0, 100) == 1.0  # nobody did anything: no evidence either way


def test_results_per_variant_count_sends_deliveries_clicks_replies_and_opt_outs(staff, channel, customers):
    campaign = ab_campaign(channel, customers)
    campaign.launch()
    fan_out(campaign.pk)
    messages = list(campaign.messages.order_by("id"))
    OutboundMessage.objects.filter(campaign=campaign).update(status=Message.DELIVERED, sent_at=timezone.now())
    by_variant = {1: [m for m in messages if m.variant == 1], 2: [m for m in messages if m.variant == 2]}
    now = timezone.now()
    for n, message in enumerate(by_variant[2][:20]):  # B: 20 clickers, A: 2
        ShortLink.objects.create(
            code=f"b{n}", message=message, campaign=campaign, url="https://x.test", created_at=now,
            expires_at=now + timedelta(days=1), first_click_at=now, click_count=2,
        )  # fmt: skip
    for n, message in enumerate(by_variant[1][:2]):
        ShortLink.objects.create(
            code=f"a{n}", message=message, campaign=campaign, url="https://x.test", created_at=now,
            expires_at=now + timedelta(days=1), first_click_at=now,
        )  # fmt: skip
    ShortLink.objects.create(  # a link nobody clicked counts for nothing
        code="a-none", message=by_variant[1][3], campaign=campaign, url="https://x.test", created_at=now,
        expires_at=now + timedelta(days=1),
    )  # fmt: skip
    conversations = {m.to: a_conversation(channel, phone=m.to) for m in by_variant[1][:2]}
    for message, keyword in [(by_variant[1][0], ""), (by_variant[1][0], ""), (by_variant[1][1], "STOP")]:
        reply = a_reply(conversations[message.to], "hello", campaign=campaign, keyword=keyword)
        reply.in_reply_to = message
        reply.save()

    found = variants.results(campaign).by_position()
    a, b = found[1], found[2]
    assert (a.sent, a.delivered, a.clicked, a.replied, a.opted_out) == (len(by_variant[1]), len(by_variant[1]), 2, 2, 1)
    assert (b.sent, b.clicked, b.replied) == (len(by_variant[2]), 20, 0)
    notes = variants.results(campaign).notes
    assert notes["clicks"].startswith("B's click rate")
    assert "bigger than chance" in notes["clicks"]

    page = staff.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert 'id="variant-results"' in page and notes["clicks"].replace("'", "&#x27;") in page


def ab_notes(staff, campaign: Campaign) -> str:
    """The A/B panel's notes as the page shows them."""
    page = staff.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    return page[page.index('id="ab-notes"') :].split("</ul>")[0].replace("&#x27;", "'")


def test_a_finished_campaigns_notes_say_the_test_could_not_tell_not_to_wait(staff, channel, customers):
    campaign = ab_campaign(channel, customers)
    campaign.launch()
    fan_out(campaign.pk)
    messages = list(campaign.messages.order_by("id"))
    OutboundMessage.objects.filter(pk__in=[m.pk for m in messages[:20]]).update(
        status=Message.DELIVERED, sent_at=timezone.now()
    )
    assert "Too few messages sent yet to compare the click rates" in ab_notes(staff, campaign)  # still sending

    Campaign.objects.filter(pk=campaign.pk).update(status=Status.COMPLETED)
    notes = ab_notes(staff, campaign)
    assert "Too few messages were sent to tell the click rates apart (it takes at least 30 a variant)." in notes
    assert "yet" not in notes and "wait for more" not in notes

    OutboundMessage.objects.filter(campaign=campaign).update(status=Message.DELIVERED, sent_at=timezone.now())
    now = timezone.now()
    for n, message in enumerate([m for m in messages if m.variant == 2][:3]):  # B 3 clickers, A 2: chance
        ShortLink.objects.create(
            code=f"b{n}", message=message, campaign=campaign, url="https://x.test", created_at=now,
            expires_at=now + timedelta(days=1), first_click_at=now,
        )  # fmt: skip
    for n, message in enumerate([m for m in messages if m.variant == 1][:2]):
        ShortLink.objects.create(
            code=f"a{n}", message=message, campaign=campaign, url="https://x.test", created_at=now,
            expires_at=now + timedelta(days=1), first_click_at=now,
        )  # fmt: skip
    notes = ab_notes(staff, campaign)
    assert "but a difference this size is within chance" in notes and "the test cannot tell them apart." in notes
    assert "Replies: A and B had the same reply rate." in notes
    assert "yet" not in notes and "so far" not in notes and "wait for more" not in notes

    Campaign.objects.filter(pk=campaign.pk).update(status=Status.RUNNING)  # while it runs: more may come
    notes = ab_notes(staff, campaign)
    assert "could well be chance" in notes and "wait for more results" in notes and "so far" in notes


def test_the_export_names_each_recipients_variant(staff, channel, customers):
    campaign = ab_campaign(channel, customers)
    campaign.launch()
    fan_out(campaign.pk)
    csv = b"".join(staff.get(f"/admin/campaigns/campaign/{campaign.pk}/results.csv").streaming_content).decode()
    header, *lines = csv.strip().splitlines()
    assert "variant" in header.split(",")
    column = header.split(",").index("variant")
    plan = plan_for(campaign)
    for line in lines:
        cells = line.split(",")
        assert cells[column] == letter(plan.assign(campaign.pk, cells[0]))


# --- test then winner, under faults --------------------------------------------------------------


def clicks_for(campaign: Campaign, position: int) -> None:
    """Every recipient of variant ``position`` clicked (as the link job would have counted)."""
    now = timezone.now()
    for message in campaign.messages.filter(variant=position):
        ShortLink.objects.create(
            code=f"c{message.pk}", message=message, campaign=campaign, url="https://x.test", created_at=now,
            expires_at=now + timedelta(days=1), first_click_at=now,
        )  # fmt: skip


def numbers_received(fake) -> list[str]:
    return sorted(request.form["To"][0] for request in fake.received)


def bodies_received(fake) -> dict[str, str]:
    return {request.form["To"][0]: request.form["Body"][0] for request in fake.received}


def test_the_winner_job_run_twice_sends_the_rest_once(channel, customers):
    campaign = ab_campaign(channel, customers, test_share=40, test_wait=timedelta(0), winner_by="clicks")
    campaign.launch()
    fan_out(campaign.pk)
    OutboundMessage.objects.filter(campaign=campaign, status=Message.QUEUED).update(status=Message.SENT)
    clicks_for(campaign, 2)
    rest = campaign.messages.filter(variant__isnull=True).count()
    assert rest > 30

    winner_step(campaign.pk)
    winner_step(campaign.pk)  # the same job again (a retry, a duplicate from the reconciler)
    after = reloaded(campaign)
    assert after.winner == 2 and after.winner_due_at is None
    assert after.winner_note.startswith("Chosen by click rate after the test (A 0.0%, B 100.0%).")
    assert campaign.messages.filter(variant__isnull=True).count() == 0
    assert campaign.messages.filter(variant=2, status=Message.QUEUED).count() == rest
    assert campaign.messages.count() == len(NUMBERS)  # one row a recipient: one variant each


def test_a_restart_between_test_and_rest_sends_everyone_exactly_once(
    fake_twilio, make_twilio_channel, customers, worker
):
    channel = make_twilio_channel()
    campaign = ab_campaign(channel, customers, test_share=50, test_wait=timedelta(hours=1), winner_by="clicks")
    campaign.launch()
    worker()  # the test goes; the winner step waits in RQ's scheduled registry for its hour
    tested = numbers_received(fake_twilio)
    assert 20 < len(tested) < 60
    assert reloaded(campaign).status == Status.RUNNING  # the rest still waits: not completed
    clicks_for(campaign, 1)

    django_rq.get_connection("default").flushdb()  # a restart loses every job, the winner step too
    Campaign.objects.filter(pk=campaign.pk).update(winner_due_at=timezone.now() - timedelta(hours=1))
    assert reconcile()["winner_steps"] == 1
    assert reconcile()["winner_steps"] == 0  # touched: not enqueued again at once
    worker()

    done = reloaded(campaign)
    assert (done.status, done.winner) == (Status.COMPLETED, 1)
    assert numbers_received(fake_twilio) == NUMBERS  # every recipient exactly once
    plan = plan_for(campaign)
    for number, body in bodies_received(fake_twilio).items():
        tested_with = plan.assign(campaign.pk, number)
        assert body.startswith(f"Offer {letter(tested_with or 1)} ")  # its test variant, or the winner A


def test_a_pause_during_the_wait_holds_the_rest_until_resumed(fake_twilio, make_twilio_channel, customers, worker):
    channel = make_twilio_channel()
    campaign = ab_campaign(channel, customers, test_share=50, test_wait=timedelta(hours=1), winner_by="replies")
    campaign.launch()
    worker()
    tested = len(fake_twilio.received)
    assert campaign.pause("Paused by staff")

    Campaign.objects.filter(pk=campaign.pk).update(winner_due_at=timezone.now() - timedelta(seconds=1))
    winner_step(campaign.pk)  # the scheduled job comes while the campaign is paused
    worker()
    paused = reloaded(campaign)
    assert (paused.status, paused.winner) == (Status.PAUSED, 1)  # no replies at all: the first variant
    assert len(fake_twilio.received) == tested  # nothing more went while paused
    assert campaign.messages.filter(status=Message.QUEUED, variant=1).count() == len(NUMBERS) - tested

    assert campaign.resume()
    worker()
    assert reloaded(campaign).status == Status.COMPLETED
    assert numbers_received(fake_twilio) == NUMBERS
    counts = dict(campaign.messages.values_list("to").annotate(n=Count("id")).values_list("to", "n"))
    assert set(counts.values()) == {1}


def test_a_person_picks_the_winner_and_a_pick_after_the_end_is_refused(staff, channel, customers, worker):
    campaign = ab_campaign(channel, customers, test_share=30, winner_by="person")
    campaign.launch()
    worker()
    page = staff.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert "Pick B as the winner" in page
    assert reloaded(campaign).status == Status.RUNNING  # the rest waits for the person, however long
    progress = staff.get(f"/admin/campaigns/campaign/{campaign.pk}/progress/").json()
    rest = campaign.messages.filter(variant__isnull=True).count()
    assert (progress["parts"]["winner"], progress["parts"]["waiting"]) == (rest, 0)  # not "waiting for hours"

    response = staff.post(f"/admin/campaigns/campaign/{campaign.pk}/winner/", {"variant": "2"}, follow=True)
    assert "Variant B is the winner: it goes to the rest now." in response.content.decode()
    worker()
    done = reloaded(campaign)
    assert (done.status, done.winner) == (Status.COMPLETED, 2)
    assert done.winner_note.startswith("Picked by ")
    assert campaign.messages.filter(variant__isnull=True).count() == 0

    response = staff.post(f"/admin/campaigns/campaign/{campaign.pk}/winner/", {"variant": "1"}, follow=True)
    assert "No winner picked: “Spring A/B” has ended (completed): a winner can no longer be picked." in (
        response.content.decode()
    )
    assert reloaded(campaign).winner == 2


def test_a_cancelled_test_keeps_its_rest_unsent_and_refuses_a_pick(channel, customers):
    campaign = ab_campaign(channel, customers, test_share=30, test_wait=timedelta(hours=1), winner_by="clicks")
    campaign.launch()
    fan_out(campaign.pk)
    assert campaign.cancel("Wrong offer")
    assert "has ended (cancelled)" in variants.pick_winner(reloaded(campaign), 1, "ann")
    Campaign.objects.filter(pk=campaign.pk).update(winner_due_at=timezone.now() - timedelta(hours=1))
    winner_step(campaign.pk)
    assert reloaded(campaign).winner is None
    assert set(campaign.messages.values_list("status", flat=True)) == {Message.CANCELLED}
