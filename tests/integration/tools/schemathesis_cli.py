"""`python tests/integration/tools/schemathesis_cli.py run ...`: schemathesis's own command line,
with the garbage collector off for the run.

CPython 3.11 raises "SystemError: AST constructor recursion depth mismatch" when a collection
runs Python finalizers in the middle of `ast.parse`, and hypothesis parses lambda sources (to
describe its strategies) while schemathesis generates cases. A run is short and its garbage
small, so collection can wait until it ends."""

from __future__ import annotations

import gc
import sys

from schemathesis.cli import schemathesis

if __name__ == "__main__":
    gc.disable()
    sys.exit(schemathesis())
