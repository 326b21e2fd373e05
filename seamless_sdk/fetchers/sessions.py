"""The synthetic fetcher, served in the node's trading sessions only.

``SyntheticFetcher`` makes a bar for every interval of the day, whatever the
node; a node on an exchange calendar (``demo:SPY`` on XNYS) would then store
bars of nights and weekends and its completeness check would count them as
unexpected. The code location and the CLI (which share ``seamless.yaml``'s
store) wrap the synthetic fetcher, and only it: a real source's bars outside
the sessions are data to be reported, not hidden. So it returns the bars the
node's calendar expects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from seamless_sdk.bars import epoch_seconds
from seamless_sdk.calendars import ALWAYS_OPEN, Calendar
from seamless_sdk.fetchers.synthetic import SyntheticFetcher


@dataclass(frozen=True, slots=True)
class SessionFetcher:
    """``inner``'s bars of ``[start, end)`` inside the node's sessions."""

    inner: SyntheticFetcher
    calendar_of: Callable[[str], Calendar]

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        """The inner fetch, less the bars the node's calendar does not expect."""
        frame = self.inner.fetch(node_id, interval, start, end)
        calendar = self.calendar_of(node_id)
        if calendar.name == ALWAYS_OPEN or not len(frame):
            return frame
        keep = np.isin(epoch_seconds(frame["ts"]), calendar.expected_bars(interval, start, end))
        return frame.loc[keep].reset_index(drop=True)


def in_sessions(fetcher: Any, calendar_of: Callable[[str], Calendar]) -> Any:
    """``fetcher`` wrapped in :class:`SessionFetcher` when it is synthetic, else itself."""
    if isinstance(fetcher, SyntheticFetcher):
        return SessionFetcher(fetcher, calendar_of)
    return fetcher
