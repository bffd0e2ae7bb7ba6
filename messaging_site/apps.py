from axes.apps import AppConfig as AxesAppConfig
from django.contrib.admin.apps import AdminConfig
from django_otp.plugins.otp_totp.apps import DefaultConfig as TotpAppConfig


class MessagingAdminConfig(AdminConfig):
    """django.contrib.admin, with the site that adds the dashboard, the time zone page and zone-named dates."""

    default_site = "messaging_site.admin_site.MessagingAdminSite"

    def ready(self) -> None:
        super().ready()
        from messaging_site import sign_in  # noqa: F401  (its user_logged_in receiver starts the session clock)

        drop_broken_axes_action()


class SignInLockoutsConfig(AxesAppConfig):
    """django-axes, under a name staff understand in the admin's menu."""

    verbose_name = "Sign-in lockouts"


class TwoFactorDevicesConfig(TotpAppConfig):
    """django-otp's authenticator-app devices, under a name staff understand in the admin's menu."""

    verbose_name = "Two-factor sign-in"


def drop_broken_axes_action() -> None:
    """django-axes' "Clean up expired attempts" was offered to anyone who may view the attempts, and it
    fails (500) whenever it runs from the admin: it reads a time axes sets only on a sign-in request.
    Administrators delete attempts with "Delete selected", or `manage.py axes_reset`."""
    from axes.admin import AccessAttemptAdmin

    AccessAttemptAdmin.actions = [a for a in AccessAttemptAdmin.actions if a != "cleanup_expired_attempts"]
