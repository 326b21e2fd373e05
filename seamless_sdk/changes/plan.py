"""Schema and modes changes: plan (a dry run over stored data), then apply (seed 003 §10).

A *bundle* is what decides how bars are conformed: the schema registry (a
directory of ``<dataset>.v<N>.yaml``) and the conformance modes (the shipped
``modes.yaml`` with the override file ``$SEAMLESS_CONFORMANCE_CONFIG`` laid
over it). Its fingerprint is sha256 over the registry's fingerprint and the
merged modes' canonical fingerprint.

:func:`make_plan` builds the proposed bundle (new or replaced schema files,
a new override file) beside the current one, without touching it, and says:

* the compatibility verdict: every rule of ``conformance/spec/compat.py``
  the proposed registry breaks (which rule, which dataset, which column),
  including a released version's file being changed;
* which stored partitions would now fail: the stored bars of every covered
  partition (or a sample) validated against the schema version the proposed
  modes select for their node, and, when the modes change, conformed under
  them (a statistical rule switched to ``block``);
* both bundle fingerprints.

:func:`apply_plan` applies exactly the planned files, only if the bundle in
force is still the one the plan was made against (else ``ChangeRefusedError``
``stale``), with the approval the changes config asks for, and writes an
audit entry (:mod:`seamless_sdk.audit`).

Where applied files go: schema files into the registry directory
(``$SEAMLESS_SCHEMA_DIR``, which ``default_registry()`` reads; the first
apply seeds it with the shipped files; apply never writes into the installed
package's own ``seamless_sdk/conformance/schemas/``), the modes override to the file
``$SEAMLESS_CONFORMANCE_CONFIG`` names (re-read by running processes when it
changes). A registry change reaches a running process at its next start
(the registry is read once per process).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from seamless_sdk import audit, settings
from seamless_sdk.backfill.dagster.names import partition_windows_touching
from seamless_sdk.backfill.dagster.partition_key import PartitionKey
from seamless_sdk.bars import BAR_COLUMNS
from seamless_sdk.changes.config import SchemaChangeSettings
from seamless_sdk.checks import read_text_file
from seamless_sdk.conformance.spec import modes as modes_mod
from seamless_sdk.conformance.spec.compat import Incompatibility, check_released
from seamless_sdk.conformance.spec.registry import (
    SCHEMA_FILE,
    SchemaRegistry,
    canonical_fingerprint,
    load_schema_file,
    schemas_dir,
)
from seamless_sdk.errors import ChangeRefusedError, InvalidRequestError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.stores.base import BarStore

PLAN_KIND = "seamless.schema_plan"
PLAN_VERSION = 1
DATASET = "ohlcv_bars"
"""The dataset kind the store holds (the only one stored data can be judged by)."""
MAX_LISTED = 20

# Which rule of compat.py each problem breaks, by how its text starts.
_RULES = (
    ("removed", "columns-stay"),
    ("moved", "columns-in-place"),
    ("added before", "new-columns-at-end"),
    ("dtype changed", "dtype-unchanged"),
    ("changed from required", "required-unchanged"),
    ("changed from optional", "required-unchanged"),
    ("nullable changed", "required-column-unchanged"),
    ("unique changed", "required-column-unchanged"),
    ("became", "optional-not-stricter"),
    ("added as required", "new-columns-optional"),
    ("time column", "time-column-kept"),
    ("versions must be", "versions-numbered"),
    ("released version", "released-unchanged"),
)


def rule_of(problem: Incompatibility) -> str:
    """The short name of the compatibility rule ``problem`` breaks."""
    return next((r for prefix, r in _RULES if problem.problem.startswith(prefix)), "compat")


@dataclass(frozen=True)
class Bundle:
    """A registry and the merged modes in force with it."""

    registry: SchemaRegistry
    modes: modes_mod.ConformanceConfig

    @property
    def fingerprint(self) -> str:
        """sha256 over the registry's and the modes' fingerprints."""
        modes_fp = canonical_fingerprint(dict(self.modes.data))
        text = f"registry:{self.registry.fingerprint}\nmodes:{modes_fp}\n"
        return hashlib.sha256(text.encode()).hexdigest()


def shipped_registry_dir() -> Path:
    """The installed package's registry directory (package data, never written)."""
    return Path(str(schemas_dir())).resolve()


