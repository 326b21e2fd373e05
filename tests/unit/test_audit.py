"""The audit log: append-only JSON lines, whole entries under concurrent writers."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import multiprocessing.synchronize
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from seamless_sdk import audit
from seamless_sdk.errors import InvalidRequestError, StoreError


def test_record_then_read_round_trips(tmp_path: Path) -> None:
    log = tmp_path / "sub" / "audit.jsonl"
    before = datetime.now(UTC)
    entry = audit.record(
        "sla_preset.changed",
        "SEAMLESS",
        old_fingerprint="aaa",
        new_fingerprint="bbb",
        detail={"keys": ("total_deadline_ms",), "value": float("inf")},
        actor="alice",
        path=log,
    )
    assert entry.actor == "alice"
    assert before <= entry.at <= datetime.now(UTC)
    assert entry.at.tzinfo is not None and entry.at.utcoffset() == timedelta(0)
    line = json.loads(log.read_text().splitlines()[0])
    assert line["at"].endswith("Z")
    assert line["detail"] == {"keys": ["total_deadline_ms"], "value": "inf"}
    (read,) = audit.read_entries(log)
    assert read == entry
    with pytest.raises(TypeError):
        read.detail["x"] = 1  # type: ignore[index]


def test_actor_and_path_come_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "env.jsonl"
    monkeypatch.setenv("SEAMLESS_AUDIT_LOG", str(log))
    monkeypatch.setenv("SEAMLESS_ACTOR", "ops-bot")
    assert audit.audit_log_path() == log
    entry = audit.record("mode.changed", "bars", old_fingerprint=None, new_fingerprint="x")
    assert entry.actor == "ops-bot"
    assert audit.read_entries() == [entry]
    monkeypatch.delenv("SEAMLESS_ACTOR")
    assert audit.default_actor()  # the OS user, never empty
    monkeypatch.delenv("SEAMLESS_AUDIT_LOG")
    assert audit.audit_log_path() == Path("var") / "audit.jsonl"


def test_missing_log_reads_empty(tmp_path: Path) -> None:
    assert audit.read_entries(tmp_path / "none.jsonl") == []


def test_empty_action_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError, match=r"^action"):
        audit.record(" ", "x", old_fingerprint=None, new_fingerprint=None, path=tmp_path / "a")


def test_damaged_line_names_file_and_line(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    audit.record("a", "b", old_fingerprint=None, new_fingerprint="1", actor="x", path=log)
    with log.open("a") as handle:
        handle.write('{"at": "2026-01-01T00:00:00Z"\n')
    with pytest.raises(InvalidRequestError, match=r"audit\.jsonl:2: not a JSON line"):
        audit.read_entries(log)


def test_a_log_that_is_not_text_or_not_a_file_is_named(tmp_path: Path) -> None:
    # A directory or a binary file was a raw IsADirectoryError / UnicodeDecodeError.
    log = tmp_path / "audit.jsonl"
    audit.record("a", "b", old_fingerprint=None, new_fingerprint="1", actor="x", path=log)
    with log.open("ab") as handle:
        handle.write(b"\xff\xfe{}\n")
    with pytest.raises(InvalidRequestError, match=r"audit\.jsonl:2: not UTF-8 text"):
        audit.read_entries(log)
    with pytest.raises(InvalidRequestError, match=r"is not a file"):
        audit.read_entries(tmp_path)


def test_a_write_that_fails_leaves_no_half_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk left half an entry, and from then on the log could be neither
    read nor written (every write reads it first for the old fingerprint)."""
    log = tmp_path / "audit.jsonl"
    audit.record("a", "b", old_fingerprint=None, new_fingerprint="1", actor="x", path=log)
    size = log.stat().st_size
    real_write = audit.os.write

    def half_then_full(fd: int, data: memoryview) -> int:
        if len(data) > 20:
            return real_write(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(audit.os, "write", half_then_full)
    with pytest.raises(StoreError, match="was not recorded: No space left on device"):
        audit.record_change("a", "b", "2", actor="x", path=log)
    monkeypatch.undo()
    assert log.stat().st_size == size
    assert audit.record_change("a", "b", "2", actor="x", path=log) is not None
    assert [e.new_fingerprint for e in audit.read_entries(log)] == ["1", "2"]


def test_a_torn_tail_left_by_a_killed_writer_is_cut_off(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    audit.record("a", "b", old_fingerprint=None, new_fingerprint="1", actor="x", path=log)
    with log.open("a") as handle:
        handle.write('{"action": "a", "actor": "x", "at')  # killed mid-line
    assert [e.new_fingerprint for e in audit.read_entries(log)] == ["1"]
    audit.record("a", "b", old_fingerprint="1", new_fingerprint="2", actor="x", path=log)
    assert [e.new_fingerprint for e in audit.read_entries(log)] == ["1", "2"]


@pytest.mark.parametrize("kind", ["directory", "under-a-file", "device"])
def test_a_log_path_that_is_no_file_is_a_typed_error(tmp_path: Path, kind: str) -> None:
    # They were IsADirectoryError / FileExistsError tracebacks; /dev/zero was
    # read without end.
    target = {
        "directory": tmp_path,
        "under-a-file": tmp_path / "f" / "audit.jsonl",
        "device": Path("/dev/zero"),
    }[kind]
    (tmp_path / "f").write_text("")
    with pytest.raises(InvalidRequestError, match=r"^audit_log: "):
        audit.record_change("a", "b", "1", actor="x", path=target)
    with pytest.raises(InvalidRequestError, match=r"^audit_log: "):
        audit.record("a", "b", old_fingerprint=None, new_fingerprint="1", actor="x", path=target)


@pytest.mark.parametrize(
    ("line", "says"),
    [('"at": "9999-12-31T23:59:59-05:00"', "not an entry"), ('"detail": ' + "[" * 100000, "")],
)
def test_lines_that_overflow_are_named(tmp_path: Path, line: str, says: str) -> None:
    log = tmp_path / "audit.jsonl"
    entry = audit.record("a", "b", old_fingerprint=None, new_fingerprint="1", actor="x", path=log)
    data = json.dumps(entry.to_dict())
    log.write_text(data[:-1] + ", " + line + "}\n" if "at" in line else "{" + line + "\n")
    with pytest.raises(InvalidRequestError, match=rf"audit\.jsonl:1: .*{says}"):
        audit.read_entries(log)


def test_unknown_key_is_named(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    entry = audit.record("a", "b", old_fingerprint=None, new_fingerprint="1", actor="x", path=log)
    data = entry.to_dict() | {"colour": "red"}
    log.write_text(json.dumps(data) + "\n")
    with pytest.raises(InvalidRequestError, match=r"audit\.jsonl:1: colour"):
        audit.read_entries(log)


def _append_many(
    path: str, writer: str, count: int, start: multiprocessing.synchronize.Barrier
) -> None:
    start.wait(60)
    for i in range(count):
        # A large detail makes each line longer than a pipe buffer's atomic write,
        # so only the lock keeps the lines whole.
        audit.record(
            "test.concurrent",
            f"{writer}-{i}",
            old_fingerprint=None,
            new_fingerprint=str(i),
            detail={"pad": writer * 9000},
            actor=writer,
            path=Path(path),
        )


def test_two_processes_append_concurrently_without_loss(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    count = 150
    ctx = multiprocessing.get_context("spawn")
    # Both writers start together once both are up: an event set by the parent
    # could let one (spawned, importing) finish before the other had begun.
    start = ctx.Barrier(2)
    workers = [
        ctx.Process(target=_append_many, args=(str(log), name, count, start)) for name in ("p", "q")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    entries = audit.read_entries(log)
    assert len(entries) == 2 * count
    for name in ("p", "q"):
        mine = [e for e in entries if e.actor == name]
        # Each writer's entries are all there, in its own order, each intact.
        assert [e.what for e in mine] == [f"{name}-{i}" for i in range(count)]
        assert all(e.detail["pad"] == name * 9000 for e in mine)
    # Both wrote while the other did (the test exercises contention, not turns).
    actors = [e.actor for e in entries]
    switches = sum(1 for a, b in itertools.pairwise(actors) if a != b)
    assert switches > 1
