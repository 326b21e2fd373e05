"""The Great Expectations warm-up: started once per process, and checks after it still run."""

from __future__ import annotations

from seamless_assets.checks import expectations
from seamless_sdk.conformance import conform_bars
from seamless_sdk.fetchers.synthetic import SyntheticFetcher

T0 = 1_704_067_200


def test_warm_up_runs_once_and_the_suite_still_validates() -> None:
    first = expectations.warm_up()
    assert expectations.warm_up() is None  # already started in this process
    if first is not None:
        first.join(timeout=120)
        assert not first.is_alive()
    raw = SyntheticFetcher(seed=4).generate("test:GX", "1m", T0, T0 + 3_600)
    result = expectations.run_suite(conform_bars(raw, "1m", T0, T0 + 3_600).frame)
    assert result.success and result.rows == 60
