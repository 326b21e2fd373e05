"""``seamless coordinator quarantine list|retry|skip`` on a real PostgreSQL."""

from __future__ import annotations

import pytest

from seamless_sdk.cli import main
from seamless_sdk.coordination import JobKey, JobState, PostgresCoordinator
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import parse_interval

DAY = 86_400
KEY = JobKey.for_chunk("demo:Q", parse_interval("1m"), 20_000 * DAY)


def _quarantine(dsn: str) -> None:
    with PostgresCoordinator(dsn, backoff_base_s=0.1, backoff_jitter=0, max_failures=1) as c:
        lease = c.claim(KEY, 0, KEY.span)
        c.fail(lease, "upstream returned 500")  # type: ignore[arg-type]
        assert [r.key for r in c.quarantined()] == [KEY]


def test_list_retry_skip(dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["coordinator", "quarantine", "list", "--dsn", dsn]) == 0
    assert "no quarantined windows" in capsys.readouterr().out
    _quarantine(dsn)
    assert main(["coordinator", "quarantine", "list", "--dsn", dsn]) == 0
    out = capsys.readouterr().out
    assert "1 quarantined window" in out and str(KEY) in out and "500" in out
    assert main(["coordinator", "quarantine", "skip", str(KEY), "--dsn", dsn]) == 0
    with PostgresCoordinator(dsn) as c:
        record = c.job(KEY)
        assert record is not None and record.state is JobState.SKIPPED
    assert main(["coordinator", "quarantine", "retry", str(KEY), "--dsn", dsn]) == 0
    with PostgresCoordinator(dsn) as c:
        assert c.quarantined() == []


def test_an_unknown_key_is_an_error_naming_it(dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["coordinator", "quarantine", "retry", "demo:X|1m|0|86400", "--dsn", dsn])
    assert code != 0
    assert "key: demo:X|1m|0|86400" in capsys.readouterr().out
    with pytest.raises(InvalidRequestError):
        PostgresCoordinator(dsn).retry("not a key")
