"""``PartitionKey``: one partition of a bar asset, and the only code that spells its key.

A bar asset is partitioned by node (the ``nodes`` dynamic partitions) × time
window (a UTC month or year, see ``Interval.partition_unit``). Dagster writes
a multi-partition key as the dimension keys joined by ``|`` in the order of
the dimension names (``node`` < ``window``), so ``demo:BTC|2024-01``. Node
ids never hold ``|`` (``NODE_ID_PATTERN``), so the split is unambiguous.
Both directions live here: ``str(key)`` builds it, ``PartitionKey.parse``
reads it back (from a string or from Dagster's ``MultiPartitionKey``).

No Dagster import: the SDK side uses it without Dagster installed.

>>> from seamless_sdk.intervals import parse_interval
>>> key = PartitionKey.parse(parse_interval("1m"), "demo:BTC|2024-01")
>>> key.node_id, key.window_start, key.window_end
('demo:BTC', 1704067200, 1706745600)
>>> str(key)
'demo:BTC|2024-01'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import Interval, parse_interval, window_floor, window_next
from seamless_sdk.request import validate_node_id

NODES_PARTITIONS = "nodes"
"""Name of the dynamic partitions definition that lists the nodes."""
NODE_DIMENSION = "node"
"""The node dimension of every bar asset's multi-partitions."""
WINDOW_DIMENSION = "window"
"""The time-window dimension of every bar asset's multi-partitions."""
SEPARATOR = "|"
"""What Dagster joins the dimension keys of a multi-partition key with."""

_WINDOW_FORMATS = {"month": "%Y-%m", "year": "%Y"}


@runtime_checkable
class DimensionKeyed(Protocol):
    """Anything with Dagster ``MultiPartitionKey``'s ``keys_by_dimension``."""

    @property
    def keys_by_dimension(self) -> Mapping[str, str]: ...


def window_format(interval: Interval) -> str:
    """strftime format of the interval's window keys (``%Y-%m`` or ``%Y``)."""
    return _WINDOW_FORMATS[interval.partition_unit]


@dataclass(frozen=True, slots=True)
class PartitionKey:
    """One partition of ``bars_<interval>``: a node and the window starting at
    ``window_start`` (epoch seconds, aligned to the interval's partition unit).

    Construction validates both, so a ``PartitionKey`` always names a real
    partition; ``InvalidRequestError`` names the bad field otherwise.
    """

    node_id: str
    interval: Interval
    window_start: int

    def __post_init__(self) -> None:
        validate_node_id(self.node_id)
        if not isinstance(self.interval, Interval):
            raise InvalidRequestError("interval", f"{self.interval!r} is not an Interval")
        ws = self.window_start
        if isinstance(ws, bool) or not isinstance(ws, int):
            raise InvalidRequestError("window_start", f"{ws!r} is not epoch seconds")
        if window_floor(ws, self.interval.partition_unit) != ws:
            raise InvalidRequestError(
                "window_start", f"{ws} does not start a {self.interval.partition_unit} window"
            )

    @classmethod
    def of(cls, node_id: str, interval: Interval | str, ts: int) -> PartitionKey:
        """The partition of ``node_id`` whose window holds ``ts``."""
        iv = parse_interval(interval)
        return cls(node_id, iv, window_floor(ts, iv.partition_unit))

    @classmethod
    def parse(cls, interval: Interval | str, key: str | DimensionKeyed) -> PartitionKey:
        """Read a key Dagster handed over: ``"<node>|<window>"`` or a
        ``MultiPartitionKey`` (its dimensions are used, not its string)."""
        iv = parse_interval(interval)
        if isinstance(key, DimensionKeyed):
            dims = key.keys_by_dimension
            if set(dims) != {NODE_DIMENSION, WINDOW_DIMENSION}:
                raise InvalidRequestError(
                    "partition_key", f"dimensions {sorted(dims)} are not node and window"
                )
            node, window = dims[NODE_DIMENSION], dims[WINDOW_DIMENSION]
        elif isinstance(key, str):
            node, sep, window = key.rpartition(SEPARATOR)
            if not sep:
                raise InvalidRequestError("partition_key", f"{key!r} is not '<node>|<window>'")
        else:
            raise InvalidRequestError("partition_key", f"{key!r} is not a partition key")
        return cls(validate_node_id(node), iv, _window_start(iv, window))

    @property
    def window_end(self) -> int:
        """End (exclusive) of the window, epoch seconds."""
        return window_next(self.window_start, self.interval.partition_unit)

    @property
    def window(self) -> tuple[int, int]:
        """``(window_start, window_end)``."""
        return self.window_start, self.window_end

    @property
    def window_key(self) -> str:
        """The time-dimension key alone: ``2024-01`` (month) or ``2024`` (year)."""
        return datetime.fromtimestamp(self.window_start, UTC).strftime(window_format(self.interval))

    @property
    def dimensions(self) -> dict[str, str]:
        """Dimension name → key, what ``dagster.MultiPartitionKey`` is built from."""
        return {NODE_DIMENSION: self.node_id, WINDOW_DIMENSION: self.window_key}

    def __str__(self) -> str:
        # Dagster's own order: dimension keys sorted by dimension name.
        return SEPARATOR.join(self.dimensions[d] for d in sorted(self.dimensions))


def _window_start(interval: Interval, window: str) -> int:
    fmt = window_format(interval)
    try:
        start = int(datetime.strptime(window, fmt).replace(tzinfo=UTC).timestamp())
    except ValueError:
        start = None
    # strptime accepts unpadded numbers ("2024-1"): only the canonical spelling is a key.
    if start is None or datetime.fromtimestamp(start, UTC).strftime(fmt) != window:
        raise InvalidRequestError(
            "partition_key",
            f"{window!r} is not a {interval.partition_unit} window key of {interval.name}",
        )
    return start
