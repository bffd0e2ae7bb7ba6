"""tests/test_links.py again, every request through the fast lane (messaging_site/fast_lane.py)."""

import pytest

from tests.fast_lane_client import LaneClient
from tests.test_links import *  # noqa: F403


@pytest.fixture
def client():
    return LaneClient()


del test_the_campaign_form_tracks_links_by_default_and_names_a_bad_utm_value  # noqa: F821 - a browser's page, not the lane
