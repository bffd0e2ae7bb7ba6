"""tests/test_inbound_webhooks.py again, every request through the fast lane (messaging_site/fast_lane.py)."""

import pytest

from tests.fast_lane_client import LaneClient
from tests.test_inbound_webhooks import *  # noqa: F403


@pytest.fixture
def client():
    return LaneClient()
