"""Two-factor sign-in with an authenticator app (TOTP, django-otp).

Any staff member may turn it on for themselves (*Two-factor sign-in* at the top of the admin): the
page shows a QR code, and the device counts once a code from it has been typed back. From then
on the admin's sign-in asks for a code. With REQUIRE_2FA_FOR_SUPERUSERS a superuser cannot use
the admin until they have enrolled and signed in with a code. An administrator who loses their
phone is reset by another one, who deletes the device under *Two-factor sign-in → TOTP devices*.
"""

from __future__ import annotations

import io

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import logout
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django_otp import login as otp_login
from django_otp import match_token, user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

DEVICE_NAME = "Authenticator app"


def clean_code(raw: str) -> str:
    """Apps show the code as "123 456": spaces do not matter."""
    return "".join(raw.split())


class SignInForm(AdminAuthenticationForm):
    """The admin's sign-in: username and password, then the authenticator code if the person has one."""

    otp_token = forms.CharField(
        label="Authenticator code",
        required=False,
        max_length=12,
        help_text="Only if you turned on two-factor sign-in: the 6 digits your authenticator app shows now.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def clean(self) -> dict:
        cleaned = super().clean()  # the password (axes counts a wrong one) and is_staff
        user = self.get_user()
        if user is not None and user_has_device(user):
            user.otp_device = self.device_for_code(user, clean_code(cleaned.get("otp_token") or ""))
        return cleaned

    def device_for_code(self, user, code: str) -> TOTPDevice:
        if not code:
            raise ValidationError(
                {"otp_token": f"Two-factor sign-in is on for {user.get_username()}: enter the code your app shows."},
                code="otp_token_required",
            )
        device = match_token(user, code)
        if device is None:
            # A wrong code counts as a failed sign-in, so guessing codes is throttled like passwords.
            user_login_failed.send(sender=__name__, credentials={"username": user.get_username()}, request=self.request)
            wrong = f"Authenticator code {code!r} is wrong or has expired: type the one your app shows now."
            raise ValidationError({"otp_token": wrong}, code="otp_token_wrong")
        return device


def must_enrol_first(request: HttpRequest) -> bool:
    """Whether this signed-in person may use the admin only after a code proves their second factor."""
    user = request.user
    return (
        settings.REQUIRE_2FA_FOR_SUPERUSERS and user.is_authenticated and user.is_superuser and not user.is_verified()
    )


def second_factor_gate(request: HttpRequest) -> HttpResponse | None:
    """Where a superuser without a verified second factor goes instead of the page they asked for.

    One with an enrolled device signed in before it existed (or elsewhere): sign in again, with a
    code. One without a device: the enrolment page.
    """
    if not must_enrol_first(request):
        return None
    if user_has_device(request.user):
        logout(request)
        messages.info(request, "Two-factor sign-in is required for superusers: sign in again with your code.")
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    messages.info(
        request, "Two-factor sign-in is required for superusers (REQUIRE_2FA_FOR_SUPERUSERS): set it up to go on."
    )
    return redirect("admin:two_factor")


class ConfirmForm(forms.Form):
    otp_token = forms.CharField(
        label="Code from the app",
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )

    def __init__(self, *args, device: TOTPDevice, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.device = device

    def clean_otp_token(self) -> str:
        code = clean_code(self.cleaned_data["otp_token"])
        if not self.device.verify_token(code):
            raise ValidationError(
                f"Code {code!r} does not match: check the phone's clock and type the code the app shows now.",
                code="otp_token_wrong",
            )
        return code


def pending_device(user) -> TOTPDevice:
    """The person's device being set up: the same secret until confirmed, so a reload keeps the QR code."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    return device or TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)


@never_cache
def two_factor_view(request: HttpRequest, admin_site) -> HttpResponse:
    """Turn two-factor sign-in on (scan, then type a code back), or off (type a current code)."""
    confirmed = TOTPDevice.objects.filter(user=request.user, confirmed=True).first()
    if confirmed is not None:
        return turn_off(request, admin_site, confirmed)
    device = pending_device(request.user)
    form = ConfirmForm(request.POST or None, device=device)
    if request.method == "POST" and form.is_valid():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        otp_login(request, device)  # this session has just proved the second factor
        messages.success(request, "Two-factor sign-in is on: from now on, signing in asks for a code from your app.")
        return redirect("admin:index")
    context = {
        **admin_site.each_context(request),
        "title": "Two-factor sign-in",
        "form": form,
        "device": device,
        "secret": device_secret(device),
        "required": settings.REQUIRE_2FA_FOR_SUPERUSERS and request.user.is_superuser,
    }
    return TemplateResponse(request, "admin/two_factor.html", context)


def turn_off(request: HttpRequest, admin_site, device: TOTPDevice) -> HttpResponse:
    required = settings.REQUIRE_2FA_FOR_SUPERUSERS and request.user.is_superuser
    form = ConfirmForm(request.POST or None, device=device)
    if request.method == "POST" and not required and form.is_valid():
        TOTPDevice.objects.filter(user=request.user).delete()
        messages.success(request, "Two-factor sign-in is off: signing in asks for your password only.")
        return redirect("admin:index")
    context = {
        **admin_site.each_context(request),
        "title": "Two-factor sign-in",
        "form": form,
        "enrolled": device,
        "required": required,
    }
    return TemplateResponse(request, "admin/two_factor.html", context)


def device_secret(device: TOTPDevice) -> str:
    """The secret as apps take it when typed in by hand (base32, in groups of four)."""
    from base64 import b32encode

    text = b32encode(device.bin_key).decode()
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


@never_cache
def two_factor_qr_view(request: HttpRequest) -> HttpResponse:
    """The QR code of the person's own device being set up (never another's, never a confirmed one)."""
    import segno

    if user_has_device(request.user):
        raise Http404("Two-factor sign-in is on already: its secret is not shown again.")
    device = pending_device(request.user)
    out = io.BytesIO()
    segno.make(device.config_url, error="m").save(out, kind="svg", scale=5, border=2)
    return HttpResponse(out.getvalue(), content_type="image/svg+xml")


class SecondFactorMiddleware:
    """Keeps a superuser without a verified second factor to the pages that let them get one.

    Everything under /admin/ (django-rq's pages and the metrics included), except signing in and
    out and the two-factor page itself.
    """

    OPEN_PAGES = ("admin:login", "admin:logout", "admin:two_factor", "admin:two_factor_qr", "admin:jsi18n")

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(reverse("admin:index")) and request.path not in self.open_paths():
            response = second_factor_gate(request)
            if response is not None:
                return response
        return self.get_response(request)

    def open_paths(self) -> set[str]:
        return {reverse(name) for name in self.OPEN_PAGES}
