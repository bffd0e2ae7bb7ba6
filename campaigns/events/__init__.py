"""Event webhooks to customers' systems: what happened to messages, contacts, bulk jobs and campaigns,
signed as Standard Webhooks says and delivered at least once.

The face: record_events (and its helpers for messages and completions), called by the pipeline and
the conversations in the transaction of the change; send_again and the switch-off for the admin;
the jobs in jobs.py. May import campaigns.models, campaigns.pipeline.queueing and providers; never
campaigns.admin, campaigns.api or campaigns.reports.
"""

from campaigns.events.recording import (
    Event,
    record_cancellations,
    record_completion,
    record_events,
    record_message_events,
    record_opt_outs,
    record_replies,
    record_unsent_recipients,
)
from campaigns.models.webhook import EventType

__all__ = [
    "Event",
    "EventType",
    "record_cancellations",
    "record_completion",
    "record_events",
    "record_message_events",
    "record_opt_outs",
    "record_replies",
    "record_unsent_recipients",
]