def default_registry_dir() -> Path:
    """The registry directory ``default_registry()`` reads: ``$SEAMLESS_SCHEMA_DIR``, or
    the shipped one when that is unset."""
    return settings.schema_dir() or shipped_registry_dir()


def _registry_source(registry_dir: Path) -> Path:
    # A configured directory that does not exist yet stands for the shipped
    # registry: that is what is in force until the first apply seeds it.
    return registry_dir if registry_dir.is_dir() else shipped_registry_dir()


def current_bundle(registry_dir: Path, modes_file: Path | None) -> Bundle:
    """The bundle in force: the registry in ``registry_dir``, the modes with ``modes_file``."""
    existing = modes_file if modes_file is not None and modes_file.exists() else None
    registry = SchemaRegistry.from_directory(_registry_source(registry_dir))
    return Bundle(registry, modes_mod.load_config(existing))


@contextmanager
def _proposed_registry(registry_dir: Path, schema_files: Sequence[Path]) -> Iterator[Path]:
    """A temporary copy of ``registry_dir`` with ``schema_files`` added or replaced."""
    with tempfile.TemporaryDirectory(prefix="seamless-plan-") as tmp:
        root = Path(tmp)
        for f in _registry_source(registry_dir).iterdir():
            if f.is_file():
                shutil.copy2(f, root / f.name)
        for f in schema_files:
            shutil.copy2(f, root / f.name)
        yield root


def _same_file(a: Path, b: Path) -> bool:
    return b.is_file() and a.read_bytes() == b.read_bytes()


