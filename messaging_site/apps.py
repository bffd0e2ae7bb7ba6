from django.contrib.admin.apps import AdminConfig


class MessagingAdminConfig(AdminConfig):
    """django.contrib.admin, with the site that adds the dashboard, the time zone page and zone-named dates."""

    default_site = "messaging_site.admin_site.MessagingAdminSite"
