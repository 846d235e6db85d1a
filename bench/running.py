"""What every benchmark run shares: its servers' data and logs kept only when the run fails."""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["kept_on_failure"]


@contextlib.contextmanager
def kept_on_failure(root: Path) -> Iterator[None]:
    """The servers' data and logs: removed after a good run, kept (and named) after a failure."""
    try:
        yield
    except BaseException:
        print(f"logs and data kept in {root}", file=sys.stderr)
        raise
    shutil.rmtree(root, ignore_errors=True)
