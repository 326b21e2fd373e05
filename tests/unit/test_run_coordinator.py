"""SeamlessRunCoordinator: Dagster's queued coordinator plus the backfill loop interval."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster._daemon import controller

from seamless_assets.run_coordinator import SeamlessRunCoordinator
from seamless_assets.run_launcher import WarmRunLauncher, in_daemon
from seamless_sdk.errors import InvalidRequestError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _restore_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(controller, "DEFAULT_DAEMON_INTERVAL_SECONDS", 30)


def test_the_repository_instance_uses_both_and_sets_the_backfill_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, SeamlessRunCoordinator)
        assert coordinator.backfill_daemon_interval_seconds == 1
        # The queued coordinator's own keys still apply.
        assert coordinator.get_run_queue_config().max_concurrent_runs == 4
        assert isinstance(instance.run_launcher, WarmRunLauncher)
        assert instance.run_monitoring_enabled
    assert controller.DEFAULT_DAEMON_INTERVAL_SECONDS == 1


@pytest.mark.parametrize("bad", [0, -5])
def test_a_bad_interval_is_refused_by_its_key(tmp_path: Path, bad: int) -> None:
    (tmp_path / "dagster.yaml").write_text(
        "run_coordinator:\n"
        "  module: seamless_assets.run_coordinator\n"
        "  class: SeamlessRunCoordinator\n"
        f"  config: {{backfill_daemon_interval_seconds: {bad}}}\n"
    )
    with (
        dg.DagsterInstance.from_config(str(tmp_path)) as instance,
        pytest.raises(InvalidRequestError, match="backfill_daemon_interval_seconds"),
    ):
        instance.run_coordinator  # noqa: B018
    assert controller.DEFAULT_DAEMON_INTERVAL_SECONDS == 30


def test_only_the_daemon_counts_as_the_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["/venv/bin/dagster-daemon", "run"])
    assert in_daemon()
    monkeypatch.setattr(
        "sys.argv", ["/venv/lib/python3.11/site-packages/dagster/_daemon/__main__.py"]
    )
    assert in_daemon()
    monkeypatch.setattr("sys.argv", ["/venv/bin/dagster-webserver", "-p", "3000"])
    assert not in_daemon()
