"""Schema plans: a dry run over stored data names the partitions a change breaks, and
apply applies only the planned change, against the planned bundle, with approval."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from seamless_sdk import audit
from seamless_sdk.backfill.dagster import PartitionKey
from seamless_sdk.changes.config import SchemaChangeSettings
from seamless_sdk.changes.plan import apply_plan, approval_token, load_plan, make_plan, write_plan
from seamless_sdk.cli import main as cli
from seamless_sdk.conformance.spec.registry import schemas_dir
from seamless_sdk.errors import ChangeRefusedError, InvalidRequestError
from seamless_sdk.stores.local import LocalStore
from tests.unit.changes.support import fill, keys

SHIPPED = Path(str(schemas_dir()))


def _v3(tmp_path: Path, *, tighten: str = "volume") -> Path:
    """ohlcv_bars v3: v2 with one change (``volume`` > 0, or ``vwap`` removed)."""
    text = (SHIPPED / "ohlcv_bars.v2.yaml").read_text()
    text = text.replace('version: "2"', 'version: "3"').replace("ohlcv_bars v2", "ohlcv_bars v3")
    if tighten == "volume":
        text = text.replace("check_name: greater_than_or_equal_to", "check_name: greater_than")
    else:
        text = text[: text.index("  vwap:")] + text[text.index("checks:\n  - options") :]
    path = tmp_path / "proposed" / "ohlcv_bars.v3.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    """A registry directory of our own (a copy of the shipped one) to apply to."""
    return Path(shutil.copytree(SHIPPED, tmp_path / "registry"))


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Four stored partitions; two of them hold bars of zero volume."""
    path = fill(tmp_path / "bars.sqlite", seed=3)
    s = LocalStore(path)
    for key in (keys()[1], keys()[2]):
        frame = s.read(key.node_id, key.interval, *key.window)
        frame.loc[[5, 17, 300], "volume"] = 0.0
        s.write(key.node_id, key.interval, *key.window, frame)
    s.close()
    return path


def _plan(store: Path, **kwargs: object) -> dict[str, object]:
    s = LocalStore(store, read_only=True)
    try:
        return make_plan(store=s, **kwargs)  # type: ignore[arg-type]
    finally:
        s.close()


def test_a_tightening_names_the_stored_partitions_it_breaks(
    store: Path, registry: Path, tmp_path: Path
) -> None:
    plan = _plan(store, schema_files=[_v3(tmp_path)], registry_dir=registry)
    assert plan["compatibility"] == {"ok": True, "problems": []}
    stored = plan["stored"]
    assert stored["partitions_checked"] == stored["partitions_stored"] == 4
    failing = {f["partition"]: f for f in stored["failing"]}
    assert set(failing) == {str(keys()[1]), str(keys()[2])}
    for f in failing.values():
        assert "greater_than(0) failed for 3 value(s)" in f["errors"][0]
        assert f["fails_now"] is False
    assert stored["newly_failing"] == 2
    assert plan["verdict"] == "breaks_stored_data"
    assert plan["old_fingerprint"] != plan["new_fingerprint"]


def test_a_sample_judges_that_many_partitions(store: Path, registry: Path, tmp_path: Path) -> None:
    plan = _plan(store, schema_files=[_v3(tmp_path)], registry_dir=registry, sample=1, seed=4)
    assert plan["stored"]["partitions_checked"] == 1
    assert plan["stored"]["sampled"] is True
    with pytest.raises(InvalidRequestError) as err:
        _plan(store, schema_files=[_v3(tmp_path)], registry_dir=registry, sample=0)
    assert err.value.field == "sample"


def test_an_incompatible_change_names_the_rule_and_the_field(
    store: Path, registry: Path, tmp_path: Path
) -> None:
    plan = _plan(store, schema_files=[_v3(tmp_path, tighten="drop")], registry_dir=registry)
    assert plan["verdict"] == "incompatible"
    (problem,) = plan["compatibility"]["problems"]
    assert (problem["rule"], problem["field"], problem["dataset"]) == (
        "columns-stay",
        "vwap",
        "ohlcv_bars",
    )
    with pytest.raises(ChangeRefusedError) as refused:
        apply_plan(plan, rule=SchemaChangeSettings(), audit_path=tmp_path / "a.jsonl")
    assert refused.value.reason == "incompatible"
    assert not (registry / "ohlcv_bars.v3.yaml").exists()


