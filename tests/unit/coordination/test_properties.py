"""Properties of job keys, partial progress and backoff, over generated inputs."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seamless_sdk.coordination import ClaimRefused, JobKey, Lease, PostgresCoordinator
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import chunk_start, parse_interval, window_next
from seamless_sdk.ranges import RangeSet

DAY = 86_400
M1 = parse_interval("1m")
T0 = 1_704_067_200
_NODES = itertools.count()
# Function-scoped fixtures are fine here: every example uses a key of its own.
DB_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

node_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,20}", fullmatch=True)
intervals = st.sampled_from(["1s", "1m", "5m", "15m", "1h", "4h", "1d"])
times = st.integers(min_value=-2_000_000_000, max_value=5_000_000_000)


@given(node_ids, intervals, times)
def test_keys_are_whole_chunks_and_round_trip_through_their_string(
    node_id: str, interval: str, ts: int
) -> None:
    iv = parse_interval(interval)
    key = JobKey.for_chunk(node_id, iv, ts)
    assert key.window_start == chunk_start(iv, ts) <= ts < key.window_end
    assert key.window_end == window_next(key.window_start, iv.chunk_unit)
    assert JobKey.parse(str(key)) == key
    assert JobKey.parse(key) is key


@given(st.text(max_size=40))
def test_a_malformed_key_string_is_an_invalid_request(text: str) -> None:
    try:
        key = JobKey.parse(text)
    except InvalidRequestError as exc:
        assert exc.field in {"key", "node_id", "interval", "window_end"}
    else:
        assert text.count("|") == 3  # only a four-field key parses ...
        assert JobKey.parse(str(key)) == key  # ... into a key that round-trips


def _minute_ranges(window: tuple[int, int]) -> st.SearchStrategy[RangeSet]:
    start, end = window
    bounds = st.integers(min_value=0, max_value=(end - start) // 60)
    pairs = st.tuples(bounds, bounds).map(lambda p: (start + 60 * min(p), start + 60 * max(p)))
    return st.lists(pairs, max_size=5).map(RangeSet)


WINDOW = (T0, T0 + DAY)


@pytest.fixture
def coord(dsn: str) -> Iterator[PostgresCoordinator]:
    with PostgresCoordinator(dsn, backoff_base_s=0.5, backoff_jitter=0.2, max_failures=4) as c:
        yield c


@DB_SETTINGS
@given(
    first=_minute_ranges(WINDOW),
    pieces=st.lists(_minute_ranges(WINDOW), max_size=4),
    second=_minute_ranges(WINDOW),
)
def test_the_next_claim_fetches_what_was_wanted_less_what_was_committed(
    coord: PostgresCoordinator, dsn: str, first: RangeSet, pieces: list[RangeSet], second: RangeSet
) -> None:
    key = JobKey(f"p:{next(_NODES)}", "1m", *WINDOW)
    wanted = first if first else RangeSet.span(*WINDOW)
    lease = coord.claim(key, 0, wanted)
    assert isinstance(lease, Lease) and lease.remaining == wanted
    done = RangeSet()
    for piece in pieces:
        coord.progress(lease, piece)
        done = done.union(piece)
    record = coord.fail(lease, "killed")
    assert record.completed == done
    assert record.remaining == wanted.subtract(done)
    with psycopg.connect(dsn, autocommit=True) as conn:  # the backoff is not what is tested
        conn.execute("UPDATE backfill_jobs SET next_attempt_at = clock_timestamp()")
    again = second if second else RangeSet.span(*WINDOW)
    nxt = coord.claim(key, coord.coverage_version(key.node_id, M1), again)
    if again.subtract(done):
        assert isinstance(nxt, Lease)
        assert nxt.remaining == again.subtract(done) and nxt.completed == done
    else:
        # Everything this claimant wants was committed: it still gets the lease
        # (its coverage said missing), with nothing left to fetch.
        assert isinstance(nxt, Lease) and nxt.remaining == RangeSet()


@DB_SETTINGS
@given(failures=st.integers(min_value=1, max_value=6))
def test_backoff_doubles_per_failure_up_to_the_cap_and_quarantine_comes_at_the_limit(
    coord: PostgresCoordinator, dsn: str, failures: int
) -> None:
    key = JobKey(f"b:{next(_NODES)}", "1m", *WINDOW)
    for n in range(1, failures + 1):
        lease = coord.claim(key, 0, key.span)
        if n > coord.max_failures:
            assert isinstance(lease, ClaimRefused) and lease.reason == "quarantined"
            return
        assert isinstance(lease, Lease)
        record = coord.fail(lease, f"failure {n}")
        assert record.attempts == n
        assert record.quarantined == (n >= coord.max_failures)
        assert record.next_attempt_at is not None
        delay = record.next_attempt_at - record.updated_at
        expected = min(coord.backoff_base_s * 2 ** (n - 1), coord.backoff_max_s)
        assert expected - 1e-3 <= delay <= expected * (1 + coord.backoff_jitter) + 1e-3
        refused = coord.claim(key, 0, key.span)
        assert isinstance(refused, ClaimRefused)
        assert refused.reason == ("quarantined" if record.quarantined else "backoff")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("UPDATE backfill_jobs SET next_attempt_at = clock_timestamp()")
