"""The dagster-postgres instance (deploy/dagster.postgres.yaml) on a real Postgres.

One test: a pgserver Postgres, the repository's Postgres instance config on a
temporary DAGSTER_HOME, and the same code location doing what it does on
SQLite: register nodes, materialize partitions, report coverage, answer the
request sensor.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from seamless_assets import report_coverage
from seamless_sdk.backfill.dagster import DagsterBackfiller, register_nodes
from seamless_sdk.backfill.fill import fill_window
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.local import LocalStore
from tests.integration.dagster.fetchers import ScriptedFetcher
from tests.integration.dagster.support import REPO, Y2024, Y2025, SeamlessEnv, evaluate_sensor

pytestmark = [
    pytest.mark.slow,
    # pgserver asks platformdirs for a runtime dir; without XDG_RUNTIME_DIR it warns.
    pytest.mark.filterwarnings("ignore:XDG_RUNTIME_DIR is not set"),
]
H1 = parse_interval("1h")
POLICY = FillPolicy()


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    pgserver = pytest.importorskip("pgserver")
    server = pgserver.get_server(tmp_path / "pgdata", cleanup_mode="delete")
    try:
        # SQLAlchemy 2.1 maps postgresql:// to psycopg 3, under which dagster-postgres'
        # NOTIFY statements fail: name the psycopg2 driver, as the deploy config says.
        yield server.get_uri().replace("postgresql://", "postgresql+psycopg2://", 1)
    finally:
        server.cleanup()


def test_the_code_location_on_a_postgres_instance(
    seamless_env: SeamlessEnv, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(REPO / "deploy" / "dagster.postgres.yaml", seamless_env.home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", postgres_url)
    from seamless_assets import build_definitions

    defs = build_definitions(seamless_env.config)
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        register_nodes(instance, ["demo:A", "demo:B"])
        register_nodes(instance, ["demo:A"])  # idempotent

        result = defs.resolve_job_def("bars_1h_job").execute_in_process(
            instance=instance, partition_key="demo:A|2024"
        )
        assert result.success
        assert {e.partition for e in result.get_asset_check_evaluations()} == {"demo:A|2024"}

        with LocalStore(seamless_env.config.store) as store:
            fill_window(store, ScriptedFetcher(), "demo:B", H1, *Y2025, policy=FillPolicy())
            assert report_coverage(instance, "demo:B", H1, Y2025, store=store) == ["demo:B|2025"]
        assert instance.get_materialized_partitions(dg.AssetKey("bars_1h")) == {
            "demo:A|2024",
            "demo:B|2025",
        }

        backfiller = DagsterBackfiller(seamless_env.config.requests, instance=instance)
        backfiller.request("demo:B", H1, RangeSet([Y2024]), policy=POLICY)
        backfiller.request("demo:B", H1, RangeSet([Y2024]), policy=POLICY)
        backfiller.close()
        tick = evaluate_sensor("seamless_request_sensor", defs, instance, seamless_env.config)
        assert [r.partition_key for r in tick.run_requests] == ["demo:B|2024"]
        instance.dispose()
