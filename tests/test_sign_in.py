"""Sign-in throttling (django-axes), password rules and session lifetimes, through the admin's own pages."""

from __future__ import annotations

import time

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.core.management import call_command

from tests.browser import PASSWORD

LOGIN_URL = "/admin/login/?next=/admin/"


@pytest.fixture
def maria(db):
    return get_user_model().objects.create_superuser("maria", "maria@example.com", PASSWORD)


def sign_in(client, username: str = "maria", password: str = PASSWORD, address: str = "203.0.113.7"):
    return client.post(LOGIN_URL, {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


def test_the_default_is_five_failures_for_fifteen_minutes():
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.LOGIN_LOCKOUT_MINUTES == 15


def test_30_wrong_passwords_lock_the_username_out(client, maria):
    answers = [sign_in(client, password=f"wrong-{n}").status_code for n in range(30)]
    assert answers[: settings.AXES_FAILURE_LIMIT - 1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert set(answers[settings.AXES_FAILURE_LIMIT :]) == {429}

    right = sign_in(client)
    assert right.status_code == 429
    assert not signed_in(right)
    page = right.content.decode()
    assert "Sign-in is locked for <strong>maria</strong>" in page
    assert "Try again in 15" in page
    assert "axes_reset_username maria" in page
    # From another address too: the username itself is locked.
    assert sign_in(client, address="198.51.100.20").status_code == 429


def test_an_address_that_keeps_failing_is_locked_for_every_username(client, maria):
    get_user_model().objects.create_user("mia", password=PASSWORD, is_staff=True)
    for n in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, username=f"guess-{n}", password="wrong")
    assert sign_in(client, username="mia").status_code == 429
    assert signed_in(sign_in(client, username="mia", address="198.51.100.20"))


def test_a_few_slips_then_the_right_password_signs_in_and_are_forgiven(client, maria):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, password="wrong").status_code == 200
    assert signed_in(sign_in(client))
    assert not AccessAttempt.objects.filter(username="maria").exists()


def test_the_lockout_ends_after_its_time(client, maria):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, password="wrong")
    assert sign_in(client).status_code == 429
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - settings.AXES_COOLOFF_TIME)
    assert signed_in(sign_in(client))


def test_an_administrator_unlocks_a_username_with_the_command(client, maria):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, password="wrong")
    call_command("axes_reset_username", "maria")
    assert signed_in(sign_in(client))


def test_an_administrator_unlocks_from_the_admin(client, maria):
    get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, password="wrong")
    admin = client.__class__()
    admin.force_login(get_user_model().objects.get(username="root"))
    listing = admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200
    assert "maria" in listing.content.decode()
    attempt = AccessAttempt.objects.get(username="maria")
    deleted = admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert signed_in(sign_in(client))


def test_behind_the_proxy_the_address_is_the_one_the_proxy_saw(client, maria, settings):
    from messaging_site.sign_in import client_address

    settings.TRUSTED_PROXY_COUNT = 1  # what BEHIND_PROXY=true gives
    request = client.get("/admin/login/").wsgi_request
    request.META["HTTP_X_FORWARDED_FOR"] = "10.9.9.9, 203.0.113.7"  # the first one the client typed
    assert client_address(request) == "203.0.113.7"
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(request) == request.META["REMOTE_ADDR"]


@pytest.mark.parametrize(
    ("password", "refusal"),
    [
        ("a", "This password is too short"),
        ("password123", "This password is too common"),
        ("83920174659", "This password is entirely numeric"),
        ("maria@example", "The password is too similar to the email address"),
    ],
)
def test_an_administrator_cannot_set_a_weak_password(client, maria, password, refusal):
    client.force_login(maria)
    response = client.post(f"/admin/auth/user/{maria.pk}/password/", {"password1": password, "password2": password})
    assert response.status_code == 200
    assert refusal in response.content.decode()
    maria.refresh_from_db()
    assert maria.check_password(PASSWORD)


def age_session(client, **seconds_ago: int) -> None:
    session = client.session
    for key, ago in seconds_ago.items():
        session[key] = int(time.time()) - ago
    session.save()


def test_a_session_idle_longer_than_the_limit_is_signed_out(client, maria):
    client.force_login(maria)
    assert client.get("/admin/").status_code == 200
    age_session(client, seen_at=settings.SESSION_IDLE_MINUTES * 60 + 5)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert said == [
        "You were signed out after 60 minutes without activity (SESSION_IDLE_MINUTES). Sign in again to go on."
    ]


def test_a_session_in_use_lives_until_its_absolute_age(client, maria):
    client.force_login(maria)
    age_session(client, seen_at=settings.SESSION_IDLE_MINUTES * 60 - 30, signed_in_at=3600)
    assert client.get("/admin/").status_code == 200
    assert client.session["seen_at"] >= int(time.time()) - 1  # the request counted as activity
    age_session(client, signed_in_at=settings.SESSION_MAX_HOURS * 3600 + 5)
    response = client.get("/admin/")
    assert response.status_code == 302
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert "12 hours after signing in (SESSION_MAX_HOURS)" in said[0]


def test_the_idle_limit_follows_its_setting(settings, client, maria):
    settings.SESSION_IDLE_MINUTES = 5
    client.force_login(maria)
    age_session(client, seen_at=4 * 60)
    assert client.get("/admin/").status_code == 200
    age_session(client, seen_at=6 * 60)
    assert client.get("/admin/").status_code == 302


@pytest.mark.browser
def test_in_chromium_the_sign_in_page_says_it_is_locked(page, live_server, maria):
    from tests.browser import shot

    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.fill("#id_username", "maria")
        page.fill("#id_password", "wrong")
        page.click("input[type=submit]")
        page.wait_for_load_state()
    message = page.text_content("#locked-out-message")
    assert "Sign-in is locked for maria" in " ".join(message.split())
    shot(page, "sign_in_locked")
