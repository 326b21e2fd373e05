"""The schema contract: which changes between two versions of a dataset kind are allowed.

Seed 003 §4: "additional columns are appended at the end, required columns
never change". Spelled out, version ``n + 1`` of a dataset kind is
compatible with version ``n`` when:

1. every column of ``n`` is still there, with the same name, at the same
   position (new columns are appended only at the end);
2. no column of ``n`` changes its dtype or whether it is required; a
   required column changes nothing at all (nullable, unique), and an
   optional one may not get stricter (nullable → not nullable, unique);
3. every column new in ``n + 1`` is optional (``required: false``), so a
   frame of version ``n`` is still a valid frame of version ``n + 1``;
4. the dataset keeps its time column;
5. versions are numbered ``1, 2, ...`` without holes, so every step is checked.

The rules chain: if every step is compatible, every later version accepts
every earlier version's frames.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from seamless_sdk.conformance.spec.registry import ColumnSpec, RegisteredSchema


@dataclass(frozen=True, slots=True)
class Incompatibility:
    """One broken rule between ``old`` and ``new`` versions of ``dataset``."""

    dataset: str
    old: str
    new: str
    column: str | None
    problem: str

    def __str__(self) -> str:
        where = f" column {self.column!r}:" if self.column else ""
        return f"{self.dataset} v{self.old} -> v{self.new}:{where} {self.problem}"


def compare(old: RegisteredSchema, new: RegisteredSchema) -> list[Incompatibility]:
    """Everything that makes ``new`` incompatible with ``old`` (empty when compatible)."""
    problems: list[Incompatibility] = []

    def add(column: str | None, problem: str) -> None:
        problems.append(Incompatibility(old.name, old.version, new.version, column, problem))

    if old.time_column != new.time_column:
        add(None, f"time column changed from {old.time_column!r} to {new.time_column!r}")
    new_columns = {c.name: (i, c) for i, c in enumerate(new.columns)}
    for position, before in enumerate(old.columns):
        found = new_columns.get(before.name)
        if found is None:
            add(before.name, "removed (a released column can never go)")
            continue
        where, after = found
        if where != position:
            add(before.name, f"moved from position {position} to {where}")
        problems.extend(
            Incompatibility(old.name, old.version, new.version, before.name, p)
            for p in _column_changes(before, after)
        )
    known = {c.name for c in old.columns}
    for after in new.columns[len(old.columns) :]:
        if after.name not in known and after.required:
            add(after.name, "added as required: new columns must be optional")
    inserted = [c.name for c in new.columns[: len(old.columns)] if c.name not in known]
    for name in inserted:
        add(name, "added before existing columns: new columns go at the end")
    return problems


def _column_changes(before: ColumnSpec, after: ColumnSpec) -> list[str]:
    changes: list[str] = []
    if before.dtype != after.dtype:
        changes.append(f"dtype changed from {before.dtype} to {after.dtype}")
    if before.required != after.required:
        was, now = _req(before.required), _req(after.required)
        changes.append(f"changed from {was} to {now}")
    if before.required:
        if before.nullable != after.nullable:
            changes.append(f"nullable changed from {before.nullable} to {after.nullable}")
        if before.unique != after.unique:
            changes.append(f"unique changed from {before.unique} to {after.unique}")
    else:
        if before.nullable and not after.nullable:
            changes.append("became non-nullable")
        if after.unique and not before.unique:
            changes.append("became unique")
    return changes


def _req(required: bool) -> str:
    return "required" if required else "optional"


def check_versions(versions: Sequence[RegisteredSchema]) -> list[Incompatibility]:
    """Check every step of one dataset's versions (sorted ascending, as the registry keeps them)."""
    problems: list[Incompatibility] = []
    if not versions:
        return problems
    name = versions[0].name
    numbers = [int(s.version) for s in versions]
    expected = list(range(1, len(numbers) + 1))
    if numbers != expected:
        missing = sorted(set(range(1, max(numbers) + 1)) - set(numbers))
        problems.append(
            Incompatibility(
                name,
                str(min(numbers)),
                str(max(numbers)),
                None,
                f"versions must be numbered 1..n without holes; missing {missing}",
            )
        )
    for old, new in itertools.pairwise(versions):
        problems.extend(compare(old, new))
    return problems


def check_released(
    released: Sequence[RegisteredSchema], proposed: Sequence[RegisteredSchema]
) -> list[Incompatibility]:
    """A released version's file may not change: same (name, version), same fingerprint.

    ``released`` is the registry of the last release (a baseline directory),
    ``proposed`` the one about to ship; versions that vanished are reported too.
    """
    now = {(s.name, s.version): s for s in proposed}
    problems: list[Incompatibility] = []
    for before in released:
        after = now.get((before.name, before.version))
        if after is None:
            problem = "released version removed"
        elif after.fingerprint != before.fingerprint:
            problem = "released version changed (add a new version instead)"
        else:
            continue
        problems.append(Incompatibility(before.name, before.version, before.version, None, problem))
    return problems
