"""Who may do what: every changelist action and every extra admin URL, for four kinds of staff.

The tables below are the decisions. The test finds the verbs itself (every ModelAdmin's actions,
every URL a ModelAdmin or the admin site adds beyond Django's defaults, every project URL under
/admin/ outside the admin site) and fails on one without a row: a new verb needs a decision here,
and a probe saying how to try it.

A refusal must really refuse: the action is not offered and posting it changes nothing (no row, no
queued job), an URL answers 403 naming the missing permission and changes nothing. An allowance
must really work: the action is offered and does what it says, the URL answers and acts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import django_rq
import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rq import Queue, Worker
from rq.job import JobStatus

from campaigns.models import (
    ApiKey,
    BulkJob,
    Campaign,
    CampaignVariant,
    ChannelKeywords,
    MessageTemplate,
    OutboundMessage,
    SigningSecret,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookEvent,
    WhatsAppTemplate,
)
from contacts.models import Consent, Contact, ContactImport, ContactList, Suppression
from providers.models import Channel
from tests.browser import marketing_group
from tests.inbox_builders import a_conversation, a_reply

pytestmark = pytest.mark.django_db

SUPERUSER, MARKETING, VIEWER, STAFF = "superuser", "marketing", "view-only staff", "staff with no group"
ROLES = [SUPERUSER, MARKETING, VIEWER, STAFF]
ADMINISTRATORS = frozenset({SUPERUSER})
CAMPAIGN_WORK = frozenset({SUPERUSER, MARKETING})
READERS = frozenset({SUPERUSER, MARKETING, VIEWER})
EVERY_STAFF = frozenset(ROLES)
NOBODY = frozenset()
GONE = "404 for everyone"  # an address a library adds that our own pages replace

# --- the decisions -----------------------------------------------------------------------------------

# (model, action) -> who is offered it and may run it.
ACTIONS = {
    ("auth.Group", "delete_selected"): ADMINISTRATORS,
    ("auth.User", "delete_selected"): ADMINISTRATORS,
    ("contacts.Contact", "delete_selected"): CAMPAIGN_WORK,
    ("contacts.Contact", "add_to_list"): CAMPAIGN_WORK,
    ("contacts.Contact", "remove_from_list"): CAMPAIGN_WORK,
    ("contacts.Contact", "create_list"): CAMPAIGN_WORK,
    ("contacts.Contact", "opt_out"): CAMPAIGN_WORK,
    ("contacts.Contact", "opt_in"): CAMPAIGN_WORK,
    ("contacts.ContactList", "delete_selected"): CAMPAIGN_WORK,
    ("contacts.ContactImport", "delete_selected"): ADMINISTRATORS,
    ("contacts.Suppression", "delete_selected"): NOBODY,  # only START or "Opt back in…" lift a number
    ("contacts.Consent", "delete_selected"): NOBODY,  # the proof that a number asked to join a list
    ("campaigns.ChannelKeywords", "delete_selected"): ADMINISTRATORS,  # back to the defaults
    ("campaigns.Campaign", "delete_selected"): CAMPAIGN_WORK,
    ("campaigns.Campaign", "launch"): CAMPAIGN_WORK,
    ("campaigns.Campaign", "pause"): CAMPAIGN_WORK,
    ("campaigns.Campaign", "resume"): CAMPAIGN_WORK,
    ("campaigns.Campaign", "cancel"): CAMPAIGN_WORK,
    ("campaigns.BulkJob", "delete_selected"): ADMINISTRATORS,
    ("campaigns.BulkJob", "cancel_jobs"): CAMPAIGN_WORK,
    ("campaigns.OutboundMessage", "delete_selected"): NOBODY,  # message history is never deleted
    ("campaigns.OutboundMessage", "cancel_messages"): CAMPAIGN_WORK,
    ("campaigns.MessageTemplate", "delete_selected"): CAMPAIGN_WORK,
    ("campaigns.Conversation", "delete_selected"): NOBODY,  # what people wrote to us is kept
    ("campaigns.Conversation", "mark_read"): CAMPAIGN_WORK,
    ("campaigns.Conversation", "mark_done"): CAMPAIGN_WORK,
    ("campaigns.Conversation", "reopen"): CAMPAIGN_WORK,
    ("campaigns.WhatsAppTemplate", "delete_selected"): NOBODY,  # a copy of the provider's list
    ("campaigns.ApiKey", "delete_selected"): ADMINISTRATORS,
    ("campaigns.ApiKey", "revoke_keys"): ADMINISTRATORS,
    ("campaigns.WebhookEndpoint", "delete_selected"): ADMINISTRATORS,
    ("providers.Channel", "delete_selected"): ADMINISTRATORS,
    ("providers.Channel", "check_credentials"): ADMINISTRATORS,
    ("providers.Channel", "resume_sending"): ADMINISTRATORS,
    ("providers.Channel", "send_test_message"): ADMINISTRATORS,
    ("providers.Channel", "sync_whatsapp_templates"): ADMINISTRATORS,
    ("axes.AccessAttempt", "delete_selected"): ADMINISTRATORS,
    ("axes.AccessFailureLog", "delete_selected"): ADMINISTRATORS,
    ("axes.AccessLog", "delete_selected"): ADMINISTRATORS,
    ("otp_totp.TOTPDevice", "delete_selected"): ADMINISTRATORS,
}

RQ_PAGES = [
    "^stats.json/?$",
    "^stats.json/(?P<token>[\\w]+)?/?$",
    "^metrics/?$",
    "",
    "queues/<int:queue_index>/",
    "queues/<int:queue_index>/details/",
    "queues/<int:queue_index>/finished/",
    "queues/<int:queue_index>/failed/",
    "queues/<int:queue_index>/failed/clear/",
    "queues/<int:queue_index>/scheduled/",
    "queues/<int:queue_index>/started/",
    "queues/<int:queue_index>/deferred/",
    "queues/<int:queue_index>/empty/",
    "queues/<int:queue_index>/requeue-all/",
    "queues/<int:queue_index>/<str:job_id>/",
    "queues/<int:queue_index>/<str:job_id>/results/<str:result_id>/",
    "queues/<int:queue_index>/<str:job_id>/delete/",
    "queues/<int:queue_index>/<str:job_id>/requeue/",
    "queues/<int:queue_index>/<str:job_id>/enqueue/",
    "queues/<int:queue_index>/<str:job_id>/stop/",
    "queues/confirm-action/<int:queue_index>/",
    "queues/actions/<int:queue_index>/",
    "workers/<int:queue_index>/",
    "workers/<int:queue_index>/<str:key>/",
    "schedulers/<int:scheduler_index>/",
    "cron-schedulers/<int:connection_index>/<str:scheduler_name>/",
    "cron-schedulers/<int:connection_index>/<str:scheduler_name>/jobs/<path:cron_job_name>/",
]

# URL route (as Django spells it, under /admin/) -> who may use it.
URLS = {
    "/admin/time-zone/": EVERY_STAFF,  # one's own time zone
    "/admin/two-factor/": EVERY_STAFF,  # one's own authenticator app
    "/admin/two-factor/qr.svg": EVERY_STAFF,
    "/admin/otp_totp/totpdevice/<int:pk>/config/": NOBODY,  # another person's secret (OTP_ADMIN_HIDE_SENSITIVE_DATA)
    "/admin/otp_totp/totpdevice/<int:pk>/qrcode/": NOBODY,
    "/admin/auth/user/<id>/password/": ADMINISTRATORS,
    "/admin/contacts/contact/export/<str:file_format>/": READERS,
    "/admin/contacts/contact/<int:contact_id>/timeline/": READERS,  # needs view contact and view message too
    "/admin/contacts/contact/export/": GONE,  # django-import-export's, replaced by the streamed export
    "/admin/contacts/contact/process_import/": GONE,  # django-import-export's, replaced by the preview page
    "/admin/contacts/contact/import/": CAMPAIGN_WORK,
    "/admin/contacts/suppression/export.csv": READERS,
    "/admin/contacts/suppression/import/": ADMINISTRATORS,  # Marketing views the list, adds nothing to it
    "/admin/contacts/contact/import/<int:import_id>/": CAMPAIGN_WORK,
    "/admin/contacts/contact/import/<int:import_id>/preview/": CAMPAIGN_WORK,
    "/admin/contacts/contact/import/<int:import_id>/confirm/": CAMPAIGN_WORK,
    "/admin/contacts/contact/import/<int:import_id>/progress/": CAMPAIGN_WORK,
    "/admin/contacts/contact/import/<int:import_id>/status.json": CAMPAIGN_WORK,
    "/admin/contacts/contact/import/<int:import_id>/rejected.csv": CAMPAIGN_WORK,
    "/admin/campaigns/campaign/<int:pk>/act/<str:verb>/": CAMPAIGN_WORK,
    "/admin/campaigns/campaign/<int:pk>/progress/": READERS,
    "/admin/campaigns/campaign/<int:pk>/analytics.json": READERS,
    "/admin/campaigns/campaign/<int:pk>/analytics.csv": READERS,
    "/admin/campaigns/campaign/<int:pk>/send-test/": CAMPAIGN_WORK,
    "/admin/campaigns/campaign/<int:pk>/winner/": CAMPAIGN_WORK,  # an A/B test's winner goes to the rest
    "/admin/campaigns/campaign/<path:object_id>/results.<str:file_format>": READERS,
    "/admin/campaigns/campaign/calendar/": READERS,
    "/admin/campaigns/campaign/calendar/feed/": READERS,
    "/admin/campaigns/campaign/calendar/<int:campaign_id>/reschedule/": CAMPAIGN_WORK,
    "/admin/campaigns/outboundmessage/unknown/": ADMINISTRATORS,
    "/admin/campaigns/messagetemplate/preview/": READERS,
    "/admin/campaigns/campaign/template-preview/": READERS,  # the campaign form's WhatsApp template preview
    "/admin/campaigns/conversation/updates.json": READERS,  # the inbox's live updates
    "/admin/campaigns/conversation/<int:pk>/updates.json": READERS,  # a conversation's live updates
    "/admin/campaigns/conversation/<int:pk>/reply/": CAMPAIGN_WORK,
    "/admin/campaigns/conversation/<int:pk>/mark/<str:verb>/": CAMPAIGN_WORK,
    "/admin/campaigns/whatsapptemplate/sync/": CAMPAIGN_WORK,  # those who edit message templates
    "/admin/metrics/": ADMINISTRATORS,
    "/admin/providers/channel/<path:object_id>/test-reply/": ADMINISTRATORS,  # posts to the channel's webhook
    # Sending an event again (and a new status callback secret) needs "change webhook endpoint";
    # reading the log, "view" (view-only staff read it, without the buttons).
    "/admin/campaigns/webhookendpoint/<int:pk>/log/": ADMINISTRATORS,
    "/admin/campaigns/webhookendpoint/status-callbacks/": ADMINISTRATORS,
    "/admin/campaigns/webhookendpoint/<int:pk>/rotate-secret/": ADMINISTRATORS,  # "change webhook endpoint"
    **{f"/admin/rq/{route}": ADMINISTRATORS for route in RQ_PAGES},
}

# django-otp's pages refuse everyone, superusers too: there is no permission to name.
LIBRARY_REFUSALS = {
    "/admin/otp_totp/totpdevice/<int:pk>/config/",
    "/admin/otp_totp/totpdevice/<int:pk>/qrcode/",
}

# --- finding the verbs -------------------------------------------------------------------------------

DEFAULT_MODEL_URLS = {"changelist", "add", "history", "delete", "change"}


def registered_actions() -> set[tuple[str, str]]:
    return {
        (model._meta.label, name)
        for model, model_admin in admin.site._registry.items()
        for _, name, _ in model_admin._get_base_actions()
    }


def extra_admin_routes() -> set[str]:
    """URLs beyond Django's defaults: added by a ModelAdmin, by the admin site, or beside it under /admin/."""
    routes = set()
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        defaults = {f"{opts.app_label}_{opts.model_name}_{view}" for view in DEFAULT_MODEL_URLS}
        for url in model_admin.get_urls():
            if url.name is not None and url.name not in defaults:
                routes.add(f"/admin/{opts.app_label}/{opts.model_name}/{url.pattern}")
    site_defaults = {url.name for url in admin.AdminSite().get_urls()} | {"app_list"}
    for url in admin.site.get_urls():
        if isinstance(url, URLPattern) and url.name not in site_defaults:
            routes.add(f"/admin/{url.pattern}")
    for entry in get_resolver().url_patterns:
        prefix = str(entry.pattern)
        if not prefix.startswith("admin/") or getattr(entry, "namespace", None) == admin.site.name:
            continue
        inner = entry.url_patterns if isinstance(entry, URLResolver) else [None]
        routes.update(f"/{prefix}{'' if sub is None else sub.pattern}" for sub in inner)
    return routes


