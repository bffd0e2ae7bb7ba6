"""The Content-Security-Policy header, and every admin page working under it in Chromium.

Every browser test checks the policy as it goes (tests/browser.py collects what Chromium refuses);
this one opens every admin page there is, with something on it, and uses the dashboard, the
calendar, the template editor and the contact import.
"""

from __future__ import annotations

from datetime import timedelta

import django_rq
import pytest
from axes.models import AccessAttempt
from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from campaigns.models import ApiKey, BulkJob, Campaign, MessageTemplate, OutboundMessage
from contacts.models import ContactImport
from tests.browser import log_in, shot

CSV = "phone,first_name,city\r\n+447911123456,Ann,Leeds\r\n+447911123457,Bob,York\r\nnot a number,Cy,Hull\r\n"


def test_admin_pages_carry_the_policy(admin_client):
    policy = admin_client.get("/admin/").headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"].startswith("'self'")
    assert "unsafe-inline" not in directives["script-src"]
    assert "unsafe-eval" not in directives["script-src"]
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["connect-src"] == "'self'"


def test_the_api_and_its_docs_carry_it_too(client, db):
    assert "default-src 'self'" in client.get("/api/docs").headers["Content-Security-Policy"]


@pytest.mark.browser
def test_the_browser_refuses_an_injected_script_and_the_tests_see_it(page, live_server, administrator):
    log_in(page, live_server, "maria")
    page.evaluate(
        """() => { const s = document.createElement("script"); s.textContent = "window.injected = 1";
                   document.body.appendChild(s); }"""
    )
    page.wait_for_function("() => true")
    assert page.evaluate("window.injected") is None
    page.wait_for_timeout(200)  # the report comes back from the page asynchronously
    assert any("script-src" in violation for violation in page.csp_violations), page.csp_violations
    page.csp_violations.clear()  # seen: the fixture's own check is for the journeys


@pytest.fixture
def everything(db, channel, make_contact, make_list, administrator):
    """One of each thing the admin shows, so that every change and delete page has something on it."""
    ann = make_contact("+447911123456", "Ann Example", city="Leeds")
    customers = make_list("Customers", [ann])
    template = MessageTemplate.objects.create(name="Sale", body="Hi {{ first_name }}, the {{ city }} shop opens at 9")
    soon = timezone.now() + timedelta(days=3)
    campaign = Campaign.objects.create(
        name="Spring sale", channel=channel, template=template, status=Campaign.Status.SCHEDULED, scheduled_at=soon
    )
    campaign.lists.add(customers)
    running = Campaign.objects.create(
        name="Black Friday", channel=channel, text="Hello", status=Campaign.Status.RUNNING, started_at=timezone.now()
    )
    OutboundMessage.objects.create(channel=channel, to="+447911123456", body="Hi", campaign=running, recipient_key="k")
    OutboundMessage.objects.create(channel=channel, to="+447911123458", body="Hello", status="unknown")
    Campaign.objects.create(
        name="API bulk job, 1 recipient",
        kind=Campaign.Kind.BULK_API,
        channel=channel,
        text="Hi",
        inline_recipients=[{"to": "+14155550123"}],
        status=Campaign.Status.SCHEDULED,
        scheduled_at=soon,
        sender_label="API",
    )
    ApiKey.issue(administrator)
    TOTPDevice.objects.create(user=administrator, name="Spare phone", confirmed=False)
    AccessAttempt.objects.create(username="mallory", ip_address="203.0.113.9", failures_since_start=2)
    django_rq.get_queue("default").enqueue("campaigns.pipeline.jobs.reconcile")  # a job for the queue pages


def admin_pages() -> list[str]:
    """Every page of every registered model: its list, its add page, and its first object's pages."""
    pages = []
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        pages += [reverse(f"admin:{info[0]}_{info[1]}_changelist"), reverse(f"admin:{info[0]}_{info[1]}_add")]
        first = model_admin.get_queryset(None).order_by("pk").first() if model._meta.managed else None
        if first is not None:
            for view in ("change", "delete", "history"):
                try:
                    pages.append(reverse(f"admin:{info[0]}_{info[1]}_{view}", args=[first.pk]))
                except NoReverseMatch:
                    continue
    return pages


