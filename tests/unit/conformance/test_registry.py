"""The schema registry: versioned files, fingerprints and the compatibility contract.

The compatibility table edits a copy of the shipped schema directory the way
a careless release would, and expects the check (function and command) to
name the broken rule.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pandera.errors import SchemaErrors

from seamless_sdk.conformance import (
    STORED_SCHEMA,
    OHLCVBars,
    SchemaRegistry,
    conform_bars,
    default_registry,
    schemas_check,
)
from seamless_sdk.conformance.spec.registry import main, schemas_dir
from seamless_sdk.conformance.spec.schema import input_spec_for
from seamless_sdk.errors import InvalidRequestError

T0 = 1_710_028_800


@pytest.fixture
def schema_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped schema files, free to edit."""
    target = tmp_path / "schemas"
    target.mkdir()
    for item in schemas_dir().iterdir():
        if item.name.endswith(".yaml"):
            (target / item.name).write_text(item.read_text(encoding="utf-8"), encoding="utf-8")
    return target


def edit(directory: Path, name: str, change: Callable[[dict], None]) -> None:
    path = directory / name
    content = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(content)
    path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")


def test_shipped_registry_contents() -> None:
    """Two dataset kinds: ohlcv_bars v1 (stored) and v2 (+ optional vwap), trades v1."""
    reg = default_registry()
    assert reg.names() == ("ohlcv_bars", "trades")
    assert reg.versions("ohlcv_bars") == ("1", "2")
    assert reg.latest("ohlcv_bars").version == "2"
    assert reg.get("ohlcv_bars", "latest") is reg.latest("ohlcv_bars")
    assert reg.get("ohlcv_bars", 1) is reg.get("ohlcv_bars", "1")
    v2 = reg.get("ohlcv_bars", "2")
    assert v2.optional_columns == ("vwap",)
    assert v2.required_columns == reg.get("ohlcv_bars", "1").required_columns
    assert reg.get("trades", "1").required_columns == ("ts", "price", "size")
    assert len(reg) == 3 and reg.check() == []
    assert len(reg.fingerprint) == 64


@pytest.mark.parametrize(
    ("name", "version"), [("ohlcv", "1"), ("ohlcv_bars", "3"), ("ohlcv_bars", "v1")]
)
def test_unknown_schema_raises(name: str, version: str) -> None:
    """Asking for a schema that is not registered is a typed error naming the field."""
    with pytest.raises(InvalidRequestError) as info:
        default_registry().get(name, version)
    assert info.value.field == "schema"