def test_every_action_has_a_decision():
    found = registered_actions()
    assert sorted(found - ACTIONS.keys()) == [], "a new action: add its row to ACTIONS (and a probe to ACTION_PROBES)"
    assert sorted(ACTIONS.keys() - found) == [], "an action is gone: remove its row"


def test_every_extra_admin_url_has_a_decision():
    found = extra_admin_routes()
    assert sorted(found - URLS.keys()) == [], "a new admin URL: add its row to URLS (and a probe to URL_PROBES)"
    assert sorted(URLS.keys() - found) == [], "an admin URL is gone: remove its row"


def test_every_decision_has_a_probe():
    assert sorted(set(ACTIONS) ^ set(ACTION_PROBES)) == []
    assert sorted(set(URLS) ^ set(URL_PROBES)) == []


# --- the four kinds of staff ---------------------------------------------------------------------------

PASSWORD = "a-long-test-password-9"


@pytest.fixture
def people(db) -> dict[str, object]:
    users = get_user_model().objects
    viewer = users.create_user("vic", password=PASSWORD, is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    marketing = users.create_user("mia", password=PASSWORD, is_staff=True)
    marketing.groups.add(marketing_group())
    return {
        SUPERUSER: users.create_superuser("root", "root@example.com", PASSWORD),
        MARKETING: marketing,
        VIEWER: viewer,
        STAFF: users.create_user("sam", password=PASSWORD, is_staff=True),
    }


def signed_in(user, raise_errors: bool = True) -> Client:
    client = Client(raise_request_exception=raise_errors)
    client.force_login(user)
    return client


def state() -> dict[str, list]:
    """Every row the project keeps, and every job in the queues: what a refusal must leave alone."""
    rows = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.app_label != "sessions" and model._meta.managed:
            rows[model._meta.label] = sorted(map(repr, model._default_manager.order_by().values_list()))
    for name in settings.RQ_QUEUES:
        queue = django_rq.get_queue(name)
        registries = [queue.scheduled_job_registry, queue.failed_job_registry, queue.finished_job_registry]
        rows[f"queue {name}"] = [sorted(queue.job_ids), *(sorted(r.get_job_ids()) for r in registries)]
    return rows


# --- what each verb is tried on --------------------------------------------------------------------------


@dataclass
class World:
    channel: Channel
    contact: Contact
    customers: ContactList
    people: dict
    made: dict = field(default_factory=dict)


@pytest.fixture
def world(people, channel) -> World:
    contact = Contact.objects.create(phone="+447911123456", name="Ann Example")
    customers = ContactList.objects.create(name="Customers")
    customers.contacts.add(contact)
    return World(channel=channel, contact=contact, customers=customers, people=people)


def a_campaign(world: World, status=Campaign.Status.DRAFT, **fields) -> Campaign:
    campaign = Campaign.objects.create(
        name=f"Spring {status}", channel=world.channel, text="Hi {{ name }}", status=status, **fields
    )
    campaign.lists.add(world.customers)
    return campaign


def later() -> timezone.datetime:
    return timezone.now() + timedelta(days=3)


def a_bulk_job(world: World) -> BulkJob:
    job = Campaign.objects.create(
        name="API job",
        kind=Campaign.Kind.BULK_API,
        channel=world.channel,
        text="Hi",
        inline_recipients=[{"to": "+14155550123"}],
        status=Campaign.Status.SCHEDULED,
        scheduled_at=later(),
    )
    return BulkJob.objects.get(pk=job.pk)


def a_twilio_channel(world: World) -> Channel:
    return Channel.objects.create(name="Twilio for the table", provider="twlo", sender="+15005550006")


def a_whatsapp_channel(world: World) -> Channel:
    return Channel.objects.create(name="WhatsApp for the table", provider="twlowa", sender="+14155238886")


def a_suppressed_number() -> Suppression:
    Suppression.add(["+447911123400"], source=Suppression.Source.STAFF, reason="Asked by phone")
    return Suppression.objects.get(number="+447911123400")


def a_consent() -> Consent:
    return Consent.objects.create(
        number="+447911123401", list_name="Offers", channel="Sandbox", keyword="JOIN", message_id=1,
        texted_at=timezone.now(), state=Consent.State.JOINED,
    )  # fmt: skip


def an_import(world: World) -> ContactImport:
    return ContactImport.objects.create(
        file_name="people.csv", stored_path="/nonexistent/people.csv", state=ContactImport.State.DONE
    )


def a_queued_job(failed: bool = False) -> str:
    """A job waiting on the default queue (index 0), straight into Redis: no worker runs it here.
    Or one that failed (only those can be requeued)."""
    queue = Queue("default", connection=django_rq.get_connection("default"))
    job = queue.enqueue("os.getcwd")
    if failed:
        queue.remove(job)
        job.set_status(JobStatus.FAILED)
        queue.failed_job_registry.add(job, ttl=600, exc_string="boom")
    return job.id


def an_attempt() -> AccessAttempt:
    return AccessAttempt.objects.create(
        username="guess", ip_address="10.0.0.9", user_agent="x", get_data="", post_data="", failures_since_start=1
    )


def a_device(world: World) -> TOTPDevice:
    return TOTPDevice.objects.create(user=world.people[STAFF], name="Authenticator app", confirmed=True)


def a_conversation_with_a_reply(world: World):
    conversation = a_conversation(world.channel, world.contact.phone, contact=world.contact)
    a_reply(conversation, "What time does the sale start?")
    return conversation


def a_done_conversation(world: World):
    conversation = a_conversation_with_a_reply(world)
    type(conversation).objects.filter(pk=conversation.pk).update(state="done")
    return conversation


def an_endpoint(world: World) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        url="https://crm.example.com/hooks",
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        event_types=["message.sent"],
    )


