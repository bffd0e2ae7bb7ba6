"""tests/test_machine_requests.py again, every request through the fast lane (messaging_site/fast_lane.py)."""

import pytest

from tests.fast_lane_client import LaneClient
from tests.test_machine_requests import *  # noqa: F403


@pytest.fixture
def client():
    return LaneClient()


# Not the lane's requests: the API's, and people's pages.
del test_which_paths_are_machine_requests  # noqa: F821
del test_a_signed_in_staff_members_cookie_does_not_sign_an_api_request_in  # noqa: F821
del test_peoples_pages_keep_their_policy_and_session  # noqa: F821
del test_an_api_request_gets_no_session_cookie_and_a_policy_that_allows_nothing  # noqa: F821
