"""RangeSet construction and protocol, as the contract states them."""

from __future__ import annotations

import pytest

from seamless_sdk import InvalidRequestError, RangeSet


def test_empty_and_normalised() -> None:
    assert RangeSet() == RangeSet([]) and not RangeSet() and len(RangeSet()) == 0
    rs = RangeSet([(20, 30), (0, 10), (10, 15), (5, 7), (40, 40)])
    assert list(rs) == [(0, 15), (20, 30)]
    assert len(rs) == 2 and rs.total() == 25 and bool(rs)
    assert repr(rs) == "RangeSet([(0, 15), (20, 30)])"
    assert hash(rs) == hash(RangeSet([(0, 15), (20, 30)]))


def test_methods() -> None:
    a = RangeSet([(0, 10), (20, 30)])
    assert a.union(RangeSet([(10, 20)])) == RangeSet([(0, 30)])
    assert a.intersect(RangeSet([(5, 25)])) == RangeSet([(5, 10), (20, 25)])
    assert a.subtract(RangeSet([(5, 25)])) == RangeSet([(0, 5), (25, 30)])
    assert a.missing(-5, 35) == RangeSet([(-5, 0), (10, 20), (30, 35)])
    assert a.missing(0, 10) == RangeSet()
    assert a | RangeSet([(10, 20)]) == RangeSet([(0, 30)])


@pytest.mark.parametrize(
    "bad",
    [[(5, 1)], [(1, 2, 3)], [("a", 2)], [1], [(1.5, 2)], [(True, 3)]],
    ids=["reversed", "triple", "string", "not-a-pair", "fraction", "bool"],
)
def test_bad_pairs_raise_invalid_request(bad: list[object]) -> None:
    with pytest.raises(InvalidRequestError) as info:
        RangeSet(bad)
    assert info.value.field == "ranges"
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("bad", [None, 5, 1.5])
def test_a_non_iterable_raises_invalid_request(bad: object) -> None:
    for call in (RangeSet, RangeSet([(0, 60)]).union, RangeSet([(0, 60)]).intersect):
        with pytest.raises(InvalidRequestError, match=r"^ranges: .* is not an iterable"):
            call(bad)  # type: ignore[operator]
