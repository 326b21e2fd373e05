"""The ``seamless`` resource built from the typed config."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from seamless_assets.config import parse_config
from seamless_assets.resources import SeamlessResource
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.errors import InvalidRequestError


def test_the_fill_policy_comes_from_the_backfill_section() -> None:
    config = parse_config(
        {
            "backfill": {
                "partial_ok": True,
                "fetch_attempts": 5,
                "fetch_backoff_ms": 12.5,
                "fetch_jitter_ratio": 0.5,
            }
        }
    )
    policy = SeamlessResource.from_config(config).fill_policy()
    assert policy == FillPolicy(
        partial_ok=True, max_attempts=5, retry_backoff_ms=12.5, jitter_ratio=0.5
    )


def test_the_defaults_are_the_sdks() -> None:
    assert SeamlessResource.from_config(parse_config({})).fill_policy() == FillPolicy()


def test_gx_check_without_great_expectations_fails_when_the_location_loads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec

    def without_gx(name: str, *args: Any) -> Any:
        return None if name == "great_expectations" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_gx)
    with pytest.raises(InvalidRequestError, match=r"^backfill\.gx_check: .*seamless\[gx\]"):
        SeamlessResource.from_config(parse_config({}))
    off = SeamlessResource.from_config(parse_config({"backfill": {"gx_check": False}}))
    assert off.gx_check is False
