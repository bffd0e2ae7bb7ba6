"""Old job path, kept for one release: RQ jobs queued before the move to campaigns/pipeline/ name
their function by this dotted path, and must still run after an upgrade. Remove in the next
release; new code imports campaigns.pipeline.jobs."""

from campaigns.pipeline.jobs import dispatch_campaign_job, reconcile, send_messages_job

__all__ = ["dispatch_campaign_job", "reconcile", "send_messages_job"]
