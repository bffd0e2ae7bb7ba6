from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class ProvidersConfig(AppConfig):
    name = "providers"

    def ready(self) -> None:
        from providers.models import Channel
        from providers.webhook_channels import forget_channels

        # Webhook views keep channels a few seconds (providers/webhook_channels.py): a change ends that.
        post_save.connect(forget_channels, sender=Channel, dispatch_uid="providers.forget_channels.save")
        post_delete.connect(forget_channels, sender=Channel, dispatch_uid="providers.forget_channels.delete")
