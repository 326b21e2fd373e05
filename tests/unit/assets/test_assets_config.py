"""``seamless.yaml``: typed keys, no rounding, no unknown keys, clear errors, where it is found."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seamless_assets.config import (
    BackfillSettings,
    ConfigFile,
    SensorSettings,
    load_config,
    parse_config,
)
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import parse_interval

REPO = Path(__file__).resolve().parents[3]

# Every numeric key of the two sections, with its type and bounds, read from
# the models so a key added later is covered by the tests below.
SECTIONS: dict[str, Any] = {"backfill": BackfillSettings, "sensors": SensorSettings}


def _bound(info: Any, name: str) -> float | None:
    return next(
        (getattr(m, name) for m in info.metadata if getattr(m, name, None) is not None), None
    )


def _numeric_keys(kind: type) -> list[tuple[str, str, float]]:
    out = []
    for section, model in SECTIONS.items():
        for name, info in model.model_fields.items():
            if info.annotation is kind:
                out.append((section, name, _bound(info, "ge") or 0))
    return out


def _high(section: str, key: str) -> float:
    """The key's upper bound: every numeric key has one."""
    high = _bound(SECTIONS[section].model_fields[key], "le")
    assert high is not None, f"{section}.{key} has no upper bound"
    return high


INT_KEYS = _numeric_keys(int)
FLOAT_KEYS = _numeric_keys(float)
BOOL_KEYS = [
    (s, n) for s, m in SECTIONS.items() for n, f in m.model_fields.items() if f.annotation is bool
]


def _error(raw: Any) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        parse_config(raw)
    assert str(info.value).startswith(f"{info.value.field}: ")
    return info.value


def test_the_models_cover_every_kind_of_key() -> None:
    """The tables above are not empty: the tests that use them test something."""
    assert {n for _, n, _ in INT_KEYS} >= {"retries", "max_partitions_per_run", "tail_s"}
    assert {n for _, n, _ in FLOAT_KEYS} >= {"retry_delay_s", "fetch_backoff_ms"}
    assert {n for _, n in BOOL_KEYS} == {"partial_ok", "gx_check", "strict"}


def test_repository_config_loads() -> None:
    config = load_config(REPO / "seamless.yaml")
    assert [iv.name for iv in config.intervals] == ["1m", "1h", "1d"]
    assert config.store == REPO / "var" / "seamless.sqlite"
    assert config.requests == REPO / "var" / "seamless.requests.sqlite"
    assert config.calendars["demo:SPY"] == "XNYS"
    assert config.calendars["demo:BTCUSDT"] == "24/7"
    assert config.source == REPO / "seamless.yaml"


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


@pytest.mark.parametrize(("section", "key", "low"), INT_KEYS)
def test_an_int_key_never_rounds_a_float(section: str, key: str, low: float) -> None:
    """``retries: 2.7`` was 2: it is an error naming the key, and so is ``2.0``."""
    for value in (low + 1.7, float(low + 2)):
        error = _error({section: {key: value}})
        assert error.field == f"{section}.{key}"
        assert repr(value) in str(error)


@pytest.mark.parametrize(("section", "key", "low"), FLOAT_KEYS)
def test_a_float_key_keeps_its_fraction(section: str, key: str, low: float) -> None:
    config = parse_config({section: {key: low + 0.5}})
    assert getattr(getattr(config, section), key) == low + 0.5


@given(data=st.data())
def test_int_keys_take_exactly_the_integers_in_range(data: st.DataObject) -> None:
    section, key, low = data.draw(st.sampled_from(INT_KEYS))
    high = int(_high(section, key))
    value = data.draw(st.integers(min_value=int(low), max_value=high))
    assert getattr(getattr(parse_config({section: {key: value}}), section), key) == value
    bad = data.draw(
        st.one_of(
            st.integers(max_value=int(low) - 1),
            st.integers(min_value=high + 1),
            st.floats(allow_nan=False).filter(lambda f: not f.is_integer()),
            st.booleans(),
            st.text(max_size=5),
            st.just([1]),
        )
    )
    assert _error({section: {key: bad}}).field == f"{section}.{key}"


