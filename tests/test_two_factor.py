"""Two-factor sign-in: a staff member enrols an authenticator app from the QR page, and the admin's
sign-in then asks for its code. The codes are computed here from the secret the page shows, as an
app would (RFC 6238), not by django-otp."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import time

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.browser import PASSWORD

LOGIN_URL = "/admin/login/?next=/admin/"


def next_totp(secret: str) -> str:
    """The code of the next 30 s step (django-otp accepts one step of drift): the current one was used to enrol."""
    return totp(secret, time.time() + 30)


def totp(secret: str, at: float | None = None) -> str:
    """The 6-digit code an authenticator app shows for this base32 secret (30 s steps, SHA-1)."""
    key = base64.b32decode(secret.replace(" ", ""))
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


@pytest.fixture
def mia(db):
    return get_user_model().objects.create_user("mia", "mia@example.com", PASSWORD, is_staff=True)


def enrol(client, user) -> str:
    """Enrol as a person does on the two-factor page; returns the secret the page showed."""
    client.force_login(user)
    page = client.get("/admin/two-factor/").content.decode()
    secret = re.search(r'id="two-factor-secret">([A-Z2-7 ]+)<', page).group(1)
    qr = client.get("/admin/two-factor/qr.svg")
    assert qr["Content-Type"] == "image/svg+xml"
    assert b"<svg" in qr.content
    enrol.code = totp(secret)  # the code that enrolled: used, so it signs in nobody
    done = client.post("/admin/two-factor/", {"otp_token": enrol.code})
    assert done.status_code == 302
    client.logout()
    return secret


def a_later_step_has_come(user) -> None:
    """As if the next 30 s step had come: the codes used so far are behind it (without waiting)."""
    TOTPDevice.objects.filter(user=user).update(last_t=-1)


def sign_in(client, username: str, token: str | None = None, password: str = PASSWORD):
    data = {"username": username, "password": password}
    if token is not None:
        data["otp_token"] = token
    return client.post(LOGIN_URL, data)


def test_a_staff_member_enrols_and_then_signs_in_with_a_code(client, mia):
    secret = enrol(client, mia)
    device = TOTPDevice.objects.get(user=mia)
    assert device.confirmed
    assert "issuer=Messaging" in device.config_url

    asked = sign_in(client, "mia")
    assert asked.status_code == 200
    assert "Two-factor sign-in is on for mia: enter the code your app shows." in asked.content.decode()

    wrong = sign_in(client, "mia", "000000" if next_totp(secret) != "000000" else "111111")
    assert "is wrong or has expired" in wrong.content.decode()

    signed_in = sign_in(client, "mia", next_totp(secret))
    assert signed_in.status_code == 302
    assert signed_in["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_spaces_in_the_code_do_not_matter(client, mia):
    secret = enrol(client, mia)
    code = next_totp(secret)
    assert sign_in(client, "mia", f"{code[:3]} {code[3:]}").status_code == 302


def test_a_used_code_cannot_sign_in_twice(client, mia):
    secret = enrol(client, mia)
    assert sign_in(client, "mia", enrol.code).status_code == 200
    code = next_totp(secret)
    assert sign_in(client, "mia", code).status_code == 302
    client.logout()
    assert sign_in(client, "mia", code).status_code == 200


def test_staff_without_a_device_sign_in_with_a_password_only(client, mia):
    assert sign_in(client, "mia").status_code == 302


def test_wrong_codes_count_towards_the_lockout(client, mia):
    secret = enrol(client, mia)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "mia", "not-a-code")
    assert AccessAttempt.objects.filter(username="mia").exists()
    locked = sign_in(client, "mia", next_totp(secret))
    assert locked.status_code == 429
    assert "Sign-in is locked" in locked.content.decode()


def test_a_staff_member_turns_it_off_with_a_current_code(client, mia):
    secret = enrol(client, mia)
    code = next_totp(secret)
    assert sign_in(client, "mia", code).status_code == 302
    page = client.get("/admin/two-factor/").content.decode()
    assert "Two-factor sign-in is <strong>on</strong> for mia" in page
    assert secret not in page
    assert client.get("/admin/two-factor/qr.svg").status_code == 404  # the secret is never shown again
    refused = client.post("/admin/two-factor/", {"otp_token": code})  # used to sign in
    assert "does not match" in refused.content.decode()
    assert TOTPDevice.objects.filter(user=mia).exists()
    a_later_step_has_come(mia)
    client.post("/admin/two-factor/", {"otp_token": totp(secret)})
    assert not TOTPDevice.objects.filter(user=mia).exists()


def test_enrolment_refuses_a_wrong_code(client, mia):
    client.force_login(mia)
    client.get("/admin/two-factor/")
    response = client.post("/admin/two-factor/", {"otp_token": "12 34 56"})
    assert "Code &#x27;123456&#x27; does not match" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=mia, confirmed=True).exists()


@pytest.fixture
def required(settings, db):
    settings.REQUIRE_2FA_FOR_SUPERUSERS = True


def test_a_superuser_must_enrol_before_using_the_admin(client, required):
    root = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    assert sign_in(client, "root").status_code == 302
    for page in ["/admin/", "/admin/campaigns/campaign/", "/admin/rq/", "/admin/metrics/"]:
        response = client.get(page)
        assert response.status_code == 302, page
        assert response["Location"] == "/admin/two-factor/", page
    enrolment = client.get("/admin/two-factor/").content.decode()
    assert "Superusers must sign in with a code" in enrolment
    secret = re.search(r'id="two-factor-secret">([A-Z2-7 ]+)<', enrolment).group(1)
    client.post("/admin/two-factor/", {"otp_token": totp(secret)})
    assert client.get("/admin/").status_code == 200  # this session proved the code

    client.logout()
    assert sign_in(client, "root").status_code == 200  # a code is asked now
    assert sign_in(client, "root", next_totp(secret)).status_code == 302
    assert client.get("/admin/").status_code == 200
    assert "cannot be turned off here" in client.get("/admin/two-factor/").content.decode()
    assert TOTPDevice.objects.filter(user=root, confirmed=True).count() == 1


def test_a_superuser_session_from_before_enrolment_must_sign_in_again(client, required):
    root = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    TOTPDevice.objects.create(user=root, name="phone", confirmed=True)
    client.force_login(root)  # a session that never proved the code
    response = client.get("/admin/campaigns/campaign/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/admin/campaigns/campaign/")


def test_without_the_setting_a_superuser_may_skip_it(client, settings, db):
    settings.REQUIRE_2FA_FOR_SUPERUSERS = False
    get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    assert sign_in(client, "root").status_code == 302
    assert client.get("/admin/").status_code == 200


def test_an_administrator_resets_a_lost_phone_from_the_device_admin(client, mia):
    enrol(client, mia)
    root = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    client.force_login(root)
    device = TOTPDevice.objects.get(user=mia)
    listing = client.get("/admin/otp_totp/totpdevice/")
    assert "mia" in listing.content.decode()
    client.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})
    client.logout()
    assert sign_in(client, "mia").status_code == 302


@pytest.mark.browser
def test_in_chromium_a_staff_member_turns_on_two_factor_and_signs_in_with_it(page, live_server, mia):
    from tests.browser import log_in, shot

    log_in(page, live_server, "mia")
    page.click("#two-factor-link")
    page.wait_for_selector("#two-factor-qr")
    qr_code_drawn = (
        "() => { const img = document.getElementById('two-factor-qr'); return img.complete && img.naturalWidth > 100; }"
    )
    page.wait_for_function(qr_code_drawn)
    shot(page, "two_factor_enrol")
    secret = page.text_content("#two-factor-secret")
    page.fill("#id_otp_token", totp(secret))
    page.click("input[type=submit]")
    page.wait_for_selector("text=Two-factor sign-in is on")

    page.click("#logout-form button")
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "mia")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("text=Two-factor sign-in is on for mia")
    shot(page, "two_factor_asked")
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", next_totp(secret))
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    assert page.url == f"{live_server.url}/admin/"
