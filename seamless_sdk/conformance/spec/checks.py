"""Named pandera checks that the registry's schema files refer to.

A schema file can only name checks pandera knows, and pandera only
serialises checks registered through its extension API, so the rules a
stored bar frame must keep beyond column dtypes live here, each under the
name a YAML file uses (``checks: [{options: {check_name: ...}}]``):

| name | kind | passes when |
| --- | --- | --- |
| ``ascending`` | column | the column never goes down |
| ``high_ge_max_open_close`` | frame | high >= max(open, close) on every row |
| ``low_le_min_open_close`` | frame | low <= min(open, close) on every row |
| ``finite_values`` | frame, ``columns`` | every listed column is finite on every row |

:func:`register_checks` is idempotent; the registry calls it before it reads
a file. Registration is process-wide (pandera keeps checks on its ``Check``
class), which is why the names are registered once and never replaced.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera import extensions

_LOCK = threading.Lock()


def _ascending(series: pd.Series) -> bool:
    return bool(series.is_monotonic_increasing)


def _high_ge_max_open_close(df: pd.DataFrame) -> pd.Series:
    return df["high"] >= np.maximum(df["open"], df["close"])


def _low_le_min_open_close(df: pd.DataFrame) -> pd.Series:
    return df["low"] <= np.minimum(df["open"], df["close"])


def _finite_values(df: pd.DataFrame, *, columns: Sequence[str]) -> pd.Series:
    values = df[list(columns)].to_numpy(dtype=np.float64)
    return pd.Series(np.isfinite(values).all(axis=1), index=df.index)


_CHECKS: tuple[tuple[str, Callable[..., Any], dict[str, Any]], ...] = (
    ("ascending", _ascending, {"supported_types": pd.Series}),
    ("high_ge_max_open_close", _high_ge_max_open_close, {"supported_types": pd.DataFrame}),
    ("low_le_min_open_close", _low_le_min_open_close, {"supported_types": pd.DataFrame}),
    (
        "finite_values",
        _finite_values,
        {"supported_types": pd.DataFrame, "statistics": ["columns"]},
    ),
)
CHECK_NAMES: tuple[str, ...] = tuple(name for name, _, _ in _CHECKS)
"""The check names schema files may use on top of pandera's built-in ones."""


def register_checks() -> None:
    """Register every check in ``CHECK_NAMES`` with pandera (once per process)."""
    with _LOCK:
        for name, fn, options in _CHECKS:
            if hasattr(pa.Check, name):
                continue
            # pandera names the check after the function, so give it the public name.
            fn.__name__ = name
            extensions.register_check_method(fn, **options)
