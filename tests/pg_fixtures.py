"""The PostgreSQL server of the test run: started once per test process from the machine's
binaries (see shapelang.jobs.pgserver), one fresh database per test that asks for `pg_url`.

Without PostgreSQL the tests that need it are skipped on a developer's machine; under CI
(`CI=true`) a server that does not start fails them instead, so a missing install is seen."""
from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def pg_server():
    try:
        import psycopg  # noqa: F401  (a venv installed before it became a dependency lacks it)
        from shapelang.jobs.pgserver import PostgresServer, PostgresUnavailable
    except ImportError as e:
        pytest.fail(f"{e}: run pip install -e '.[test]' again", pytrace=False)
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as e:
        if in_ci():
            pytest.fail(f"PostgreSQL did not start (under CI it must): {e}", pytrace=False)
        pytest.skip(f"PostgreSQL is not available: {e}")
    yield server
    server.destroy()


@pytest.fixture
def pg_url(pg_server) -> str:
    """The URL of a new, empty database on the test server."""
    return pg_server.create_database()
