"""SeamlessSqliteStorage: the repository's ``dagster.yaml`` instance storage.

Same files and rows as Dagster's ``DagsterSqliteStorage`` (both ways), the
directory from the instance's home, live run-event watching, the pragma, and
forked children.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage

from seamless_assets.instance_storage import (
    SeamlessSqliteEventLogStorage,
    SeamlessSqliteStorage,
)

REPO = Path(__file__).resolve().parents[2]
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
PARTITIONS = dg.StaticPartitionsDefinition(["a", "b"])


@dg.asset(partitions_def=PARTITIONS)
def bars(context) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": len(context.partition_key)})


@dg.asset_check(asset=bars)
def bars_rows() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True, metadata={"checked": 1})


DEFS = dg.Definitions(assets=[bars], asset_checks=[bars_rows])
CHECK_KEY = dg.AssetCheckKey(dg.AssetKey("bars"), "bars_rows")


def _home(path: Path, yaml: str | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if yaml is None:
        shutil.copy(REPO / "dagster.yaml", path / "dagster.yaml")
    else:
        (path / "dagster.yaml").write_text(yaml)
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # No DAGSTER_HOME: the directory comes from the instance, not the environment.
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return _home(tmp_path / "home")


@pytest.fixture
def instance(home: Path) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.from_config(str(home)) as inst:
        yield inst


def _run(instance: dg.DagsterInstance, partition: str) -> str:
    job = DEFS.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, partition_key=partition, run_config=QUIET)
    assert result.success
    return result.run_id


def _stored(instance: dg.DagsterInstance) -> tuple[list[str | None], str | None]:
    mats = instance.fetch_materializations(dg.AssetKey("bars"), limit=10).records
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key([CHECK_KEY])
    record = latest.get(CHECK_KEY)
    return sorted(m.partition_key for m in mats), (record.status.value if record else None)


def test_the_repository_instance_uses_it_under_its_home(
    instance: dg.DagsterInstance, home: Path
) -> None:
    ref = instance.get_ref()
    assert ref.storage_data is not None
    assert ref.storage_data.class_name == "SeamlessSqliteStorage"
    assert isinstance(instance.event_log_storage, SeamlessSqliteEventLogStorage)
    _run(instance, "a")
    # Dagster's default layout under the home the config came from.
    assert (home / "history" / "runs.db").is_file()
    assert (home / "history" / "runs" / "index.db").is_file()
    assert (home / "schedules" / "schedules.db").is_file()
    # What the ref rehydrates (any process): its directories come with the instance.
    storage = ref.storage
    assert isinstance(storage, SeamlessSqliteStorage)
    storage.event_log_storage.register_instance(instance)
    assert storage.base_dir == str(home)
    data = storage.event_storage_data
    assert data is not None
    assert data.class_name == "SeamlessSqliteEventLogStorage"
    assert data.rehydrate(as_type=SeamlessSqliteEventLogStorage)._base_dir == str(
        home / "history" / "runs"
    )


def test_a_run_materialization_and_check_round_trip(instance: dg.DagsterInstance) -> None:
    run_id = _run(instance, "b")
    assert _stored(instance) == (["b"], "SUCCEEDED")
    evaluation = instance.event_log_storage.get_latest_asset_check_execution_by_key([CHECK_KEY])
    event = evaluation[CHECK_KEY].event
    assert event is not None and event.run_id == run_id
    assert event.dagster_event.event_specific_data.metadata["checked"].value == 1
    types = [e.dagster_event_type for e in instance.all_logs(run_id) if e.is_dagster_event]
    assert dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED in types
    assert dg.DagsterEventType.ASSET_CHECK_EVALUATION in types


def test_a_runless_check_evaluation_is_stored(instance: dg.DagsterInstance) -> None:
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey("bars"), check_name="bars_rows", passed=False, partition="a"
        )
    )
    assert _stored(instance) == ([], "FAILED")


def test_stock_and_seamless_storage_read_each_other(tmp_path: Path) -> None:
    stock_home = _home(tmp_path / "stock", "telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(stock_home)) as stock:
        assert type(stock.get_ref().storage) is DagsterSqliteStorage
        _run(stock, "a")
    _home(stock_home)  # now the repository's dagster.yaml
    with dg.DagsterInstance.from_config(str(stock_home)) as ours:
        assert isinstance(ours.event_log_storage, SeamlessSqliteEventLogStorage)
        assert _stored(ours) == (["a"], "SUCCEEDED")
        assert len(ours.get_runs()) == 1
        _run(ours, "b")
    _home(stock_home, "telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(stock_home)) as stock:
        assert _stored(stock) == (["a", "b"], "SUCCEEDED")
        assert len(stock.get_runs()) == 2


def test_an_explicit_base_dir_is_used(tmp_path: Path) -> None:
    data = tmp_path / "data"
    home = _home(
        tmp_path / "home",
        "storage:\n  custom:\n    module: seamless_assets.instance_storage\n"
        f"    class: SeamlessSqliteStorage\n    config:\n      base_dir: {data}\n",
    )
    with dg.DagsterInstance.from_config(str(home)) as inst:
        _run(inst, "a")
        assert _stored(inst) == (["a"], "SUCCEEDED")
    assert (data / "history" / "runs" / "index.db").is_file()
    assert not (home / "history").exists()


def test_another_instance_sees_writes_at_once(instance: dg.DagsterInstance, home: Path) -> None:
    # Every shard keeps its connection open; its commits are visible elsewhere.
    with dg.DagsterInstance.from_config(str(home)) as other:
        assert _stored(other) == ([], None)
        _run(instance, "a")
        assert _stored(other) == (["a"], "SUCCEEDED")
        _run(other, "b")
        assert _stored(instance) == (["a", "b"], "SUCCEEDED")


def test_connections_are_synchronous_normal(instance: dg.DagsterInstance) -> None:
    run_id = _run(instance, "a")
    storage = instance.event_log_storage
    assert isinstance(storage, SeamlessSqliteEventLogStorage)
    for connect in (storage.index_connection, lambda: storage.run_connection(run_id)):
        with connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_watch_delivers_a_runs_new_events(instance: dg.DagsterInstance) -> None:
    run_id = _run(instance, "a")
    seen: list[str] = []
    arrived = threading.Event()

    def callback(event: dg.EventLogEntry, _cursor: str) -> None:
        seen.append(event.message)
        if event.message == "after the watch began":
            arrived.set()

    storage = instance.event_log_storage
    storage.watch(run_id, None, callback)
    try:
        time.sleep(0.5)  # the observer is scheduled
        run = instance.get_run_by_id(run_id)
        instance.report_engine_event("after the watch began", run)
        assert arrived.wait(15), f"watch delivered only {seen[-3:]}"
    finally:
        storage.end_watch(run_id, callback)


def test_only_a_write_touches_the_run_shard(instance: dg.DagsterInstance) -> None:
    # A read that touched it would wake the watchdog, whose callback reads again.
    run_id = _run(instance, "a")
    storage = instance.event_log_storage
    path = Path(storage.path_for_shard(run_id))
    os.utime(path, (1_000_000_000, 1_000_000_000))
    assert storage.get_records_for_run(run_id).records
    assert path.stat().st_mtime == 1_000_000_000
    instance.report_engine_event("a write", instance.get_run_by_id(run_id))
    assert path.stat().st_mtime > 1_000_000_000


def test_a_wipe_leaves_no_connection_to_a_removed_shard(instance: dg.DagsterInstance) -> None:
    run_id = _run(instance, "a")
    storage = instance.event_log_storage
    path = Path(storage.path_for_shard(run_id))
    assert storage.get_records_for_run(run_id).records
    instance.wipe()
    assert not path.exists()
    instance.add_run(dg.DagsterRun(job_name="again", run_id=run_id))
    instance.report_engine_event("after the wipe", instance.get_run_by_id(run_id))
    assert path.exists()
    assert [r.event_log_entry.message for r in storage.get_records_for_run(run_id).records] == [
        "after the wipe"
    ]


def test_a_forked_child_opens_its_own_engines(instance: dg.DagsterInstance) -> None:
    run_id = _run(instance, "a")
    storage = instance.event_log_storage
    assert isinstance(storage, SeamlessSqliteEventLogStorage)
    parent_engines = dict(storage._engines)
    assert parent_engines
    pid = os.fork()
    if pid == 0:  # child: exits with 0 only if it wrote through new engines
        code = 1
        try:
            instance.report_engine_event("from the child", instance.get_run_by_id(run_id))
            fresh = all(
                storage._engines[k] is not e
                for k, e in parent_engines.items()
                if k in storage._engines
            )
            code = 0 if fresh and storage._engines else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert "from the child" in [e.message for e in instance.all_logs(run_id)]
    _run(instance, "b")  # the parent's engines still work
    assert all(storage._engines[k] is e for k, e in parent_engines.items())


def test_run_shard_engines_are_bounded(
    instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("seamless_assets.instance_storage.MAX_RUN_ENGINES", 2)
    runs = [_run(instance, p) for p in ("a", "b", "a", "b")]
    storage = instance.event_log_storage
    assert isinstance(storage, SeamlessSqliteEventLogStorage)
    assert set(storage._engines) == {"index", runs[2], runs[3]}
    assert len(instance.all_logs(runs[0])) > 0  # an evicted shard opens again


def test_dispose_drops_the_engines(home: Path) -> None:
    inst = dg.DagsterInstance.from_config(str(home))
    _run(inst, "a")
    storage = inst.event_log_storage
    assert isinstance(storage, SeamlessSqliteEventLogStorage)
    assert storage._engines
    inst.dispose()
    assert not storage._engines


def _index_rows(home: Path) -> dict[str, list[tuple]]:
    import sqlite3

    conn = sqlite3.connect(home / "history" / "runs" / "index.db")
    try:
        return {
            "event_logs": conn.execute(
                "SELECT dagster_event_type, asset_key, partition FROM event_logs ORDER BY id"
            ).fetchall(),
            "asset_check_executions": conn.execute(
                "SELECT asset_key, check_name, partition, execution_status,"
                " evaluation_event_storage_id IS NOT NULL FROM asset_check_executions ORDER BY id"
            ).fetchall(),
        }
    finally:
        conn.close()


def test_the_index_rows_are_dagsters(tmp_path: Path) -> None:
    homes = {
        "stock": _home(tmp_path / "stock", "telemetry:\n  enabled: false\n"),
        "ours": _home(tmp_path / "ours"),
    }
    for home in homes.values():
        with dg.DagsterInstance.from_config(str(home)) as inst:
            _run(inst, "a")
            _run(inst, "b")
            inst.report_runless_asset_event(
                dg.AssetCheckEvaluation(
                    asset_key=dg.AssetKey("bars"), check_name="bars_rows", passed=False
                )
            )
    stock, ours = (_index_rows(h) for h in homes.values())
    assert ours == stock
    assert len(stock["asset_check_executions"]) == 3


def test_dagster_dev_without_dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `dagster dev` with no DAGSTER_HOME: the repository's dagster.yaml, a temporary
    # home, and the ref serialized to the webserver and daemon processes.
    from dagster._core.instance.ref import InstanceRef
    from dagster._serdes import deserialize_value, serialize_value

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    tmp_home = tmp_path / ".tmp_dagster_home_x"
    tmp_home.mkdir()
    ref = InstanceRef.from_dir(str(tmp_home), config_dir=str(REPO))
    with dg.DagsterInstance.from_ref(ref) as dev:
        _run(dev, "a")
        sent = deserialize_value(serialize_value(dev.get_ref()), InstanceRef)
    with dg.DagsterInstance.from_ref(sent) as webserver:
        assert isinstance(webserver.event_log_storage, SeamlessSqliteEventLogStorage)
        assert _stored(webserver) == (["a"], "SUCCEEDED")
    assert (tmp_home / "history" / "runs" / "index.db").is_file()
    assert not (REPO / "history").exists()


def test_threads_store_events_at_once(instance: dg.DagsterInstance) -> None:
    errors: list[BaseException] = []

    def report(thread: int) -> None:
        try:
            for i in range(15):
                partition = f"t{thread}-{i}"
                instance.report_runless_asset_event(
                    dg.AssetMaterialization(dg.AssetKey("bars"), partition=partition)
                )
                instance.report_runless_asset_event(
                    dg.AssetCheckEvaluation(
                        asset_key=dg.AssetKey("bars"),
                        check_name="bars_rows",
                        passed=True,
                        partition=partition,
                    )
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=report, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert not any(t.is_alive() for t in threads)
    assert len(instance.fetch_materializations(dg.AssetKey("bars"), limit=100).records) == 60
    history = instance.event_log_storage.get_asset_check_execution_history(CHECK_KEY, limit=100)
    assert len(history) == 60


def test_commits_survive_a_killed_process(home: Path) -> None:
    import signal

    pid = os.fork()
    if pid == 0:  # child: its own instance, killed with its connections open
        try:
            inst = dg.DagsterInstance.from_config(str(home))
            for i in range(10):
                inst.report_runless_asset_event(
                    dg.AssetMaterialization(dg.AssetKey("bars"), partition=f"k{i}")
                )
            os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    with dg.DagsterInstance.from_config(str(home)) as inst:
        records = inst.fetch_materializations(dg.AssetKey("bars"), limit=100).records
        assert len(records) == 10


def _schema(db_path: Path) -> tuple[list[tuple], list[tuple], str]:
    import sqlite3

    conn = sqlite3.connect(db_path)
    try:
        return (
            conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"
            ).fetchall(),
            conn.execute("SELECT version_num FROM alembic_version").fetchall(),
            conn.execute("PRAGMA journal_mode").fetchone()[0],
        )
    finally:
        conn.close()


def test_a_new_run_shard_is_dagsters(tmp_path: Path) -> None:
    shards = {}
    for name, yaml in (("stock", "telemetry:\n  enabled: false\n"), ("ours", None)):
        home = _home(tmp_path / name, yaml)
        with dg.DagsterInstance.from_config(str(home)) as inst:
            run_id = _run(inst, "a")
        shards[name] = _schema(home / "history" / "runs" / f"{run_id}.db")
    assert shards["ours"] == shards["stock"]
    tables = {row[1] for row in shards["stock"][0] if row[0] == "table"}
    assert {"event_logs", "asset_keys", "alembic_version"} <= tables
    assert shards["stock"][2] == "wal"


def test_a_shard_that_exists_is_left_to_dagster(instance: dg.DagsterInstance, home: Path) -> None:
    from seamless_assets.instance_storage import _place_template

    storage = instance.event_log_storage
    assert isinstance(storage, SeamlessSqliteEventLogStorage)
    path = storage.path_for_shard("made-elsewhere")
    assert _place_template(storage, path)
    before = Path(path).read_bytes()
    assert not _place_template(storage, path)  # another process's shard is never replaced
    assert Path(path).read_bytes() == before
    assert not list(Path(path).parent.glob("*.tmp"))
    # An empty file (a connection opened first): Dagster's _initdb creates the tables.
    empty = Path(storage.path_for_shard("empty"))
    empty.touch()
    with storage.run_connection("empty") as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM event_logs").scalar() == 0
    assert _schema(empty) == _schema(Path(path))
