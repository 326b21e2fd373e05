"""The code location's YAML configuration: defaults, environment, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from seamless_assets.config import load_config, parse_config
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import parse_interval

REPO = Path(__file__).resolve().parents[3]


def test_repository_config_loads() -> None:
    config = load_config(REPO / "seamless.yaml")
    assert [iv.name for iv in config.intervals] == ["1m", "1h", "1d"]
    assert config.store == REPO / "var" / "seamless.sqlite"
    assert config.requests == REPO / "var" / "seamless.requests.sqlite"
    assert config.calendars["demo:SPY"] == "XNYS"
    assert config.calendars["demo:BTCUSDT"] == "24/7"


def test_paths_are_relative_to_the_file_and_env_overrides_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "conf" / "seamless.yaml"
    path.parent.mkdir()
    path.write_text("store: data/bars.sqlite\nfetcher: file:bars\nintervals: [5m]\n")
    monkeypatch.delenv("SEAMLESS_STORE", raising=False)
    config = load_config(path)
    assert config.store == tmp_path / "conf" / "data" / "bars.sqlite"
    assert config.fetcher == f"file:{tmp_path / 'conf' / 'bars'}"
    assert config.intervals == (parse_interval("5m"),)
    monkeypatch.setenv("SEAMLESS_STORE", str(tmp_path / "other.sqlite"))
    monkeypatch.setenv("SEAMLESS_CONFIG", str(path))
    assert load_config().store == tmp_path / "other.sqlite"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([1, 2], "config"),
        ({"colour": "blue"}, "config"),
        ({"intervals": ["7m"]}, "intervals[0]"),
        ({"intervals": []}, "intervals"),
        ({"nodes": [{"id": "bad id"}]}, "nodes[0].id"),
        ({"nodes": [{"id": "a", "calendar": "NOWHERE"}]}, "nodes[0].calendar"),
        ({"nodes": ["a", "a"]}, "nodes"),
        ({"partition_start": "yesterday"}, "partition_start"),
        ({"backfill": {"retries": -1}}, "backfill.retries"),
        ({"backfill": {"partial_ok": "yes"}}, "backfill.partial_ok"),
        ({"backfill": {"max_partitions_per_run": 0}}, "backfill.max_partitions_per_run"),
        ({"sensors": {"every": 1}}, "sensors"),
        ({"fetcher": ""}, "fetcher"),
    ],
)
def test_bad_values_name_their_field(raw: object, field: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_config(raw)
    assert info.value.field == field


def test_unknown_interval_has_no_asset() -> None:
    config = parse_config({"intervals": ["1h"]})
    assert config.interval("60m") == parse_interval("1h")
    with pytest.raises(InvalidRequestError, match="interval: 1m has no asset"):
        config.interval("1m")