def other_pages() -> list[str]:
    job_id = django_rq.get_queue("default").job_ids[0]
    campaign = Campaign.objects.get(name="Spring sale")
    return [
        "/admin/",
        "/admin/time-zone/",
        "/admin/two-factor/",
        "/admin/password_change/",
        "/admin/campaigns/outboundmessage/unknown/",
        f"/admin/campaigns/campaign/{campaign.pk}/change/",
        f"/admin/campaigns/bulkjob/{BulkJob.objects.get().pk}/change/",
        "/admin/rq/",
        "/admin/rq/queues/0/",
        f"/admin/rq/queues/0/{job_id}/",
        "/admin/rq/queues/0/finished/",
        "/admin/rq/queues/0/failed/",
        "/admin/rq/queues/0/scheduled/",
        "/admin/rq/queues/0/started/",
        "/admin/rq/queues/0/deferred/",
        "/admin/rq/workers/0/",
        "/admin/rq/queues/0/details/",
        "/admin/rq/queues/0/empty/",
        "/admin/rq/queues/0/requeue-all/",
        "/admin/rq/queues/0/failed/clear/",
        f"/admin/rq/queues/0/{job_id}/delete/",
        f"/admin/otp_totp/totpdevice/{TOTPDevice.objects.get().pk}/config/",
        "/api/docs",
    ]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_every_admin_page_works_under_the_policy(page, live_server, everything, worker, tmp_path):
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(f"{page.url}: {message.text}") if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
    page.on("response", lambda answer: errors.append(f"{answer.url}: {answer.status}") if broken(answer) else None)
    log_in(page, live_server, "maria")
    assert page.locator(".dashboard-card, #content-main").count() > 0

    opened = []
    for path in [*admin_pages(), *other_pages()]:
        response = page.goto(f"{live_server.url}{path}")
        assert response.status in (200, 403), (path, response.status)
        page.wait_for_load_state("load")
        opened.append(path)
    assert len(opened) > 60

    use_the_calendar(page, live_server)
    use_the_template_editor(page, live_server)
    import_contacts(page, live_server, tmp_path, worker)
    open_a_finished_job(page, live_server)

    assert page.csp_violations == [], "\n".join(page.csp_violations)
    assert [error for error in errors if not expected(error)] == []


# Errors that are not the policy's: django-rq's job lists call Django's actions.js as the jQuery
# plugin it was before Django 4.1 (their script is allowed by its hash, runs and throws, with or
# without the policy). A page or file that failed to load is checked by its status instead.
DJANGO_RQ_ERRORS = ("$(...).actions is not a function", "Cannot read properties of null (reading 'dataset')")


def broken(answer) -> bool:
    """A script, stylesheet, image or JSON the pages asked for and did not get."""
    return answer.request.resource_type != "document" and answer.status >= 400 and "favicon" not in answer.url


def expected(error: str) -> bool:
    if "Failed to load resource" in error:
        return True
    return "/admin/rq/" in error and any(known in error for known in DJANGO_RQ_ERRORS)


def use_the_calendar(page, live_server) -> None:
    month = (timezone.now() + timedelta(days=3)).strftime("%Y-%m")
    page.goto(f"{live_server.url}/admin/campaigns/campaign/calendar/?month={month}")
    page.wait_for_selector(".fc-event:has-text('Spring sale')")
    # FullCalendar draws with its own <style> element and inline styles: both allowed, and drawn.
    assert page.eval_on_selector(".fc-daygrid-day-frame", "cell => getComputedStyle(cell).position") == "relative"
    shot(page, "csp-calendar")


def use_the_template_editor(page, live_server) -> None:
    page.goto(f"{live_server.url}/admin/campaigns/messagetemplate/add/")
    page.fill("#id_body", "Hi {{ first_name }}, ça va?")
    page.wait_for_function("() => document.getElementById('template-live').dataset.encoding === 'UCS-2'")


def import_contacts(page, live_server, tmp_path, worker) -> None:
    csv_file = tmp_path / "customers.csv"
    csv_file.write_text(CSV)
    page.goto(f"{live_server.url}/admin/contacts/contact/")
    page.click("a.import_link")
    page.set_input_files("input[type=file]", str(csv_file))
    page.click("input[type=submit]")
    page.wait_for_selector("#import-options")
    page.fill("#id_new_list_name", "Imported")
    page.click("input[type=submit]")
    page.wait_for_selector("#import-preview-counts")
    page.click("#import-confirm input[type=submit]")
    page.wait_for_selector("#import-progress")
    worker()
    page.wait_for_selector("#import-next:not([hidden])")
    assert ContactImport.objects.get().state == ContactImport.State.DONE
    shot(page, "csp-import-done")


def open_a_finished_job(page, live_server) -> None:
    """A job that ran has results: django-rq lists them as rows that open when clicked."""
    queue = django_rq.get_queue("default")
    job_id = queue.finished_job_registry.get_job_ids()[0]
    page.goto(f"{live_server.url}/admin/rq/queues/0/{job_id}/")
    page.click("tr.rq-clickable td.rq-nowrap")
    page.wait_for_url(f"**/admin/rq/queues/0/{job_id}/results/**")
