"""Listening: replies stored once, linked to their contact, conversation and campaign; keywords acted on;
the inbox and the contact timeline that show them.

Providers parse their payloads into providers.events.InboundEvent; this package applies them
(registered as the inbound book in CampaignsConfig.ready). It may import campaigns.models,
campaigns.pipeline (to send replies), contacts and providers; never campaigns.admin or campaigns.api.
"""
