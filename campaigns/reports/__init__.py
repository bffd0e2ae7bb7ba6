"""What staff and monitoring read: a campaign's progress, its tallies of messages by state, the
Prometheus metrics and the results export.

Reads what the pipeline wrote; changes nothing but its own tallies. May import: campaigns.models,
campaigns.pipeline, campaigns.content, providers, contacts. Never imports campaigns.admin or
campaigns.api (tests/test_layers.py).
"""
