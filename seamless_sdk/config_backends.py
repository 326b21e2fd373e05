"""The ``store:`` and ``coordinator:`` keys of ``seamless.yaml``: which back-ends to use.

``store`` is a path (the embedded ``LocalStore`` file, the default) or a
mapping whose ``kind`` picks the store and whose other keys are its
arguments; ``coordinator`` (absent by default: each host's own locks) names
the PostgreSQL database of a ``PostgresCoordinator``, which also holds the
Dagster backfiller's request table and, for QuestDB, the stores' locks.

.. code-block:: yaml

    store: var/seamless.sqlite                      # LocalStore (same as {kind: local, path: ...})
    store: {kind: postgres, dsn: "postgresql://seamless@db:5432/seamless"}
    store:
      kind: questdb
      ilp: "http::addr=questdb:9000;"               # questdb client configuration (ILP/HTTP)
      pg: "postgresql://admin:quest@questdb:8812/qdb"
    coordinator: {kind: postgres, dsn: "postgresql://seamless@db:5432/seamless"}

Each model is strict like the rest of the file, and an error names the
dotted key (``store.dsn: is required``, ``store.kind: 'mysql' is not one of
local, postgres, questdb``). Opening a back-end imports its optional
dependency then, never when the file is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator

from seamless_sdk.checks import MAX_WAIT_S, MAX_WORKERS
from seamless_sdk.config_model import YamlModel, validate
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.sla import MAX_ATTEMPTS

if TYPE_CHECKING:
    from seamless_sdk.coordination.postgres import PostgresCoordinator
    from seamless_sdk.stores.base import BarStore

DEFAULT_STORE = "var/seamless.sqlite"


def _dsn(value: str) -> str:
    # Connecting is left to the store (and to when it is first used); what is
    # not a libpq URI at all is a typo that would otherwise surface as a libpq
    # error in a run, naming no key.
    if not value.strip():
        raise ValueError("an empty DSN (a libpq URI such as postgresql://user@host:5432/db)")
    if not value.startswith(("postgresql://", "postgres://")):
        raise ValueError(f"{value!r} is not a libpq URI such as postgresql://user@host:5432/db")
    return value


class LocalStoreConfig(YamlModel):
    """``store: <path>`` or ``{kind: local, path: <path>}``: the embedded LocalStore file."""

    kind: Literal["local"] = "local"
    path: str = DEFAULT_STORE

    @field_validator("path")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("an empty path")
        return value

    def open(self) -> BarStore:
        """A LocalStore on ``path`` (its folder is created, or a StoreError says why not)."""
        from seamless_sdk.stores.local import LocalStore

        return LocalStore(self.path)

    def describe(self) -> str:
        """One line for logs and headers."""
        return f"LocalStore {self.path}"


class PostgresStoreConfig(YamlModel):
    """``{kind: postgres, dsn: ..., pool_size: 4}``: a PostgresStore shared by every host.

    ``pool_size`` is at most ``checks.MAX_WORKERS`` (256): more connections
    than a provider has threads to use them would only hold server slots."""

    kind: Literal["postgres"]
    dsn: str
    pool_size: Annotated[int, Field(ge=1, le=MAX_WORKERS)] = 4

    @field_validator("dsn")
    @classmethod
    def _check_dsn(cls, value: str) -> str:
        return _dsn(value)

    def open(self) -> BarStore:
        """A PostgresStore on ``dsn`` (its tables are created on first use)."""
        from seamless_sdk.stores.postgres import PostgresStore

        return PostgresStore(self.dsn, pool_size=self.pool_size)

    def describe(self) -> str:
        """One line for logs and headers (no password)."""
        from seamless_sdk.stores._pg import describe_dsn

        return f"PostgresStore {describe_dsn(self.dsn)}"


class QuestDBStoreConfig(YamlModel):
    """``{kind: questdb, ilp: "http::addr=...;", pg: "postgresql://...", ...}``.

    ``lock_dsn`` (default: the coordinator's DSN when a coordinator is
    configured) makes the store's locks PostgreSQL advisory locks shared by
    every host; without either they are per host (``flock``).
    """

    kind: Literal["questdb"]
    ilp: str
    pg: str
    table_prefix: str = "seamless"
    lock_dsn: str | None = None

    @field_validator("ilp")
    @classmethod
    def _ilp_over_http(cls, value: str) -> str:
        if not value.startswith(("http::", "https::")):
            raise ValueError(
                f"{value!r} is not an ILP/HTTP configuration such as 'http::addr=localhost:9000;'"
            )
        return value

    @field_validator("pg", "lock_dsn")
    @classmethod
    def _check_dsns(cls, value: str | None) -> str | None:
        return None if value is None else _dsn(value)

    def open(self) -> BarStore:
        """A QuestDBStore (nothing connects until it is used)."""
        from seamless_sdk.stores.questdb import QuestDBStore

        return QuestDBStore(
            self.ilp, self.pg, table_prefix=self.table_prefix, lock_dsn=self.lock_dsn
        )

    def describe(self) -> str:
        """One line for logs and headers (no password)."""
        from seamless_sdk.stores._pg import describe_dsn

        locks = "shared locks" if self.lock_dsn else "per-host locks"
        return f"QuestDBStore {describe_dsn(self.pg)} (prefix {self.table_prefix}, {locks})"


StoreConfig = LocalStoreConfig | PostgresStoreConfig | QuestDBStoreConfig
"""What ``store:`` holds once parsed."""

STORE_KINDS: dict[str, type[StoreConfig]] = {
    "local": LocalStoreConfig,
    "postgres": PostgresStoreConfig,
    "questdb": QuestDBStoreConfig,
}


def store_setting(value: Any) -> Any:
    """``store:`` as written → its model: a string is a LocalStore path, a
    mapping is validated by the model its ``kind`` names. Errors name the
    dotted key (``store.dsn``), which :func:`~seamless_sdk.config_model.to_request_error`
    keeps."""
    if isinstance(value, StoreConfig):
        return value
    if isinstance(value, str):
        if not value.strip():
            raise InvalidRequestError("store", "an empty path")
        return LocalStoreConfig(path=value)
    if not isinstance(value, Mapping):
        raise InvalidRequestError(
            "store", f"{value!r} is not a string (a path) nor a mapping with a kind"
        )
    kind = value.get("kind")
    known = ", ".join(STORE_KINDS)
    if kind is None:
        raise InvalidRequestError("store.kind", f"is required (one of {known})")
    if not isinstance(kind, str) or kind not in STORE_KINDS:
        raise InvalidRequestError("store.kind", f"{kind!r} is not one of {known}")
    return validate(STORE_KINDS[kind], dict(value), key="store")


class CoordinatorConfig(YamlModel):
    """``coordinator: {kind: postgres, dsn: ..., lease_s: 30, max_failures: 5}``.

    Single flight across hosts (``PostgresCoordinator``) for every fill of
    the code location and of the CLI, the Dagster request table in the same
    database, and QuestDB's locks unless ``store.lock_dsn`` says otherwise.

    ``lease_s`` is at most ``checks.MAX_WAIT_S`` (a week, the SDK's longest
    wait; a killed holder's window stays idle for up to ``lease_s``) and
    ``max_failures`` at most ``sla.MAX_ATTEMPTS`` (100, the most attempts the
    SDK makes at anything).
    """

    kind: Literal["postgres"]
    dsn: str
    lease_s: Annotated[float, Field(gt=0, le=MAX_WAIT_S)] = 30.0
    max_failures: Annotated[int, Field(ge=1, le=MAX_ATTEMPTS)] = 5

    @field_validator("dsn")
    @classmethod
    def _check_dsn(cls, value: str) -> str:
        return _dsn(value)

    def open(self) -> PostgresCoordinator:
        """A PostgresCoordinator on ``dsn`` (its tables are created on first use)."""
        from seamless_sdk.coordination.postgres import PostgresCoordinator

        return PostgresCoordinator(self.dsn, lease_s=self.lease_s, max_failures=self.max_failures)


def with_coordinator(store: StoreConfig, coordinator: CoordinatorConfig | None) -> StoreConfig:
    """``store`` with what it takes from the coordinator: a QuestDB store
    without ``lock_dsn`` locks in the coordinator's database."""
    if isinstance(store, QuestDBStoreConfig) and store.lock_dsn is None and coordinator:
        return store.model_copy(update={"lock_dsn": coordinator.dsn})
    return store
