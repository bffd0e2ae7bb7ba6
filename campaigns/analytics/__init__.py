"""Did it work? A campaign's outcomes counted as they arrive, and read back as a funnel, charts,
failures by error code, results by country and the actual cost.

The places that apply outcomes in batches (campaigns/pipeline/ sending and receipts,
campaigns/receiving/, campaigns/links/ click folding, campaigns/conversations/ replies) tell this
package what their statements moved (count_*); the campaign page, its export and the dashboard read
the tallies (campaign_analytics, dashboard_charts...), never the message rows.

May import: campaigns.models, campaigns.content, contacts, providers. Below pipeline/, receiving/,
links/, conversations/ and reports/, which import it; never imports them (tests/test_layers.py).
"""

from campaigns.analytics.export import export_analytics
from campaigns.analytics.outcomes import tally_clicks, tally_receipts, tally_replies, tally_sends
from campaigns.analytics.reading import (
    STEPS,
    campaign_analytics,
    countries,
    daily,
    failures,
    funnel,
    recent_campaigns,
    series,
    totals,
)
from campaigns.analytics.tallying import Tally, country_of

__all__ = [
    "STEPS",
    "Tally",
    "campaign_analytics",
    "countries",
    "country_of",
    "daily",
    "export_analytics",
    "failures",
    "funnel",
    "recent_campaigns",
    "series",
    "tally_clicks",
    "tally_receipts",
    "tally_replies",
    "tally_sends",
    "totals",
]