def a_delivered_event(world: World) -> WebhookEvent:
    endpoint = made(world, "endpoint", an_endpoint)
    event = WebhookEvent.objects.create(
        event_id="evt_1", type="message.sent", payload={}, endpoint=endpoint, status=WebhookEvent.Status.DELIVERED
    )
    WebhookAttempt.objects.create(event=event, endpoint=endpoint, status_code=200)
    return event


def fresh(obj):
    return type(obj)._default_manager.filter(pk=obj.pk).first()


@dataclass
class ActionProbe:
    """The row an action is tried on, what its question is answered with, and how to see it ran."""

    target: Callable[[World], object]
    ran: Callable[[object, World], bool]
    answer: Callable[[World], dict] = lambda world: {}


def deleted(obj, world) -> bool:
    return fresh(obj) is None


def status_is(status) -> Callable:
    return lambda obj, world: fresh(obj).status == status


Status = Campaign.Status
ACTION_PROBES = {
    ("auth.Group", "delete_selected"): ActionProbe(lambda w: Group.objects.create(name="Temps"), deleted),
    ("auth.User", "delete_selected"): ActionProbe(
        lambda w: get_user_model().objects.create_user("leaver", is_staff=True), deleted
    ),
    ("contacts.Contact", "delete_selected"): ActionProbe(lambda w: w.contact, deleted),
    ("contacts.Contact", "add_to_list"): ActionProbe(
        lambda w: w.contact,
        lambda obj, w: w.made["vip"].contacts.filter(pk=obj.pk).exists(),
        lambda w: {"apply": "yes", "contact_list": w.made.setdefault("vip", ContactList.objects.create(name="VIP")).pk},
    ),
    ("contacts.Contact", "remove_from_list"): ActionProbe(
        lambda w: w.contact,
        lambda obj, w: not w.customers.contacts.filter(pk=obj.pk).exists(),
        lambda w: {"apply": "yes", "contact_list": w.customers.pk},
    ),
    ("contacts.Contact", "create_list"): ActionProbe(
        lambda w: w.contact,
        lambda obj, w: ContactList.objects.filter(name="From the selection", contacts=obj).exists(),
        lambda w: {"apply": "yes", "name": "From the selection", "description": ""},
    ),
    ("contacts.Contact", "opt_out"): ActionProbe(lambda w: w.contact, lambda obj, w: fresh(obj).is_opted_out),
    ("contacts.Contact", "opt_in"): ActionProbe(
        lambda w: Contact.objects.create(phone="+447911123499", name="Out", opted_out_at=timezone.now()),
        lambda obj, w: not fresh(obj).is_opted_out,
        lambda w: {"apply": "yes", "reason": "Asked at the counter to get offers again."},
    ),
    ("contacts.ContactList", "delete_selected"): ActionProbe(
        lambda w: ContactList.objects.create(name="Old list"), deleted
    ),
    ("contacts.ContactImport", "delete_selected"): ActionProbe(an_import, deleted),
    ("contacts.Suppression", "delete_selected"): ActionProbe(lambda w: a_suppressed_number(), deleted),
    ("contacts.Consent", "delete_selected"): ActionProbe(lambda w: a_consent(), deleted),
    ("campaigns.ChannelKeywords", "delete_selected"): ActionProbe(
        lambda w: ChannelKeywords.objects.create(channel=w.channel, opt_out_words=["STOP"]), deleted
    ),
    ("campaigns.Campaign", "delete_selected"): ActionProbe(a_campaign, deleted),
    ("campaigns.Campaign", "launch"): ActionProbe(a_campaign, lambda obj, w: fresh(obj).status == Status.SCHEDULED),
    ("campaigns.Campaign", "pause"): ActionProbe(lambda w: a_campaign(w, Status.RUNNING), status_is(Status.PAUSED)),
    ("campaigns.Campaign", "resume"): ActionProbe(lambda w: a_campaign(w, Status.PAUSED), status_is(Status.RUNNING)),
    ("campaigns.Campaign", "cancel"): ActionProbe(
        lambda w: a_campaign(w, Status.SCHEDULED, scheduled_at=later()), status_is(Status.CANCELLED)
    ),
    ("campaigns.BulkJob", "delete_selected"): ActionProbe(a_bulk_job, deleted),
    ("campaigns.BulkJob", "cancel_jobs"): ActionProbe(a_bulk_job, status_is(Status.CANCELLED)),
    ("campaigns.OutboundMessage", "delete_selected"): ActionProbe(
        lambda w: OutboundMessage.send_one(channel=w.channel, to="+447911123456", text="Hi", send_at=later()),
        deleted,
    ),
    ("campaigns.OutboundMessage", "cancel_messages"): ActionProbe(
        lambda w: OutboundMessage.send_one(channel=w.channel, to="+447911123456", text="Hi", send_at=later()),
        status_is(OutboundMessage.Status.CANCELLED),
    ),
    ("campaigns.MessageTemplate", "delete_selected"): ActionProbe(
        lambda w: MessageTemplate.objects.create(name="Old", body="Hi"), deleted
    ),
    ("campaigns.Conversation", "delete_selected"): ActionProbe(a_conversation_with_a_reply, deleted),
    ("campaigns.Conversation", "mark_read"): ActionProbe(
        a_conversation_with_a_reply, lambda obj, w: fresh(obj).unread_count == 0
    ),
    ("campaigns.Conversation", "mark_done"): ActionProbe(
        a_conversation_with_a_reply, lambda obj, w: fresh(obj).state == "done"
    ),
    ("campaigns.Conversation", "reopen"): ActionProbe(a_done_conversation, lambda obj, w: fresh(obj).state == "open"),
    ("campaigns.WhatsAppTemplate", "delete_selected"): ActionProbe(
        lambda w: WhatsAppTemplate.objects.create(
            channel=a_whatsapp_channel(w), provider_id="HX" + "1" * 32, name="sale", last_seen_at=timezone.now()
        ),
        deleted,
    ),
    ("campaigns.ApiKey", "delete_selected"): ActionProbe(lambda w: ApiKey.issue(w.people[SUPERUSER])[0], deleted),
    ("campaigns.WebhookEndpoint", "delete_selected"): ActionProbe(an_endpoint, deleted),
    ("campaigns.ApiKey", "revoke_keys"): ActionProbe(
        lambda w: ApiKey.issue(w.people[SUPERUSER])[0], lambda obj, w: fresh(obj).revoked_at is not None
    ),
    ("providers.Channel", "delete_selected"): ActionProbe(
        lambda w: Channel.objects.create(name="Spare", provider="sandbox", sender="+15005550007"), deleted
    ),
    ("providers.Channel", "check_credentials"): ActionProbe(
        lambda w: w.channel, lambda obj, w: w.made["said"].startswith(f"{obj.name}:")
    ),
    ("providers.Channel", "resume_sending"): ActionProbe(
        lambda w: Channel.objects.create(
            name="Paused", provider="sandbox", sender="+15005550008", paused_at=timezone.now(), paused_reason="x"
        ),
        lambda obj, w: fresh(obj).paused_at is None,
    ),
    ("axes.AccessAttempt", "delete_selected"): ActionProbe(lambda w: an_attempt(), deleted),
    ("axes.AccessFailureLog", "delete_selected"): ActionProbe(
        lambda w: AccessFailureLog.objects.create(username="guess", ip_address="10.0.0.9", user_agent="x"), deleted
    ),
    ("axes.AccessLog", "delete_selected"): ActionProbe(
        lambda w: AccessLog.objects.create(username="ann", ip_address="10.0.0.9", user_agent="x"), deleted
    ),
    ("otp_totp.TOTPDevice", "delete_selected"): ActionProbe(a_device, deleted),
    ("providers.Channel", "sync_whatsapp_templates"): ActionProbe(
        lambda w: Channel.objects.create(name="WhatsApp", provider="twlowa", sender="+14155238886"),
        lambda obj, w: w.made["said"].startswith("Syncing the templates of WhatsApp"),
    ),
    ("providers.Channel", "send_test_message"): ActionProbe(
        lambda w: w.channel,
        lambda obj, w: OutboundMessage.objects.filter(channel=obj, body="Test from the table").exists(),
        lambda w: {"send": "yes", "to": "+447911123456", "text": "Test from the table"},
    ),
}


