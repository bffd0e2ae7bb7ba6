from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"

    def ready(self) -> None:
        # Providers report receipts and resumed channels; campaigns applies them (providers never
        # import campaigns: dependencies run campaigns -> providers -> contacts).
        from campaigns.conversations.book import ConversationBook
        from campaigns.pipeline.receipts import CampaignReceiptBook, resume_campaigns_with_channels
        from providers.events import register_inbound_book, register_receipt_book
        from providers.signals import channels_resumed

        register_receipt_book(CampaignReceiptBook())
        register_inbound_book(ConversationBook())
        channels_resumed.connect(resume_campaigns_with_channels, dispatch_uid="campaigns.resume_with_channels")