def test_apply_writes_the_file_and_the_audit_entry_and_refuses_a_stale_plan(
    store: Path, registry: Path, tmp_path: Path
) -> None:
    plan = _plan(store, schema_files=[_v3(tmp_path)], registry_dir=registry)
    log = tmp_path / "audit.jsonl"
    with pytest.raises(ChangeRefusedError) as refused:
        apply_plan(plan, rule=SchemaChangeSettings(), audit_path=log)
    assert refused.value.reason == "breaks_stored_data"
    stale = _plan(store, schema_files=[_v3(tmp_path)], registry_dir=registry)
    entry = apply_plan(plan, rule=SchemaChangeSettings(), force=True, audit_path=log, actor="ann")
    assert (registry / "ohlcv_bars.v3.yaml").read_text() == _v3(tmp_path).read_text()
    (logged,) = audit.read_entries(log)
    assert logged == entry
    assert (logged.action, logged.actor) == ("schemas.applied", "ann")
    assert (logged.old_fingerprint, logged.new_fingerprint) == (
        plan["old_fingerprint"],
        plan["new_fingerprint"],
    )
    # The bundle moved on: a plan made against the old one is refused, nothing written.
    with pytest.raises(ChangeRefusedError) as refused:
        apply_plan(stale, rule=SchemaChangeSettings(), force=True, audit_path=log)
    assert refused.value.reason == "stale"
    assert len(audit.read_entries(log)) == 1


def test_a_modes_change_is_judged_and_written_to_the_override_file(
    store: Path, registry: Path, tmp_path: Path
) -> None:
    s = LocalStore(store)
    key = keys()[3]
    frame = s.read(key.node_id, key.interval, *key.window)
    frame.loc[10:20, ["open", "high", "low", "close"]] = 101.0  # a stale price run of 11
    s.write(key.node_id, key.interval, *key.window, frame)
    s.close()
    proposed = tmp_path / "modes-proposed.yaml"
    proposed.write_text("defaults:\n  rules:\n    stale_price: {severity: block, min_run: 5}\n")
    target = tmp_path / "modes.yaml"
    plan = _plan(store, modes_file=proposed, modes_target=target, registry_dir=registry)
    assert [f["partition"] for f in plan["stored"]["failing"]] == [str(key)]
    assert "stale_price" in plan["stored"]["failing"][0]["errors"][0]
    apply_plan(plan, rule=SchemaChangeSettings(), force=True, audit_path=tmp_path / "a.jsonl")
    assert target.read_text() == proposed.read_text()


def test_a_modes_change_needs_an_override_file(store: Path, registry: Path, tmp_path: Path) -> None:
    proposed = tmp_path / "m.yaml"
    proposed.write_text("defaults: {mode: canary}\n")
    with pytest.raises(InvalidRequestError) as err:
        _plan(store, modes_file=proposed, registry_dir=registry)
    assert err.value.field == "modes_target"


def test_approval_by_a_second_person(store: Path, registry: Path, tmp_path: Path) -> None:
    plan = _plan(store, modes_file=_modes(tmp_path), modes_target=tmp_path / "t.yaml",
                 registry_dir=registry)  # fmt: skip
    rule = SchemaChangeSettings(approval="person")
    log = tmp_path / "audit.jsonl"
    for approver in (None, " ", "ann"):
        with pytest.raises(ChangeRefusedError) as refused:
            apply_plan(plan, rule=rule, approved_by=approver, actor="ann", audit_path=log)
        assert refused.value.reason == "approval"
    entry = apply_plan(plan, rule=rule, approved_by="bob", actor="ann", audit_path=log)
    assert entry.detail["approved_by"] == "bob"


