"""SchemaRegistry: versioned pandera schemas per dataset kind, kept as files.

Each file is ``<dataset>.v<version>.yaml`` (``ohlcv_bars.v1.yaml``): a pandera
``DataFrameSchema`` in pandera's own YAML format, so ``pandera.io.from_yaml``
reads it too, plus a ``metadata`` block the registry needs::

    metadata:
      dataset: ohlcv_bars     # must match the file name and the schema name
      version: "1"            # likewise
      time_column: ts
      generated: [flags]      # columns the pipeline adds; sources never send them

The shipped files live in ``seamless_sdk/conformance/schemas/``;
:func:`default_registry` loads them once per process. Every schema and the
whole bundle have a fingerprint: sha256 over the canonical content (the
parsed YAML as sorted, compact JSON), so comments and layout do not count and
any change of meaning does. Every ``ConformanceReport`` records the bundle
fingerprint it was checked against.

Compatibility between versions (``compat.py``) is checked by a command::

    python -m seamless_sdk.conformance check [--dir DIR] [--baseline DIR] [--json]

which exits 0 when every dataset's versions are compatible, 1 when not and 2
when a file cannot be read. :func:`schemas_check` is the same as a function.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from seamless_sdk import settings
from seamless_sdk.conformance.spec.checks import register_checks
from seamless_sdk.conformance.spec.compat import Incompatibility, check_released, check_versions
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.yaml_files import read_yaml_mapping

if TYPE_CHECKING:
    import pandera.pandas as pa

SCHEMA_FILE = re.compile(r"(?P<name>[a-z][a-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.yaml")
"""File names the registry reads; anything else in the directory is ignored."""
LATEST = "latest"
_FIELD = "schema_registry"


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """What the contract says about one column (read from the pandera schema)."""

    name: str
    dtype: str
    required: bool
    nullable: bool
    unique: bool


@dataclass(frozen=True)
class RegisteredSchema:
    """One version of one dataset kind."""

    name: str
    version: str
    schema: pa.DataFrameSchema
    source: str
    """The file it was read from (for messages)."""
    fingerprint: str
    time_column: str
    generated: tuple[str, ...]

    @property
    def columns(self) -> tuple[ColumnSpec, ...]:
        """Every column, in schema order."""
        return tuple(
            ColumnSpec(
                name=str(name),
                dtype=str(col.dtype),
                required=bool(col.required),
                nullable=bool(col.nullable),
                unique=bool(col.unique),
            )
            for name, col in self.schema.columns.items()
        )

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def optional_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if not c.required)

    @property
    def label(self) -> str:
        """``ohlcv_bars v1``."""
        return f"{self.name} v{self.version}"


class SchemaRegistry:
    """Registered schemas by dataset name and version.

    >>> reg = default_registry()
    >>> reg.get("ohlcv_bars", "1").label, reg.latest("trades").label
    ('ohlcv_bars v1', 'trades v1')
    """

    def __init__(self, schemas: Iterable[RegisteredSchema]) -> None:
        by_name: dict[str, dict[str, RegisteredSchema]] = {}
        for s in schemas:
            versions = by_name.setdefault(s.name, {})
            if s.version in versions:
                raise InvalidRequestError(_FIELD, f"{s.label} is registered twice")
            versions[s.version] = s
        self._by_name = {
            name: tuple(sorted(v.values(), key=lambda s: int(s.version)))
            for name, v in sorted(by_name.items())
        }
        digest = hashlib.sha256()
        for s in self:
            digest.update(f"{s.name}.v{s.version}:{s.fingerprint}\n".encode())
        self._fingerprint = digest.hexdigest()

    @classmethod
    def from_directory(cls, directory: str | Path | Traversable) -> SchemaRegistry:
        """Read every ``<dataset>.v<version>.yaml`` in ``directory``."""
        root = Path(directory) if isinstance(directory, str) else directory
        if not root.is_dir():
            raise InvalidRequestError(_FIELD, f"{root} is not a directory")
        files = sorted((f for f in root.iterdir() if SCHEMA_FILE.fullmatch(f.name)), key=_key)
        if not files:  # a registry of nothing would pass its checks and refuse every read
            raise InvalidRequestError(
                _FIELD, f"{root} holds no schema file (<dataset>.v<version>.yaml)"
            )
        return cls(load_schema_file(f) for f in files)

    @property
    def fingerprint(self) -> str:
        """sha256 over every schema's fingerprint: the identity of the bundle."""
        return self._fingerprint

    def names(self) -> tuple[str, ...]:
        """Registered dataset kinds, sorted."""
        return tuple(self._by_name)

    def versions(self, name: str) -> tuple[str, ...]:
        """Versions of ``name``, oldest first."""
        return tuple(s.version for s in self._versions(name))

    def get(self, name: str, version: str | int) -> RegisteredSchema:
        """One version; ``"latest"`` means :meth:`latest`. Unknown ones raise
        ``InvalidRequestError`` (field ``schema``)."""
        if str(version) == LATEST:
            return self.latest(name)
        for s in self._versions(name):
            if s.version == str(version):
                return s
        raise InvalidRequestError(
            "schema", f"{name} has no version {version!r} (registered: {list(self.versions(name))})"
        )

    def latest(self, name: str) -> RegisteredSchema:
        """The highest version of ``name``."""
        return self._versions(name)[-1]

    def check(self) -> list[Incompatibility]:
        """Every broken compatibility rule across all datasets (empty when all is well)."""
        return [p for name in self._by_name for p in check_versions(self._by_name[name])]

    def _versions(self, name: str) -> tuple[RegisteredSchema, ...]:
        found = self._by_name.get(name)
        if not found:
            raise InvalidRequestError(
                "schema", f"{name!r} is not a registered dataset kind {list(self._by_name)}"
            )
        return found

    def __iter__(self) -> Iterator[RegisteredSchema]:
        for versions in self._by_name.values():
            yield from versions

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_name.values())

    def __repr__(self) -> str:
        listed = ", ".join(f"{n} v{'/'.join(self.versions(n))}" for n in self._by_name)
        return f"SchemaRegistry({listed}; {self.fingerprint[:12]})"


