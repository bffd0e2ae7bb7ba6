"""The per-channel rate limit: the booking script on its own, then two real worker processes.

The booking tests call the Lua script on the suite's real Redis without sleeping: each booking
returns how long its caller would wait, which turns into the time its messages would go.
"""

from __future__ import annotations

import random
import threading
import time
from itertools import pairwise

import django_rq
import pytest

from providers.models import Channel
from providers.ratelimit import (
    CATCH_UP_SECONDS,
    LEAVE_WITHIN_SECONDS,
    WINDOW_SECONDS,
    batch_for,
    book,
    bucket_keys,
    take,
)
from tests.scenarios import run_scenario

ROUNDING = 2e-6  # booked times come back with microsecond precision


def a_channel(pk: int, rate: float) -> Channel:
    return Channel(pk=pk, name=f"Channel {pk}", provider="sandbox", rate_limit=rate)


def booked(channel: Channel, counts: list[int]) -> list[tuple[float, int]]:
    """Book each count in turn; return (booked time on the Redis clock, count) pairs."""
    return [(book(channel, count)[1], count) for count in counts]


def gaps(bookings: list[tuple[float, int]]) -> list[float]:
    times = sorted(at for at, _ in bookings)
    return [later - earlier for earlier, later in pairwise(times)]


def busiest_window(bookings: list[tuple[float, int]], seconds: float) -> int:
    """The most messages going in any span of ``seconds`` (half-open, as providers count)."""
    ordered = sorted(bookings)
    return max(sum(n for at, n in ordered if start <= at < start + seconds) for start, _ in ordered)


def test_the_first_messages_on_an_idle_channel_go_at_once():
    assert book(a_channel(1, rate=10), 5)[0] == 0.0


def test_single_messages_are_spread_at_the_rate():
    channel, step = a_channel(1, rate=20), WINDOW_SECONDS / 20
    answers = [book(channel, 1) for _ in range(41)]
    times = [at for _, at in answers]
    # On an idle channel only the catch-up allowance goes at once...
    assert len([wait for wait, _ in answers if wait == 0]) == 1 + int(CATCH_UP_SECONDS / step)
    # ...no window holds more than the rate, and 41 messages take 40 steps: the rate, no more, no less.
    assert busiest_window([(at, 1) for at in times], WINDOW_SECONDS - ROUNDING) <= 20
    assert times[-1] - times[0] == pytest.approx(40 * step, abs=step)


def test_batches_of_any_size_never_put_more_than_the_rate_in_one_window():
    rng = random.Random(7)
    counts = [rng.randint(1, 7) for _ in range(150)]
    bookings = booked(a_channel(1, rate=10), counts)
    assert busiest_window(bookings, WINDOW_SECONDS - ROUNDING) <= 10
    # ...while still using most of it: the batches average 4, so no more than 3/10 is lost.
    span = bookings[-1][0] - bookings[0][0]
    assert sum(counts[:-1]) / span >= 10 * 0.7 / WINDOW_SECONDS


def test_a_batch_that_does_not_divide_the_rate_waits_for_the_window():
    # Three batches of 3 fit a window of 10; a fourth would make 12, so it waits a full window.
    times = [at for at, _ in booked(a_channel(1, rate=10), [3, 3, 3, 3])]
    assert times[3] - times[0] == pytest.approx(WINDOW_SECONDS, abs=ROUNDING)


def test_a_batch_larger_than_the_rate_goes_alone_and_the_channel_waits_its_share():
    times = [at for at, _ in booked(a_channel(1, rate=10), [25, 1])]
    assert times[1] - times[0] == pytest.approx(25 * WINDOW_SECONDS / 10 - CATCH_UP_SECONDS, abs=ROUNDING)


def test_time_lost_while_workers_were_busy_is_made_up_within_the_window():
    channel, step = a_channel(1, rate=20), WINDOW_SECONDS / 20
    first = booked(channel, [1] * 10)  # booked about half a second ahead
    time.sleep(0.6 + CATCH_UP_SECONDS)  # no worker comes back until the booked times have passed...
    late = booked(channel, [1] * 30)
    # ...so the next go sooner than one per step, but never past the window's limit.
    assert min(gaps(late[:3])) < step / 2
    assert busiest_window(first + late, WINDOW_SECONDS - ROUNDING) <= 20


