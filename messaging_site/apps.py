from django.contrib.admin.apps import AdminConfig


class MessagingAdminConfig(AdminConfig):
    """django.contrib.admin, with the site that adds the dashboard, the time zone page and zone-named dates."""

    default_site = "messaging_site.admin_site.MessagingAdminSite"

    def ready(self) -> None:
        super().ready()
        from messaging_site import sign_in  # noqa: F401  (its user_logged_in receiver starts the session clock)
