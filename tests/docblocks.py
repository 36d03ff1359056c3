"""Running the ```python blocks of a Markdown page, so documented examples cannot rot."""
from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """``(line, code)`` of every fenced python block of ``page``."""
    text = page.read_text(encoding="utf-8")
    return [(text[:m.start()].count("\n") + 2, m.group(1)) for m in BLOCK.finditer(text)]


def run_python_blocks(page: Path) -> int:
    """Execute the blocks in order in one namespace, from the repository root; returns how many ran.

    A block that raises fails with the page and line it starts at.
    """
    namespace: dict = {"__name__": "__docs__"}
    root = page.resolve().parents[1]
    blocks = python_blocks(page)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        for line, code in blocks:
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(code, f"{page.name}:{line}", "exec"), namespace)
            except Exception as e:
                raise AssertionError(f"{page.name} block at line {line} raised {type(e).__name__}: {e}") from e
    finally:
        os.chdir(cwd)
    return len(blocks)