def make_plan(
    *,
    store: BarStore,
    schema_files: Sequence[Path] = (),
    proposed_registry: Path | None = None,
    modes_file: Path | None = None,
    registry_dir: Path | None = None,
    modes_target: Path | None = None,
    sample: int | None = None,
    seed: int = 0,
    store_name: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The plan of one change (see the module docstring), as the JSON the plan file holds.

    ``schema_files`` are proposed ``<dataset>.v<N>.yaml`` files, or
    ``proposed_registry`` a whole proposed registry directory (its new and
    changed files are the change; a file it lacks is a removal, which the
    compatibility rules refuse); ``modes_file``
    a proposed override file (its whole new content); ``modes_target`` is the
    override file it replaces (default ``$SEAMLESS_CONFORMANCE_CONFIG``).
    ``sample`` judges that many stored partitions (chosen with ``seed``)
    instead of all of them.
    """
    if not schema_files and proposed_registry is None and modes_file is None:
        raise InvalidRequestError(
            "change", "propose a schema file (--schema), a registry (--registry) or modes (--modes)"
        )
    if sample is not None and (isinstance(sample, bool) or sample < 1):
        raise InvalidRequestError("sample", f"{sample!r} is not a number of partitions >= 1")
    reg_dir = (registry_dir or default_registry_dir()).resolve()
    target = modes_target or _configured_modes_file()
    if modes_file is not None and target is None:
        raise InvalidRequestError(
            "modes_target",
            f"a modes change needs the override file it replaces: set "
            f"{settings.CONFORMANCE_CONFIG_ENV} or pass --modes-target",
        )
    if proposed_registry is not None:
        if schema_files:
            raise InvalidRequestError("registry", "give --registry or --schema, not both")
        if not proposed_registry.is_dir():
            raise InvalidRequestError("registry", f"{proposed_registry} is not a directory")
        schema_files = [
            f
            for f in sorted(proposed_registry.iterdir())
            if SCHEMA_FILE.fullmatch(f.name)
            and not _same_file(f, _registry_source(reg_dir) / f.name)
        ]
    for f in schema_files:
        if not SCHEMA_FILE.fullmatch(f.name):
            raise InvalidRequestError("schema", f"{f.name} is not named <dataset>.v<N>.yaml")
        load_schema_file(f)  # a bad proposed file fails here, naming itself
    old = current_bundle(reg_dir, target)
    changes: list[dict[str, Any]] = []
    for f in schema_files:
        dest = reg_dir / f.name
        changes.append(
            {
                "kind": "schema",
                "path": str(dest),
                "content": read_text_file(f, "schema"),
                "replaces": (_registry_source(reg_dir) / f.name).exists(),
            }
        )
    proposed_modes = old.modes
    if modes_file is not None:
        assert target is not None
        text = read_text_file(modes_file, "modes")
        changes.append(
            {"kind": "modes", "path": str(target), "content": text, "replaces": target.exists()}
        )
        proposed_modes = modes_mod.load_config(modes_file)
    if proposed_registry is not None:
        new_registry = SchemaRegistry.from_directory(proposed_registry)
    else:
        with _proposed_registry(reg_dir, schema_files) as tmp:
            new_registry = SchemaRegistry.from_directory(tmp)
    new = Bundle(new_registry, proposed_modes)
    problems = new_registry.check() + check_released(list(old.registry), list(new_registry))
    stored = judge_stored(
        store, old, new, modes_changed=modes_file is not None, sample=sample, seed=seed,
        progress=progress,
    )  # fmt: skip
    if problems:
        verdict = "incompatible"
    elif stored["newly_failing"]:
        verdict = "breaks_stored_data"
    else:
        verdict = "safe"
    plan: dict[str, Any] = {
        "kind": PLAN_KIND,
        "version": PLAN_VERSION,
        "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "created_by": audit.default_actor(),
        "registry_dir": str(reg_dir),
        "modes_target": str(target) if target is not None else None,
        "store": store_name,
        "old_fingerprint": old.fingerprint,
        "new_fingerprint": new.fingerprint,
        "changes": changes,
        "compatibility": {
            "ok": not problems,
            "problems": [
                {
                    "rule": rule_of(p),
                    "dataset": p.dataset,
                    "old": p.old,
                    "new": p.new,
                    "field": p.column,
                    "problem": p.problem,
                    "text": str(p),
                }
                for p in problems
            ],
        },
        "stored": stored,
        "verdict": verdict,
    }
    plan["plan_fingerprint"] = _plan_fingerprint(plan)
    return plan


def _configured_modes_file() -> Path | None:
    value = settings.conformance_config_file()
    return Path(value).expanduser() if value else None


def _plan_fingerprint(plan: dict[str, Any]) -> str:
    body = {k: v for k, v in plan.items() if k != "plan_fingerprint"}
    return canonical_fingerprint(body)


def judge_stored(
    store: BarStore,
    old: Bundle,
    new: Bundle,
    *,
    modes_changed: bool,
    sample: int | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run the current and the proposed bundle over the stored partitions.

    A partition *fails* a bundle when its stored bars break the schema version
    the bundle's modes select for the node, or (``modes_changed``) when
    conforming them under the bundle's modes is not ok. ``newly_failing``
    lists those that pass now and would fail under the proposal.
    """
    keys: list[PartitionKey] = []
    for node, interval in store.series():
        iv = parse_interval(interval)
        coverage = store.coverage(node, iv)
        for ws, _ in partition_windows_touching(iv, coverage):
            keys.append(PartitionKey(node, iv, ws))
    total = len(keys)
    if sample is not None and sample < total:
        keys = sorted(random.Random(seed).sample(keys, sample), key=lambda k: (str(k), k.interval))
    failing: list[dict[str, Any]] = []
    newly = 0
    for i, key in enumerate(keys, 1):
        ws, we = key.window
        frame = store.read(key.node_id, key.interval, ws, we)
        before = _failures(frame, key, old, modes_changed)
        after = _failures(frame, key, new, modes_changed)
        if after:
            entry = {
                "partition": str(key),
                "interval": key.interval.name,
                "rows": len(frame),
                "errors": after[:MAX_LISTED],
                "fails_now": bool(before),
            }
            failing.append(entry)
            newly += not before
        if progress is not None:
            progress(i, len(keys))
    return {
        "partitions_stored": total,
        "partitions_checked": len(keys),
        "sampled": sample is not None and sample < total,
        "seed": seed,
        "failing": failing,
        "newly_failing": newly,
    }


def _failures(frame: Any, key: PartitionKey, bundle: Bundle, modes_changed: bool) -> list[str]:
    # pandera is needed only here (about half a second to import).
    from pandera.errors import SchemaErrors

    from seamless_sdk.conformance import conform_bars
    from seamless_sdk.conformance.engine.validate import failures_from

    policy = bundle.modes.policy_for(DATASET, key.node_id)
    registered = bundle.registry.get(DATASET, policy.schema_version)
    errors: list[str] = []
    try:
        registered.schema.validate(frame, lazy=True)
    except SchemaErrors as exc:
        errors += [f"{registered.label}: {e}" for e in failures_from(exc)[0]]
    if modes_changed and len(frame):
        ws, we = key.window
        # The schema stage of the shipped registry's stored version: the schema
        # itself was judged above; this run judges the proposed rules and mode.
        result = conform_bars(
            frame[list(BAR_COLUMNS)], key.interval, ws, we, node_id=key.node_id,
            config=bundle.modes, schema_version="1",
        )  # fmt: skip
        if not result.report.ok:
            broken = {k: v for k, v in result.report.rule_violations.items() if v}
            errors.append(f"modes: {result.report.summary} {broken}")
    return errors


def load_plan(path: str | Path) -> dict[str, Any]:
    """A plan file, checked to be one and unmodified (``InvalidRequestError``, field ``plan``)."""
    p = Path(path)
    try:
        plan = json.loads(read_text_file(p, "plan"))
    except json.JSONDecodeError as exc:
        raise InvalidRequestError("plan", f"{p} is not JSON: {exc.msg}") from None
    if not isinstance(plan, dict) or plan.get("kind") != PLAN_KIND:
        raise InvalidRequestError("plan", f"{p} is not a schema plan")
    if plan.get("version") != PLAN_VERSION:
        raise InvalidRequestError("plan", f"{p} is plan version {plan.get('version')!r}")
    if plan.get("plan_fingerprint") != _plan_fingerprint(plan):
        raise InvalidRequestError("plan", f"{p} was modified after it was made")
    return plan


def write_plan(plan: dict[str, Any], path: Path) -> Path:
    """Write the plan file atomically."""
    _write_atomic(path, json.dumps(plan, indent=2, sort_keys=True) + "\n")
    return path


def approval_token(plan: dict[str, Any], secret: str) -> str:
    """The token that approves ``plan``: HMAC-SHA256 of its two fingerprints."""
    message = f"{plan['old_fingerprint']}\n{plan['new_fingerprint']}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def check_approval(
    plan: dict[str, Any], rule: SchemaChangeSettings, *, actor: str, approved_by: str | None
) -> dict[str, Any]:
    """Raise ``ChangeRefusedError`` (``approval``) unless ``plan`` has the approval
    ``rule`` asks for; returns what the audit entry records about it."""
    if rule.approval == "none":
        return {"approval": "none"}
    if rule.approval == "person":
        if not approved_by or not approved_by.strip():
            raise ChangeRefusedError(
                "approval", "schemas.approval is 'person': name the approver with --approved-by"
            )
        if approved_by.strip() == actor:
            raise ChangeRefusedError(
                "approval", f"--approved-by {approved_by!r} is the actor: a second person approves"
            )
        return {"approval": "person", "approved_by": approved_by.strip()}
    secret, token = settings.approval_secret(), settings.approval_token()
    if not secret:
        raise ChangeRefusedError(
            "approval", f"schemas.approval is 'token' but {settings.APPROVAL_SECRET_ENV} is unset"
        )
    if not token or not hmac.compare_digest(token, approval_token(plan, secret)):
        raise ChangeRefusedError(
            "approval",
            f"{settings.APPROVAL_TOKEN_ENV} does not approve this plan "
            "(seamless schemas approve PLAN prints its token)",
        )
    return {"approval": "token"}


