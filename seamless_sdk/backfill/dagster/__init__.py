"""The Dagster backfiller: detached gaps become partition runs of ``seamless_assets``.

A strategy's read never waits on a Dagster run. ``DagsterBackfiller.request``
cuts the gaps into partition windows and records each window, with the read's
``FillPolicy`` (its run carries it as ``seamless/fill.*`` tags and the asset
fills with it), in the request table: a small SQLite file next to the store
whose UNIQUE key ``(node_id, interval, window_start, window_end)`` is the first of three dedup
layers: of many processes that miss the same window at the same moment, one
inserts the row and the others join it. The ``seamless_request_sensor`` of the
code location turns pending rows into runs with run keys (or, with
``submit="graphql"``, the inserting process submits the run through the
webserver at once). The queued run coordinator's tag limit of one run per
``seamless/partition`` value is the second layer, and the fill's coverage
re-check under the store's chunk lock the third.

The names shared with the code location (asset names, partition keys, tags)
live here too, so both sides agree on them without the SDK importing Dagster:
this module imports ``dagster`` only inside the functions that talk to an
instance.

Request row states::

    pending ──(sensor sees its run)──▶ launched ──(run finished)──▶ done | failed
       ▲                                                                │
       └──────────────(a later request for the same window)─────────────┘

The package is split by concern: ``partition_key`` (``PartitionKey``, the one
place partition keys are built and read), ``names`` (asset, job and tag names),
``requests`` (the request table; ``requests_pg`` the same on the coordinator's
PostgreSQL, shared by every host), ``backfiller`` (``DagsterBackfiller``),
``instance`` (instance helpers).
"""

from seamless_sdk.backfill.dagster.backfiller import (
    DagsterBackfiller,
    SubmitMode,
)
from seamless_sdk.backfill.dagster.instance import (
    in_flight_runs,
    listed_partitions,
    register_nodes,
    run_covers_partition,
    run_tags_for_request,
)
from seamless_sdk.backfill.dagster.names import (
    ASSET_PREFIX,
    DAGSTER_PARTITION_TAG,
    IN_FLIGHT_STATUSES,
    PARTITION_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    REQUEST_TAG,
    SOURCE_TAG,
    asset_name,
    job_name,
    partition_tag_value,
    partition_windows_touching,
    requests_path_for,
)
from seamless_sdk.backfill.dagster.partition_key import (
    NODE_DIMENSION,
    NODES_PARTITIONS,
    WINDOW_DIMENSION,
    PartitionKey,
    window_format,
)
from seamless_sdk.backfill.dagster.requests import (
    BackfillRequest,
    RequestState,
    RequestTable,
    Submission,
)
from seamless_sdk.backfill.dagster.requests_pg import (
    AnyRequestTable,
    PostgresRequestTable,
    open_request_table,
)

__all__ = [
    "ASSET_PREFIX",
    "DAGSTER_PARTITION_TAG",
    "IN_FLIGHT_STATUSES",
    "NODES_PARTITIONS",
    "NODE_DIMENSION",
    "PARTITION_TAG",
    "RANGE_END_TAG",
    "RANGE_START_TAG",
    "REQUEST_TAG",
    "SOURCE_TAG",
    "WINDOW_DIMENSION",
    "AnyRequestTable",
    "BackfillRequest",
    "DagsterBackfiller",
    "PartitionKey",
    "PostgresRequestTable",
    "RequestState",
    "RequestTable",
    "Submission",
    "SubmitMode",
    "asset_name",
    "in_flight_runs",
    "job_name",
    "listed_partitions",
    "open_request_table",
    "partition_tag_value",
    "partition_windows_touching",
    "register_nodes",
    "requests_path_for",
    "run_covers_partition",
    "run_tags_for_request",
    "window_format",
]
