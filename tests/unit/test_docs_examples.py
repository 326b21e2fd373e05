"""The strategy author's page runs as written (docs/strategies.md).

Its ``python`` blocks are run in order in one namespace, in a fresh temporary
directory, the way a reader would paste them into a session.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


@pytest.mark.parametrize("page", ["strategies.md"])
def test_every_example_runs(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = BLOCK.findall((DOCS / page).read_text())
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "docs_example"}
    for number, block in enumerate(blocks, start=1):
        code = compile(block, f"{page} block {number}", "exec")
        exec(code, namespace)
    assert os.path.exists(tmp_path / "bars.sqlite")
