"""One conversion of any value to plain JSON types, for logs, reports and metadata.

Every JSON document Seamless writes (log events, ``ConformanceReport.to_dict``,
``HistoryMeta.to_dict``, Dagster check metadata, report files) goes through
:func:`jsonable`, so they all agree, and ``json.dumps(..., allow_nan=False)``
accepts the result:

* ``None``, ``bool``, ``str`` stay; ints (``IntEnum``, numpy ints) become ``int``;
* floats stay when finite; **NaN and ±inf become the strings** ``"nan"``,
  ``"inf"`` and ``"-inf"``: JSON has no such numbers, and a string keeps
  what ``null`` would lose (a NaN price and an infinite one are different
  failures);
* ``RangeSet`` becomes ``[[start, end], ...]``, ``Interval`` its name, an enum
  its value, numpy scalars Python values, datetimes and dates ISO-8601
  strings, timedeltas seconds;
* mappings become objects with string keys; lists, tuples, arrays and sets
  (sorted when they can be) become arrays;
* exceptions become ``"Type: message"``; objects with ``to_dict`` or
  dataclasses their converted dict; anything else ``str(value)``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any

import numpy as np

from seamless_sdk.intervals import Interval
from seamless_sdk.ranges import RangeSet


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (see the module docstring for the rules)."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return int(value)  # IntEnum and other int subclasses become plain ints
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(float(value))
    if isinstance(value, RangeSet):
        return value.to_list()
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, Interval):
        return value.name
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        items = [jsonable(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in value]
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return jsonable(to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    return str(value)
