"""PostgresCoordinator on a real PostgreSQL: every state transition, tokens,
stale versions, partial progress, backoff, quarantine, retry and skip."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from seamless_sdk.coordination import (
    ClaimRefused,
    JobKey,
    JobState,
    Lease,
    PostgresCoordinator,
    commands,
)
from seamless_sdk.errors import CoordinatorError, InvalidRequestError, LeaseLostError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet

DAY = 86_400
M1 = parse_interval("1m")
KEY = JobKey.for_chunk("demo:A", M1, 20_000 * DAY)
WINDOW = KEY.span


@pytest.fixture
def coord(dsn: str) -> Iterator[PostgresCoordinator]:
    with PostgresCoordinator(dsn, lease_s=5, backoff_base_s=0.2, max_failures=3) as c:
        yield c


def _lease(outcome: Lease | ClaimRefused) -> Lease:
    assert isinstance(outcome, Lease), outcome
    return outcome


def _refused(outcome: Lease | ClaimRefused, reason: str) -> ClaimRefused:
    assert isinstance(outcome, ClaimRefused), outcome
    assert outcome.reason == reason, outcome
    return outcome


def _state(coord: PostgresCoordinator, key: JobKey = KEY) -> JobState:
    record = coord.job(key)
    assert record is not None
    return record.state


def test_a_first_claim_runs_and_a_second_is_busy(coord: PostgresCoordinator, dsn: str) -> None:
    assert coord.job(KEY) is None
    lease = _lease(coord.claim(KEY, 0, WINDOW))
    assert lease.remaining == WINDOW and not lease.completed and not lease.taken_over
    assert lease.lease_until > time.time() + 4  # lease_s=5, on the database's clock
    record = coord.job(KEY)
    assert record is not None and record.state is JobState.RUNNING
    assert record.holder == coord.holder
    with PostgresCoordinator(dsn, holder="host-b") as other:
        busy = _refused(other.claim(KEY, 0, WINDOW), "busy")
        assert busy.holder == coord.holder and busy.lease_until == pytest.approx(lease.lease_until)
    _refused(coord.claim(KEY, 0, WINDOW), "busy")  # not re-entrant, even for its holder


def test_complete_bumps_the_version_and_refuses_stale_claims(coord: PostgresCoordinator) -> None:
    assert coord.coverage_version("demo:A", M1) == 0
    lease = _lease(coord.claim(KEY, 0, WINDOW))
    version = coord.complete(lease)
    assert version == coord.coverage_version("demo:A", "1m") == 1
    record = coord.job(KEY)
    assert record is not None and record.state is JobState.SUCCEEDED
    assert record.coverage_version == 1 and record.completed == RangeSet()
    # A host that read coverage before this commit claims with version 0: refused.
    stale = _refused(coord.claim(KEY, 0, WINDOW), "stale")
    assert stale.coverage_version == 1
    # With the current version (coverage re-read, still missing: e.g. the now edge
    # moved or a repair dropped it) the finished job starts over.
    again = _lease(coord.claim(KEY, 1, RangeSet([(KEY.window_start, KEY.window_start + 60)])))
    assert again.remaining == RangeSet([(KEY.window_start, KEY.window_start + 60)])
    assert again.completed == RangeSet()


def test_versions_are_per_series_and_other_windows_do_not_make_a_claim_stale(
    coord: PostgresCoordinator,
) -> None:
    other = JobKey.for_chunk("demo:A", M1, KEY.window_end)
    coord.complete(_lease(coord.claim(other, 0, other.span)))
    assert coord.coverage_version("demo:A", M1) == 1
    assert coord.coverage_version("demo:B", M1) == 0
    assert coord.coverage_version("demo:A", "1h") == 0
    _lease(coord.claim(KEY, 0, WINDOW))  # this window was not committed since version 0


def test_a_stale_holder_can_neither_extend_nor_complete(dsn: str) -> None:
    with (
        PostgresCoordinator(dsn, lease_s=0.2, holder="host-a") as a,
        PostgresCoordinator(dsn, lease_s=5, holder="host-b") as b,
    ):
        old = _lease(a.claim(KEY, 0, WINDOW))
        time.sleep(0.3)
        new = _lease(b.claim(KEY, 0, WINDOW))
        assert new.taken_over and new.token != old.token
        record = b.job(KEY)
        assert record is not None and record.expirations == 1 and record.holder == "host-b"
        assert record.last_error == "lease of host-a expired"
        for call in (
            lambda: a.extend(old),
            lambda: a.progress(old, WINDOW),
            lambda: a.complete(old),
            lambda: a.fail(old, "late"),
        ):
            with pytest.raises(LeaseLostError) as info:
                call()
            assert info.value.key == str(KEY)
        assert b.coverage_version("demo:A", M1) == 0  # the refused progress bumped nothing
        assert b.extend(new) > time.time() + 4
        assert b.complete(new) == 1
        assert _state(b) is JobState.SUCCEEDED


def test_a_forged_token_matches_nothing(coord: PostgresCoordinator) -> None:
    lease = _lease(coord.claim(KEY, 0, WINDOW))
    forged = dataclasses.replace(lease, token=lease.token[::-1])
    with pytest.raises(LeaseLostError):
        coord.complete(forged)
    coord.complete(lease)


def test_partial_progress_survives_a_failure_and_the_next_claim_fetches_the_rest(
    coord: PostgresCoordinator,
) -> None:
    s = KEY.window_start
    first, second = RangeSet([(s, s + 3600)]), RangeSet([(s + 3600, s + 7200)])
    lease = _lease(coord.claim(KEY, 0, WINDOW))
    assert coord.progress(lease, first) == 1
    record = coord.job(KEY)
    assert record is not None and record.completed == first
    assert record.remaining == WINDOW.subtract(first) and record.coverage_version == 1
    assert coord.progress(lease, second) == 2
    failed = coord.fail(lease, "RuntimeError('upstream 503')")
    assert failed.state is JobState.FAILED and failed.attempts == 1 and not failed.quarantined
    assert failed.completed == first.union(second)
    assert failed.last_error == "RuntimeError('upstream 503')"
    time.sleep(0.25)  # backoff_base_s=0.2 (+ up to 10% jitter)
    # The next claimant (version 2: it re-read coverage) fetches only the rest.
    nxt = _lease(coord.claim(KEY, 2, WINDOW))
    assert nxt.completed == first.union(second)
    assert nxt.remaining == WINDOW.subtract(first).subtract(second)
    coord.complete(nxt)
    done = coord.job(KEY)
    assert done is not None and done.attempts == 0 and done.remaining == RangeSet()
    assert done.completed == first.union(second)


def test_complete_keeps_what_was_left_uncovered(coord: PostgresCoordinator) -> None:
    s = KEY.window_start
    lease = _lease(coord.claim(KEY, 0, WINDOW))
    coord.complete(lease, RangeSet([(s, s + 60), (KEY.window_end, KEY.window_end + 60)]))
    record = coord.job(KEY)
    assert record is not None and record.remaining == RangeSet([(s, s + 60)])  # clipped to window


def test_failures_back_off_exponentially_then_quarantine(coord: PostgresCoordinator) -> None:
    delays = []
    for attempt in (1, 2, 3):
        lease = _lease(coord.claim(KEY, 0, WINDOW))
        record = coord.fail(lease, f"failure {attempt}")
        assert record.attempts == attempt
        assert record.next_attempt_at is not None
        delays.append(record.next_attempt_at - record.updated_at)
        if attempt < 3:
            refused = _refused(coord.claim(KEY, 0, WINDOW), "backoff")
            assert refused.retry_at == pytest.approx(record.next_attempt_at)
            assert not record.quarantined
            time.sleep(record.next_attempt_at - time.time() + 0.05)
    for delay, base in zip(delays, (0.2, 0.4, 0.8), strict=True):
        assert base <= delay <= base * 1.1 + 0.01
    # Third consecutive failure (max_failures=3): quarantined, whatever the backoff.
    assert record.quarantined
    _refused(coord.claim(KEY, 0, WINDOW), "quarantined")
    assert [r.key for r in coord.quarantined()] == [KEY]


def test_backoff_is_capped(dsn: str) -> None:
    with PostgresCoordinator(
        dsn, backoff_base_s=1, backoff_max_s=1.5, backoff_jitter=0, max_failures=10
    ) as c:
        for _ in range(3):
            record = c.fail(_lease(c.claim(KEY, 0, WINDOW)), "x")
            assert record.next_attempt_at is not None
            c.retry(KEY)  # skip the wait: retry clears the backoff (and the count)
        record = c.job(KEY)
        assert record is not None and record.attempts == 0
        for n in range(1, 4):
            record = c.fail(_lease(c.claim(KEY, 0, WINDOW)), "x")
            assert record.attempts == n
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("UPDATE backfill_jobs SET next_attempt_at = clock_timestamp()")
        assert record.next_attempt_at is not None
        assert record.next_attempt_at - record.updated_at == pytest.approx(1.5, abs=0.01)


def test_retry_and_skip_of_a_quarantined_window(dsn: str) -> None:
    with PostgresCoordinator(dsn, max_failures=1) as c:
        lease = _lease(c.claim(KEY, 0, WINDOW))
        c.progress(lease, RangeSet([(KEY.window_start, KEY.window_start + 60)]))
        c.fail(lease, "boom")
    listed = commands.list_quarantined(dsn)
    assert [r.key for r in listed] == [KEY]
    assert listed[0].to_dict()["key"] == str(KEY)
    assert listed[0].to_dict()["completed_ranges"] == [[KEY.window_start, KEY.window_start + 60]]

    skipped = commands.skip(dsn, str(KEY))
    assert skipped.state is JobState.SKIPPED and not skipped.quarantined
    assert commands.list_quarantined(dsn) == []
    with PostgresCoordinator(dsn) as c:
        _refused(c.claim(KEY, 1, WINDOW), "skipped")

    retried = commands.retry(dsn, KEY)
    assert retried.state is JobState.PENDING and retried.attempts == 0
    with PostgresCoordinator(dsn) as c:
        lease = _lease(c.claim(KEY, 1, WINDOW))
        # What the failed attempt committed is kept: only the rest is left.
        assert lease.remaining == WINDOW.subtract(lease.completed)
        assert lease.completed.total() == 60
        c.complete(lease)
        with pytest.raises(InvalidRequestError, match="is SUCCEEDED: only failed or skipped"):
            c.retry(KEY)


def test_operator_commands_refuse_unknown_and_running_windows(
    coord: PostgresCoordinator, dsn: str
) -> None:
    with pytest.raises(InvalidRequestError, match="no such backfill job") as info:
        commands.retry(dsn, "demo:A|1m|0|86400")
    assert info.value.field == "key"
    with pytest.raises(InvalidRequestError, match="no such backfill job"):
        commands.skip(dsn, "demo:A|1m|0|86400")
    _lease(coord.claim(KEY, 0, WINDOW))
    with pytest.raises(InvalidRequestError, match="is RUNNING: a window with a live lease cannot"):
        commands.skip(dsn, KEY)
    for bad in ("nonsense", "demo:A|1m|x|1", "demo A|1m|0|60", "demo:A|1m|60|0", "demo:A|7q|0|60"):
        with pytest.raises(InvalidRequestError):
            commands.retry(dsn, bad)


def test_reap_marks_expired_leases_and_a_claim_takes_them_over(dsn: str) -> None:
    with PostgresCoordinator(dsn, lease_s=0.1, holder="dead") as a:
        _lease(a.claim(KEY, 0, WINDOW))
        assert a.reap_expired() == 0
        time.sleep(0.2)
        assert a.reap_expired() == 1
        assert a.reap_expired() == 0
        record = a.job(KEY)
        assert record is not None and record.state is JobState.EXPIRED
        assert record.expirations == 1 and record.lease_until is None
    with PostgresCoordinator(dsn) as b:
        lease = _lease(b.claim(KEY, 0, WINDOW))
        assert not lease.taken_over  # reaped already: a plain claim of an EXPIRED job
        record = b.job(KEY)
        assert record is not None and record.expirations == 1


def test_wait_returns_when_the_holder_finishes_times_out_or_is_cancelled(
    coord: PostgresCoordinator,
) -> None:
    assert coord.wait(KEY, timeout_s=0.01)  # no job at all: nothing to wait for
    lease = _lease(coord.claim(KEY, 0, WINDOW))
    t0 = time.monotonic()
    assert not coord.wait(KEY, timeout_s=0.1)
    assert 0.1 <= time.monotonic() - t0 < 1.0
    cancel = threading.Event()
    threading.Timer(0.05, cancel.set).start()
    assert not coord.wait(KEY, cancel=cancel)
    threading.Timer(0.1, coord.complete, (lease,)).start()
    t0 = time.monotonic()
    assert coord.wait(KEY, timeout_s=5)
    assert time.monotonic() - t0 < 1.0


def test_the_keeper_renews_a_held_lease_and_notices_a_takeover(dsn: str) -> None:
    with (
        PostgresCoordinator(dsn, lease_s=0.3, holder="a") as a,
        PostgresCoordinator(dsn, holder="b") as b,
    ):
        lease = _lease(a.claim(KEY, 0, WINDOW))
        with a.hold(lease) as held:
            time.sleep(0.8)  # well past lease_s: only renewal keeps it
            _refused(b.claim(KEY, 0, WINDOW), "busy")
            assert held.renewals >= 2
            held.check()
            # An operator resets the row: the next renewal finds the token gone.
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("UPDATE backfill_jobs SET lease_token = gen_random_uuid()")
            deadline = time.monotonic() + 2
            while not held.lost and time.monotonic() < deadline:
                time.sleep(0.02)
            with pytest.raises(LeaseLostError):
                held.check()
        time.sleep(0.4)
        assert b.claim(KEY, 0, WINDOW).taken_over  # type: ignore[union-attr]


def test_claims_must_want_something_inside_the_window(coord: PostgresCoordinator) -> None:
    with pytest.raises(InvalidRequestError) as info:
        coord.claim(KEY, 0, RangeSet([(KEY.window_end, KEY.window_end + 60)]))
    assert info.value.field == "wanted"


def test_bad_settings_and_a_closed_or_unreachable_coordinator(dsn: str) -> None:
    # The last four were a TypeError, or accepted: a lease that never ends.
    for kwargs in ({"lease_s": 0}, {"max_failures": 0}, {"max_failures": 1.5},
                   {"backoff_jitter": 2}, {"poll_s": -1}, {"lease_s": True},
                   {"backoff_jitter": "x"}, {"lease_s": float("inf")},
                   {"lease_s": None}, {"max_failures": 10**9}):  # fmt: skip
        with pytest.raises(InvalidRequestError) as bad:
            PostgresCoordinator(dsn, **kwargs)  # type: ignore[arg-type]
        assert bad.value.field == next(iter(kwargs))
    with pytest.raises(InvalidRequestError) as info:
        PostgresCoordinator("")
    assert info.value.field == "dsn"
    c = PostgresCoordinator(dsn)
    c.close()
    c.close()
    with pytest.raises(CoordinatorError, match="closed"):
        c.claim(KEY, 0, WINDOW)
    unreachable = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"
    with (
        PostgresCoordinator(unreachable) as gone,
        pytest.raises(CoordinatorError, match="cannot connect"),
    ):
        gone.coverage_version("demo:A", M1)


def test_a_claim_race_has_one_winner(dsn: str) -> None:
    coords = [PostgresCoordinator(dsn, holder=f"h{i}") for i in range(8)]
    barrier = threading.Barrier(len(coords))
    outcomes: list[Lease | ClaimRefused] = []
    lock = threading.Lock()

    def race(c: PostgresCoordinator) -> None:
        c.coverage_version("demo:A", M1)  # connect (and create the schema) first
        barrier.wait()
        outcome = c.claim(KEY, 0, WINDOW)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=race, args=(c,)) for c in coords]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in coords:
        c.close()
    assert sum(isinstance(o, Lease) for o in outcomes) == 1
    assert sorted(o.reason for o in outcomes if isinstance(o, ClaimRefused)) == ["busy"] * 7


def test_without_psycopg_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now raises ImportError
    with (
        PostgresCoordinator("postgresql://nobody@127.0.0.1:1/none") as c,
        pytest.raises(CoordinatorError, match=r"seamless\[postgres\]"),
    ):
        c.coverage_version("demo:A", M1)


def test_sessions_the_server_ended_cost_one_failed_call(dsn: str) -> None:
    """After the server ends every session (a restart, a failover), one call
    fails and the next works: the dead connection takes the idle ones with it.
    Each idle one used to fail a call in turn, the lease keeper's renewals
    among them, until a live holder's lease ran out."""
    with PostgresCoordinator(dsn) as coord:
        coord.coverage_version("demo:A", "1m")
        with contextlib.ExitStack() as lent:  # four idle connections, as parallel fills leave
            for _ in range(4):
                lent.enter_context(coord._pool.connection())
        dbname = dsn.rsplit("/", 1)[1]
        with psycopg.connect(dsn, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            ).fetchall()
        assert len(ended) >= 4
        outcomes = []
        for _ in range(4):
            try:
                coord.coverage_version("demo:A", "1m")
                outcomes.append("ok")
            except CoordinatorError:
                outcomes.append("failed")
        assert outcomes == ["failed", "ok", "ok", "ok"]
