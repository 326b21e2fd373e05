"""Every Seamless YAML file is read by one loader (``yaml_files.load_yaml``).

It refuses a key given twice (PyYAML keeps the last one silently), reports a
syntax error on one line (``file:line:column: not valid YAML: problem``), and
never lets a bare ``ValueError`` out for a scalar its tag cannot be. The
numbers of ``seamless.yaml`` have upper bounds, the SDK's own limits where it
has one.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from seamless_sdk.changes.config import load_changes_config
from seamless_sdk.checks import MAX_WAIT_S, MAX_WORKERS
from seamless_sdk.config import (
    MAX_PARTITIONS_PER_RUN,
    MAX_SECONDS,
    MAX_TAIL_WINDOWS,
    load_config,
    parse_config,
)
from seamless_sdk.conformance.spec.modes import load_config as load_modes
from seamless_sdk.conformance.spec.registry import SCHEMA_FILE, load_schema_file, schemas_dir
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import MAX_TIME
from seamless_sdk.policy_settings import load_policy_settings
from seamless_sdk.sla import MAX_ATTEMPTS, MAX_BACKOFF_MS, SLAPolicy
from seamless_sdk.yaml_files import DuplicateKeyError, UniqueKeyLoader, load_yaml

REPO = Path(__file__).resolve().parents[2]
DSN = "postgresql://seamless@db:5432/seamless"


def _load_error(text: str, *, source: str = "f.yaml", field: str = "config") -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        load_yaml(text, source=source, field=field)
    assert "\n" not in str(info.value)  # one line, whatever the problem
    assert str(info.value).startswith(f"{info.value.field}: ")
    return info.value


# -- duplicate keys ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field", "again", "first"),
    [
        ("backfill:\n  retries: 1\n  retries: 5\n", "backfill.retries", "3:3", 2),
        ("fetcher: synthetic\nstore: a\nfetcher: file:x\n", "fetcher", "3:1", 1),
        ("nodes:\n  - id: a\n  - id: b\n    calendar: X\n    id: c\n", "nodes[1].id", "5:5", 3),
        ("nodes: [{id: a, id: b}]\n", "nodes[0].id", "1:17", 1),
        (
            "seamless:\n  sla_presets:\n    seamless:\n"
            "      sla: {max_attempts: 1, max_attempts: 2}",
            "seamless.sla_presets.seamless.sla.max_attempts",
            "4:30",
            4,
        ),
        # Keys are compared as the mapping compares them: 1 and 0x1 are one key.
        ("1: a\n0x1: b\n", "1", "2:1", 1),
        ("1: a\ntrue: b\n", "True", "2:1", 1),
        ("a:\n  'b': 1\n  \"b\": 2\n", "a.b", "3:3", 2),
    ],
)
def test_a_duplicate_key_names_its_path_file_and_lines(
    text: str, field: str, again: str, first: int
) -> None:
    error = _load_error(text, source="/etc/seamless.yaml")
    assert error.field == field
    assert f"in /etc/seamless.yaml:{again}: duplicate key" in str(error)
    assert f"first given on line {first}" in str(error)


def test_keys_that_differ_as_values_are_not_duplicates() -> None:
    text = "1: a\n'1': b\nnull: c\n'null': d\n"
    assert load_yaml(text, source="f", field="config") == {1: "a", "1": "b", None: "c", "null": "d"}


def test_merges_and_anchors_are_not_duplicates() -> None:
    """A key a merge brings in may be given again: overriding it is what a merge is for."""
    text = "base: &b {a: 1, b: 2}\nderived:\n  <<: *b\n  a: 3\nagain: *b\n"
    assert load_yaml(text, source="f", field="config") == {
        "base": {"a": 1, "b": 2},
        "derived": {"a": 3, "b": 2},
        "again": {"a": 1, "b": 2},
    }
    looped = load_yaml("a: &x [1, *x]\n", source="f", field="config")  # a recursive list
    assert looped["a"][1] is looped["a"]
    error = _load_error("derived:\n  <<: {a: 1, a: 2}\n")
    assert error.field == "derived.a"


KEYS = st.text("abcdefghij_", min_size=1, max_size=6)
Tree = dict[str, Any]
trees: st.SearchStrategy[Tree] = st.recursive(
    st.dictionaries(KEYS, st.integers(0, 9), min_size=1, max_size=4),
    lambda inner: st.dictionaries(KEYS, inner | st.integers(0, 9), min_size=1, max_size=4),
    max_leaves=20,
)


def _mappings(tree: Tree, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of every mapping in ``tree``, itself first."""
    out = [path]
    for key, value in tree.items():
        if isinstance(value, dict):
            out += _mappings(value, (*path, key))
    return out


