"""WhatsApp done right: the providers' approved templates synced per channel, and the rules that keep a
campaign from launching on a template that is gone or not approved.

Providers list templates (providers.templates); this package stores them (campaigns.models.WhatsAppTemplate)
and answers for the rest: `sync` runs a channel's sync and the hourly one, `checks` says why a
template may not be used, `fallback` gives recipients WhatsApp cannot reach their SMS (``is_sms_channel``,
``is_whatsapp_channel`` tell channels apart for forms). It may import campaigns.models, contacts and providers; never
campaigns.admin or campaigns.api.
"""

from campaigns.whatsapp.fallback import is_sms_channel, is_whatsapp_channel

__all__ = ["is_sms_channel", "is_whatsapp_channel"]
