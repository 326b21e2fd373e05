"""LocalStore's chunk encoder writes exactly pyarrow's Arrow IPC bytes (hypothesis).

``encode`` splices a chunk's columns into a pyarrow-written template of the
same row count; any rows, any values (NaN payloads, -0.0, subnormals, any
flags) must give byte-for-byte the stream pyarrow's own writer gives, and
read back as the same columns.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from seamless_sdk.stores._arrow import Columns, decode, encode, encode_with_pyarrow


@st.composite
def columns(draw: st.DrawFn) -> Columns:
    n = draw(st.integers(0, 300))
    ts = draw(hnp.arrays(np.int64, n, elements=st.integers(-(2**63), 2**63 - 1)))
    values = tuple(
        draw(hnp.arrays(np.float64, n, elements=st.floats(allow_nan=True, width=64)))
        for _ in range(5)
    )
    flags = draw(hnp.arrays(np.int32, n, elements=st.integers(-(2**31), 2**31 - 1)))
    return Columns(ts, values, flags)


@settings(max_examples=200, deadline=None)
@given(columns())
def test_encode_gives_pyarrows_bytes_and_reads_back(cols: Columns) -> None:
    blob = encode(cols)
    assert blob == encode_with_pyarrow(cols)
    back = decode(blob)
    assert back.ts.tobytes() == cols.ts.tobytes()
    for got, want in zip(back.values, cols.values, strict=True):
        assert got.tobytes() == want.tobytes()
    assert back.flags.tobytes() == cols.flags.tobytes()


def test_a_strided_column_is_encoded_by_its_values() -> None:
    wide = np.arange(6 * 20, dtype=np.int64).reshape(6, 20)
    cols = Columns(wide[0, ::2], tuple(wide[j, ::2].view(np.float64) for j in range(1, 6)),
                   np.arange(10, dtype=np.int32))  # fmt: skip
    assert encode(cols) == encode_with_pyarrow(cols)