@given(data=st.data())
def test_float_keys_take_finite_numbers_unchanged(data: st.DataObject) -> None:
    section, key, low = data.draw(st.sampled_from(FLOAT_KEYS))
    high = _high(section, key)
    value = data.draw(st.floats(min_value=low, max_value=high) | st.integers(int(low), int(high)))
    got = getattr(getattr(parse_config({section: {key: value}}), section), key)
    assert got == value and isinstance(got, float | int)
    past = [low - 0.5, high + 0.5, high * 10]
    bad = data.draw(st.sampled_from([math.nan, math.inf, -math.inf, *past, True, "1.5", [1.0]]))
    assert _error({section: {key: bad}}).field == f"{section}.{key}"


@pytest.mark.parametrize(("section", "key"), BOOL_KEYS)
@pytest.mark.parametrize("value", ["yes", "true", 1, 0, 1.0])
def test_bool_keys_take_only_true_or_false(section: str, key: str, value: object) -> None:
    assert _error({section: {key: value}}).field == f"{section}.{key}"
    assert getattr(getattr(parse_config({section: {key: True}}), section), key) is True


@given(
    where=st.sampled_from([(), ("backfill",), ("sensors",), ("nodes", 0)]),
    key=st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12),
)
def test_unknown_keys_are_errors_at_every_level(where: tuple[Any, ...], key: str) -> None:
    known = {
        (): set(ConfigFile.model_fields),
        ("backfill",): set(BackfillSettings.model_fields),
        ("sensors",): set(SensorSettings.model_fields),
        ("nodes", 0): {"id", "calendar"},
    }[where]
    if key in known:
        return
    inner: dict[str, Any] = {"id": "demo:A", key: 1} if where == ("nodes", 0) else {key: 1}
    raw: dict[str, Any] = {
        (): inner,
        ("backfill",): {"backfill": inner},
        ("sensors",): {"sensors": inner},
        ("nodes", 0): {"nodes": [inner]},
    }[where]
    error = _error(raw)
    prefix = {
        (): "",
        ("backfill",): "backfill.",
        ("sensors",): "sensors.",
        ("nodes", 0): "nodes[0].",
    }
    assert error.field == f"{prefix[where]}{key}"
    assert "unknown key" in str(error)


@pytest.mark.parametrize(
    ("raw", "field", "says"),
    [
        ([1, 2], "config", "must be a mapping"),
        ({"colour": "blue"}, "colour", "known: store"),
        ({"intervals": ["7m"]}, "intervals[0]", "7m"),
        ({"intervals": []}, "intervals", "at least 1"),
        ({"intervals": "1m"}, "intervals", "not a list"),
        ({"nodes": [{"id": "bad id"}]}, "nodes[0].id", "does not match"),
        ({"nodes": [{"id": "a", "calendar": "NOWHERE"}]}, "nodes[0].calendar", "NOWHERE"),
        ({"nodes": ["a", "a"]}, "nodes", "more than once"),
        ({"nodes": [3]}, "nodes[0]", "not a mapping"),
        ({"partition_start": "yesterday"}, "partition_start", "ISO-8601"),
        ({"partition_start": 1.5}, "partition_start", "not an integer"),
        ({"backfill": {"retries": -1}}, "backfill.retries", ">= 0"),
        ({"backfill": {"partial_ok": "yes"}}, "backfill.partial_ok", "true or false"),
        ({"backfill": {"max_partitions_per_run": 0}}, "backfill.max_partitions_per_run", ">= 1"),
        ({"backfill": {"fetch_jitter_ratio": 1.5}}, "backfill.fetch_jitter_ratio", "<= 1"),
        ({"backfill": 3}, "backfill", "not a mapping"),
        ({"sensors": {"tail_s": 0.5}}, "sensors.tail_s", "0.5 is not an integer"),
        ({"fetcher": ""}, "fetcher", "not a fetcher spec"),
        ({"fetcher": "synthetic:x"}, "fetcher", "seed must be an integer"),
        ({"fetcher": "no spec"}, "fetcher", "package.module:name"),
        ({"fetcher": 7}, "fetcher", "not a string"),
        ({"store": ""}, "store", "empty path"),
        ({"store": 5}, "store", "not a string"),
    ],
)
def test_bad_values_name_their_key(raw: object, field: str, says: str) -> None:
    error = _error(raw)
    assert error.field == field
    assert says in str(error)