def test_stored_schema_is_the_registry_file_and_matches_the_model() -> None:
    """STORED_SCHEMA comes from ohlcv_bars.v1.yaml; the typed model says the same."""
    assert STORED_SCHEMA is default_registry().get("ohlcv_bars", "1").schema
    model = OHLCVBars.to_schema()
    assert list(model.columns) == list(STORED_SCHEMA.columns)
    for name, column in STORED_SCHEMA.columns.items():
        other = model.columns[name]
        assert (str(column.dtype), column.unique, column.nullable, column.required) == (
            str(other.dtype),
            other.unique,
            other.nullable,
            other.required,
        ), name
    good = conform_bars(
        pd.DataFrame(
            {"ts": [T0, T0 + 60], "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 1.0}
        ),
        "1m",
        T0,
        T0 + 120,
    ).frame
    bad = good.assign(high=[0.1, 2.0], volume=[1.0, -1.0]).iloc[::-1]
    for frame, verdict in ((good, True), (bad, False)):
        for schema in (model, STORED_SCHEMA):
            try:
                schema.validate(frame, lazy=True)
                passed = True
            except SchemaErrors:
                passed = False
            assert passed is verdict


def test_fingerprint_ignores_layout_and_sees_meaning(schema_copy: Path) -> None:
    """Comments and key order are not content; a changed bound is."""
    base = SchemaRegistry.from_directory(schema_copy)
    path = schema_copy / "trades.v1.yaml"
    content = yaml.safe_load(path.read_text(encoding="utf-8"))
    path.write_text("# a new comment\n" + yaml.safe_dump(content, sort_keys=True), "utf-8")
    same = SchemaRegistry.from_directory(schema_copy)
    assert same.fingerprint == base.fingerprint
    content["description"] = "changed"
    path.write_text(yaml.safe_dump(content), "utf-8")
    changed = SchemaRegistry.from_directory(schema_copy)
    assert changed.fingerprint != base.fingerprint
    assert changed.get("trades", "1").fingerprint != base.get("trades", "1").fingerprint
    assert changed.get("ohlcv_bars", "1").fingerprint == base.get("ohlcv_bars", "1").fingerprint


def test_report_records_the_bundle_fingerprint() -> None:
    """Every report says which schema bundle it was checked against."""
    frame = pd.DataFrame(
        {"ts": [T0], "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 1.0}
    )
    report = conform_bars(frame, "1m", T0, T0 + 60).report
    assert report.schema_fingerprint == default_registry().fingerprint
    assert report.to_dict()["schema_fingerprint"] == default_registry().fingerprint


def _v3(directory: Path, change: Callable[[dict], None]) -> None:
    """Release ohlcv_bars v3 as a copy of v2 with ``change`` applied."""
    content = yaml.safe_load((directory / "ohlcv_bars.v2.yaml").read_text(encoding="utf-8"))
    content["metadata"]["version"] = "3"
    change(content)
    (directory / "ohlcv_bars.v3.yaml").write_text(yaml.safe_dump(content, sort_keys=False), "utf-8")


def _add_column(name: str, spec: dict, *, at: int | None = None) -> Callable[[dict], None]:
    def change(content: dict) -> None:
        items = list(content["columns"].items())
        items.insert(len(items) if at is None else at, (name, spec))
        content["columns"] = dict(items)

    return change


def _set(column: str, **values: object) -> Callable[[dict], None]:
    def change(content: dict) -> None:
        content["columns"][column].update(values)

    return change


def _drop(column: str) -> Callable[[dict], None]:
    def change(content: dict) -> None:
        del content["columns"][column]

    return change


def _rename(old: str, new: str) -> Callable[[dict], None]:
    def change(content: dict) -> None:
        content["columns"] = {(new if k == old else k): v for k, v in content["columns"].items()}

    return change


def _time_column(content: dict) -> None:
    content["metadata"]["time_column"] = "open"


@dataclass
class Compat:
    id: str
    why: str
    change: Callable[[dict], None]
    problems: list[str]


COMPAT = [
    Compat(
        "append_optional_column",
        "the contract's one allowed change: a new optional column at the end",
        _add_column("trade_count", {"dtype": "float64", "required": False, "nullable": True}),
        [],
    ),
    Compat(
        "append_required_column",
        "a required new column breaks every producer of v2 frames",
        _add_column("trade_count", {"dtype": "float64"}),
        ["column 'trade_count': added as required: new columns must be optional"],
    ),
    Compat(
        "insert_optional_column_in_the_middle",
        "new columns go at the end, even optional ones: positions are part of the contract",
        _add_column("mid", {"dtype": "float64", "required": False}, at=1),
        [
            "column 'open': moved from position 1 to 2",
            "column 'high': moved from position 2 to 3",
            "column 'low': moved from position 3 to 4",
            "column 'close': moved from position 4 to 5",
            "column 'volume': moved from position 5 to 6",
            "column 'flags': moved from position 6 to 7",
            "column 'vwap': moved from position 7 to 8",
            "column 'mid': added before existing columns: new columns go at the end",
        ],
    ),
    Compat(
        "drop_required_column",
        "a released column can never go",
        _drop("low"),
        [
            "column 'low': removed (a released column can never go)",
            "column 'close': moved from position 4 to 3",
            "column 'volume': moved from position 5 to 4",
            "column 'flags': moved from position 6 to 5",
            "column 'vwap': moved from position 7 to 6",
        ],
    ),
    Compat(
        "rename_required_column",
        "a rename is a removal plus an addition in the same place",
        _rename("volume", "qty"),
        [
            "column 'volume': removed (a released column can never go)",
            "column 'qty': added before existing columns: new columns go at the end",
        ],
    ),
    Compat(
        "change_required_dtype",
        "readers of v2 expect float64 volumes",
        _set("volume", dtype="int64"),
        ["column 'volume': dtype changed from float64 to int64"],
    ),
    Compat(
        "make_optional_required",
        "v2 frames without vwap would stop being valid",
        _set("vwap", required=True),
        ["column 'vwap': changed from optional to required"],
    ),
    Compat(
        "make_required_nullable",
        "a required column changes nothing at all, not even to loosen",
        _set("close", nullable=True),
        ["column 'close': nullable changed from False to True"],
    ),
    Compat(
        "tighten_optional_column",
        "an optional column may loosen but never tighten",
        _set("vwap", nullable=False),
        ["column 'vwap': became non-nullable"],
    ),
    Compat(
        "change_time_column",
        "the time column is the key of every frame",
        _time_column,
        ["time column changed from 'ts' to 'open'"],
    ),
]


@pytest.mark.parametrize("case", COMPAT, ids=[c.id for c in COMPAT])
def test_compatibility_rules(case: Compat, schema_copy: Path) -> None:
    """Each edit is judged by the contract; the command exits 1 exactly when broken."""
    _v3(schema_copy, case.change)
    reg = SchemaRegistry.from_directory(schema_copy)
    problems = [str(p) for p in reg.check()]
    prefix = "ohlcv_bars v2 -> v3:"
    assert problems == [f"{prefix} {p}" for p in case.problems]
    out = io.StringIO()
    assert schemas_check(schema_copy, out=out) == (1 if case.problems else 0)
    assert ("INCOMPATIBLE" in out.getvalue()) is bool(case.problems)


def test_version_holes_are_incompatible(schema_copy: Path) -> None:
    """v1 and v3 without v2: the step cannot be checked, so it fails."""
    (schema_copy / "ohlcv_bars.v2.yaml").rename(schema_copy / "ohlcv_bars.v3.yaml")
    edit(schema_copy, "ohlcv_bars.v3.yaml", lambda c: c["metadata"].update(version="3"))
    problems = [str(p) for p in SchemaRegistry.from_directory(schema_copy).check()]
    assert "versions must be numbered 1..n without holes; missing [2]" in problems[0]


def test_released_versions_are_immutable(schema_copy: Path, tmp_path: Path) -> None:
    """Against a baseline, an edited v1 is reported even if it is still 'compatible'."""
    baseline = tmp_path / "baseline"
    shutil.copytree(schema_copy, baseline)
    edit(schema_copy, "ohlcv_bars.v1.yaml", lambda c: c.update(description="edited"))
    out = io.StringIO()
    assert schemas_check(schema_copy, out=out) == 0  # on its own it is consistent
    out = io.StringIO()
    assert schemas_check(schema_copy, baseline=baseline, as_json=True, out=out) == 1
    data = json.loads(out.getvalue())
    assert data["incompatibilities"] == [
        "ohlcv_bars v1 -> v1: released version changed (add a new version instead)"
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: (d / "trades.v1.yaml").write_text("[1, 2", "utf-8"), "trades.v1.yaml"),
        (
            lambda d: edit(d, "trades.v1.yaml", lambda c: c["metadata"].update(version="2")),
            "metadata.version is '2', the file name says '1'",
        ),
        (
            lambda d: edit(d, "trades.v1.yaml", lambda c: c.update(name="ticks")),
            "name is 'ticks'",
        ),
        (
            lambda d: edit(
                d,
                "trades.v1.yaml",
                lambda c: c["columns"]["price"].update(
                    checks=[{"options": {"check_name": "nope"}}]
                ),
            ),
            "nope",
        ),
        (
            lambda d: edit(d, "trades.v1.yaml", lambda c: c["metadata"].update(time_column="t")),
            "unknown columns ['t']",
        ),
    ],
    ids=["broken_yaml", "version_mismatch", "name_mismatch", "unknown_check", "bad_time_column"],
)
def test_unreadable_registry(
    schema_copy: Path, change: Callable[[Path], None], message: str
) -> None:
    """A broken file is a typed error naming the file; the command exits 2."""
    change(schema_copy)
    with pytest.raises(InvalidRequestError) as info:
        SchemaRegistry.from_directory(schema_copy)
    assert info.value.field == "schema_registry" and message in str(info.value)
    out = io.StringIO()
    assert schemas_check(schema_copy, out=out) == 2
    assert out.getvalue().startswith("error: schema_registry:")


