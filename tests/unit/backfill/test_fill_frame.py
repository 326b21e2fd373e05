"""The fill hands back the window it wrote, so Dagster checks and hashes it
without reading the store again, and the fingerprint equals a re-read's."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from seamless_sdk import LocalStore
from seamless_sdk.backfill.fill import fill_window, window_fingerprint
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.errors import FetchError, InvalidRequestError
from seamless_sdk.fetchers.synthetic import SyntheticFetcher
from seamless_sdk.intervals import parse_interval

M1 = parse_interval("1m")
START = 1_704_067_200  # 2024-01-01
END = START + 3 * 86_400  # three day chunks
NOW = END + 86_400


def test_fresh_window_frame_is_the_stored_window(tmp_path: Path) -> None:
    with LocalStore(tmp_path / "s.sqlite") as store:
        result = fill_window(
            store, SyntheticFetcher(seed=1), "demo:A", M1, START, END,
            policy=FillPolicy(), now=NOW,
        )  # fmt: skip
        assert result.frame is not None
        stored = store.read("demo:A", M1, START, END)
        pd.testing.assert_frame_equal(result.frame, stored)
        assert result.fingerprint == window_fingerprint(store, "demo:A", M1, START, END)


def test_partly_stored_window_is_read_once(tmp_path: Path) -> None:
    """A chunk stored before the fill: the handed frame comes from the store,
    and still equals it (the fill's own frames would miss the older bars)."""
    fetcher = SyntheticFetcher(seed=1)
    with LocalStore(tmp_path / "s.sqlite") as store:
        fill_window(store, fetcher, "demo:A", M1, START, START + 86_400,
                    policy=FillPolicy(), now=NOW)  # fmt: skip
        result = fill_window(store, fetcher, "demo:A", M1, START, END,
                             policy=FillPolicy(), now=NOW)  # fmt: skip
        assert result.rows == 2 * 1440
        assert result.frame is not None and len(result.frame) == 3 * 1440
        pd.testing.assert_frame_equal(result.frame, store.read("demo:A", M1, START, END))
        assert result.fingerprint == window_fingerprint(store, "demo:A", M1, START, END)


@pytest.mark.parametrize("fingerprint", [True, False])
def test_no_frame_without_fingerprint(tmp_path: Path, fingerprint: bool) -> None:
    with LocalStore(tmp_path / "s.sqlite") as store:
        result = fill_window(store, SyntheticFetcher(seed=1), "demo:A", M1, START, END,
                             policy=FillPolicy(), now=NOW, fingerprint=fingerprint)  # fmt: skip
        assert (result.frame is not None) is fingerprint
        assert bool(result.fingerprint) is fingerprint


def test_messages_and_notes_speak_in_iso_times(tmp_path: Path) -> None:
    with LocalStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(InvalidRequestError, match=r"^start: 2024-01-01T00:00:30Z is not"):
            fill_window(store, SyntheticFetcher(seed=1), "demo:A", M1, START + 30, END,
                        policy=FillPolicy(), now=NOW)  # fmt: skip
        clipped = fill_window(store, SyntheticFetcher(seed=1), "demo:A", M1, START, END,
                              policy=FillPolicy(), now=START + 3600)  # fmt: skip
        assert clipped.notes == (
            "clipped at the now edge 2024-01-01T01:00:00Z: bars from there on are not closed yet",
        )
        with pytest.raises(FetchError, match=r"\[2024-01-02T00:00:00Z, 2024-01-03T00:00:00Z\)"):
            fill_window(store, Broken(), "demo:B", M1, START + 86_400, START + 2 * 86_400,
                        policy=FillPolicy(max_attempts=1), now=NOW)  # fmt: skip


class Broken:
    """A fetcher whose source is down."""

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        raise ConnectionError("source down")