def test_channels_have_their_own_limits():
    busy, quiet = a_channel(1, rate=5), a_channel(2, rate=5)
    booked(busy, [5] * 10)  # books the busy channel ten seconds ahead
    assert book(quiet, 1)[0] == 0.0


def test_concurrent_bookings_never_share_a_time():
    """Many threads booking at once still get evenly spaced, distinct times: the script is atomic."""
    channel = a_channel(1, rate=50)
    answers: list[tuple[float, float]] = []
    lock, start = threading.Lock(), threading.Barrier(8)

    def book_many() -> None:
        start.wait()
        mine = [book(channel, 1) for _ in range(25)]
        with lock:
            answers.extend(mine)

    threads = [threading.Thread(target=book_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(answers) == 200
    assert min(gaps([(at, 1) for _, at in answers])) > 0
    assert busiest_window([(at, 1) for _, at in answers], WINDOW_SECONDS - ROUNDING) <= 50


def test_take_blocks_until_the_booked_time():
    channel = a_channel(1, rate=10)
    take(channel, 10)
    started = time.monotonic()
    leave_by = take(channel, 1)
    assert time.monotonic() - started == pytest.approx(WINDOW_SECONDS, abs=0.05)  # the window rule
    # The batch must then leave within a few hundredths of a second of its booked time.
    assert leave_by == pytest.approx(started + WINDOW_SECONDS + LEAVE_WITHIN_SECONDS, abs=0.01)


def test_the_bookings_expire_once_they_no_longer_matter():
    channel = a_channel(1, rate=10)
    book(channel, 10)
    redis = django_rq.get_connection("default")
    for key in bucket_keys(channel):
        assert 0 < redis.pttl(key) <= (WINDOW_SECONDS * 2 + 1) * 1000 + 50


@pytest.mark.parametrize("rate", [0, -1])
def test_a_rate_that_is_not_positive_is_refused_naming_the_field(rate):
    with pytest.raises(ValueError, match="rate_limit"):
        book(a_channel(1, rate=rate), 1)


@pytest.mark.slow
def test_two_worker_processes_together_stay_within_the_limit():
    """The bench's measurement, shortened: two `rqworker --burst` processes share one channel.

    A loopback fake that answers 429 past 15 messages in any one-second window counts what
    arrives; each message is its own request, and each worker alone could send far faster.
    """
    measured = run_scenario("bench.rate_limit", "--seconds", "6", "--rate", "15", timeout=90, without=("DATABASE_URL",))

    assert measured["rejected_429"] == 0
    assert measured["accepted"] == measured["messages"] == 90
    assert measured["rate"] == pytest.approx(15, rel=0.10)
    assert len(measured["per_worker"]) == 2, measured["per_worker"]
    assert min(measured["per_worker"].values()) >= 90 * 0.2, measured["per_worker"]


@pytest.mark.parametrize(
    ("rate", "most", "expected"),
    [(50, 32, 25), (50, 256, 50), (47, 32, 23), (3, 8, 3), (1000, 256, 50), (2000, 128, 50), (10_000, 128, 126)],
)
def test_whole_batches_fill_the_window(rate, most, expected):
    """Batches of 32 on a 50/s channel fit one to a window (30 msg/s); of 25, two (the full rate).

    At a high rate a batch is at most 25 ms of it (and at least 50): the requests of a batch of 250
    left over 50 to 90 ms on a busy machine, past the window's jitter allowance."""
    size = batch_for(rate, most)
    assert size == expected
    assert (rate // size) * size >= 0.9 * rate


def test_a_lost_state_does_not_let_a_second_burst_through():
    """After a Redis flush a worker that just booked waits out the window; a fresh channel does not wait."""
    channel = a_channel(7, rate=10)
    assert book(channel, 10)[0] == 0.0
    django_rq.get_connection("default").flushdb()
    wait, _ = book(channel, 10)
    assert wait >= 2 * WINDOW_SECONDS - ROUNDING  # past the lost window and a booking held ahead
    assert book(a_channel(8, rate=10), 10)[0] == 0.0