def test_a_directory_without_schemas_is_unreadable(tmp_path: Path) -> None:
    # It checked as compatible (the hash of nothing), then refused every read.
    with pytest.raises(InvalidRequestError, match="holds no schema file"):
        SchemaRegistry.from_directory(tmp_path)
    out = io.StringIO()
    assert schemas_check(tmp_path, out=out) == 2


def test_command_line(schema_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m seamless_sdk.conformance check` checks the shipped files."""
    assert main(["check"]) == 0
    text = capsys.readouterr().out
    assert f"schema bundle {default_registry().fingerprint}" in text
    assert "ohlcv_bars v2: 8 columns (optional: vwap)" in text
    assert text.rstrip().endswith("compatible")
    _v3(schema_copy, _drop("vwap"))
    proc = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            "-m",
            "seamless_sdk.conformance",
            "check",
            "--dir",
            str(schema_copy),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr
    assert "INCOMPATIBLE ohlcv_bars v2 -> v3: column 'vwap': removed" in proc.stdout


def test_command_line_takes_no_abbreviated_option() -> None:
    with pytest.raises(SystemExit) as stop:
        main(["check", "--base", "x"])  # was run as --baseline x
    assert stop.value.code == 2


def test_from_directory_ignores_other_files(schema_copy: Path) -> None:
    """modes.yaml and notes live beside the schemas without being read as schemas."""
    (schema_copy / "README.txt").write_text("notes", "utf-8")
    assert SchemaRegistry.from_directory(schema_copy).names() == ("ohlcv_bars", "trades")
    assert (schema_copy / "modes.yaml").exists()


def test_input_view_follows_the_registered_version() -> None:
    """v2's input view checks vwap when kept; value columns come from required columns."""
    spec = input_spec_for(default_registry().get("ohlcv_bars", "2"))
    assert spec.value_columns == ("open", "high", "low", "close", "volume")
    assert spec.optional_columns == ("vwap",)
    frame = pd.DataFrame({"ts": [T0], "open": [1], "high": [1], "low": [1], "close": [1]})
    validated = spec.schema_for(True, ("vwap",)).validate(
        frame.assign(volume=1, vwap=np.array([1], dtype=np.int64)), lazy=True
    )
    assert validated["vwap"].dtype == np.float64
