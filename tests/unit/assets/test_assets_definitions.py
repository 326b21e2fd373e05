"""The code location loads, with the assets, partitions, checks, sensors and jobs
DESIGN.md's Dagster mapping asks for."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from seamless_assets import build_definitions, parse_config
from seamless_assets.checks.specs import BLOCKING, CHECK_NAMES, GX_CHECK
from seamless_assets.metadata import DATA_VERSION_IS_USER_PROVIDED_TAG, DATA_VERSION_TAG
from seamless_sdk.backfill.dagster import NODES_PARTITIONS, PartitionKey
from seamless_sdk.intervals import parse_interval

CONFIG = {
    "intervals": ["1m", "1h", "1d"],
    "partition_start": "2024-01-01",
    "nodes": [{"id": "demo:BTCUSDT"}, {"id": "demo:SPY", "calendar": "XNYS"}],
    "backfill": {"max_partitions_per_run": 6, "retries": 2},
}
ASSETS = ("bars_1m", "bars_1h", "bars_1d")
SENSORS = {
    "seamless_request_sensor",
    "seamless_tail_sensor",
    "seamless_nodes_sensor",
    "seamless_reconcile_sensor",
}


@pytest.fixture(scope="module")
def repo() -> dg.RepositoryDefinition:
    defs = build_definitions(parse_config(CONFIG))
    dg.Definitions.validate_loadable(defs)
    return defs.get_repository_def()


def test_one_asset_per_interval(repo: dg.RepositoryDefinition) -> None:
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert keys == set(ASSETS)


@pytest.mark.parametrize(
    ("name", "fmt"), [("bars_1m", "%Y-%m"), ("bars_1h", "%Y"), ("bars_1d", "%Y")]
)
def test_partitions_are_node_by_time_window(
    repo: dg.RepositoryDefinition, name: str, fmt: str
) -> None:
    partitions = repo.asset_graph.get(dg.AssetKey(name)).partitions_def
    assert isinstance(partitions, dg.MultiPartitionsDefinition)
    dims = {d.name: d.partitions_def for d in partitions.partitions_defs}
    assert set(dims) == {"node", "window"}
    assert isinstance(dims["node"], dg.DynamicPartitionsDefinition)
    assert dims["node"].name == NODES_PARTITIONS == "nodes"
    window = dims["window"]
    assert isinstance(window, dg.TimeWindowPartitionsDefinition)
    assert window.fmt == fmt and window.timezone == "UTC"
    assert window.start == datetime(2024, 1, 1, tzinfo=UTC)
    # Our own keys agree with Dagster's, in both directions.
    iv = parse_interval(name.removeprefix("bars_"))
    first_keys = window.get_partition_keys(current_time=datetime(2024, 3, 15, tzinfo=UTC))[:2]
    assert first_keys[0] == PartitionKey("demo:SPY", iv, 1_704_067_200).window_key
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(NODES_PARTITIONS, ["demo:BTCUSDT", "demo:SPY"])
        keys = partitions.get_partition_keys(
            current_time=datetime(2024, 3, 15, tzinfo=UTC), dynamic_partitions_store=instance
        )
    windows = window.get_partition_keys(current_time=datetime(2024, 3, 15, tzinfo=UTC))
    assert len(keys) == 2 * len(windows)
    for key in keys:  # Dagster's MultiPartitionKey, read by its dimensions and as a string
        assert str(PartitionKey.parse(iv, key)) == key == str(PartitionKey.parse(iv, str(key)))
    # 500 nodes × 5 years stay under Dagster's 100,000 partitions per asset.
    five_years = window.get_partition_keys(current_time=datetime(2028, 12, 31, tzinfo=UTC))
    assert 500 * len(five_years) < 100_000


def test_policies(repo: dg.RepositoryDefinition) -> None:
    for name in ASSETS:
        node = repo.asset_graph.get(dg.AssetKey(name))
        assert node.backfill_policy == dg.BackfillPolicy.multi_run(6)
        assets_def = node.assets_def
        policy = assets_def.op.retry_policy
        assert policy is not None and policy.max_retries == 2
        assert policy.backoff == dg.Backoff.EXPONENTIAL and policy.jitter == dg.Jitter.PLUS_MINUS


def test_partitioned_checks_per_asset(repo: dg.RepositoryDefinition) -> None:
    for name in ASSETS:
        specs = {s.name: s for s in repo.asset_graph.get(dg.AssetKey(name)).assets_def.check_specs}
        assert set(specs) == set(CHECK_NAMES)
        for check_name, spec in specs.items():
            assert spec.blocking is (check_name in BLOCKING)
            assert spec.partitions_def is not None


def test_the_gx_check_can_be_turned_off() -> None:
    config = parse_config({**CONFIG, "backfill": {"gx_check": False}})
    defs = build_definitions(config)
    specs = {s.name for s in defs.resolve_assets_def("bars_1h").check_specs}
    assert specs == set(CHECK_NAMES) - {GX_CHECK}


def test_sensors_and_jobs(repo: dg.RepositoryDefinition) -> None:
    assert {s.name for s in repo.sensor_defs} == SENSORS
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in repo.sensor_defs)
    jobs = {j.name: j for j in repo.get_all_jobs()}
    for name in ASSETS:
        job = jobs[f"{name}_job"]
        assert job.partitions_def is not None
        selected = job.asset_layer.executable_asset_keys
        assert selected == {dg.AssetKey(name)}
        assert {
            k.name
            for k in job.asset_layer.asset_graph.asset_check_keys
            if k.asset_key.path == [name]
        } == set(CHECK_NAMES)


def test_repository_definitions_module_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """``seamless_assets.definitions`` (what workspace.yaml names) builds from seamless.yaml."""
    import importlib

    monkeypatch.delenv("SEAMLESS_CONFIG", raising=False)
    module = importlib.import_module("seamless_assets.definitions")
    dg.Definitions.validate_loadable(module.defs)


def test_data_version_tags_match_dagster() -> None:
    from dagster._core.definitions.data_version import (  # test-only pin of the tag names
        DATA_VERSION_IS_USER_PROVIDED_TAG as DAGSTER_USER_PROVIDED,
    )
    from dagster._core.definitions.data_version import DATA_VERSION_TAG as DAGSTER_TAG

    assert DATA_VERSION_TAG == DAGSTER_TAG
    assert DATA_VERSION_IS_USER_PROVIDED_TAG == DAGSTER_USER_PROVIDED


def test_strict_makes_completeness_block() -> None:
    config = parse_config({**CONFIG, "backfill": {"gx_check": False, "strict": True}})
    specs = {s.name: s for s in build_definitions(config).resolve_assets_def("bars_1h").check_specs}
    assert specs["completeness"].blocking and specs["schema"].blocking
    assert specs["quality_rules"].blocking
    lenient = build_definitions(parse_config({**CONFIG, "backfill": {"gx_check": False}}))
    assert not {s.name: s for s in lenient.resolve_assets_def("bars_1h").check_specs}[
        "completeness"
    ].blocking
