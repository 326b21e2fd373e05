"""The job row against a model, under random sequences of claims, commits,
failures, expiries and operator actions by two hosts (hypothesis state machine)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import psycopg
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from seamless_sdk.coordination import ClaimRefused, JobKey, JobState, Lease, PostgresCoordinator
from seamless_sdk.errors import InvalidRequestError, LeaseLostError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet

T0 = 1_704_067_200
M1 = parse_interval("1m")
MAX_FAILURES = 3
_KEYS = itertools.count()


@dataclass
class Model:
    """What the row should say."""

    state: JobState | None = None
    holder: int | None = None  # host index of the live lease
    token: str | None = None
    version: int = 0  # the row's stamp
    counter: int = 0  # the series' version
    attempts: int = 0
    quarantined: bool = False
    backing_off: bool = False
    expirations: int = 0
    completed: RangeSet = field(default_factory=RangeSet)


def test_the_job_row_follows_the_model(dsn: str) -> None:
    hosts = [
        PostgresCoordinator(dsn, holder=f"h{i}", backoff_base_s=1000, max_failures=MAX_FAILURES)
        for i in range(2)
    ]
    admin = psycopg.connect(dsn, autocommit=True)

    class Machine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            # A series per example: its version counter starts at 0 like the model's.
            self.key = JobKey(f"sm:{next(_KEYS)}", "1m", T0, T0 + 86_400)
            self.m = Model()
            self.leases: list[Lease | None] = [None, None]  # each host's last lease

        def _sql(self, change: str) -> None:
            admin.execute(
                f"UPDATE backfill_jobs SET {change} WHERE node_id = %s", (self.key.node_id,)
            )

        @rule(host=st.integers(0, 1), stale=st.booleans())
        def claim(self, host: int, stale: bool) -> None:
            m = self.m
            version = hosts[host].coverage_version(self.key.node_id, M1)
            assert version == m.counter
            claimed = version - 1 if stale and version > 0 else version
            outcome = hosts[host].claim(self.key, claimed, self.key.span)
            if m.state is JobState.SKIPPED:
                expected: str | None = "skipped"
            elif m.quarantined:
                expected = "quarantined"
            elif m.state is JobState.RUNNING:
                expected = "busy"
            elif m.version > claimed:
                expected = "stale"
            elif m.state is JobState.FAILED and m.backing_off:
                expected = "backoff"
            else:
                expected = None
            if expected is not None:
                assert isinstance(outcome, ClaimRefused) and outcome.reason == expected
                return
            assert isinstance(outcome, Lease)
            if m.state is not JobState.SUCCEEDED and m.state is not None:
                assert outcome.completed == m.completed
            else:
                m.completed = RangeSet()
            assert outcome.remaining == self.key.span.subtract(m.completed)
            m.state, m.holder, m.token = JobState.RUNNING, host, outcome.token
            self.leases[host] = outcome

        def _act(self, host: int, call: str) -> bool:
            """Run ``call`` with ``host``'s last lease; True if it was the live one."""
            lease = self.leases[host]
            if lease is None:
                return False
            live = self.m.state is JobState.RUNNING and lease.token == self.m.token
            c = hosts[host]
            args = {
                "progress": (
                    lease,
                    RangeSet([(self.key.window_start, self.key.window_start + 60)]),
                ),
                "complete": (lease,),
                "fail": (lease, "boom"),
                "extend": (lease,),
            }[call]
            try:
                getattr(c, call)(*args)
            except LeaseLostError:
                assert not live
                return False
            assert live
            return True

        @rule(host=st.integers(0, 1))
        def progress(self, host: int) -> None:
            if self._act(host, "progress"):
                self.m.counter += 1
                self.m.version = self.m.counter
                self.m.completed = self.m.completed.union(
                    RangeSet([(self.key.window_start, self.key.window_start + 60)])
                )

        @rule(host=st.integers(0, 1))
        def complete(self, host: int) -> None:
            if self._act(host, "complete"):
                m = self.m
                m.counter += 1
                m.version = m.counter
                m.state, m.token, m.holder = JobState.SUCCEEDED, None, None
                m.attempts, m.quarantined, m.backing_off = 0, False, False

        @rule(host=st.integers(0, 1))
        def fail(self, host: int) -> None:
            if self._act(host, "fail"):
                m = self.m
                m.state, m.token, m.holder = JobState.FAILED, None, None
                m.attempts += 1
                m.backing_off = True
                m.quarantined = m.attempts >= MAX_FAILURES

        @rule(host=st.integers(0, 1))
        def extend(self, host: int) -> None:
            self._act(host, "extend")

        @rule()
        def lease_runs_out(self) -> None:
            if self.m.state is JobState.RUNNING:
                self._sql("lease_until = clock_timestamp() - interval '1 second'")
                # The reap marks it EXPIRED and drops the token: the old holder is stale.
                self.m.state, self.m.token, self.m.holder = JobState.EXPIRED, None, None
                self.m.expirations += 1
                assert hosts[0].reap_expired() == 1

        @rule()
        def backoff_ends(self) -> None:
            self._sql("next_attempt_at = clock_timestamp()")
            self.m.backing_off = False

        @rule()
        def retry(self) -> None:
            m = self.m
            try:
                hosts[0].retry(self.key)
            except InvalidRequestError:
                assert m.state not in (JobState.FAILED, JobState.SKIPPED)
                return
            assert m.state in (JobState.FAILED, JobState.SKIPPED)
            m.state, m.attempts, m.quarantined, m.backing_off = JobState.PENDING, 0, False, False

        @rule()
        def skip(self) -> None:
            m = self.m
            try:
                hosts[1].skip(self.key)
            except InvalidRequestError:
                assert m.state in (None, JobState.RUNNING)
                return
            assert m.state not in (None, JobState.RUNNING)
            m.state, m.quarantined, m.backing_off = JobState.SKIPPED, False, False

        @invariant()
        def row_matches_the_model(self) -> None:
            record = hosts[0].job(self.key)
            m = self.m
            if m.state is None:
                assert record is None or record.state is JobState.PENDING
                return
            assert record is not None
            assert record.state is m.state
            assert record.attempts == m.attempts
            assert record.quarantined == m.quarantined
            assert record.coverage_version == m.version
            assert record.expirations == m.expirations
            assert record.completed == m.completed
            if m.state is JobState.RUNNING:
                assert record.holder == f"h{m.holder}"

    try:
        run_state_machine_as_test(
            Machine, settings=settings(max_examples=30, stateful_step_count=25, deadline=None)
        )
    finally:
        admin.close()
        for c in hosts:
            c.close()