def _emit(
    tree: Tree,
    target: tuple[str, ...],
    key: str,
    lines: list[str],
    at: list[int],
    path: tuple[str, ...] = (),
) -> None:
    """``tree`` as block YAML into ``lines``; the mapping at ``target`` gives ``key``
    once more at its end. ``at`` gets the (1-based) lines ``key`` is given on there."""
    indent = "  " * len(path)
    for name, value in tree.items():
        if path == target and name == key:
            at.append(len(lines) + 1)
        if isinstance(value, dict):
            lines.append(f"{indent}{name}:")
            _emit(value, target, key, lines, at, (*path, name))
        else:
            lines.append(f"{indent}{name}: {value}")
    if path == target:
        lines.append(f"{indent}{key}: 0")
        at.append(len(lines))


@given(tree=trees, data=st.data())
def test_a_key_given_twice_anywhere_is_refused_with_its_path(
    tree: Tree, data: st.DataObject
) -> None:
    target = data.draw(st.sampled_from(_mappings(tree)))
    mapping = tree
    for part in target:
        mapping = mapping[part]
    key = data.draw(st.sampled_from(sorted(mapping)))
    lines: list[str] = []
    at: list[int] = []
    _emit(tree, target, key, lines, at)
    first, again = at
    error = _load_error("\n".join(lines) + "\n", source="conf.yaml")
    assert error.field == ".".join((*target, key))
    assert f"in conf.yaml:{again}:{2 * len(target) + 1}: duplicate key" in str(error)
    assert f"first given on line {first};" in str(error)
    with pytest.raises(DuplicateKeyError):  # the loader alone raises PyYAML's kind of error
        yaml.load("\n".join(lines), Loader=UniqueKeyLoader)


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=25,
)


@given(doc=json_like, flow=st.booleans())
def test_a_document_without_duplicates_loads_as_pyyaml_loads_it(doc: Any, flow: bool) -> None:
    text = yaml.safe_dump(doc, default_flow_style=flow, allow_unicode=True)
    assert load_yaml(text, source="f", field="config") == yaml.safe_load(text)


# -- syntax errors -------------------------------------------------------------------------


def test_a_syntax_error_is_one_line_with_file_line_and_column() -> None:
    error = _load_error("backfill:\n  retries: 1\n  x: y: z\n", source="config.yaml")
    assert (error.field, str(error)) == (
        "config",
        "config: config.yaml:3:7: not valid YAML: mapping values are not allowed here",
    )
    error = _load_error("nodes: [unclosed\n", source="config.yaml")
    assert str(error) == (
        "config: config.yaml:2:1: not valid YAML: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence at 1:8)"
    )


def test_a_character_yaml_does_not_allow_is_located() -> None:
    error = _load_error("a: 1\nb: x\x00y\n", field="conformance_config")
    assert error.field == "conformance_config"
    assert "f.yaml:2:5: not valid YAML: unacceptable character #x0000" in str(error)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("partition_start: 2024-13-01\n", "1:18: not valid YAML: '2024-13-01' is not a valid"),
        ("a: !!int x\n", "1:4: not valid YAML: 'x' is not a valid int"),
        ("a: !!float x\n", "1:4: not valid YAML: 'x' is not a valid float"),
        ("a:\n  - !!bool maybe\n", "2:5: not valid YAML: 'maybe' is not a valid bool"),
        ("a: !!timestamp x\n", "1:4: not valid YAML: 'x' is not a valid timestamp"),
        ("a: !!python/name:os.system\n", "1:4: not valid YAML: could not determine a constructor"),
    ],
)
def test_a_scalar_its_tag_cannot_be_is_a_located_error(text: str, says: str) -> None:
    """PyYAML let ValueError, KeyError or AttributeError out, naming no file or line."""
    error = _load_error(text)
    assert error.field == "config" and f"f.yaml:{says}" in str(error)


YAMLISH = st.text(":-[]{},'\"\n #&*!|>?%@`ab1.\t", max_size=30)