def changelist(label: str) -> str:
    model = apps.get_model(label)
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def offered(label: str, action: str, user) -> bool:
    request = RequestFactory().get("/admin/")
    request.user = user
    return action in admin.site._registry[apps.get_model(label)].get_actions(request)


def post_action(client: Client, label: str, action: str, target, answer: dict):
    data = {"action": action, "_selected_action": [target.pk], "select_across": "0", "post": "yes", **answer}
    return client.post(changelist(label), data, follow=True)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("verb", sorted(ACTIONS), ids=lambda verb: f"{verb[0]}.{verb[1]}")
def test_each_action_runs_only_for_those_allowed(verb, role, world):
    label, action = verb
    probe = ACTION_PROBES[verb]
    user = world.people[role]
    target = probe.target(world)
    answer = probe.answer(world)
    client = signed_in(user)
    allowed = role in ACTIONS[verb]
    assert offered(label, action, user) is allowed, f"{action} offered to {role}: {not allowed}"
    before = state()
    response = post_action(client, label, action, target, answer)
    if allowed:
        assert response.status_code == 200
        world.made["said"] = " ".join(str(m) for m in response.context["messages"]) if response.context else ""
        assert probe.ran(target, world), f"{action} did not run for {role}"
    else:
        assert response.status_code in (200, 403)
        assert "confirm-action" not in response.content.decode()  # no question asked either
        assert state() == before, f"{action} changed something for {role}"


