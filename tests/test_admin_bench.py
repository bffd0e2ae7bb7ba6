"""The 10,000,000-message admin bench: PostgreSQL only, said plainly; its data plan adds up."""

from __future__ import annotations

import pytest
from django.db import connection

import bench.__main__ as bench_main
from bench import admin_10m
from bench.admin_10m_data import FULL_SCALE, plan, unsent_campaigns


@pytest.mark.django_db
def test_asked_for_on_sqlite_it_is_refused_with_the_reason(monkeypatch, capsys):
    monkeypatch.setattr(bench_main, "discover", lambda: {"admin_10m": admin_10m})
    if connection.vendor == "postgresql":
        assert admin_10m.unavailable() is None
        return
    with pytest.raises(SystemExit, match=r"admin_10m needs PostgreSQL .* not sqlite: set DATABASE_URL"):
        bench_main.run_benches(["admin_10m"])
    assert bench_main.run_benches([]) == []  # in a run of every bench it is skipped, and says why
    assert "skipping admin_10m: admin_10m needs PostgreSQL" in capsys.readouterr().err


def test_the_data_is_ten_million_messages_in_a_busy_installations_spread():
    campaigns, singles = plan(FULL_SCALE)
    assert sum(campaign.size for campaign in campaigns) + singles == FULL_SCALE
    assert 0.04 * FULL_SCALE <= singles <= 0.06 * FULL_SCALE
    assert sorted(c.size for c in campaigns)[-4:] == [1_000_000] * 4
    assert 250 <= len(campaigns) <= 500
    assert {c.status for c in campaigns + unsent_campaigns()} == {
        "completed",
        "running",
        "paused",
        "cancelled",
        "scheduled",
        "draft",
    }
    assert {c.kind for c in campaigns} == {"campaign", "bulk_api"}
    assert sum(c.channel == "gupshup" for c in campaigns) == 2  # a rare channel: the filters' worst case
