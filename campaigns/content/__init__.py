"""What a message says: placeholders and their rendering, SMS segments, contacts' extra fields,
and the pre-launch checks of a campaign's text and audience.

May import: campaigns.models, campaigns.pipeline (to render exactly as sending will), providers,
contacts. Never imports campaigns.admin or campaigns.api (tests/test_layers.py).
"""