def apply_plan(
    plan: dict[str, Any],
    *,
    rule: SchemaChangeSettings,
    approved_by: str | None = None,
    force: bool = False,
    actor: str | None = None,
    audit_path: Path | None = None,
    plan_path: str = "",
) -> audit.AuditEntry:
    """Apply exactly the planned change; the audit entry it wrote."""
    who = actor or audit.default_actor()
    reg_dir = Path(plan["registry_dir"])
    target = Path(plan["modes_target"]) if plan.get("modes_target") else None
    now = current_bundle(reg_dir, target).fingerprint
    if now != plan["old_fingerprint"]:
        raise ChangeRefusedError(
            "stale",
            f"the plan was made against bundle {plan['old_fingerprint'][:12]}, but "
            f"{now[:12]} is in force now: make a new plan",
        )
    if plan["verdict"] == "incompatible":
        first = plan["compatibility"]["problems"][0]["text"]
        raise ChangeRefusedError("incompatible", f"the plan breaks compatibility: {first}")
    if plan["verdict"] == "breaks_stored_data" and not force:
        raise ChangeRefusedError(
            "breaks_stored_data",
            f"{plan['stored']['newly_failing']} stored partition(s) would fail the new bundle: "
            "reprocess them first, or apply with --force",
        )
    approval = check_approval(plan, rule, actor=who, approved_by=approved_by)
    if plan["changes"] and any(
        Path(c["path"]).resolve().parent == shipped_registry_dir() for c in plan["changes"]
    ):
        raise InvalidRequestError(
            "registry_dir",
            f"the plan writes into the installed package's registry {shipped_registry_dir()}: "
            f"set {settings.SCHEMA_DIR_ENV} (or --registry-dir) to the deployment's own "
            "directory and make the plan again",
        )
    _seed_registry(reg_dir)
    previous: list[tuple[Path, str | None]] = []
    try:
        for change in plan["changes"]:
            dest = Path(change["path"])
            previous.append((dest, dest.read_text(encoding="utf-8") if dest.exists() else None))
            _write_atomic(dest, change["content"])
    except OSError as exc:
        _restore(previous[:-1])  # the last one failed before its rename: unchanged
        raise InvalidRequestError(
            "path", f"cannot write {exc.filename}: {exc.strerror}; nothing was applied"
        ) from None
    after = current_bundle(reg_dir, target).fingerprint
    if after != plan["new_fingerprint"]:
        _restore(previous)
        raise ChangeRefusedError(
            "mismatch",
            f"the applied bundle is {after[:12]}, the plan said {plan['new_fingerprint'][:12]}",
        )
    return audit.record(
        "schemas.applied",
        ", ".join(Path(c["path"]).name for c in plan["changes"]),
        old_fingerprint=plan["old_fingerprint"],
        new_fingerprint=plan["new_fingerprint"],
        detail={
            **approval,
            "plan": plan_path,
            "plan_fingerprint": plan["plan_fingerprint"],
            "verdict": plan["verdict"],
            "forced": bool(force and plan["verdict"] != "safe"),
            "files": [c["path"] for c in plan["changes"]],
            "newly_failing": plan["stored"]["newly_failing"],
        },
        actor=who,
        path=audit_path,
    )


def _seed_registry(registry_dir: Path) -> None:
    """Create ``registry_dir`` as a copy of the shipped registry, if it does not exist.

    The copy is made beside it and renamed into place, so a kill leaves either
    no directory (the shipped registry stays in force) or a whole one.
    """
    if registry_dir.exists():
        return
    try:
        registry_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{registry_dir.name}-", dir=registry_dir.parent))
        for f in shipped_registry_dir().iterdir():
            if SCHEMA_FILE.fullmatch(f.name):
                shutil.copy2(f, tmp / f.name)
        os.replace(tmp, registry_dir)
    except OSError as exc:
        raise InvalidRequestError(
            "registry_dir", f"cannot create {registry_dir}: {exc.strerror}; nothing was applied"
        ) from None


def _restore(previous: Sequence[tuple[Path, str | None]]) -> None:
    """Put files back as they were (``None``: the file did not exist)."""
    for dest, text in reversed(previous):
        if text is None:
            dest.unlink(missing_ok=True)
        else:
            _write_atomic(dest, text)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