def test_the_file_name_is_in_the_message(tmp_path: Path) -> None:
    path = tmp_path / "seamless.yaml"
    path.write_text("backfill:\n  retries: 2.7\n")
    with pytest.raises(InvalidRequestError, match=r"^backfill\.retries: in .*seamless\.yaml: 2\.7"):
        load_config(path)


def test_yaml_spellings_of_values(tmp_path: Path) -> None:
    """An unquoted date is a date; an empty value is the default at any level; YAML floats
    stay floats."""
    path = tmp_path / "seamless.yaml"
    path.write_text(
        "partition_start: 2024-02-01\n"
        "nodes:\n  - {id: 'demo:A', calendar: }\n"
        "backfill:\n  retry_delay_s: 0.5\n  retries:\n"
        "sensors:\n"
    )
    config = load_config(path)
    assert config.partition_start == int(dt.datetime(2024, 2, 1, tzinfo=dt.UTC).timestamp())
    assert config.calendars == {"demo:A": "24/7"}
    assert config.backfill.retry_delay_s == 0.5
    assert config.backfill.retries == BackfillSettings().retries
    assert config.sensors == SensorSettings()
    path.write_text("nodes:\n")
    assert load_config(path).nodes == ()


def test_unknown_interval_has_no_asset() -> None:
    config = parse_config({"intervals": ["1h"]})
    assert config.interval("60m") == parse_interval("1h")
    with pytest.raises(InvalidRequestError, match="interval: 1m has no asset"):
        config.interval("1m")


# -- where the file is found ---------------------------------------------------------------


def test_default_is_the_current_directory_not_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Installed from a wheel the package dir has no seamless.yaml: the cwd's is used."""
    monkeypatch.delenv("SEAMLESS_CONFIG", raising=False)
    monkeypatch.delenv("SEAMLESS_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidRequestError) as info:
        load_config()
    assert info.value.field == "config"
    assert str(tmp_path) in str(info.value) and "SEAMLESS_CONFIG" in str(info.value)
    (tmp_path / "seamless.yaml").write_text("intervals: [1h]\nstore: here.sqlite\n")
    config = load_config()
    assert config.source == tmp_path / "seamless.yaml"
    assert config.store == tmp_path / "here.sqlite"


def test_env_var_naming_no_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # a seamless.yaml is here, but the variable wins
    monkeypatch.setenv("SEAMLESS_CONFIG", str(tmp_path / "typo.yaml"))
    with pytest.raises(InvalidRequestError, match=r"config: .*typo\.yaml \(\$SEAMLESS_CONFIG\)"):
        load_config()


def test_invalid_yaml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "seamless.yaml"
    path.write_text("nodes: [unclosed\n")
    with pytest.raises(InvalidRequestError, match="not valid YAML"):
        load_config(path)


def test_fetch_concurrency_reaches_the_resource() -> None:
    """``backfill.fetch_concurrency`` bounds the fetches in flight in one run."""
    from seamless_assets.resources import SeamlessResource

    assert parse_config({}).backfill.fetch_concurrency == 4
    config = parse_config({"backfill": {"fetch_concurrency": 8, "gx_check": False}})
    assert SeamlessResource.from_config(config).fetch_concurrency == 8
    assert _error({"backfill": {"fetch_concurrency": 0}}).field == "backfill.fetch_concurrency"
