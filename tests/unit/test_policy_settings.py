"""SLA presets per strategy and the one settings object of seed 004's ``seamless:`` section."""

from __future__ import annotations

from pathlib import Path

import pytest

from seamless_sdk import audit
from seamless_sdk.config import parse_config
from seamless_sdk.errors import DataUnavailableError, InvalidRequestError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.policy_settings import (
    FingerprintPolicy,
    PolicySettings,
    audit_schemas,
    audit_settings,
    load_policy_settings,
    parse_policy_settings,
    window_is_final,
)
from seamless_sdk.presets import load_sla_presets, shipped_sla_presets
from seamless_sdk.ranges import RangeSet
from seamless_sdk.sla import SLAPolicy
from seamless_sdk.stores.local import LocalStore
from seamless_sdk.strategy import Strategy

# -- presets -----------------------------------------------------------------------


def test_every_strategy_has_a_shipped_preset_from_the_seed_matrix() -> None:
    presets = shipped_sla_presets()
    assert {presets.for_strategy(s).name for s in Strategy} == {s.value for s in Strategy}
    assert all(presets.for_strategy(s).strategy is s for s in Strategy)
    fail_fast = SLAPolicy.from_preset("fail_fast")
    assert fail_fast.max_wait_storage_ms == 150  # storage <= O(50-150 ms)
    assert SLAPolicy.from_preset("PARTIAL_FILL").total_deadline_ms == 800  # total <= O(300-800 ms)
    auto = SLAPolicy.from_preset("auto_backfill")
    assert auto.max_wait_backfill_ms == 10_000 and auto.max_attempts == 2  # one sync retry
    seamless = SLAPolicy.from_preset("seamless")
    assert seamless.max_wait_backfill_ms == 5000 and seamless.max_sync_gap_bars == 1440


def test_overrides_replace_given_keys_and_null_means_no_limit() -> None:
    presets = load_sla_presets(
        {
            "seamless": {"sla": {"total_deadline_ms": 3000, "max_wait_live_ms": None}},
            "research": {"extends": "auto_backfill", "sla": {"total_deadline_ms": None}},
        }
    )
    seamless = presets["seamless"].policy
    assert seamless.total_deadline_ms == 3000
    assert seamless.max_wait_live_ms is None
    assert seamless.max_wait_backfill_ms == 5000  # kept from the shipped preset
    research = presets["research"]
    assert research.strategy is Strategy.AUTO_BACKFILL
    assert research.policy.total_deadline_ms is None and research.policy.max_attempts == 2
    assert presets["seamless"].fingerprint != shipped_sla_presets()["seamless"].fingerprint
    assert presets["fail_fast"].fingerprint == shipped_sla_presets()["fail_fast"].fingerprint


S = "sla_presets.seamless.sla"


