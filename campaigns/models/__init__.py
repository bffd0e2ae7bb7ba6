"""The campaigns app's models, one concern a module; import them from here."""

from campaigns.models.analytics import CampaignBreakdown, CampaignBucket, HourlyOutcomes
from campaigns.models.api_key import ApiKey
from campaigns.models.campaign import BulkJob, Campaign
from campaigns.models.conversation import Conversation, InboundMessage
from campaigns.models.idempotency import IdempotentRequest
from campaigns.models.keywords import ChannelKeywords, JoinKeyword
from campaigns.models.link import LinkClick, ShortLink
from campaigns.models.message import OutboundMessage
from campaigns.models.staff import StaffProfile
from campaigns.models.tally import CampaignTally
from campaigns.models.template import MessageTemplate
from campaigns.models.variant import CampaignVariant
from campaigns.models.webhook import SigningSecret, WebhookAttempt, WebhookEndpoint, WebhookEvent
from campaigns.models.whatsapp import NotOnWhatsApp, TemplateSync, WhatsAppTemplate

__all__ = [
    "ApiKey",
    "BulkJob",
    "Campaign",
    "CampaignBreakdown",
    "CampaignBucket",
    "CampaignTally",
    "CampaignVariant",
    "ChannelKeywords",
    "Conversation",
    "HourlyOutcomes",
    "IdempotentRequest",
    "InboundMessage",
    "JoinKeyword",
    "LinkClick",
    "MessageTemplate",
    "NotOnWhatsApp",
    "OutboundMessage",
    "ShortLink",
    "SigningSecret",
    "StaffProfile",
    "TemplateSync",
    "WebhookAttempt",
    "WebhookEndpoint",
    "WebhookEvent",
    "WhatsAppTemplate",
]
