"""Dagster's embedded SQLite instance storage with a cheaper event log.

Dagster's ``SqliteEventLogStorage`` (dagster 1.13) spends 10-15 ms per stored
asset event on the 2-core machines here, mostly in Python: every transaction
calls ``sqlalchemy.create_engine`` afresh, every commit fsyncs (WAL journal,
``synchronous=FULL``), and an asset-check evaluation opens three connections
plus a fourth engine for ``has_table``. A Seamless run writes about five such
events per partition (one materialization, four check evaluations), so this
was most of a backfill's time. ``bench/bench_event_log.py`` measures both in
one process: a materialization 10-11 ms -> 1.5 ms, a check evaluation 12 ms
-> 0.8-1 ms, an in-process run of one partition with four checks about 0.37
of the time (its docstring has the tables).

``SeamlessSqliteStorage`` (``dagster.yaml``: ``storage: {custom: {module:
seamless_assets.instance_storage, class: SeamlessSqliteStorage}}``) is
Dagster's ``DagsterSqliteStorage`` -- same files, same layout, same schema, so
a home written by stock Dagster opens unchanged and vice versa -- with
``SeamlessSqliteEventLogStorage`` as its event log, which differs only in:

* one SQLAlchemy engine per shard (run id or ``index``), created on first use
  instead of per transaction, disposed in ``dispose()`` (run-shard engines:
  the ``MAX_RUN_ENGINES`` most recently used per process), each keeping one
  open connection per process: every event writes to its run's shard, asset
  and check events to the index shard too, and an open plus a close cost
  about 2.5 ms. Commits are visible to other processes at once (WAL readers
  read the WAL); SQLite checkpoints a shard every 1000 pages and when its
  engine is disposed. ``SqliteEventLogStorageWatchdog`` (live run events in
  the webserver) watches ``<run_id>.db`` itself, which a commit into the WAL
  leaves alone, so a transaction that changed a run shard touches the file's
  mtime (Dagster's ``NullPool`` got the same signal from the checkpoint of
  each transaction's closing connection). Engines are per
  process: a forked child drops the parent's engines (without closing the
  parent's connection) and locks, and opens its own.
* ``PRAGMA synchronous=NORMAL`` on each connection (a ``connect`` listener).
  With WAL this is durable against a killed process (``kill -9``, OOM): a
  commit is in the WAL file before it returns. Only an OS crash or power loss
  can lose the last commits (never corrupt the database).
* ``has_table``: a table found once is remembered (tables are never dropped);
  a missing table is asked again, so a migration in another process is seen.
* ``_initdb`` (first use of a shard in a process): a shard with an alembic
  revision is recognised by one query instead of alembic's script scan (40
  ms), and a new run's shard is a copy of one made by Dagster's own
  ``_initdb`` once per process, linked into place only if it still does not
  exist (125 ms a run otherwise; ``_initdb``'s docstring).

Same transactions, statements and rows as Dagster's: writing an asset-check
event's two index rows in one transaction instead of two was measured and
saved nothing once the index connection is kept, so it is not done.

``base_dir`` is optional. Without it each storage takes its directory from the
instance it is registered with (``instance.root_directory``: ``$DAGSTER_HOME``,
the directory given to ``DagsterInstance.from_config``, or the temporary home
of ``dagster dev`` without DAGSTER_HOME), exactly where Dagster's default
storage would put it (``InstanceRef.from_dir`` builds its default from the
same directory): runs under ``history/``, event logs under ``history/runs/``,
schedules under ``schedules/``. So the repository's ``dagster.yaml`` works
from any home without editing. ``base_dir: {env: DAGSTER_HOME}`` would not:
``DagsterInstance.from_config(dir)`` and ``dagster dev`` without DAGSTER_HOME
do not set it (or it names another home). The one difference: a
``local_artifact_storage`` configured elsewhere would move this storage too.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import sqlalchemy as db
import yaml
from dagster._config import Field, StringSource
from dagster._config.config_schema import UserConfigSchema
from dagster._core.errors import DagsterInvariantViolationError
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import (
    SqliteScheduleStorage,
)
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS, create_db_conn_string
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool, QueuePool

MODULE = "seamless_assets.instance_storage"
MAX_RUN_ENGINES = 64
"""Run-shard engines kept per process (a webserver or daemon reads many runs)."""
_INHERITED_ENGINES: list[Engine] = []
"""A forked child's references to its parent's engines, never used or closed."""


def _set_synchronous_normal(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


class SeamlessSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with one engine and one kept connection per
    shard, ``synchronous=NORMAL`` and a positive ``has_table`` cache
    (module docstring). Same files and rows as Dagster's."""

    def __init__(self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        self._tables: set[str] = set()
        self._opened = False
        self._obs = None
        self._db_lock = threading.Lock()
        self._engine_lock = threading.Lock()
        if base_dir is None:
            # Opened in register_instance, under the instance's home.
            self._inst_data = inst_data
            self._instance_weakref = None
            return
        self._open(base_dir, inst_data)

    def _open(self, base_dir: str, inst_data: ConfigurableClassData | None) -> None:
        super().__init__(base_dir, inst_data)
        self._opened = True

    def register_instance(self, instance: Any) -> None:
        if not self._opened:
            self._open(_event_logs_directory(instance.root_directory), self._inst_data)
        super().register_instance(instance)

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(  # ty: ignore[invalid-method-override]
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> SeamlessSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        """The shard's engine, created once per process.

        Under its own lock, not ``_db_lock``: Dagster calls ``has_table`` inside
        index transactions, which hold ``_db_lock`` (not re-entrant).
        """
        with self._engine_lock:
            engine = self._engines.get(shard)
            if engine is None:
                engine = self._create_engine(shard)
                if len(self._engines) > MAX_RUN_ENGINES + 1:  # + index; drop the LRU run shard
                    oldest = next(k for k in self._engines if k != INDEX_SHARD_NAME)
                    # Closes its kept connection; a transaction using one goes on.
                    self._engines.pop(oldest).dispose()
            else:
                self._engines.move_to_end(shard)
            return engine

    def _create_engine(self, shard: str) -> Engine:
        # One kept connection per shard (more while has_table runs outside the
        # lock): an open and a close cost about 2.5 ms, once per event before.
        engine = create_engine(
            self.conn_string_for_shard(shard),
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=4,
        )
        db.event.listen(engine, "connect", _set_synchronous_normal)
        self._engines[shard] = engine
        return engine

    def _after_fork(self) -> None:
        """A forked child must not share the parent's engines or a lock that
        another parent thread may have held at the fork."""
        if self._engines_pid != os.getpid():
            # The child neither uses nor closes (nor lets the garbage collector
            # close) the parent's kept index connection: SQLite connections must
            # not cross a fork, and closing one would drop this process's locks.
            _INHERITED_ENGINES.extend(self._engines.values())
            self._engines = OrderedDict()
            self._db_lock = threading.Lock()
            self._engine_lock = threading.Lock()
            self._engines_pid = os.getpid()

    def _initdb(self, engine: Engine, for_index_shard: bool = False) -> None:
        """Dagster's ``_initdb``, cheaper for the two cases a run meets.

        Dagster's creates the tables and stamps alembic's head when the shard has
        no alembic revision, and does nothing else; reading the revision costs
        about 40 ms (alembic scans its scripts) and creating a run's shard about
        125 ms. Here a stamped shard is recognised by one query, and a run shard
        that does not exist yet is a copy of one Dagster's ``_initdb`` made in
        this process (same schema, same stamp), linked into place only if no
        other process created it first. Everything else is Dagster's.
        """
        path = engine.url.database or ""
        run_shard = not for_index_shard and path != self.path_for_shard(INDEX_SHARD_NAME)
        if run_shard and not os.path.exists(path) and _place_template(self, path):
            return
        if _stamped(engine):
            return
        super()._initdb(engine, for_index_shard)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        self._after_fork()
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    before = _changes(conn)
                    yield conn
                if shard != INDEX_SHARD_NAME and _changes(conn) != before:
                    _notify_watchers(self.path_for_shard(shard))

    def has_table(self, table_name: str) -> bool:
        # Dagster calls this inside index transactions (holding _db_lock): no _db_lock.
        if table_name in self._tables:
            return True
        self._after_fork()
        engine = self._engine(INDEX_SHARD_NAME)
        with engine.connect() as conn:
            found = bool(engine.dialect.has_table(conn, table_name))
        if found:
            self._tables.add(table_name)
        return found

    def wipe(self) -> None:
        # Dagster unlinks the run shards: a kept connection to one would go on
        # writing into the unlinked file, and _initdb would find it stamped.
        self._after_fork()
        self._dispose_engines(lambda shard: shard != INDEX_SHARD_NAME)
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._dispose_engines(lambda _shard: True)

    def _dispose_engines(self, which: Callable[[str], bool]) -> None:
        """Drop the engines of the shards ``which`` picks and close their
        connections (outside the lock: a transaction using one goes on)."""
        with self._engine_lock:
            shards = [k for k in self._engines if which(k)]
            engines = [self._engines.pop(k) for k in shards]
        for engine in engines:
            engine.dispose()


def _changes(conn: Connection) -> int:
    """Rows this connection has changed since it opened (sqlite3's counter)."""
    return int(conn.connection.dbapi_connection.total_changes)  # type: ignore[union-attr]


def _notify_watchers(path: str) -> None:
    """Tell ``SqliteEventLogStorageWatchdog`` (live run events in the webserver)
    that ``<run_id>.db`` changed.

    It watches that file only, and a commit through a kept connection lands in
    ``<run_id>.db-wal``: the file itself changes at the next checkpoint. Its
    mtime does now (watchdog reports an attribute change as a modification,
    and its polling observer compares mtimes). Readers see the commit at once
    either way: WAL readers read the WAL.
    """
    with contextlib.suppress(FileNotFoundError):  # wiped under us: nothing to watch
        os.utime(path)


def _stamped(engine: Engine) -> bool:
    """The shard has an alembic revision (Dagster's ``_initdb`` then does nothing)."""
    with engine.connect() as conn:
        try:
            return bool(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar())
        except db.exc.OperationalError:  # no alembic_version table
            return False


_template_lock = threading.Lock()
_template: dict[str, bytes] = {}


def _template_bytes(storage: SqliteEventLogStorage) -> bytes | None:
    """A new run shard as Dagster's ``_initdb`` makes it, made once per process
    in a temporary directory; ``None`` if its WAL did not fold into the file."""
    with _template_lock:
        if "run" not in _template:
            with tempfile.TemporaryDirectory(prefix="seamless-shard-") as tmp:
                path = os.path.join(tmp, "template.db")
                engine = create_engine(create_db_conn_string(tmp, "template"), poolclass=NullPool)
                try:
                    SqliteEventLogStorage._initdb(storage, engine)
                finally:
                    engine.dispose()
                if os.path.exists(path + "-wal"):
                    return None
                with open(path, "rb") as f:
                    _template["run"] = f.read()
        return _template["run"]


def _place_template(storage: SqliteEventLogStorage, path: str) -> bool:
    """Create the shard ``path`` as a copy of the template, atomically: False
    (Dagster's ``_initdb`` then runs) if it exists meanwhile or there is none."""
    data = _template_bytes(storage)
    if data is None:
        return False
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # never a half-written shard after an OS crash
        os.link(tmp, path)  # fails if another process created the shard first
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return True


class _OpenedAtHome:
    """A stock SQLite storage (``_stock``) opened under the instance's home
    (``_directory`` of it) when the instance registers it, not when built."""

    _stock: ClassVar[Any]
    _directory: ClassVar[Callable[[str], str]]

    def __init__(self) -> None:
        self._inst_data = None
        self._instance_weakref = None

    def register_instance(self, instance: Any) -> None:
        opened = self._stock.from_local(type(self)._directory(instance.root_directory))
        self._stock.__init__(self, opened._conn_string)
        super().register_instance(instance)  # type: ignore[misc]


class _HomeRunStorage(_OpenedAtHome, SqliteRunStorage):
    """``SqliteRunStorage`` under ``<home>/history``."""

    _stock = SqliteRunStorage
    _directory = staticmethod(_runs_directory)


class _HomeScheduleStorage(_OpenedAtHome, SqliteScheduleStorage):
    """``SqliteScheduleStorage`` under ``<home>/schedules``."""

    _stock = SqliteScheduleStorage
    _directory = staticmethod(_schedule_directory)


class SeamlessSqliteStorage(DagsterSqliteStorage):
    """``DagsterSqliteStorage`` whose event log is ``SeamlessSqliteEventLogStorage``.

    ``base_dir`` optional: without it, the instance's home (module docstring).
    """

    def __init__(self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None):
        self._inst_data = inst_data
        if base_dir is None:
            self._base_dir: str | None = None
            self._run_storage = _HomeRunStorage()
            self._event_log_storage = SeamlessSqliteEventLogStorage()
            self._schedule_storage = _HomeScheduleStorage()
        else:
            self._base_dir = base_dir
            self._run_storage = SqliteRunStorage.from_local(_runs_directory(base_dir))
            self._event_log_storage = SeamlessSqliteEventLogStorage(_event_logs_directory(base_dir))
            self._schedule_storage = SqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        DagsterStorage.__init__(self)

    @property
    def base_dir(self) -> str:  # type: ignore[override]
        if self._base_dir is None:
            # The home resolves when the instance registers its storages.
            root = getattr(self._event_log_storage, "_base_dir", None)
            if root is None:
                raise DagsterInvariantViolationError(
                    "SeamlessSqliteStorage without base_dir has no directory before its "
                    "instance registers it."
                )
            # <home>/history/runs/ -> <home>
            return os.path.dirname(os.path.dirname(os.path.normpath(root)))
        return self._base_dir

    @base_dir.setter
    def base_dir(self, value: str) -> None:
        self._base_dir = value

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(  # ty: ignore[invalid-method-override]
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> SeamlessSqliteStorage:
        base_dir = (config_value or {}).get("base_dir")
        if base_dir is not None:
            os.makedirs(base_dir, exist_ok=True)
        return cls(base_dir, inst_data=inst_data)

    # Dagster's DagsterSqliteStorage swaps the runs and event-log directories in
    # these two; here each names the class and directory actually in use.
    @property
    def event_storage_data(self) -> ConfigurableClassData | None:
        return ConfigurableClassData(
            MODULE,
            "SeamlessSqliteEventLogStorage",
            yaml.dump({"base_dir": _event_logs_directory(self.base_dir)}, default_flow_style=False),
        )

    @property
    def run_storage_data(self) -> ConfigurableClassData | None:
        return ConfigurableClassData(
            "dagster._core.storage.runs",
            "SqliteRunStorage",
            yaml.dump({"base_dir": _runs_directory(self.base_dir)}, default_flow_style=False),
        )