@pytest.mark.parametrize(
    ("overrides", "field", "problem"),
    [
        ({"seamless": {"sla": {"totl_deadline_ms": 1}}}, f"{S}.totl_deadline_ms", "unknown key"),
        ({"seamless": {"sla": {"max_attempts": 2.5}}}, f"{S}.max_attempts", "not an integer"),
        (
            {"seamless": {"sla": {"total_deadline_ms": "x"}}},
            f"{S}.total_deadline_ms",
            "not a number",
        ),
        ({"seamless": {"sla": {"jitter_ratio": 2}}}, f"{S}.jitter_ratio", "not in"),
        ({"x": {"extends": "nope"}}, "sla_presets.x.extends", "not a preset"),
        ({"a": {"extends": "b"}, "b": {"extends": "a"}}, "sla_presets.a.extends", "cycle"),
        ({"Bad Name": {}}, "sla_presets.Bad Name", "lower-case"),
        ({"seamless": {"strategy": "sometimes"}}, "sla_presets.seamless.strategy", "not one of"),
    ],
)
def test_bad_overrides_name_the_key(overrides: dict[str, object], field: str, problem: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        load_sla_presets(overrides)
    assert info.value.field == field
    assert problem in info.value.problem


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(InvalidRequestError, match="known: auto_backfill, fail_fast"):
        SLAPolicy.from_preset("turbo")


# -- the settings object -----------------------------------------------------------


def test_defaults_are_the_seamless_strategy_and_its_preset() -> None:
    settings = parse_policy_settings(None)
    assert settings.strategy is Strategy.SEAMLESS
    assert settings.sla == SLAPolicy.from_preset("seamless")
    assert settings.sla_preset == "seamless"
    assert settings.fingerprints == FingerprintPolicy(publish=True, preview=False, early=False)


def test_the_seed_004_section_loads_from_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "app.yml"
    path.write_text(
        """\
other_tool: {x: 1}          # the rest of the file is not ours
seamless:
  strategy: AUTO_BACKFILL
  sla: {max_wait_backfill_ms: 4000}
  sla_presets:
    auto_backfill: {sla: {total_deadline_ms: 6000}}
  conformance:
    partial_ok: true
    strict: true
    modes: {defaults: {mode: canary}}
  publish_fingerprint: true
  preview_fingerprint: true
  early_fingerprint: false
"""
    )
    settings = load_policy_settings(path)
    assert settings.strategy is Strategy.AUTO_BACKFILL
    assert settings.sla_preset == "auto_backfill"
    assert settings.sla.total_deadline_ms == 6000  # the override of the preset
    assert settings.sla.max_wait_backfill_ms == 4000  # the section's own key on top
    assert settings.sla.max_attempts == 2
    assert settings.partial_ok and settings.strict
    assert settings.fingerprints.preview and not settings.fingerprints.early
    assert settings.conformance_config().policy_for("ohlcv_bars", "demo:A").mode == "canary"
    assert settings.source == path.resolve()
    assert settings.provider_kwargs() == {
        "strategy": Strategy.AUTO_BACKFILL,
        "sla": settings.sla,
        "partial_ok": True,
        "strict": True,
    }


def test_the_settings_build_a_provider_that_reads_with_them(tmp_path: Path) -> None:
    from seamless_sdk.fetchers import SyntheticFetcher

    settings = parse_policy_settings({"strategy": "FAIL_FAST", "sla": "fail_fast"})
    store = LocalStore(tmp_path / "s.sqlite")
    with (
        settings.provider(store, SyntheticFetcher(seed=1)) as p,
        pytest.raises(DataUnavailableError),
    ):
        p.read("demo:A", "1m", "2024-01-01", "2024-01-01T01:00:00")
    auto = parse_policy_settings({"strategy": "AUTO_BACKFILL"})
    with auto.provider(LocalStore(tmp_path / "t.sqlite"), SyntheticFetcher(seed=1)) as p:
        result = p.read("demo:A", "1m", "2024-01-01", "2024-01-01T01:00:00")
        assert len(result.df) == 60


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"stratgy": "SEAMLESS"}, "seamless.stratgy"),
        ({"strategy": "sometimes"}, "seamless.strategy"),
        ({"sla": "turbo"}, "seamless.sla.preset"),
        ({"sla": {"preset": "turbo"}}, "seamless.sla.preset"),
        ({"sla": {"max_attempts": 0}}, "seamless.sla.max_attempts"),
        ({"sla": 5}, "seamless.sla"),
        ({"publish_fingerprint": "yes"}, "seamless.publish_fingerprint"),
        ({"publish_fingerprint": False, "early_fingerprint": True}, "seamless.early_fingerprint"),
        ({"conformance": {"modes": {"defaults": {"mode": "wild"}}}},
         "seamless.conformance.modes.defaults.mode"),
        ({"sla_presets": {"seamless": {"sla": {"max_attempts": -1}}}},
         "seamless.sla_presets.seamless.sla.max_attempts"),
    ],
)  # fmt: skip
def test_bad_sections_name_the_key(section: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_policy_settings(section)
    assert info.value.field == field


def test_seamless_yaml_carries_the_same_section(tmp_path: Path) -> None:
    config = parse_config(
        {"seamless": {"sla": "partial_fill", "preview_fingerprint": True}}, base_dir=tmp_path
    )
    assert config.policy.sla == SLAPolicy.from_preset("partial_fill")
    assert config.policy.fingerprints.preview
    assert parse_config({}, base_dir=tmp_path).policy == PolicySettings()
    with pytest.raises(InvalidRequestError) as info:
        parse_config({"seamless": {"sla": {"total_deadline_ms": -1}}}, base_dir=tmp_path)
    assert info.value.field == "seamless.sla.total_deadline_ms"


# -- fingerprint policy ------------------------------------------------------------

FP = "ab" * 32


def test_final_windows_publish_unless_publishing_is_off() -> None:
    assert FingerprintPolicy().publication(FP, final=True).metadata() == {"fingerprint": FP}
    off = FingerprintPolicy(publish=False, preview=True)
    assert off.publication(FP, final=True).fingerprint is None
    assert off.publication(FP, final=True).metadata() == {}


def test_windows_not_final_publish_only_early_or_as_a_preview() -> None:
    assert FingerprintPolicy().publication(FP, final=False).metadata() == {}
    preview = FingerprintPolicy(preview=True).publication(FP, final=False)
    assert preview.fingerprint is None  # never the data version
    assert preview.metadata() == {"preview_fingerprint": FP}
    early = FingerprintPolicy(early=True, preview=True).publication(FP, final=False)
    assert early.metadata() == {"fingerprint": FP, "fingerprint_provisional": True}
    assert FingerprintPolicy().publication("", final=True).metadata() == {}


def test_a_window_is_final_when_closed_and_wholly_covered() -> None:
    h1 = parse_interval("1h")
    start, end = 1_704_067_200, 1_704_067_200 + 24 * 3600
    whole = RangeSet.span(start, end)
    assert window_is_final(h1, start, end, whole, now=end + 3600)
    assert not window_is_final(h1, start, end, whole, now=end - 3600)  # still open
    holed = whole.subtract(RangeSet.span(start, start + 3600))
    assert not window_is_final(h1, start, end, holed, now=end + 3600)


# -- audit -------------------------------------------------------------------------


def test_preset_and_mode_changes_are_audited_once(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    first = audit_settings(parse_policy_settings(None), actor="alice", path=log)
    assert {(e.action, e.what) for e in first} == {
        ("sla_preset.changed", "auto_backfill"),
        ("sla_preset.changed", "fail_fast"),
        ("sla_preset.changed", "partial_fill"),
        ("sla_preset.changed", "seamless"),
        ("conformance_modes.changed", "modes"),
    }
    assert all(e.old_fingerprint is None for e in first)
    assert audit_settings(parse_policy_settings(None), path=log) == []  # nothing changed
    changed = parse_policy_settings(
        {
            "sla_presets": {"seamless": {"sla": {"total_deadline_ms": 2500}}},
            "conformance": {"modes": {"defaults": {"mode": "canary"}}},
        }
    )
    second = audit_settings(changed, actor="bob", path=log)
    assert [(e.action, e.what) for e in second] == [
        ("sla_preset.changed", "seamless"),
        ("conformance_modes.changed", "modes"),
    ]
    old = next(e for e in first if e.what == "seamless")
    new = second[0]
    assert new.old_fingerprint == old.new_fingerprint
    assert new.new_fingerprint == changed.presets["seamless"].fingerprint
    assert new.actor == "bob"
    assert new.detail["preset"]["sla"]["total_deadline_ms"] == 2500  # type: ignore[index]
    assert len(audit.read_entries(log)) == 7


def test_schema_changes_are_audited_once(tmp_path: Path) -> None:
    from seamless_sdk.conformance.spec.registry import default_registry

    log = tmp_path / "audit.jsonl"
    registry = default_registry()
    first = audit_schemas(registry, actor="dora", path=log)
    assert {e.what for e in first} == {s.label for s in registry} | {"registry"}
    assert audit_schemas(registry, path=log) == []
    bundle = next(e for e in first if e.action == "schema_bundle.changed")
    assert bundle.new_fingerprint == registry.fingerprint and bundle.old_fingerprint is None


def test_provider_from_settings_takes_the_object_or_a_yaml_file(tmp_path: Path) -> None:
    from seamless_sdk.fetchers import SyntheticFetcher
    from seamless_sdk.provider import SeamlessDataProvider

    path = tmp_path / "app.yml"
    path.write_text("seamless:\n  strategy: FAIL_FAST\n  sla: fail_fast\n")
    store = LocalStore(tmp_path / "s.sqlite")
    fetcher = SyntheticFetcher(seed=1)
    with (
        SeamlessDataProvider.from_settings(path, store, fetcher) as p,
        pytest.raises(DataUnavailableError),
    ):
        p.read("demo:A", "1m", "2024-01-01", "2024-01-01T01:00:00")
    settings = parse_policy_settings({"strategy": "AUTO_BACKFILL"})
    other = LocalStore(tmp_path / "t.sqlite")
    with SeamlessDataProvider.from_settings(settings, other, SyntheticFetcher(seed=1)) as p:
        assert len(p.read("demo:A", "1m", "2024-01-01", "2024-01-01T01:00:00").df) == 60
