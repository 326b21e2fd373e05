"""The conformance modes file as typed models: every key type, floats, unknown keys, bad types."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seamless_sdk.conformance import ENV_VAR, load_config
from seamless_sdk.conformance.spec.modes import current_config
from seamless_sdk.conformance.spec.modes_file import RULE_MODELS, Entry, ModesFile
from seamless_sdk.conformance.spec.rules import QUALITY_RULES, RULE_PARAMS, STATISTICAL_RULES
from seamless_sdk.errors import InvalidRequestError

PARAMS = [
    (rule, name, kind) for rule, params in RULE_PARAMS.items() for name, kind in params.items()
]
WHERE = st.sampled_from([("defaults",), ("datasets", "ohlcv_bars"), ("nodes", "demo:*")])


def _at(where: tuple[str, ...], entry: dict[str, Any]) -> dict[str, Any]:
    """``entry`` placed at ``where`` in a modes file (``defaults`` or a dataset/node)."""
    return {where[0]: entry} if len(where) == 1 else {where[0]: {where[1]: entry}}


def _error(data: dict[str, Any]) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        load_config().with_overlay(data)
    assert str(info.value).startswith(f"{info.value.field}: ")
    return info.value


def test_the_models_know_every_rule_and_parameter() -> None:
    assert set(RULE_MODELS) == {*QUALITY_RULES, *STATISTICAL_RULES}
    for rule, name, _ in PARAMS:
        assert name in RULE_MODELS[rule].model_fields
    assert {kind for _, _, kind in PARAMS} == {int, float}  # both kinds are tested below


def test_the_shipped_file_parses_as_it_did() -> None:
    policy = load_config().policy_for("ohlcv_bars", "demo:BTCUSDT")
    assert policy.rules["abnormal_jump"].params == {
        "threshold": 16,
        "min_returns": 20,
        "min_move": 0.01,
    }
    assert policy.rules["stale_price"].params == {"min_run": 30}
    assert isinstance(policy.rules["stale_price"].params["min_run"], int)


@given(data=st.data())
def test_rule_parameters_keep_their_type_and_value(data: st.DataObject) -> None:
    """An int parameter takes exactly the positive integers; a float one keeps its fraction."""
    rule, name, kind = data.draw(st.sampled_from(PARAMS))
    where = data.draw(WHERE)
    good = data.draw(
        st.integers(1, 10**6) if kind is int else st.floats(1e-6, 1e6) | st.integers(1, 10**6)
    )
    config = load_config().with_overlay(_at(where, {"rules": {rule: {name: good}}}))
    node = "demo:X" if where[0] == "nodes" else None
    got = config.policy_for("ohlcv_bars", node).rules[rule].params[name]
    assert got == good
    assert type(got) is int if kind is int else isinstance(got, float)
    bad = data.draw(
        st.one_of(
            st.floats(0.01, 1e6).filter(lambda f: not f.is_integer())
            if kind is int
            else st.nothing(),
            st.just(2.0) if kind is int else st.nothing(),
            st.sampled_from([0, -1, True, "3", [1]]),
            st.just(math.nan) if kind is float else st.nothing(),
        )
    )
    error = _error(_at(where, {"rules": {rule: {name: bad}}}))
    assert error.field == ".".join((*where, "rules", rule, name))


@given(where=WHERE, value=st.floats(0, 1e9) | st.integers(0, 10**9))
def test_the_out_of_order_window_is_a_float_never_rounded(
    where: tuple[str, ...], value: float
) -> None:
    config = load_config().with_overlay(_at(where, {"out_of_order_window_bars": value}))
    node = "demo:X" if where[0] == "nodes" else None
    assert config.policy_for("ohlcv_bars", node).out_of_order_window_bars == value


@given(
    where=WHERE,
    key=st.sampled_from(["mode", "dedup", "schema_version", "source_priority", "rules"]),
    value=st.sampled_from([1.5, True, {"a": 1}, "nonsense", -3, ["cache", 2]]),
)
def test_bad_types_name_the_key(where: tuple[str, ...], key: str, value: Any) -> None:
    if key == "schema_version" and value in ("nonsense", -3):
        return  # a version name or number: valid here, checked against the registry later
    expected = ".".join((*where, key))
    if key == "rules" and isinstance(value, dict):
        expected += ".a"  # an unknown rule
    elif key == "source_priority" and isinstance(value, list):
        expected += "[1]"  # the item that is not a name
    assert _error(_at(where, {key: value})).field == expected


@given(
    where=st.sampled_from(
        [(), ("defaults",), ("datasets", "trades"), ("defaults", "rules", "stale_price")]
    ),
    key=st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10),
)
def test_unknown_keys_are_errors_at_every_level(where: tuple[str, ...], key: str) -> None:
    known = {
        (): ModesFile.model_fields,
        ("defaults",): Entry.model_fields,
        ("datasets", "trades"): Entry.model_fields,
        ("defaults", "rules", "stale_price"): RULE_MODELS["stale_price"].model_fields,
    }[where]
    if key in known:
        return
    data: dict[str, Any] = {key: 1}
    for part in reversed(where):
        data = {part: data}
    error = _error(data)
    assert error.field == ".".join((*where, key)) and "unknown key" in str(error)


def test_empty_values_are_defaults() -> None:
    config = load_config().with_overlay(
        {"defaults": {"mode": None}, "datasets": {"trades": None}, "nodes": None}
    )
    assert config.policy_for("trades", None).mode == "strict"


def test_schema_version_numbers_are_names() -> None:
    config = load_config().with_overlay({"datasets": {"ohlcv_bars": {"schema_version": 1}}})
    assert config.policy_for("ohlcv_bars").schema_version == "1"


def test_an_override_file_is_named_in_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "modes.yaml"
    path.write_text("defaults:\n  rules:\n    stale_price: {min_run: 2.7}\n", "utf-8")
    monkeypatch.setenv(ENV_VAR, str(path))
    with pytest.raises(InvalidRequestError) as info:
        current_config()
    assert info.value.field == "defaults.rules.stale_price.min_run"
    assert f"modes.yaml + {path}" in str(info.value) and "2.7 is not an integer" in str(info.value)


@pytest.mark.parametrize(
    ("text", "says"),
    [("- a\n- b\n", "not a YAML mapping"), ("defaults: [unclosed\n", "while parsing")],
)
def test_a_file_that_is_not_a_mapping(
    text: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "modes.yaml"
    path.write_text(text, "utf-8")
    monkeypatch.setenv(ENV_VAR, str(path))
    with pytest.raises(InvalidRequestError) as info:
        current_config()
    assert info.value.field == "conformance_config" and says in str(info.value)