# --- what each URL is tried with ----------------------------------------------------------------------------


@dataclass
class UrlProbe:
    """How to call an URL (for a world) and how to see that it did its work."""

    call: Callable[[World], tuple[str, str, dict]]
    worked: Callable[[object, World], bool] = lambda response, world: response.status_code in (200, 302)


def get(url: Callable[[World], str]) -> Callable[[World], tuple[str, str, dict]]:
    return lambda world: ("get", url(world), {})


def post(url: Callable[[World], str], data: Callable[[World], dict] = lambda w: {}) -> Callable:
    return lambda world: ("post", url(world), data(world))


def made(world: World, name: str, build: Callable[[World], object]):
    if name not in world.made:
        world.made[name] = build(world)
    return world.made[name]


def import_url(view: str) -> Callable[[World], str]:
    return lambda w: reverse(f"admin:contacts_contact_import_{view}", args=[made(w, "import", an_import).pk])


def scheduled_campaign(world: World) -> Campaign:
    return made(world, "scheduled", lambda w: a_campaign(w, Status.SCHEDULED, scheduled_at=later()))


def running_campaign(world: World) -> Campaign:
    return made(world, "running", lambda w: a_campaign(w, Status.RUNNING, started_at=timezone.now()))


def ab_test_campaign(world: World) -> Campaign:
    """A running A/B test waiting for a person to pick its winner."""

    def build(w: World) -> Campaign:
        now = timezone.now()
        campaign = a_campaign(w, Status.RUNNING, started_at=now, test_share=50, winner_by="person", winner_due_at=now)
        for position in (1, 2):
            CampaignVariant.objects.create(campaign=campaign, position=position, share=50, text=f"Text {position}")
        return campaign

    return made(world, "tested", build)


