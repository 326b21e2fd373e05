"""``seamless audit list|record|presets``: what the CLI records and shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seamless_sdk import audit
from seamless_sdk.cli import BUILTIN_COMMANDS, main


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with a seamless.yaml, the audit log in it, a fixed actor."""
    monkeypatch.chdir(tmp_path)
    for name in ("SEAMLESS_CONFIG", "SEAMLESS_STORE", "SEAMLESS_CONFORMANCE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SEAMLESS_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("SEAMLESS_ACTOR", "carol")
    return tmp_path


def _config(work: Path, total_ms: int) -> None:
    (work / "seamless.yaml").write_text(
        "seamless:\n"
        "  sla: seamless\n"
        f"  sla_presets: {{seamless: {{sla: {{total_deadline_ms: {total_ms}}}}}}}\n"
    )


def test_record_is_idempotent_and_list_shows_the_change(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "audit" in BUILTIN_COMMANDS
    _config(work, 4000)
    assert main(["audit", "record"]) == 0
    assert "recorded sla_preset.changed seamless" in capsys.readouterr().out
    assert main(["audit", "record"]) == 0
    assert "nothing changed" in capsys.readouterr().out
    _config(work, 3000)  # an operator edits the preset
    assert main(["audit", "record"]) == 0
    out = capsys.readouterr().out
    assert "sla_preset.changed seamless" in out and "fail_fast" not in out

    entries = [e for e in audit.read_entries() if e.what == "seamless"]
    assert len(entries) == 2
    assert entries[1].old_fingerprint == entries[0].new_fingerprint
    assert entries[1].actor == "carol"
    assert entries[1].detail["preset"]["sla"]["total_deadline_ms"] == 3000  # type: ignore[index]

    assert main(["audit", "list", "--action", "sla_preset.changed", "--last", "1"]) == 0
    out = capsys.readouterr().out
    assert "carol" in out and "seamless" in out and "1 entry" in out
    assert entries[1].new_fingerprint is not None
    assert entries[1].new_fingerprint[:12] in out

    assert main(["audit", "list", "--json", "--last", "1"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["what"] == "seamless" and line["actor"] == "carol"


def test_presets_prints_the_presets_in_force(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _config(work, 2500)
    assert main(["audit", "presets"]) == 0
    out = capsys.readouterr().out
    assert "seamless (in force)" in out and "total 2500" in out
    assert "fail_fast" in out and "FAIL_FAST" in out


def test_list_names_another_log_and_reports_a_damaged_one(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = work / "other.jsonl"
    assert main(["audit", "list", "--log", str(other)]) == 0
    assert "0 entries" in capsys.readouterr().out
    other.write_text("not json\n")
    assert main(["audit", "list", "--log", str(other)]) == 1
    assert "other.jsonl:1" in capsys.readouterr().out


@pytest.mark.parametrize("last", ["-5", "0", "two"])
def test_list_last_must_be_a_positive_number(
    work: Path, last: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # -5 was taken: entries[5:] printed all but the first five.
    with pytest.raises(SystemExit) as info:
        main(["audit", "list", "--last", last])
    assert info.value.code == 2
    assert "error: argument --last: " in capsys.readouterr().err


@pytest.mark.parametrize("content", [None, b"\xff\xfe", b"defaults: {mode: nope}\n"])
def test_record_with_a_bad_modes_file_writes_no_entry(
    work: Path,
    content: bytes | None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The presets were recorded, then reading the modes failed: half a record.
    modes = work / "modes.yaml"
    if content is not None:
        modes.write_bytes(content)
    monkeypatch.setenv("SEAMLESS_CONFORMANCE_CONFIG", str(modes))
    assert main(["audit", "record"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("error: ") and "modes.yaml" in out
    assert not (work / "audit.jsonl").exists()


def test_record_with_a_bad_schema_registry_writes_no_entry(
    work: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = work / "schemas"
    registry.mkdir()
    (registry / "ohlcv_bars.v1.yaml").write_bytes(b"\xff\xfe")
    monkeypatch.setenv("SEAMLESS_SCHEMA_DIR", str(registry))
    assert main(["audit", "record"]) == 1
    assert "ohlcv_bars.v1.yaml is not UTF-8 text" in capsys.readouterr().out
    assert not (work / "audit.jsonl").exists()
