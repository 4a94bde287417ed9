"""Test-wide settings: snapshots taken by tests go to a private store, never the user's."""
from __future__ import annotations

import os
import tempfile

# Set at import time so xdist workers and subprocesses started by tests inherit it.
if "SHAPE_TEST_STORE_DIR" not in os.environ:
    os.environ["SHAPE_TEST_STORE_DIR"] = tempfile.mkdtemp(prefix="shape-tests-")
os.environ["SHAPE_STORE"] = os.path.join(os.environ["SHAPE_TEST_STORE_DIR"],
                                         f"store-{os.getpid()}.db")
# The compiler checks every instruction it emits against the opcode record, and verifies every
# blob it makes (too slow to be on for users).
os.environ["SHAPE_CHECK_ASSEMBLY"] = "1"
# The cache of compiled code (vm/codecache.py) goes to the tests' own directory too.
os.environ["SHAPE_CACHE_DIR"] = os.path.join(os.environ["SHAPE_TEST_STORE_DIR"], "cache")

from pg_fixtures import pg_server, pg_url  # noqa: E402,F401  (fixtures for the PostgreSQL tests)