def conversation(world: World):
    return made(world, "conversation", a_conversation_with_a_reply)


def rq_url(route: str, world: World) -> str:
    job_id = made(world, "job", lambda w: a_queued_job(failed=route.endswith("requeue/")))
    worker_key = made(world, "worker", lambda w: a_worker_key()) if "<str:key>" in route else "none"
    names = {
        "(?P<token>[\\w]+)?/?$": "nottoken/",
        "^": "",
        "/?$": "/",
        "<int:queue_index>": "0",  # the default queue
        "<int:scheduler_index>": "0",
        "<int:connection_index>": "0",
        "<str:job_id>": job_id,
        "<str:result_id>": "none",
        "<str:key>": worker_key,
        "<str:scheduler_name>": "none",
        "<path:cron_job_name>": "none",
    }
    for part, value in names.items():
        route = route.replace(part, value)
    return "/admin/rq/" + route


def a_worker_key() -> str:
    worker = Worker(
        [Queue("default", connection=django_rq.get_connection("default"))],
        connection=django_rq.get_connection("default"),
    )
    worker.register_birth()
    return worker.key


def rq_worked(route: str) -> Callable:
    """django-rq's own answer: its page, a redirect after acting, or its 404 for a name that does not
    exist. Its scheduler page needs rq-scheduler, which the project does not use: only "let in" counts."""
    if route.startswith("schedulers/"):
        return lambda response, world: response.status_code != 403
    if route.endswith(("empty/", "delete/")):
        return lambda response, world: response.status_code == 302 and world.made["job"] not in queued_ids()
    return lambda response, world: response.status_code in (200, 302, 404)


def rq(route: str) -> UrlProbe:
    acting = any(route.endswith(end) for end in RQ_ACTING)

    def call(world: World) -> tuple[str, str, dict]:
        url = rq_url(route, world)
        return ("post", url, {"action": "delete", "job_ids": [world.made["job"]]}) if acting else ("get", url, {})

    return UrlProbe(call, rq_worked(route))


