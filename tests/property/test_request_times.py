"""Every form of a time, in and out of the supported range, gives the same
epoch seconds or an ``InvalidRequestError`` naming the field: never a raw
pandas, numpy or datetime error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seamless_sdk import InvalidRequestError
from seamless_sdk.intervals import MAX_TIME, MIN_TIME, parse_interval
from seamless_sdk.request import to_epoch_seconds, validate_request

# Python's datetime spans years 1..9999; ISO strings and datetimes live there.
PY_MIN = int(datetime(1, 1, 2, tzinfo=UTC).timestamp())
PY_MAX = int(datetime(9999, 12, 30, tzinfo=UTC).timestamp())
NS_MIN, NS_MAX = -(2**63) // 10**9 + 1, (2**63 - 1) // 10**9

# Seconds near both bounds (where off-by-one bugs live) and anywhere at all.
NEAR_BOUNDS = st.one_of(
    st.integers(MIN_TIME - 3 * 86_400, MIN_TIME + 3 * 86_400),
    st.integers(MAX_TIME - 3 * 86_400, MAX_TIME + 3 * 86_400),
)
SECONDS = st.one_of(NEAR_BOUNDS, st.integers(PY_MIN, PY_MAX), st.integers(-(2**70), 2**70))
OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


def _as_datetime(s: int, tz: timezone | None) -> datetime:
    utc = datetime(1970, 1, 1) + timedelta(seconds=s)
    if tz is None:
        return utc
    return (utc.replace(tzinfo=UTC) + tz.utcoffset(None)).replace(tzinfo=tz)


@st.composite
def time_forms(draw: st.DrawFn) -> tuple[int, Any]:
    """``(seconds, the same instant in one of the accepted forms)``."""
    s = draw(SECONDS)
    forms = ["int", "numpy int", "datetime64[s]"]
    if abs(s) < 2**53:
        forms.append("float")
    if PY_MIN + 86_400 <= s <= PY_MAX - 86_400:  # leaves room for any UTC offset
        forms += ["naive datetime", "aware datetime", "iso Z", "iso offset", "iso naive"]
    if NS_MIN <= s <= NS_MAX:
        forms.append("datetime64[ns]")
    if -(2**53) < s < 2**53:
        forms += ["datetime64[ms]", "Timestamp[s]"]
    form = draw(st.sampled_from(forms))
    tz = draw(OFFSETS)
    value: Any
    if form == "int":
        value = s
    elif form == "numpy int":
        value = np.int64(s) if -(2**63) <= s < 2**63 else s
    elif form == "float":
        value = float(s)
    elif form == "naive datetime":
        value = _as_datetime(s, None)
    elif form == "aware datetime":
        value = _as_datetime(s, tz)
    elif form == "iso Z":
        value = _as_datetime(s, None).isoformat() + "Z"
    elif form == "iso offset":
        value = _as_datetime(s, tz).isoformat()
    elif form == "iso naive":
        value = _as_datetime(s, None).isoformat()
    elif form == "datetime64[s]":
        value = np.datetime64(s, "s") if -(2**63) < s < 2**63 else s
    elif form == "datetime64[ms]":
        value = np.datetime64(s * 1000, "ms")
    elif form == "datetime64[ns]":
        value = np.datetime64(s * 10**9, "ns")
    else:
        value = pd.Timestamp(np.datetime64(s, "s"))
        if draw(st.booleans()):
            value = value.tz_localize("UTC")
    return s, value


@settings(max_examples=600, deadline=None)
@given(pair=time_forms(), field=st.sampled_from(["start", "end"]))
def test_every_form_gives_its_seconds_or_a_range_error(pair: tuple[int, Any], field: str) -> None:
    s, value = pair
    if MIN_TIME <= s <= MAX_TIME:
        assert to_epoch_seconds(value, field) == s
    else:
        with pytest.raises(InvalidRequestError, match="outside the supported time range") as info:
            to_epoch_seconds(value, field)
        assert info.value.field == field
        assert str(info.value).startswith(f"{field}: ")


ANYTHING = st.one_of(
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.datetimes(timezones=st.none() | st.just(UTC) | OFFSETS),
    st.booleans(),
    st.none(),
    st.integers(-(2**63) + 1, 2**63 - 1).map(lambda n: np.datetime64(n, "us")),
    st.integers(-(2**40), 2**40).map(lambda n: np.datetime64(n, "D")),
    st.integers(-(2**40), 2**40).map(lambda n: np.datetime64(n, "M")),
    st.integers(-(2**40), 2**40).map(lambda n: np.datetime64(n, "Y")),
)


@settings(max_examples=600, deadline=None)
@given(value=ANYTHING)
def test_any_value_is_in_range_seconds_or_invalid_request(value: Any) -> None:
    try:
        s = to_epoch_seconds(value, "end")
    except InvalidRequestError as exc:
        assert exc.field == "end" and str(exc).startswith("end: ")
    else:
        assert type(s) is int and MIN_TIME <= s <= MAX_TIME


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(-(2**40), 2**40),
    length=st.integers(0, 10**12),
    interval=st.sampled_from(["1s", "1m", "5m", "1h", "4h", "1d"]),
)
def test_validate_request_names_the_field_out_of_range(
    start: int, length: int, interval: str
) -> None:
    iv = parse_interval(interval)
    s = start - start % iv.seconds
    e = s + length - length % iv.seconds
    try:
        req = validate_request("demo:X", interval, s, e)
    except InvalidRequestError as exc:
        field = "start" if not MIN_TIME <= s <= MAX_TIME else "end"
        assert exc.field == field
        assert "outside the supported time range" in str(exc)
    else:
        assert MIN_TIME <= req.start <= req.end <= MAX_TIME
