"""Fetchers from the config's one-line spec.

``synthetic`` or ``synthetic:<seed>`` is the deterministic ``SyntheticFetcher``;
``file:<path>`` a ``FileFetcher`` over a file or directory; anything of the
form ``package.module:name`` imports ``name``, and calls it (a class or a
factory) unless it already has a ``fetch`` method.
"""

from __future__ import annotations

import importlib
from typing import Any

from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.fetchers import FileFetcher, SyntheticFetcher


def build_fetcher(spec: str) -> Any:
    """A fetcher object for ``spec`` (see the module docstring)."""
    kind, _, arg = spec.partition(":")
    if kind == "synthetic":
        try:
            seed = int(arg or 0)
        except ValueError:
            raise InvalidRequestError("fetcher", f"{spec!r}: the seed must be an integer") from None
        # calls=False: a long-lived run or code server must not grow a call log.
        return SyntheticFetcher(seed, calls=False)
    if kind == "file":
        if not arg:
            raise InvalidRequestError("fetcher", f"{spec!r} names no file")
        return FileFetcher(arg)
    if not arg:
        raise InvalidRequestError(
            "fetcher", f"{spec!r} is not 'synthetic', 'file:<path>' or 'package.module:name'"
        )
    try:
        target = getattr(importlib.import_module(kind), arg)
    except (ImportError, AttributeError) as exc:
        raise InvalidRequestError("fetcher", f"{spec!r} cannot be imported: {exc}") from None
    # A class or a factory is called; an object that already fetches is used as is.
    is_fetcher = not isinstance(target, type) and callable(getattr(target, "fetch", None))
    fetcher = target if is_fetcher else target()
    if not callable(getattr(fetcher, "fetch", None)):
        raise InvalidRequestError("fetcher", f"{spec!r} gave {fetcher!r}, which has no fetch()")
    return fetcher
