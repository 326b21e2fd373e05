"""Fetchers from a one-line spec, as ``seamless.yaml``'s ``fetcher`` key writes them.

``synthetic`` or ``synthetic:<seed>`` is the deterministic ``SyntheticFetcher``
(seed 0 by default); ``file:<path>`` a ``FileFetcher`` over a file or
directory; anything of the form ``package.module:name`` imports ``name`` and
calls it (a class or a factory) unless it already has a ``fetch`` method.

Both the Dagster code location and the ``seamless`` CLI build their fetcher
here, so the two fill one store with the same bars.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, replace
from typing import Any, Literal

from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.fetchers.files import FileFetcher
from seamless_sdk.fetchers.synthetic import SyntheticFetcher

SpecKind = Literal["synthetic", "file", "import"]

_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIELD = "fetcher"


@dataclass(frozen=True, slots=True)
class FetcherSpec:
    """A parsed spec: ``kind`` and its ``argument`` (seed, path or ``module:name``)."""

    kind: SpecKind
    argument: str = ""

    @property
    def seed(self) -> int:
        """The synthetic fetcher's seed (0 unless the spec names one)."""
        return int(self.argument or 0)

    def with_argument(self, argument: str) -> FetcherSpec:
        """The same kind with another argument (a resolved path)."""
        return replace(self, argument=argument)

    def __str__(self) -> str:
        if self.kind == "import":
            return self.argument
        return f"{self.kind}:{self.argument}" if self.argument else self.kind


def parse_fetcher_spec(spec: str | FetcherSpec) -> FetcherSpec:
    """The spec's parts, checked for syntax only (nothing is imported or opened)."""
    if isinstance(spec, FetcherSpec):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidRequestError(_FIELD, f"{spec!r} is not a fetcher spec string")
    text = spec.strip()
    kind, _, arg = text.partition(":")
    if kind == "synthetic":
        if arg and not re.fullmatch(r"-?[0-9]+", arg):
            raise InvalidRequestError(_FIELD, f"{text!r}: the seed must be an integer")
        return FetcherSpec("synthetic", arg)
    if kind == "file":
        if not arg.strip():
            raise InvalidRequestError(_FIELD, f"{text!r} names no file")
        return FetcherSpec("file", arg.strip())
    if arg and _MODULE.fullmatch(kind) and _NAME.fullmatch(arg):
        return FetcherSpec("import", text)
    raise InvalidRequestError(
        _FIELD, f"{text!r} is not 'synthetic[:seed]', 'file:<path>' or 'package.module:name'"
    )


def build_fetcher(spec: str | FetcherSpec) -> Any:
    """A fetcher object for ``spec`` (see the module docstring)."""
    parsed = parse_fetcher_spec(spec)
    if parsed.kind == "synthetic":
        # calls=False: a long-lived run, code server or CLI must not grow a call log.
        return SyntheticFetcher(parsed.seed, calls=False)
    if parsed.kind == "file":
        return FileFetcher(parsed.argument)
    module, _, name = parsed.argument.partition(":")
    try:
        target = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise InvalidRequestError(_FIELD, f"{parsed}: cannot be imported: {exc}") from None
    # A class or a factory is called; an object that already fetches is used as is.
    is_fetcher = not isinstance(target, type) and callable(getattr(target, "fetch", None))
    fetcher = target if is_fetcher else target()
    if not callable(getattr(fetcher, "fetch", None)):
        raise InvalidRequestError(_FIELD, f"{parsed} gave {fetcher!r}, which has no fetch()")
    return fetcher