@given(text=YAMLISH)
def test_any_text_loads_as_pyyaml_does_or_fails_on_one_line(text: str) -> None:
    try:
        expected: Any = yaml.safe_load(text)
        pyyaml_error: Exception | None = None
    except (yaml.YAMLError, ValueError, KeyError, AttributeError) as exc:
        pyyaml_error = exc
    try:
        got = load_yaml(text, source="f.yaml", field="config")
    except InvalidRequestError as exc:
        message = str(exc)
        assert "\n" not in message
        if pyyaml_error is None:
            assert "duplicate key" in message  # the one thing PyYAML accepts and we do not
        elif isinstance(pyyaml_error, yaml.MarkedYAMLError) and not isinstance(
            pyyaml_error, yaml.constructor.ConstructorError
        ):
            # Scanning, parsing and composing are PyYAML's own: same problem, same place.
            mark = pyyaml_error.problem_mark or pyyaml_error.context_mark
            assert mark is not None
            prefix = f"config: f.yaml:{mark.line + 1}:{mark.column + 1}: not valid YAML: "
            assert message.startswith(prefix)
            problem = pyyaml_error.problem or pyyaml_error.context
            assert " ".join(str(problem).split()) in message
        return
    assert pyyaml_error is None
    assert repr(got) == repr(expected)  # repr: a NaN equals itself there


# -- every loader goes through load_yaml ---------------------------------------------------

_LOADING = {"safe_load", "safe_load_all", "load", "load_all", "full_load", "unsafe_load"}
_LOADING |= {"SafeLoader", "CSafeLoader", "Loader", "CLoader", "FullLoader", "BaseLoader"}
_LOADING |= {"compose", "parse", "scan"}