def test_approval_by_a_signed_token(
    store: Path, registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _plan(store, modes_file=_modes(tmp_path), modes_target=tmp_path / "t.yaml",
                 registry_dir=registry)  # fmt: skip
    rule = SchemaChangeSettings(approval="token")
    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("SEAMLESS_APPROVAL_SECRET", "s3cret")
    for token in ("", "0" * 64, approval_token(plan, "other secret")):
        monkeypatch.setenv("SEAMLESS_APPROVAL_TOKEN", token)
        with pytest.raises(ChangeRefusedError) as refused:
            apply_plan(plan, rule=rule, audit_path=log)
        assert refused.value.reason == "approval"
    monkeypatch.setenv("SEAMLESS_APPROVAL_TOKEN", approval_token(plan, "s3cret"))
    assert apply_plan(plan, rule=rule, audit_path=log).detail["approval"] == "token"


def _modes(tmp_path: Path) -> Path:
    path = tmp_path / "proposed-modes.yaml"
    path.write_text('nodes:\n  "demo:*": {schema_version: "1"}\n')
    return path


def test_a_modified_plan_file_is_refused(store: Path, registry: Path, tmp_path: Path) -> None:
    plan = _plan(store, schema_files=[_v3(tmp_path)], registry_dir=registry)
    path = write_plan(plan, tmp_path / "plan.json")
    assert load_plan(path) == plan
    data = json.loads(path.read_text())
    data["verdict"] = "safe"
    path.write_text(json.dumps(data))
    with pytest.raises(InvalidRequestError, match="modified"):
        load_plan(path)


def test_the_cli_plans_and_applies(
    store: Path, registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEAMLESS_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    out = tmp_path / "plan.json"
    args = ["schemas", "plan", "--store", str(store), "--schema", str(_v3(tmp_path))]
    assert cli([*args, "--registry-dir", str(registry), "--out", str(out)]) == 1
    assert load_plan(out)["stored"]["newly_failing"] == 2
    assert cli(["schemas", "apply", str(out)]) == 1  # breaks stored data
    assert cli(["schemas", "apply", str(out), "--force"]) == 0
    assert cli(["schemas", "apply", str(out), "--force"]) == 1  # stale now
    assert len(audit.read_entries(tmp_path / "audit.jsonl")) == 1


def test_keys_are_the_partition_grid() -> None:
    key = keys()[0]
    assert isinstance(key, PartitionKey) and str(key) == "demo:A|2024"


def test_a_whole_proposed_registry(store: Path, registry: Path, tmp_path: Path) -> None:
    proposed = Path(shutil.copytree(registry, tmp_path / "proposed-registry"))
    shutil.copy(_v3(tmp_path), proposed / "ohlcv_bars.v3.yaml")
    plan = _plan(store, proposed_registry=proposed, registry_dir=registry)
    assert [Path(c["path"]).name for c in plan["changes"]] == ["ohlcv_bars.v3.yaml"]
    assert plan["verdict"] == "breaks_stored_data"
    assert (
        plan["new_fingerprint"]
        == _plan(store, schema_files=[_v3(tmp_path)], registry_dir=registry)["new_fingerprint"]
    )
    (proposed / "ohlcv_bars.v2.yaml").unlink()  # a released version may never go
    plan = _plan(store, proposed_registry=proposed, registry_dir=registry)
    assert plan["verdict"] == "incompatible"
    rules = {(p["rule"], p["dataset"], p["old"]) for p in plan["compatibility"]["problems"]}
    assert ("released-unchanged", "ohlcv_bars", "2") in rules


def test_the_cli_asks_for_the_configured_approval(
    store: Path,
    registry: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SEAMLESS_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("SEAMLESS_ACTOR", "ann")
    changes = tmp_path / "changes.yaml"
    changes.write_text("schemas: {approval: token}\n")
    monkeypatch.setenv("SEAMLESS_CHANGES_CONFIG", str(changes))
    out = tmp_path / "plan.json"
    plan = ["schemas", "plan", "--store", str(store), "--modes", str(_modes(tmp_path))]
    plan += ["--modes-target", str(tmp_path / "t.yaml"), "--registry-dir", str(registry)]
    assert cli([*plan, "--out", str(out)]) == 0
    capsys.readouterr()
    assert cli(["schemas", "approve", str(out)]) == 1  # no secret here
    assert "SEAMLESS_APPROVAL_SECRET" in capsys.readouterr().out
    monkeypatch.setenv("SEAMLESS_APPROVAL_SECRET", "s3cret")
    assert cli(["schemas", "apply", str(out)]) == 1
    assert "SEAMLESS_APPROVAL_TOKEN" in capsys.readouterr().out
    assert cli(["schemas", "approve", str(out)]) == 0
    token = capsys.readouterr().out.strip()
    monkeypatch.setenv("SEAMLESS_APPROVAL_TOKEN", token)
    assert cli(["schemas", "apply", str(out)]) == 0
    (entry,) = audit.read_entries(tmp_path / "audit.jsonl")
    assert (entry.actor, entry.detail["approval"]) == ("ann", "token")


def test_a_failed_write_is_a_typed_error_and_undoes_the_files_before_it(
    store: Path, registry: Path, tmp_path: Path
) -> None:
    """A plan of a schema file and a modes file whose target cannot be created (its
    parent is a file): the schema file written first is taken back."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    plan = _plan(store, schema_files=[_v3(tmp_path)], modes_file=_modes(tmp_path),
                 modes_target=blocker / "modes.yaml", registry_dir=registry)  # fmt: skip
    assert [c["kind"] for c in plan["changes"]] == ["schema", "modes"]
    with pytest.raises(InvalidRequestError) as err:
        apply_plan(plan, rule=SchemaChangeSettings(), force=True, audit_path=tmp_path / "a")
    assert err.value.field == "path"
    assert not (registry / "ohlcv_bars.v3.yaml").exists()
    assert not (tmp_path / "a").exists()  # nothing applied, nothing audited


def test_the_registry_in_force_is_the_deployments_own_directory(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seamless_sdk.conformance.spec.registry import default_registry

    own = tmp_path / "deploy" / "schemas"
    monkeypatch.setenv("SEAMLESS_SCHEMA_DIR", str(own))
    shipped = default_registry()
    assert "3" not in shipped.versions("ohlcv_bars")  # not there yet: the shipped one is in force
    plan = _plan(store, schema_files=[_v3(tmp_path)])
    assert {Path(c["path"]).parent for c in plan["changes"]} == {own.resolve()}
    apply_plan(plan, rule=SchemaChangeSettings(), force=True, audit_path=tmp_path / "a.jsonl")
    # The first apply seeded the directory with the shipped files, plus the change.
    schemas = {f.name for f in SHIPPED.glob("*.v*.yaml")}
    assert schemas | {"ohlcv_bars.v3.yaml"} == {f.name for f in own.iterdir()}
    in_force = default_registry()
    assert "3" in in_force.versions("ohlcv_bars")
    assert in_force.get("ohlcv_bars", 1).fingerprint == shipped.get("ohlcv_bars", 1).fingerprint
    assert not (SHIPPED / "ohlcv_bars.v3.yaml").exists()


def test_apply_never_writes_into_the_installed_package(store: Path, tmp_path: Path) -> None:
    plan = _plan(store, schema_files=[_v3(tmp_path)])  # no SEAMLESS_SCHEMA_DIR: the shipped one
    with pytest.raises(InvalidRequestError, match="SEAMLESS_SCHEMA_DIR") as err:
        apply_plan(plan, rule=SchemaChangeSettings(), force=True, audit_path=tmp_path / "a.jsonl")
    assert err.value.field == "registry_dir"
    assert not (SHIPPED / "ohlcv_bars.v3.yaml").exists()


BINARY = b"\xff\xfe\x00\x81not text"


@pytest.mark.parametrize("action", ["apply", "approve"])
def test_a_binary_plan_file_is_an_error_naming_it(
    action: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It was a UnicodeDecodeError with a traceback.
    path = tmp_path / "plan.json"
    path.write_bytes(BINARY)
    assert cli(["schemas", action, str(path)]) == 1
    out = capsys.readouterr().out
    assert out.strip() == f"error: plan: {path} is not UTF-8 text (invalid start byte)"


def test_a_binary_modes_file_is_an_error_before_the_plan_is_written(
    store: Path, registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    modes = tmp_path / "m.yaml"
    modes.write_bytes(BINARY)
    out = tmp_path / "plan.json"
    argv = ["schemas", "plan", "--store", str(store), "--modes", str(modes), "--registry-dir"]
    argv += [str(registry), "--modes-target", str(tmp_path / "t.yaml"), "--out", str(out)]
    assert cli(argv) == 1
    assert capsys.readouterr().out.startswith(f"error: modes: {modes} is not UTF-8 text")
    assert not out.exists()


def test_a_binary_canary_report_is_an_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.json"
    report.write_bytes(BINARY)
    assert cli(["canary", "promote", str(report)]) == 1
    assert capsys.readouterr().out.startswith(f"error: report: {report} is not UTF-8 text")
