"""An append-only audit log of configuration changes, as JSON lines.

Every change of a policy that decides what a strategy reads (an SLA preset, a
conformance mode, a schema) is one entry: who (``actor``), when (``at``, ISO-8601
UTC), what action on what, and the fingerprints of the thing before and after,
so an operator can tell which configuration produced which data.

One line per entry, written with one ``write`` while holding an exclusive
``flock`` on the file, then flushed and fsynced: two processes appending at the
same time never interleave their lines or lose one, and an entry that
:func:`record` returned survives a crash of the machine.

The file is ``$SEAMLESS_AUDIT_LOG`` (see :mod:`seamless_sdk.settings`), by
default ``var/audit.jsonl`` under the working directory; every function takes
``path=`` to name another one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from seamless_sdk import settings
from seamless_sdk.errors import InvalidRequestError, StoreError
from seamless_sdk.jsonable import jsonable

__all__ = [
    "AuditEntry",
    "audit_log_path",
    "default_actor",
    "read_entries",
    "record",
    "record_change",
]

_KEYS = ("at", "actor", "action", "what", "old_fingerprint", "new_fingerprint", "detail")


@dataclass(frozen=True)
class AuditEntry:
    """One audited change.

    ``at`` is timezone-aware UTC; ``old_fingerprint`` is ``None`` for a thing
    that did not exist before, ``new_fingerprint`` ``None`` for one removed.
    ``detail`` holds plain JSON values (read-only).
    """

    at: datetime
    actor: str
    action: str
    what: str
    old_fingerprint: str | None
    new_fingerprint: str | None
    detail: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    def to_dict(self) -> dict[str, object]:
        """The entry as the JSON object its log line holds."""
        return {
            "at": self.at.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "actor": self.actor,
            "action": self.action,
            "what": self.what,
            "old_fingerprint": self.old_fingerprint,
            "new_fingerprint": self.new_fingerprint,
            "detail": dict(self.detail),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditEntry:
        """An entry from one parsed log line; ``InvalidRequestError`` names a bad key."""
        unknown = sorted(set(data) - set(_KEYS))
        if unknown:
            raise InvalidRequestError(unknown[0], "is not an audit entry key")
        for key in ("at", "actor", "action", "what"):
            if not isinstance(data.get(key), str):
                raise InvalidRequestError(key, f"must be a string, got {data.get(key)!r}")
        for key in ("old_fingerprint", "new_fingerprint"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise InvalidRequestError(key, f"must be a string or null, got {data[key]!r}")
        detail = data.get("detail") or {}
        if not isinstance(detail, Mapping):
            raise InvalidRequestError("detail", f"must be an object, got {detail!r}")
        try:
            at = datetime.fromisoformat(data["at"])
        except ValueError as exc:
            raise InvalidRequestError("at", f"{data['at']!r} is not ISO-8601") from exc
        if at.tzinfo is None:
            raise InvalidRequestError("at", f"{data['at']!r} has no UTC offset")
        return cls(
            at=at.astimezone(UTC),
            actor=data["actor"],
            action=data["action"],
            what=data["what"],
            old_fingerprint=data.get("old_fingerprint"),
            new_fingerprint=data.get("new_fingerprint"),
            detail=MappingProxyType(dict(detail)),
        )


def audit_log_path() -> Path:
    """The audit log file: ``$SEAMLESS_AUDIT_LOG``, else ``var/audit.jsonl``."""
    return settings.audit_log_file() or Path("var") / "audit.jsonl"


def default_actor() -> str:
    """``$SEAMLESS_ACTOR``, else the operating-system user running this process."""
    explicit = settings.audit_actor()
    if explicit:
        return explicit
    # pwd, not getpass: getpass.getuser() reads LOGNAME/USER from the environment,
    # which a sudo or a container can leave pointing at someone else.
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return f"uid:{os.getuid()}"


@contextlib.contextmanager
def _locked(path: Path, flags: int, lock: int) -> Iterator[int]:
    """``path`` opened with ``flags`` and locked; anything but a regular file (a
    directory, ``/dev/zero``) or a path that cannot be opened (a file where
    its folder should be, no permission) is ``InvalidRequestError``, before a
    byte is read or written."""
    if path.exists() and not path.is_file():
        raise InvalidRequestError("audit_log", f"{path} is not a file")
    try:
        if flags & os.O_CREAT:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        raise InvalidRequestError("audit_log", f"{path} cannot be opened: {exc.strerror}") from None
    try:
        fcntl.flock(fd, lock)
        try:
            yield fd
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def record(
    action: str,
    what: str,
    *,
    old_fingerprint: str | None,
    new_fingerprint: str | None,
    detail: Mapping[str, object] | None = None,
    actor: str | None = None,
    path: Path | None = None,
) -> AuditEntry:
    """Append one entry to the audit log and return it once it is on disk.

    ``action`` is a short verb such as ``sla_preset.changed`` or
    ``schema.changed``; ``what`` names the thing (a preset name, a schema
    name). ``detail`` values are converted to JSON types (see
    :mod:`seamless_sdk.jsonable`).
    """
    if not action.strip():
        raise InvalidRequestError("action", "must not be empty")
    if not what.strip():
        raise InvalidRequestError("what", "must not be empty")
    entry = AuditEntry(
        at=datetime.now(UTC),
        actor=actor if actor is not None else default_actor(),
        action=action,
        what=what,
        old_fingerprint=old_fingerprint,
        new_fingerprint=new_fingerprint,
        detail=MappingProxyType(jsonable(dict(detail or {}))),
    )
    target = path if path is not None else audit_log_path()
    with _locked(target, os.O_RDWR | os.O_APPEND | os.O_CREAT, fcntl.LOCK_EX) as fd:
        _append(fd, entry)
    return entry


def record_change(
    action: str,
    what: str,
    new_fingerprint: str | None,
    *,
    detail: Mapping[str, object] | None = None,
    actor: str | None = None,
    path: Path | None = None,
) -> AuditEntry | None:
    """Record that ``what`` now has ``new_fingerprint``, if that is a change.

    The old fingerprint is the ``new_fingerprint`` of the last entry with the
    same ``action`` and ``what`` (``None`` when there is none); when it equals
    ``new_fingerprint`` nothing is written and ``None`` is returned. Reading the
    last entry and appending happen under one exclusive lock, so processes
    that load the same new configuration at once record the change once.
    This is what loaders call for presets, conformance modes and schemas
    (:func:`seamless_sdk.policy_settings.audit_settings`).
    """
    if not action.strip():
        raise InvalidRequestError("action", "must not be empty")
    if not what.strip():
        raise InvalidRequestError("what", "must not be empty")
    target = path if path is not None else audit_log_path()
    with _locked(target, os.O_RDWR | os.O_APPEND | os.O_CREAT, fcntl.LOCK_EX) as fd:
        old: str | None = None
        for entry in _parse(_read_all(fd), target):
            if entry.action == action and entry.what == what:
                old = entry.new_fingerprint
        if old == new_fingerprint:
            return None
        entry = AuditEntry(
            at=datetime.now(UTC),
            actor=actor if actor is not None else default_actor(),
            action=action,
            what=what,
            old_fingerprint=old,
            new_fingerprint=new_fingerprint,
            detail=MappingProxyType(jsonable(dict(detail or {}))),
        )
        _append(fd, entry)
    return entry


def _append(fd: int, entry: AuditEntry) -> None:
    line = (json.dumps(entry.to_dict(), sort_keys=True, allow_nan=False) + "\n").encode()
    # One write of the whole line under the lock: O_APPEND places it at the end
    # even if a writer that ignores the lock appended meanwhile; a short write
    # is finished, and one that fails (a full disk) is cut off again, so no half
    # line is left to make the log unreadable for good.
    end = _whole_lines_end(fd)
    view = memoryview(line)
    try:
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, end)
        raise StoreError(
            f"the audit entry {entry.action} {entry.what} was not recorded: {exc.strerror}"
        ) from None


def _whole_lines_end(fd: int) -> int:
    """The end of the log's last whole line, with a torn tail cut off first: a
    process killed (or a disk full) mid-write before this one left part of a
    line, and the next entry must not be glued to it."""
    end = os.lseek(fd, 0, os.SEEK_END)
    if end == 0 or os.pread(fd, 1, end - 1) == b"\n":
        return end
    whole = _read_all(fd).rfind(b"\n") + 1
    os.ftruncate(fd, whole)
    return whole


def _read_all(fd: int) -> bytes:
    chunks = []
    offset = 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def read_entries(path: Path | None = None) -> list[AuditEntry]:
    """Every entry of the audit log, oldest first (empty when there is no log yet).

    A line that is not an entry raises ``InvalidRequestError`` naming the file
    and line: an audit log is evidence, so a damaged one is not skipped silently.
    """
    target = path if path is not None else audit_log_path()
    if not target.exists():
        return []
    with _locked(target, os.O_RDONLY, fcntl.LOCK_SH) as fd:  # refuses a non-file
        raw = _read_all(fd)
    return _parse(raw, target)


def _parse(raw: bytes, target: Path) -> list[AuditEntry]:
    entries = []
    if raw and not raw.endswith(b"\n"):
        # A torn tail (its writer was killed mid-line) was never recorded: its
        # writer did not return. The next writer cuts it off (_whole_lines_end).
        raw = raw[: raw.rfind(b"\n") + 1]
    for number, line in enumerate(raw.splitlines(), start=1):
        where = f"{target}:{number}"
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRequestError(where, f"not UTF-8 text ({exc.reason})") from None
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidRequestError(where, f"not a JSON line: {exc.msg}") from exc
        except RecursionError:
            raise InvalidRequestError(where, "not an entry: nested too deeply") from None
        if not isinstance(data, dict):
            raise InvalidRequestError(where, "not a JSON object")
        try:
            entries.append(AuditEntry.from_dict(data))
        except InvalidRequestError as exc:
            raise InvalidRequestError(where, str(exc)) from exc
        except (ValueError, OverflowError, RecursionError) as exc:  # a date past 9999, say
            raise InvalidRequestError(where, f"not an entry: {exc}") from None
    return entries
