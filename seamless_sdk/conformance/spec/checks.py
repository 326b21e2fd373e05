"""Named pandera checks that the registry's schema files refer to.

A schema file can only name checks pandera knows, and pandera only
serialises checks registered through its extension API, so the rules a
stored bar frame must keep beyond column dtypes are registered here, each
under the name a YAML file uses (``checks: [{options: {check_name: ...}}]``):

| name | kind | passes when |
| --- | --- | --- |
| ``ascending`` | column | the column never goes down |
| ``high_ge_max_open_close`` | frame | no row breaks ``high_lt_max_open_close`` |
| ``low_le_min_open_close`` | frame | no row breaks ``low_gt_min_open_close`` |
| ``finite_values`` | frame, ``columns`` | no listed column is NaN or ±inf |

The frame checks are built from the rules table (``rules.py``): a check
passes a row when no rule it enforces breaks there. :func:`register_checks`
is idempotent; the registry calls it before it reads a file. Registration is
process-wide (pandera keeps checks on its ``Check`` class), which is why the
names are registered once and never replaced.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from seamless_sdk.conformance.spec.rules import FRAME_CHECKS, rules_of_check

_LOCK = threading.Lock()


def _ascending(series: pd.Series) -> bool:
    return bool(series.is_monotonic_increasing)


_ascending.__name__ = "ascending"  # pandera names a registered check after its function


def frame_check(name: str) -> Callable[..., pd.Series]:
    """The predicate of frame check ``name``: a bool Series, True where no rule it
    enforces breaks. Checks whose rules mean the same on any column (NaN, inf)
    take the ``columns`` a schema file lists; the others read the rules' columns."""
    rules = rules_of_check(name)
    if not rules:
        raise KeyError(name)

    def check(df: pd.DataFrame, *, columns: Sequence[str] | None = None) -> pd.Series:
        ok = np.ones(len(df), dtype=bool)
        for rule in rules:
            names = list(columns) if columns is not None and rule.any_columns else rule.columns
            ok &= ~rule.breaks(*(df[c].to_numpy(dtype=np.float64) for c in names))
        return pd.Series(ok, index=df.index)

    check.__name__ = name  # pandera names a registered check after its function
    return check


def _options(name: str) -> dict[str, Any]:
    takes_columns = all(rule.any_columns for rule in rules_of_check(name))
    options: dict[str, Any] = {"supported_types": pd.DataFrame}
    if takes_columns:
        options["statistics"] = ["columns"]
    return options


def register_checks() -> None:
    """Register ``ascending`` and every frame check of the rules table with pandera
    (once per process)."""
    import pandera.pandas as pa
    from pandera import extensions

    with _LOCK:
        if not hasattr(pa.Check, "ascending"):
            extensions.register_check_method(_ascending, supported_types=pd.Series)
        for name in FRAME_CHECKS:
            if hasattr(pa.Check, name):
                continue
            extensions.register_check_method(frame_check(name), **_options(name))


CHECK_NAMES: tuple[str, ...] = ("ascending", *FRAME_CHECKS)
"""The check names schema files may use on top of pandera's built-in ones."""