def _yaml_loading(path: Path) -> list[int]:
    """Lines of ``path`` that read YAML with PyYAML directly."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "yaml"
            and node.attr in _LOADING
        )
        or (
            isinstance(node, ast.ImportFrom)
            and (node.module or "").split(".")[0] in {"yaml", "ruamel"}
        )
    ]


def test_only_yaml_files_reads_yaml() -> None:
    sources = sorted((REPO / "seamless_sdk").rglob("*.py")) + sorted(
        (REPO / "seamless_assets").rglob("*.py")
    )
    assert len(sources) > 50
    offenders = {
        str(p.relative_to(REPO)): lines
        for p in sources
        if p.name != "yaml_files.py" and (lines := _yaml_loading(p))
    }
    assert offenders == {}


def _schema_file(tmp_path: Path, extra: str) -> Path:
    shipped = schemas_dir() / "ohlcv_bars.v1.yaml"
    path = tmp_path / "ohlcv_bars.v1.yaml"
    path.write_text(shipped.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return path


LOADERS: dict[str, tuple[str, Callable[[Path], object]]] = {
    "seamless.yaml": ("config", load_config),
    "settings file": ("config", load_policy_settings),
    "changes config": ("changes_config", load_changes_config),
    "modes override": ("conformance_config", load_modes),
}


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_every_config_file_refuses_duplicates(loader: str, tmp_path: Path) -> None:
    _, load = LOADERS[loader]
    path = tmp_path / "file.yaml"
    path.write_text("seamless:\n  strategy: SEAMLESS\n  strategy: FAIL_FAST\n", "utf-8")
    with pytest.raises(InvalidRequestError) as info:
        load(path)
    assert info.value.field == "seamless.strategy"
    assert f"in {path}:3:3: duplicate key (first given on line 2;" in str(info.value)


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_every_config_file_reports_a_syntax_error_on_one_line(loader: str, tmp_path: Path) -> None:
    field, load = LOADERS[loader]
    path = tmp_path / "file.yaml"
    path.write_text("seamless:\n  strategy: [SEAMLESS\n", "utf-8")
    with pytest.raises(InvalidRequestError) as info:
        load(path)
    assert info.value.field == field
    assert "\n" not in str(info.value)
    assert f"{path}:3:1: not valid YAML: expected ',' or ']'" in str(info.value)


def test_a_schema_file_refuses_duplicates_and_reports_syntax_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError) as info:
        load_schema_file(_schema_file(tmp_path, "name: ohlcv_bars\n"))
    assert info.value.field == "name"
    assert "in ohlcv_bars.v1.yaml:" in str(info.value) and "duplicate key" in str(info.value)
    with pytest.raises(InvalidRequestError) as info:
        load_schema_file(_schema_file(tmp_path, "x: [\n"))
    assert info.value.field == "schema_registry" and "\n" not in str(info.value)
    assert re.search(r"ohlcv_bars\.v1\.yaml:\d+:\d+: not valid YAML: ", str(info.value))


def test_a_node_entry_given_a_key_twice_is_refused(tmp_path: Path) -> None:
    """The node list the code location registers (``seamless_assets.nodes``) comes from here."""
    path = tmp_path / "seamless.yaml"
    path.write_text("nodes:\n  - id: 'demo:A'\n  - id: 'demo:B'\n    id: 'demo:C'\n", "utf-8")
    with pytest.raises(InvalidRequestError) as info:
        load_config(path)
    assert info.value.field == "nodes[1].id" and f"{path}:4:5" in str(info.value)


def test_the_shipped_files_load() -> None:
    """The files Seamless ships have no duplicate keys: the loader reads them all."""
    assert load_config(REPO / "seamless.yaml").nodes
    assert load_modes().data["defaults"]
    schema_files = [p for p in schemas_dir().iterdir() if SCHEMA_FILE.fullmatch(p.name)]
    assert schema_files
    for path in schema_files:
        assert path.name.startswith(f"{load_schema_file(path).name}.v")
    assert SLAPolicy.from_preset("seamless").max_attempts is not None


# -- upper bounds --------------------------------------------------------------------------


def _config_error(raw: dict[str, Any]) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        parse_config(raw)
    return info.value


def test_retries_of_a_billion_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "seamless.yaml"
    path.write_text("backfill:\n  retries: 1000000000\n", "utf-8")
    with pytest.raises(InvalidRequestError) as info:
        load_config(path)
    assert info.value.field == "backfill.retries"
    assert f"1000000000 is not <= {MAX_ATTEMPTS - 1}" in str(info.value)


# Each bounded key and its bound: the SDK's own limit wherever it has one.
BOUNDS: list[tuple[tuple[str, ...], float]] = [
    (("backfill", "retries"), MAX_ATTEMPTS - 1),
    (("backfill", "fetch_attempts"), MAX_ATTEMPTS),
    (("backfill", "fetch_backoff_ms"), MAX_BACKOFF_MS),
    (("backfill", "fetch_concurrency"), MAX_WORKERS),
    (("backfill", "retry_delay_s"), MAX_SECONDS),
    (("backfill", "max_partitions_per_run"), MAX_PARTITIONS_PER_RUN),
    (("sensors", "tail_s"), MAX_SECONDS),
    (("sensors", "requests_s"), MAX_SECONDS),
    (("sensors", "nodes_s"), MAX_SECONDS),
    (("sensors", "reconcile_s"), MAX_SECONDS),
    (("sensors", "tail_windows"), MAX_TAIL_WINDOWS),
    (("sensors", "tail_record_every_s"), MAX_SECONDS),
    (("store", "pool_size"), MAX_WORKERS),
    (("coordinator", "max_failures"), MAX_ATTEMPTS),
    (("coordinator", "lease_s"), MAX_WAIT_S),
]
FLOAT_KEYS = {"fetch_backoff_ms", "retry_delay_s", "lease_s"}
_BASE: dict[str, dict[str, Any]] = {
    "store": {"kind": "postgres", "dsn": DSN},
    "coordinator": {"kind": "postgres", "dsn": DSN},
}


def _with(key: tuple[str, ...], value: float) -> dict[str, Any]:
    section, name = key
    return {section: {**_BASE.get(section, {}), name: value}}


@given(bound=st.sampled_from(BOUNDS), data=st.data())
def test_every_number_has_an_upper_bound(
    bound: tuple[tuple[str, ...], float], data: st.DataObject
) -> None:
    key, high = bound
    past = st.integers(int(high) + 1, 10**30)
    if key[1] in FLOAT_KEYS:
        past |= st.floats(min_value=high, exclude_min=True, allow_infinity=False)
    error = _config_error(_with(key, data.draw(past)))
    assert error.field == ".".join(key)
    assert f"is not <= {high}" in str(error)
    config = parse_config(_with(key, high))
    section = config.server_store if key[0] == "store" else getattr(config, key[0])
    assert getattr(section, key[1]) == high


def test_attempts_share_the_sla_policy_bound() -> None:
    """fetch_attempts is the FillPolicy twin of SLAPolicy.max_attempts: the same limit."""
    assert SLAPolicy(max_attempts=MAX_ATTEMPTS).max_attempts == MAX_ATTEMPTS
    with pytest.raises(InvalidRequestError, match=r"sla\.max_attempts"):
        SLAPolicy(max_attempts=MAX_ATTEMPTS + 1)
    assert parse_config({"backfill": {"fetch_attempts": MAX_ATTEMPTS}}).backfill.fetch_attempts
    assert _config_error({"backfill": {"fetch_attempts": MAX_ATTEMPTS + 1}}).field == (
        "backfill.fetch_attempts"
    )


@given(value=st.integers(MAX_TIME + 1, 10**30) | st.integers(-(10**30), -MAX_TIME - 1))
def test_partition_start_as_epoch_seconds_is_in_the_time_range(value: int) -> None:
    """An int passed unchecked where a date was checked: 10**15 was a partition start."""
    error = _config_error({"partition_start": value})
    assert error.field == "partition_start" and "outside the supported time range" in str(error)
    assert parse_config({"partition_start": 1_704_067_200}).partition_start == 1_704_067_200
