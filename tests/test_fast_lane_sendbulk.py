"""tests/test_sendbulk_delivery_reports.py again, every request through the fast lane (messaging_site/fast_lane.py)."""

import pytest

from tests.fast_lane_client import LaneClient
from tests.test_sendbulk_delivery_reports import *  # noqa: F403


@pytest.fixture
def client():
    return LaneClient()


del test_a_message_is_sent_by_the_worker_and_its_pushed_report_comes_back  # noqa: F821 - the live server's handler
