"""The campaigns app's models, one concern a module; import them from here."""

from campaigns.models.api_key import ApiKey
from campaigns.models.campaign import BulkJob, Campaign, MessageTemplate
from campaigns.models.message import OutboundMessage

__all__ = ["ApiKey", "BulkJob", "Campaign", "MessageTemplate", "OutboundMessage"]
