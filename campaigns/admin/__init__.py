"""The campaigns app's admin pages, one screen a module; importing them registers them."""

from campaigns.admin import (
    api_keys,
    bulk_jobs,
    campaign,
    channel_actions,
    deletion,
    inbox,
    keywords,
    messages,
    templates,
    timeline,
    users,
    webhooks,
    whatsapp_templates,
)

__all__ = [
    "api_keys",
    "bulk_jobs",
    "campaign",
    "channel_actions",
    "deletion",
    "inbox",
    "keywords",
    "messages",
    "templates",
    "timeline",
    "users",
    "webhooks",
    "whatsapp_templates",
]
