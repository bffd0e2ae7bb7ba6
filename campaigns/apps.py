from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import m2m_changed, post_delete, post_save


class CampaignsConfig(AppConfig):
    name = "campaigns"

    def ready(self) -> None:
        # Providers report receipts and resumed channels; campaigns applies them (providers never
        # import campaigns: dependencies run campaigns -> providers -> contacts).
        import campaigns.variants  # noqa: F401 - gives SQLite connections the A/B bucket function
        from campaigns.conversations.book import ConversationBook
        from campaigns.pipeline.receipts import CampaignReceiptBook, resume_campaigns_with_channels
        from providers.events import register_inbound_book, register_receipt_book
        from providers.signals import channels_resumed

        forget_api_keys_on_change()
        forget_link_utms_on_change()
        register_receipt_book(CampaignReceiptBook())
        register_inbound_book(ConversationBook())
        channels_resumed.connect(resume_campaigns_with_channels, dispatch_uid="campaigns.resume_with_channels")


def forget_api_keys_on_change() -> None:
    """The API keeps keys a few seconds (campaigns/api/auth.py): a change to a key, its scope or its
    owner ends that."""
    from campaigns.api.auth import forget_keys
    from campaigns.models import ApiKey

    for model in (ApiKey, settings.AUTH_USER_MODEL):
        post_save.connect(forget_keys, sender=model, dispatch_uid=f"campaigns.forget_keys.save.{model}")
        post_delete.connect(forget_keys, sender=model, dispatch_uid=f"campaigns.forget_keys.delete.{model}")
    for links in (ApiKey.channels.through, ApiKey.contact_lists.through):
        m2m_changed.connect(forget_keys, sender=links, dispatch_uid=f"campaigns.forget_keys.{links.__name__}")


def forget_link_utms_on_change() -> None:
    """Each process keeps its campaigns' UTM parameters for the redirect (campaigns/links/redirect.py)."""
    from campaigns.links.redirect import forget_campaign_utm
    from campaigns.models import Campaign

    post_save.connect(forget_campaign_utm, sender=Campaign, dispatch_uid="campaigns.links.forget_utm.save")
    post_delete.connect(forget_campaign_utm, sender=Campaign, dispatch_uid="campaigns.links.forget_utm.delete")
