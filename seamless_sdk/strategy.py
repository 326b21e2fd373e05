"""Read strategies and data sources."""

from __future__ import annotations

from enum import Enum, StrEnum

from seamless_sdk.errors import InvalidRequestError


class Strategy(Enum):
    """What a read does about missing data (see DESIGN.md, "Strategies and SLA").

    - ``FAIL_FAST``: raise ``DataUnavailableError`` with the missing ranges; never fetch.
    - ``AUTO_BACKFILL``: fill every gap before returning, within the SLA.
    - ``PARTIAL_FILL``: return what is there now; backfill the gaps in the background.
    - ``SEAMLESS``: fill small gaps now, detach large ones, take the newest bars live.
    """

    FAIL_FAST = "fail_fast"
    AUTO_BACKFILL = "auto_backfill"
    PARTIAL_FILL = "partial_fill"
    SEAMLESS = "seamless"

    @classmethod
    def parse(cls, value: Strategy | str) -> Strategy:
        """Accept a Strategy or its value/name (``"seamless"``, ``"SEAMLESS"``)."""
        if isinstance(value, Strategy):
            return value
        if isinstance(value, str):
            for member in cls:
                if value.lower() in (member.value, member.name.lower()):
                    return member
        raise InvalidRequestError("strategy", f"{value!r} is not one of {[m.value for m in cls]}")


DataAvailabilityStrategy = Strategy
"""The predecessor's name for :class:`Strategy` (seeds 000 and 004), the same enum."""


class Source(StrEnum):
    """Where bars came from, in default priority order."""

    CACHE = "cache"
    STORAGE = "storage"
    BACKFILL = "backfill"
    LIVE = "live"


DEFAULT_SOURCE_PRIORITY: tuple[Source, ...] = tuple(Source)


def parse_source_priority(value: object) -> tuple[Source, ...]:
    """Validate a source order such as ``("cache", "storage", "backfill", "live")``.

    Sources left out are not used for that request.
    """
    try:
        if isinstance(value, str) or not hasattr(value, "__iter__"):
            raise TypeError
        items = list(value)  # type: ignore[call-overload]
    except TypeError:  # a 0-d array has __iter__ and refuses to iterate
        raise InvalidRequestError(
            "source_priority", f"{value!r} is not a sequence of sources"
        ) from None
    out: list[Source] = []
    for item in items:
        try:
            source = Source(str(item).lower())
        except ValueError:
            raise InvalidRequestError(
                "source_priority", f"{item!r} is not one of {[s.value for s in Source]}"
            ) from None
        if source in out:
            raise InvalidRequestError("source_priority", f"{item!r} appears twice")
        out.append(source)
    return tuple(out)
