"""The benches' loopback endpoint is their own: a run never counts another run's messages.

A strict endpoint counts every message id it accepts; two runs side by side (each on a database
of its own, so the same ids) that shared one endpoint read each other's messages as sent twice.
"""

from __future__ import annotations

import pytest

from bench.dispatch import EndpointProcess


def test_an_endpoint_on_a_port_another_run_holds_refuses_to_start_instead_of_sharing_it():
    first = EndpointProcess(0.0, extra=["--strict"])
    try:
        with pytest.raises(SystemExit, match=f"port {first.port}"):
            EndpointProcess(0.0, port=first.port, extra=["--strict"])
        assert first.report()["accepted"] == 0  # the first run's endpoint is untouched, still answering
    finally:
        first.stop()
