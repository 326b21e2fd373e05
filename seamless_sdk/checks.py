"""Checks of the arguments callers hand the SDK's constructors and options.

One home for "is this a bool / a number in range / a callable", so every
field is refused the same way: an ``InvalidRequestError`` naming it, before
anything is built. Request fields (node ids, times) are ``request``'s.

>>> check_number("workers", 0, 1, 256, integer=True)
Traceback (most recent call last):
...
seamless_sdk.errors.InvalidRequestError: workers: 0 is not in [1, 256]
"""

from __future__ import annotations

import math
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from seamless_sdk.errors import InvalidRequestError

MAX_WORKERS = 256
"""The most threads, connections or concurrent fetches one setting may ask for
(a provider's ``workers``, a PostgreSQL pool, ``backfill.fetch_concurrency``)."""
MAX_WAIT_S = 7 * 24 * 3600.0
"""A week: the longest wait, lifetime or lease any setting may ask for."""


def check_bool(field: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (not 1, not "yes")."""
    if not isinstance(value, bool):
        raise InvalidRequestError(field, f"{value!r} is not True or False")
    return value


def check_number(
    field: str,
    value: object,
    low: float,
    high: float,
    *,
    integer: bool = False,
    none_means: str | None = None,
) -> None:
    """``value`` is None or a finite number in ``[low, high]`` (a whole one if
    ``integer``); ``none_means`` says in the message what None would mean."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequestError(field, f"{value!r} is not a number")
    # An int too big for a float is finite but past any bound: the range check says so.
    if isinstance(value, float) and not math.isfinite(value):
        hint = "" if none_means is None else f" (None means {none_means})"
        raise InvalidRequestError(field, f"{value!r} is not finite{hint}")
    if integer and value != int(value):
        raise InvalidRequestError(field, f"{value!r} is not a whole number")
    if not low <= value <= high:
        raise InvalidRequestError(field, f"{value!r} is not in [{low:g}, {high:g}]")


def check_callable(field: str, value: object) -> None:
    """``value`` is None or callable."""
    if value is not None and not callable(value):
        raise InvalidRequestError(field, f"{value!r} is not callable")


def read_text_file(path: Path | Traversable, field: str, *, label: str | None = None) -> str:
    """The text of a file a user hands Seamless (a config, a plan, a report), as
    UTF-8; a file that cannot be read, or whose bytes are not UTF-8 text, is
    ``InvalidRequestError`` with ``field`` naming it (``label``, default ``path``)
    rather than an ``OSError`` or ``UnicodeDecodeError`` from deep inside."""
    where = label or str(path)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidRequestError(field, f"cannot read {where}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(field, f"{where} is not UTF-8 text ({exc.reason})") from None
