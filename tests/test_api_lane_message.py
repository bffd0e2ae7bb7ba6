"""tests/test_api_message.py again, every request through the API's lane (messaging_site/api_lane.py)."""

import pytest

from tests import test_api_message
from tests.api_lane_client import ApiLaneClient
from tests.test_api_message import *  # noqa: F403


@pytest.fixture(autouse=True)
def through_the_lane(monkeypatch):
    monkeypatch.setattr(test_api_message, "Client", ApiLaneClient)