def queued_ids() -> list[str]:
    return Queue("default", connection=django_rq.get_connection("default")).job_ids


RQ_ACTING = {"failed/clear/", "empty/", "requeue-all/", "delete/", "requeue/", "enqueue/", "stop/", "actions/"}

URL_PROBES = {
    "/admin/time-zone/": UrlProbe(get(lambda w: reverse("admin:time_zone"))),
    "/admin/auth/user/<id>/password/": UrlProbe(
        get(lambda w: reverse("admin:auth_user_password_change", args=[w.people[STAFF].pk]))
    ),
    "/admin/contacts/contact/export/<str:file_format>/": UrlProbe(
        get(lambda w: reverse("admin:contacts_contact_export", args=["csv"])),
        lambda response, w: b"+447911123456" in b"".join(response.streaming_content),
    ),
    "/admin/contacts/contact/export/": UrlProbe(get(lambda w: "/admin/contacts/contact/export/")),
    "/admin/contacts/contact/<int:contact_id>/timeline/": UrlProbe(
        get(lambda w: reverse("admin:contacts_contact_timeline", args=[w.contact.pk])),
        lambda response, w: b'id="contact-timeline"' in response.content,
    ),
    "/admin/contacts/contact/process_import/": UrlProbe(post(lambda w: "/admin/contacts/contact/process_import/")),
    "/admin/contacts/suppression/export.csv": UrlProbe(
        get(lambda w: (a_suppressed_number(), reverse("admin:contacts_suppression_export"))[1]),
        lambda response, w: b"+447911123400" in b"".join(response.streaming_content),
    ),
    "/admin/contacts/suppression/import/": UrlProbe(get(lambda w: reverse("admin:contacts_suppression_import"))),
    "/admin/contacts/contact/import/": UrlProbe(get(lambda w: reverse("admin:contacts_contact_import"))),
    "/admin/contacts/contact/import/<int:import_id>/": UrlProbe(get(import_url("options"))),
    "/admin/contacts/contact/import/<int:import_id>/preview/": UrlProbe(get(import_url("preview"))),
    "/admin/contacts/contact/import/<int:import_id>/confirm/": UrlProbe(post(import_url("confirm"))),
    "/admin/contacts/contact/import/<int:import_id>/progress/": UrlProbe(get(import_url("progress"))),
    "/admin/contacts/contact/import/<int:import_id>/status.json": UrlProbe(get(import_url("status"))),
    "/admin/contacts/contact/import/<int:import_id>/rejected.csv": UrlProbe(get(import_url("rejected"))),
    "/admin/campaigns/campaign/<int:pk>/act/<str:verb>/": UrlProbe(
        post(lambda w: reverse("admin:campaigns_campaign_act", args=[scheduled_campaign(w).pk, "cancel"])),
        lambda response, w: fresh(w.made["scheduled"]).status == Status.CANCELLED,
    ),
    "/admin/campaigns/campaign/<int:pk>/progress/": UrlProbe(
        get(lambda w: reverse("admin:campaigns_campaign_progress", args=[running_campaign(w).pk])),
        lambda response, w: "parts" in response.json(),
    ),
    "/admin/providers/channel/<path:object_id>/test-reply/": UrlProbe(
        get(lambda w: reverse("admin:providers_channel_test_reply", args=[made(w, "twilio", a_twilio_channel).pk])),
        lambda response, w: b"Send the test reply" in response.content,
    ),
    "/admin/campaigns/whatsapptemplate/sync/": UrlProbe(
        post(
            lambda w: reverse("admin:campaigns_whatsapptemplate_sync"),
            lambda w: {"channel": made(w, "whatsapp", a_whatsapp_channel).pk},
        ),
        lambda response, w: response.status_code == 302,
    ),
    "/admin/campaigns/campaign/<int:pk>/winner/": UrlProbe(
        post(
            lambda w: reverse("admin:campaigns_campaign_pick_winner", args=[ab_test_campaign(w).pk]),
            lambda w: {"variant": "2"},
        ),
        lambda response, w: fresh(w.made["tested"]).winner == 2,
    ),
    "/admin/campaigns/campaign/<int:pk>/send-test/": UrlProbe(
        post(
            lambda w: reverse("admin:campaigns_campaign_send_test", args=[scheduled_campaign(w).pk]),
            lambda w: {"to": "+447911123457"},
        ),
        lambda response, w: OutboundMessage.objects.filter(to="+447911123457").exists(),
    ),
    "/admin/campaigns/campaign/<int:pk>/analytics.json": UrlProbe(
        get(lambda w: reverse("admin:campaigns_campaign_analytics", args=[running_campaign(w).pk]))
    ),
    "/admin/campaigns/campaign/<int:pk>/analytics.csv": UrlProbe(
        get(lambda w: reverse("admin:campaigns_campaign_analytics_export", args=[running_campaign(w).pk]))
    ),
    "/admin/campaigns/campaign/<path:object_id>/results.<str:file_format>": UrlProbe(
        get(lambda w: reverse("admin:campaigns_campaign_export_results", args=[running_campaign(w).pk, "csv"]))
    ),
    "/admin/campaigns/campaign/calendar/": UrlProbe(get(lambda w: reverse("admin:campaigns_campaign_calendar"))),
    "/admin/campaigns/campaign/calendar/feed/": UrlProbe(
        get(lambda w: reverse("admin:campaigns_campaign_calendar_feed") + "?start=2026-01-01&end=2026-02-01")
    ),
    "/admin/campaigns/campaign/calendar/<int:campaign_id>/reschedule/": UrlProbe(
        post(
            lambda w: reverse("admin:campaigns_campaign_calendar_reschedule", args=[scheduled_campaign(w).pk]),
            lambda w: {"date": (timezone.localdate() + timedelta(days=10)).isoformat()},
        ),
        lambda response, w: response.json().get("ok") is True,
    ),
    "/admin/campaigns/outboundmessage/unknown/": UrlProbe(
        get(lambda w: reverse("admin:campaigns_outboundmessage_unknown"))
    ),
    "/admin/campaigns/messagetemplate/preview/": UrlProbe(
        post(lambda w: reverse("admin:campaigns_messagetemplate_preview"), lambda w: {"body": "Hi {{ name }}"})
    ),
    "/admin/campaigns/campaign/template-preview/": UrlProbe(
        post(lambda w: reverse("admin:campaigns_campaign_template_preview"), lambda w: {"whatsapp_template": ""}),
        lambda response, w: response.json() == {"template": None},
    ),
    "/admin/campaigns/conversation/updates.json": UrlProbe(
        get(lambda w: (conversation(w), reverse("admin:campaigns_conversation_inbox_updates"))[1]),
        lambda response, w: response.json()["unread_conversations"] == 1,
    ),
    "/admin/campaigns/conversation/<int:pk>/updates.json": UrlProbe(
        get(lambda w: reverse("admin:campaigns_conversation_updates", args=[conversation(w).pk])),
        lambda response, w: response.json()["entries"][0]["text"] == "What time does the sale start?",
    ),
    "/admin/campaigns/conversation/<int:pk>/reply/": UrlProbe(
        post(
            lambda w: reverse("admin:campaigns_conversation_reply", args=[conversation(w).pk]),
            lambda w: {"text": "At nine"},
        ),
        lambda response, w: OutboundMessage.objects.filter(to=w.contact.phone, body="At nine").exists(),
    ),
    "/admin/campaigns/conversation/<int:pk>/mark/<str:verb>/": UrlProbe(
        post(lambda w: reverse("admin:campaigns_conversation_mark", args=[conversation(w).pk, "done"])),
        lambda response, w: fresh(w.made["conversation"]).state == "done",
    ),
    "/admin/two-factor/": UrlProbe(get(lambda w: reverse("admin:two_factor"))),
    "/admin/two-factor/qr.svg": UrlProbe(get(lambda w: reverse("admin:two_factor_qr"))),
    "/admin/otp_totp/totpdevice/<int:pk>/config/": UrlProbe(
        get(lambda w: f"/admin/otp_totp/totpdevice/{made(w, 'device', a_device).pk}/config/")
    ),
    "/admin/otp_totp/totpdevice/<int:pk>/qrcode/": UrlProbe(
        get(lambda w: f"/admin/otp_totp/totpdevice/{made(w, 'device', a_device).pk}/qrcode/")
    ),
    "/admin/campaigns/webhookendpoint/<int:pk>/log/": UrlProbe(
        post(
            lambda w: reverse("admin:campaigns_webhookendpoint_log", args=[made(w, "endpoint", an_endpoint).pk]),
            lambda w: {"event": made(w, "event", a_delivered_event).pk},
        ),
        lambda response, w: fresh(w.made["event"]).status == WebhookEvent.Status.PENDING,
    ),
    "/admin/campaigns/webhookendpoint/status-callbacks/": UrlProbe(
        post(lambda w: reverse("admin:campaigns_webhookendpoint_status_callbacks"), lambda w: {"new_secret": "1"}),
        lambda response, w: SigningSecret.objects.exists(),
    ),
    "/admin/campaigns/webhookendpoint/<int:pk>/rotate-secret/": UrlProbe(
        post(
            lambda w: reverse(
                "admin:campaigns_webhookendpoint_rotate_secret", args=[made(w, "endpoint", an_endpoint).pk]
            )
        ),
        lambda response, w: fresh(w.made["endpoint"]).previous_secret == w.made["endpoint"].secret,
    ),
    "/admin/metrics/": UrlProbe(
        get(lambda w: reverse("metrics")), lambda response, w: b"messaging_api_messages_pending" in response.content
    ),
    **{f"/admin/rq/{route}": rq(route) for route in RQ_PAGES},
}


def refusal_text(response) -> str:
    if response.get("Content-Type", "").startswith("application/json"):
        return json.loads(response.content).get("error", "")
    return response.content.decode()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(URLS))
def test_each_admin_url_answers_only_those_allowed(route, role, world):
    probe = URL_PROBES[route]
    method, url, data = probe.call(world)
    client = signed_in(world.people[role], raise_errors=not route.startswith("/admin/rq/"))
    before = state()
    response = getattr(client, method)(url, data)
    decision = URLS[route]
    if decision == GONE:
        assert response.status_code == 404
    elif role in decision:
        assert response.status_code != 403, f"{role} refused at {url}"
        assert probe.worked(response, world), f"{url} did not work for {role}: {response.status_code}"
    else:
        assert response.status_code == 403, f"{role} not refused at {url}: {response.status_code}"
        if route not in LIBRARY_REFUSALS:
            assert "Permission needed: “" in refusal_text(response), "the refusal names no permission"
        assert state() == before, f"{url} changed something for {role}"
