"""Before SQLite sees a store path: say what is wrong with it, and choose how
to open it.

SQLite reports every problem of a path as "unable to open database file".
This module looks first and names the cause: a directory, a path under a
regular file, a directory that cannot be created, a read-only file system, a
file that is not SQLite at all. It also decides whether the file is opened
for reading only (asked for, or forced by read-only media or permissions) and
whether SQLite must be told the file is immutable (a WAL file on read-only
media whose ``-shm`` file does not exist and cannot be created).

A missing parent directory is created, as it always was, so
``LocalStore("var/seamless.sqlite")`` works in a fresh checkout.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from seamless_sdk.errors import ForeignStoreError, InvalidRequestError, StoreError

SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True, slots=True)
class OpenPlan:
    """How to open the store file."""

    read_only: bool
    immutable: bool  # ``mode=ro&immutable=1``: no -shm possible, nothing to replay
    why_read_only: str | None  # shown when a write is refused


def store_path(value: object) -> Path:
    """``value`` as the path of a store file: a non-empty ``str`` or path-like
    without NUL bytes, else ``InvalidRequestError`` (field ``path``)."""
    if isinstance(value, bytes) or not isinstance(value, str | os.PathLike):
        raise InvalidRequestError("path", f"{value!r} is not a file path")
    text = os.fspath(value)
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequestError("path", f"{value!r} is not a file path")
    if "\0" in text:
        raise InvalidRequestError("path", f"{value!r} holds a NUL byte")
    path = Path(text)
    if path.name in ("", ".", ".."):
        raise InvalidRequestError("path", f"{value!r} names a directory, not a store file")
    return path


def plan(path: Path, *, read_only: bool) -> OpenPlan:
    """Check ``path`` and choose how to open it; ``StoreError`` names the cause
    of any problem, ``ForeignStoreError`` a file that is not SQLite."""
    prefix = f"cannot open the store at {path}"
    if path.is_dir():
        raise StoreError(f"{prefix}: it is a directory, not a file")
    blocker = _file_among_parents(path)
    if blocker is not None:
        raise StoreError(f"{prefix}: {blocker} is a file, not a directory")
    if not path.exists():
        if read_only:
            raise StoreError(f"{prefix} for reading: there is no such file")
        _create_parent(path)
        if _on_read_only_fs(path.parent):
            raise StoreError(f"{prefix}: {path.parent} is on a read-only file system")
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise StoreError(f"{prefix}: no permission to create files in {path.parent}")
        return OpenPlan(read_only=False, immutable=False, why_read_only=None)
    if not path.is_file():
        raise StoreError(f"{prefix}: it is not a regular file")
    empty = _check_header(path)
    why = _why_read_only(path, read_only)
    if why is None:
        return OpenPlan(read_only=False, immutable=False, why_read_only=None)
    if empty:
        raise StoreError(f"{prefix}: the file is empty (not yet a store) and {why}")
    # Only where nobody can write the file (read-only media) is it honest to
    # tell SQLite it is immutable; elsewhere a writer may come along.
    immutable = _on_read_only_fs(path) and _needs_immutable(path, prefix)
    return OpenPlan(read_only=True, immutable=immutable, why_read_only=why)


def _file_among_parents(path: Path) -> Path | None:
    for parent in path.absolute().parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def _create_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the store's directory {path.parent}: {describe_os_error(exc)}"
        ) from exc


def _on_read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _check_header(path: Path) -> bool:
    """Whether the file is empty; ``ForeignStoreError`` if it is not SQLite."""
    try:
        with path.open("rb") as f:
            head = f.read(100)
    except OSError as exc:
        raise StoreError(f"cannot read the store at {path}: {describe_os_error(exc)}") from exc
    if not head:
        return True
    if len(head) < 100 or not head.startswith(SQLITE_MAGIC):
        raise ForeignStoreError(str(path), "not a SQLite database, so not a Seamless store")
    return False


def _why_read_only(path: Path, asked: bool) -> str | None:
    if asked:
        return "it was opened with read_only=True"
    if _on_read_only_fs(path):
        return "it is on a read-only file system"
    if not os.access(path, os.W_OK):
        return "the file is not writable"
    folder = path.parent
    if not os.access(folder, os.W_OK | os.X_OK) and not all(
        os.access(_sidecar(path, s), os.W_OK) for s in ("-wal", "-shm")
    ):
        return f"its directory {folder} is not writable (SQLite keeps -wal and -shm files there)"
    return None


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _needs_immutable(path: Path, prefix: str) -> bool:
    # SQLite reads a WAL file read-only only through its -shm file; where that
    # is missing and cannot be made, the one way in is to declare the file
    # immutable, which is honest only if no write is waiting in the -wal file.
    shm, wal = _sidecar(path, "-shm"), _sidecar(path, "-wal")
    if shm.exists():
        return False
    if wal.exists() and wal.stat().st_size > 0:
        raise StoreError(
            f"{prefix}: its -wal file holds writes not yet merged into the file, and "
            "SQLite cannot read them on read-only media; open it once with write access"
        )
    return True


def describe_os_error(exc: OSError) -> str:
    """A short cause for an OSError, e.g. "read-only file system"."""
    causes = {
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.ENOTDIR: "a parent is a file, not a directory",
        errno.EEXIST: "a file of that name is in the way",
        errno.ENOSPC: "no space left on the device",
        errno.EISDIR: "it is a directory",
    }
    return causes.get(exc.errno or 0, exc.strerror or str(exc))
