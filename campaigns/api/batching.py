"""Old job path, kept for one release: drain jobs queued before the API's send batches moved to
campaigns/pipeline/batching.py name this path. Remove in the next release."""

from campaigns.pipeline.batching import drain_job

__all__ = ["drain_job"]
