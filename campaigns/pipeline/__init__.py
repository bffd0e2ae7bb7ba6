"""The way out: every message from its row to the provider's answer, and its receipts back.

Fan-out of a campaign's audience, the RQ jobs and the reconciler, queueing after the commit, the
claim-and-send loop, sending hours, the API's shared send batches, receipts, unknown outcomes and a
campaign's lifecycle verbs.

May import: campaigns.models, campaigns.content (what a message says), providers, contacts.
Never imports campaigns.admin, campaigns.api or campaigns.reports (tests/test_layers.py).
"""
