"""RangeSet algebra against a brute-force model: the set of integer points."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from seamless_sdk import InvalidRequestError, RangeSet

pairs = st.lists(
    st.tuples(st.integers(-50, 50), st.integers(0, 20)).map(lambda p: (p[0], p[0] + p[1])),
    max_size=8,
)
rangesets = pairs.map(RangeSet)


def points(rs: RangeSet) -> set[int]:
    return {x for s, e in rs for x in range(s, e)}


@given(pairs)
def test_normalised_whatever_the_input(raw: list[tuple[int, int]]) -> None:
    rs = RangeSet(raw)
    ranges = list(rs)
    assert points(rs) == {x for s, e in raw for x in range(s, e)}
    assert all(s < e for s, e in ranges)
    # Sorted, disjoint and never adjacent: adjacent ranges are merged.
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))
    assert RangeSet(reversed(raw)) == rs
    assert len(rs) == len(ranges)
    assert rs.total() == len(points(rs))
    assert bool(rs) == bool(ranges)


@given(rangesets, rangesets)
def test_operations_match_set_semantics(a: RangeSet, b: RangeSet) -> None:
    assert points(a.union(b)) == points(a) | points(b)
    assert points(a.intersect(b)) == points(a) & points(b)
    assert points(a.subtract(b)) == points(a) - points(b)


@given(rangesets, rangesets, rangesets)
def test_laws(a: RangeSet, b: RangeSet, c: RangeSet) -> None:
    assert a.union(b) == b.union(a)
    assert a.intersect(b) == b.intersect(a)
    assert a.union(b).union(c) == a.union(b.union(c))
    assert a.intersect(b).intersect(c) == a.intersect(b.intersect(c))
    assert a.union(a) == a and a.intersect(a) == a
    assert a.intersect(b.union(c)) == a.intersect(b).union(a.intersect(c))
    assert a.subtract(b).intersect(b) == RangeSet()
    assert a.subtract(b).union(a.intersect(b)) == a


@given(rangesets, st.integers(-60, 60), st.integers(0, 40))
def test_missing_and_covers(a: RangeSet, start: int, length: int) -> None:
    end = start + length
    missing = a.missing(start, end)
    assert points(missing) == set(range(start, end)) - points(a)
    assert missing.union(a.clip(start, end)) == RangeSet([(start, end)])
    assert a.covers(start, end) == (not missing)


@given(rangesets, st.lists(st.integers(-60, 80), max_size=6))
def test_split_keeps_every_point(a: RangeSet, cuts: list[int]) -> None:
    pieces = a.split(cuts)
    assert RangeSet(pieces) == a
    assert not any(s < c < e for s, e in pieces for c in cuts)


@given(st.integers(-10, 10), st.integers(1, 10))
def test_reversed_pair_raises(start: int, gap: int) -> None:
    try:
        RangeSet([(start, start - gap)])
    except InvalidRequestError as exc:
        assert exc.field == "ranges"
    else:
        raise AssertionError("a reversed pair was accepted")