def _key(path: Path | Traversable) -> tuple[str, int]:
    match = SCHEMA_FILE.fullmatch(path.name)
    assert match is not None
    return match["name"], int(match["version"])


def canonical_fingerprint(content: Any) -> str:
    """sha256 of parsed YAML content as sorted, compact JSON."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def load_schema_file(path: Path | Traversable) -> RegisteredSchema:
    """Read and check one schema file (name, metadata, pandera schema)."""
    match = SCHEMA_FILE.fullmatch(path.name)
    if match is None:
        raise InvalidRequestError(_FIELD, f"{path.name}: not named <dataset>.v<version>.yaml")
    content = read_yaml_mapping(path, _FIELD, label=path.name)
    meta = content.get("metadata")
    if not isinstance(meta, dict):
        raise InvalidRequestError(_FIELD, f"{path.name}: no metadata mapping")
    name, version = match["name"], match["version"]
    problems = [
        f"metadata.{key} is {meta.get(key)!r}, the file name says {want!r}"
        for key, want in (("dataset", name), ("version", version))
        if str(meta.get(key)) != want
    ]
    if content.get("name") != name:
        problems.append(f"name is {content.get('name')!r}, the file name says {name!r}")
    if problems:
        raise InvalidRequestError(_FIELD, f"{path.name}: " + "; ".join(problems))
    fingerprint = canonical_fingerprint(content)
    # pandera takes ~0.5 s to import: only reading a schema file pays for it,
    # never importing the SDK or reading stored bars.
    from pandera.errors import SchemaDefinitionError
    from pandera.io.pandas_io import deserialize_schema

    register_checks()
    try:
        # pandera pops keys out of the mapping it reads: hand it a copy.
        schema = deserialize_schema(copy.deepcopy(content))
    except (AttributeError, TypeError, ValueError, SchemaDefinitionError) as exc:
        raise InvalidRequestError(_FIELD, f"{path.name}: {exc}") from None
    time_column = str(meta.get("time_column", "ts"))
    generated = tuple(str(c) for c in meta.get("generated") or ())
    unknown = [c for c in (time_column, *generated) if c not in schema.columns]
    if unknown:
        raise InvalidRequestError(_FIELD, f"{path.name}: metadata names unknown columns {unknown}")
    return RegisteredSchema(
        name=name,
        version=version,
        schema=schema,
        source=path.name,
        fingerprint=fingerprint,
        time_column=time_column,
        generated=generated,
    )


def schemas_dir() -> Traversable:
    """The directory of the shipped schema files (package data)."""
    return resources.files("seamless_sdk.conformance") / "schemas"


def default_registry() -> SchemaRegistry:
    """The registry in force, read once per process.

    That is ``$SEAMLESS_SCHEMA_DIR`` when it names an existing directory (the
    one ``seamless schemas apply`` writes, seeded with the shipped files), else
    the shipped registry. A deployment changes schemas in its own directory,
    never in the installed package.
    """
    configured = settings.schema_dir()
    if configured is not None and configured.is_dir():
        return _registry_at(str(configured.resolve()))
    return _registry_at(None)


@lru_cache(maxsize=4)
def _registry_at(directory: str | None) -> SchemaRegistry:
    return SchemaRegistry.from_directory(directory if directory is not None else schemas_dir())


def schemas_check(
    directory: str | Path | None = None,
    *,
    baseline: str | Path | None = None,
    as_json: bool = False,
    out: TextIO | None = None,
) -> int:
    """Check a schema directory (default: the shipped one); print a report.

    Returns the exit code: 0 compatible, 1 incompatible, 2 unreadable.
    ``baseline`` is the directory of the last release: its versions must
    still be there, unchanged. The CLI wires this as ``seamless schemas check``.
    """
    out = out or sys.stdout
    try:
        registry = SchemaRegistry.from_directory(directory) if directory else default_registry()
        released = SchemaRegistry.from_directory(baseline) if baseline else None
    except InvalidRequestError as exc:
        _print(out, as_json, {"ok": False, "error": str(exc)}, f"error: {exc}")
        return 2
    problems = registry.check()
    if released is not None:
        problems += check_released(list(released), list(registry))
    data = {
        "ok": not problems,
        "fingerprint": registry.fingerprint,
        "datasets": {
            name: {v: registry.get(name, v).fingerprint for v in registry.versions(name)}
            for name in registry.names()
        },
        "incompatibilities": [str(p) for p in problems],
    }
    lines = [f"schema bundle {registry.fingerprint}"]
    for s in registry:
        extra = f" (optional: {', '.join(s.optional_columns)})" if s.optional_columns else ""
        lines.append(f"  {s.label}: {len(s.columns)} columns{extra}  {s.fingerprint[:12]}")
    lines += [f"INCOMPATIBLE {p}" for p in problems] or ["compatible"]
    _print(out, as_json, data, "\n".join(lines))
    return 1 if problems else 0


def _print(out: TextIO, as_json: bool, data: dict[str, Any], text: str) -> None:
    out.write((json.dumps(data, indent=2) if as_json else text) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m seamless_sdk.conformance check [--dir D] [--baseline D] [--json]``."""
    # No abbreviated options, as in the seamless CLI (cli.context.CliParser):
    # ``--base`` must not quietly mean ``--baseline``.
    parser = argparse.ArgumentParser(
        prog="python -m seamless_sdk.conformance",
        description="Check the conformance schema registry.",
        allow_abbrev=False,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser(
        "check", help="check that every schema version is compatible", allow_abbrev=False
    )
    check.add_argument("--dir", help="schema directory (default: the shipped schemas)")
    check.add_argument("--baseline", help="schema directory of the last release")
    check.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    return schemas_check(args.dir, baseline=args.baseline, as_json=args.json)
