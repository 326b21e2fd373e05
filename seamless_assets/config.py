"""The code location's configuration: ``seamless.yaml``, read once when Dagster loads it.

The file format, its typed model and its loader live in the SDK
(:mod:`seamless_sdk.config`), because the ``seamless`` CLI reads the same file
and must not import the code location. These are the names the code location
uses: the file is ``$SEAMLESS_CONFIG``, else ``./seamless.yaml`` in the
current directory (never a file inside the installed package), and a bad
value raises ``InvalidRequestError`` naming its key (``backfill.retries``,
``nodes[2].id``, ``store.dsn``). ``store:`` and ``coordinator:`` pick the
back-ends (``seamless_sdk.config_backends``).
"""

from __future__ import annotations

from seamless_sdk.config import (
    DEFAULT_CALENDAR,
    BackfillSettings,
    ConfigFile,
    CoordinatorConfig,
    LocalStoreConfig,
    NodeConfig,
    PostgresStoreConfig,
    QuestDBStoreConfig,
    SeamlessConfig,
    SensorSettings,
    find_config_file,
    load_config,
    parse_config,
)

__all__ = [
    "DEFAULT_CALENDAR",
    "BackfillSettings",
    "ConfigFile",
    "CoordinatorConfig",
    "LocalStoreConfig",
    "NodeConfig",
    "PostgresStoreConfig",
    "QuestDBStoreConfig",
    "SeamlessConfig",
    "SensorSettings",
    "find_config_file",
    "load_config",
    "parse_config",
]
