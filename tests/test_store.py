"""The snapshot stores, SQLite and PostgreSQL, held to the same guarantees: dedup, hash checks
on load, prefixes, gc, corruption, concurrency; plus what differs: URLs, copying between them,
schema versions, masked passwords, a server that goes away."""
from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys

import pytest

from shapelang import cli
from shapelang.runtime.errors import ShapeError
from shapelang.vm.store import (SQLiteStore, copy_snapshot, default_store_path, mask_url,
                                open_store, parse_store_url, sha256_hex)
from shapelang.vm.store import schema


def blobs(*contents: bytes) -> dict:
    return {sha256_hex(c): c for c in contents}


def _location(kind: str, request, tmp_path) -> str:
    if kind == "sqlite":
        return str(tmp_path / "s.db")
    return request.getfixturevalue("pg_url")


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path) -> str:
    return _location(request.param, request, tmp_path)


@pytest.fixture
def store(location):
    s = open_store(location)
    yield s
    s.close()


def tamper(store, sql: str, *params) -> None:
    """Change the store behind its back (as a damaged disk or a hand edit would)."""
    with store._write():
        store._execute(sql, params)


def test_put_and_get_snapshot(store):
    code = blobs(b"fn-a", b"fn-b")
    assert store.put_blobs(code) == 8
    sid = store.put_snapshot(b"state-1", code.keys(), "x.shape", "call", None)
    assert sid == sha256_hex(b"state-1")
    info, state = store.get_snapshot(sid)
    assert state == b"state-1" and info.script == "x.shape" and info.kind == "call"
    assert sorted(info.blob_ids) == sorted(code)


def test_second_snapshot_stores_only_its_state(store):
    code = blobs(b"x" * 1000, b"y" * 1000)
    store.put_blobs(code)
    store.put_snapshot(b"s1", code, None, "call", None)
    before = store.stats()["bytes"]
    assert store.put_blobs(code) == 0
    store.put_snapshot(b"s2-longer", code, None, "call", None)
    assert store.stats()["bytes"] - before == len(b"s2-longer")


def test_same_state_same_id_idempotent(store):
    a = store.put_snapshot(b"same", [], None, "call", None)
    b = store.put_snapshot(b"same", [], None, "call", None)
    assert a == b and len(store.list()) == 1


def test_blob_hash_mismatch_refused(store):
    with pytest.raises(ShapeError) as e:
        store.put_blobs({"0" * 64: b"data"})
    assert e.value.kind == "StoreError"


def test_snapshot_with_missing_blob_refused(store):
    with pytest.raises(ShapeError):
        store.put_snapshot(b"s", ["f" * 64], None, "call", None)
    assert store.list() == []   # the failed transaction left nothing behind


def test_missing_blob_found_among_many(store):
    # the listed blobs are checked in chunks of ids per query (base._IDS_PER_QUERY)
    code = blobs(*(b"blob-%d" % i for i in range(1200)))
    store.put_blobs(code)
    missing = sha256_hex(b"never stored")
    with pytest.raises(ShapeError) as e:
        store.put_snapshot(b"s", [*code, missing], None, "call", None)
    assert missing[:12] in e.value.message
    sid = store.put_snapshot(b"s", code, None, "call", None)
    assert sorted(store.get_snapshot(sid)[0].blob_ids) == sorted(code)


def test_prefix_resolution(store):
    sid = store.put_snapshot(b"abc", [], None, "call", None)
    assert store.resolve(sid[:6]) == sid
    with pytest.raises(ShapeError) as e:
        store.resolve("zz")
    assert e.value.kind == "ResumeError"
    with pytest.raises(ShapeError):
        store.resolve("0123456789abcdef" * 4)


def test_ambiguous_prefix(store):
    ids = [store.put_snapshot(f"state-{i}".encode(), [], None, "call", None) for i in range(40)]
    first = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) > 1)
    with pytest.raises(ShapeError) as e:
        store.resolve(first)
    assert "ambiguous" in e.value.message


def test_tampered_state_detected_and_nothing_else_lost(store):
    code = blobs(b"code")
    store.put_blobs(code)
    good = store.put_snapshot(b"good", code, None, "call", None)
    bad = store.put_snapshot(b"bad", code, None, "call", None)
    tamper(store, "UPDATE blobs SET data=? WHERE id=?", b"evil", bad)
    with pytest.raises(ShapeError) as e:
        store.get_snapshot(bad)
    assert "corrupt" in e.value.message
    assert store.get_snapshot(good)[1] == b"good"
    problems = store.verify()
    assert len(problems) == 1 and bad in problems[0]


def test_corrupt_blob_list_is_listed_not_hidden(store):
    a = store.put_snapshot(b"a", [], "a.shape", "call", None)
    b = store.put_snapshot(b"b", [], "b.shape", "call", None)
    tamper(store, "UPDATE snapshots SET blob_ids=? WHERE id=?", "{not json", a)
    listed = {s.id: s for s in store.list()}
    assert listed[a].problem == "corrupt metadata" and listed[b].problem is None
    with pytest.raises(ShapeError):
        store.gc()
    assert store.verify() == [f"snapshot {a}: corrupt metadata"]


def test_delete_and_gc(store):
    code = blobs(b"c1")
    other = blobs(b"c2")
    store.put_blobs({**code, **other})
    a = store.put_snapshot(b"a", code, None, "call", None)
    b = store.put_snapshot(b"b", other, None, "call", None)
    store.delete(b)
    assert store.gc() == 1            # c2 is garbage, c1 still used by a
    assert store.get_snapshot(a)[1] == b"a"
    assert store.verify() == []


def test_list_by_script_and_newest(store):
    ids = [store.put_snapshot(f"s{i}".encode(), [], "a.shape" if i % 2 else "b.shape", "call",
                              None, created=1_700_000_000 + i) for i in range(6)]
    assert [s.id for s in store.list()] == ids
    assert [s.id for s in store.list(script="a.shape")] == ids[1::2]
    assert [s.id for s in store.list(limit=2)] == ids[-2:]
    assert [s.id for s in store.list(script="b.shape", limit=1)] == [ids[4]]


def test_corrupt_file_is_a_clear_error(tmp_path):
    p = tmp_path / "junk.db"
    p.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ShapeError) as e:
        SQLiteStore(str(p))
    assert e.value.kind == "StoreError"
    assert p.read_bytes() == b"this is not a database" * 100   # nothing overwritten


def test_default_location(monkeypatch, tmp_path):
    monkeypatch.delenv("SHAPE_STORE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_store_path() == str(tmp_path / "shape" / "snapshots.db")
    monkeypatch.setenv("SHAPE_STORE", "/x/y.db")
    assert default_store_path() == "/x/y.db"


# ---------------------------------------------------------------- URLs and passwords

@pytest.mark.parametrize("text, kind, target", [
    ("snaps.db", "sqlite", "snaps.db"),
    ("/abs/snaps.db", "sqlite", "/abs/snaps.db"),
    ("sqlite:///rel/snaps.db", "sqlite", "rel/snaps.db"),
    ("sqlite:////abs/snaps.db", "sqlite", "/abs/snaps.db"),
    ("postgresql://u:p@db.example:5432/shape", "postgresql", "postgresql://u:p@db.example:5432/shape"),
    ("postgres://u@h/d", "postgresql", "postgres://u@h/d"),
    ("postgresql:///shape?host=/run/postgresql", "postgresql", "postgresql:///shape?host=/run/postgresql"),
])
def test_store_urls(text, kind, target):
    url = parse_store_url(text)
    assert (url.kind, url.target) == (kind, target)


@pytest.mark.parametrize("text", ["mysql://x/y", "sqlite://", "sqlite:///"])
def test_bad_store_urls(text):
    with pytest.raises(ShapeError) as e:
        parse_store_url(text)
    assert e.value.kind == "StoreError"


@pytest.mark.parametrize("url, shown", [
    ("postgresql://alice:s3cr%40t@db:5432/shape", "postgresql://alice:***@db:5432/shape"),
    ("postgresql://alice@db/shape", "postgresql://alice@db/shape"),
    ("postgresql:///shape?host=/tmp&password=s3cret&user=a", "postgresql:///shape?host=/tmp&password=***&user=a"),
])
def test_passwords_are_masked(url, shown):
    assert mask_url(url) == shown
    assert "s3cr" not in parse_store_url(url).shown


def _process(*args, env=None, timeout=120):
    """`shape ARGS` in a new process (what a user sees, environment included)."""
    return subprocess.run([sys.executable, "-m", "shapelang", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


def _shape(*args):
    """`shape ARGS` in this process (faster; the CLI catches everything a process would show)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def test_no_password_in_any_output_when_the_server_is_unreachable(tmp_path):
    url = "postgresql://alice:hunter2secret@127.0.0.1:1/shape"   # nothing listens on port 1
    prog = tmp_path / "p.shape"
    prog.write_text("let s = snapshot()\nprint(1)\n")
    runs = [("snapshot", "--store", url, "list"), ("--resume", "abcd", "--store", url),
            ("run", "--store", url, str(prog))]
    for argv in runs:
        r = _process(*argv)
        assert r.returncode == 1, argv
        assert r.stderr.startswith("Error: ") and "StoreError" in r.stderr, r.stderr
        assert "hunter2" not in r.stdout + r.stderr and "alice:***@127.0.0.1:1" in r.stderr
        assert "Traceback" not in r.stderr


# ---------------------------------------------------------------- read-only opens create nothing

def test_read_only_commands_on_a_missing_sqlite_store_create_nothing(tmp_path):
    path = tmp_path / "nested" / "typo.db"
    for cmd in (["list"], ["info", "ab"], ["verify"], ["gc"], ["delete", "ab"]):
        r = _shape("snapshot", "--store", str(path), *cmd)
        assert r.returncode == 1 and "No snapshot store at" in r.stderr, r.stderr
        # the command is named where a source file would be (it said `<input>`)
        assert r.stderr.startswith("Error: shape snapshot: StoreError: "), r.stderr
    assert not path.exists() and not path.parent.exists()


def test_read_only_commands_on_a_database_without_the_schema_change_nothing(pg_url):
    for cmd in (["list"], ["info", "ab"], ["verify"], ["gc"], ["delete", "ab"]):
        r = _shape("snapshot", "--store", pg_url, *cmd)
        assert r.returncode == 1 and "has no snapshot store yet" in r.stderr, r.stderr
    import psycopg
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regnamespace('shape')").fetchone()[0] is None


# ---------------------------------------------------------------- schema versions

def test_a_version_1_sqlite_store_is_read_as_it_is_and_migrated_on_the_first_write(tmp_path):
    path = str(tmp_path / "v1.db")
    con = sqlite3.connect(path)   # what the first release wrote
    con.executescript("""
        CREATE TABLE blobs (id TEXT PRIMARY KEY, size INTEGER, data BLOB);
        CREATE TABLE snapshots (id TEXT PRIMARY KEY, created FLOAT, script TEXT, kind TEXT,
                                parent TEXT, state_size INTEGER, blob_ids TEXT);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
        INSERT INTO meta VALUES ('schema', '1');""")
    sid = sha256_hex(b"old")
    con.execute("INSERT INTO blobs VALUES (?, 3, ?)", (sid, b"old"))
    con.execute("INSERT INTO snapshots VALUES (?, 1.7e9, 'old.shape', 'call', NULL, 3, '[]')", (sid,))
    con.commit()
    con.close()
    before = open(path, "rb").read()
    s = SQLiteStore(path, create=False)
    assert [i.id for i in s.list()] == [sid] and s.verify() == []
    s.close()
    assert open(path, "rb").read() == before        # reading changed nothing
    s = SQLiteStore(path)
    s.put_snapshot(b"new", [], None, "call", None)
    s.close()
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0] == str(schema.SCHEMA_VERSION)
    assert "snapshots_by_created" in [r[1] for r in con.execute("PRAGMA index_list(snapshots)")]
    con.close()


def test_a_store_from_a_newer_shape_is_refused(store):
    store.put_snapshot(b"x", [], None, "call", None)
    tamper(store, "UPDATE meta SET value=? WHERE key='schema'", str(schema.SCHEMA_VERSION + 1))
    again = open_store(store.url.target, create=False)
    with pytest.raises(ShapeError) as e:
        again.list()
    assert "schema version" in e.value.message
    with pytest.raises(ShapeError):
        again.put_snapshot(b"y", [], None, "call", None)
    again.close()


# ---------------------------------------------------------------- both stores, one id

PROGRAM = "let mut xs = []\nfor i in 0..4 { xs.push(i * i) }\nlet s = snapshot()\nprint(xs, s == Snapshot::Resumed)\n"


def test_same_program_same_ids_in_both_stores_and_copy_both_ways(tmp_path, pg_url):
    prog = tmp_path / "sq.shape"
    prog.write_text(PROGRAM)
    lite = str(tmp_path / "lite.db")
    ids = {}
    for name, loc in (("sqlite", lite), ("postgresql", pg_url)):
        r = _shape("run", "--json", "--store", loc, str(prog))
        assert r.returncode == 0, r.stderr
        ids[name] = [s.id for s in _listing(loc)]
    assert ids["sqlite"] == ids["postgresql"] and len(ids["sqlite"]) == 1
    sid = ids["sqlite"][0]
    # PostgreSQL -> a fresh SQLite store -> resume there; and SQLite -> a fresh database.
    other = str(tmp_path / "copy.db")
    r = _shape("snapshot", "--store", pg_url, "copy", sid[:10], "--to", other)
    assert r.returncode == 0 and f"Copied snapshot {sid}" in r.stdout, r.stderr
    r = _shape("--resume", sid, "--store", other)
    assert r.returncode == 0 and r.stdout == "[0, 1, 4, 9] true\n", r.stderr
    r = _shape("--resume", sid, "--store", pg_url)
    assert r.returncode == 0 and r.stdout == "[0, 1, 4, 9] true\n", r.stderr
    a, b = open_store(lite), open_store(other)
    try:
        (ia, sa), (ib, sb) = a.get_snapshot(sid), b.get_snapshot(sid)
        assert sa == sb and ia.blob_ids == ib.blob_ids and ia.script == ib.script
        assert all(a.get_blob(x) == b.get_blob(x) for x in ia.blob_ids)
    finally:
        a.close()
        b.close()


def _listing(location: str) -> list:
    s = open_store(location, create=False)
    try:
        return s.list()
    finally:
        s.close()


def test_copy_refuses_a_tampered_source_and_writes_nothing(tmp_path, pg_url):
    src = open_store(str(tmp_path / "src.db"))
    code = blobs(b"code-1")
    sid = src.put_snapshot(b"state", code, "x.shape", "call", None, blobs=code)
    tamper(src, "UPDATE blobs SET data=? WHERE id=?", b"CODE-1", next(iter(code)))
    dst = open_store(pg_url)
    with pytest.raises(ShapeError) as e:
        copy_snapshot(src, dst, sid)
    assert "corrupt" in e.value.message
    src.close()
    dst.close()
    r = _shape("snapshot", "--store", pg_url, "list")
    assert r.returncode == 1 and "has no snapshot store yet" in r.stderr


# ---------------------------------------------------------------- concurrency

def _writer(location: str, n: int, worker: int) -> None:
    s = open_store(location)
    code = blobs(b"shared-code")
    for i in range(n):
        s.put_blobs(code)
        s.put_snapshot(f"w{worker}-{i}".encode(), code, None, "call", None)
        if worker == 0 and i % 10 == 0:
            s.gc()   # gc beside the writers never removes what they refer to
    s.close()


def test_concurrent_writers_lose_nothing(location):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(location, 40, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    s = open_store(location)
    assert len(s.list()) == 160 and s.verify() == []
    s.close()


# ---------------------------------------------------------------- a server that goes away

def test_a_restart_between_two_writes_is_reconnected(pg_server, pg_url):
    s = open_store(pg_url)
    first = s.put_snapshot(b"before", [], None, "call", None)
    pg_server.restart()
    second = s.put_snapshot(b"after", [], None, "call", None)
    assert {i.id for i in s.list()} == {first, second}
    s.close()


def test_a_server_that_is_gone_is_a_clean_error_and_loses_nothing(pg_server, pg_url, tmp_path,
                                                                 monkeypatch):
    from shapelang.vm.store import postgres
    monkeypatch.setattr(postgres, "RECONNECT_SECONDS", 1.0)
    s = open_store(pg_url)
    kept = s.put_snapshot(b"kept", [], None, "call", None)
    pg_server.stop()
    try:
        with pytest.raises(ShapeError) as e:
            s.put_snapshot(b"lost", [], None, "call", None)
        assert e.value.kind == "StoreError"
        prog = tmp_path / "p.shape"
        prog.write_text("print(1)\nlet s = snapshot()\nprint(2)\n")
        r = _shape("run", "--store", pg_url, str(prog))
        assert r.returncode == 1 and r.stdout == "1\n" and r.stderr.startswith("Error: ")
        assert "StoreError" in r.stderr and "Traceback" not in r.stderr
    finally:
        pg_server.restart()
    s2 = open_store(pg_url)
    assert [i.id for i in s2.list()] == [kept] and s2.verify() == []
    s2.close()
    s.close()


# ---------------------------------------------------------------- the commands

def test_snapshot_cli_list_info_delete_gc_verify(location):
    s = open_store(location)
    code = blobs(b"code-x")
    s.put_blobs(code)
    parent = s.put_snapshot(b"first", code, "demo.shape", "call", None)
    sid = s.put_snapshot(b"st", code, "demo.shape", "call", parent)
    s.close()
    r = _shape("snapshot", "--store", location, "list")
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and lines[0].split() == ["ID", "CREATED", "(UTC)", "KIND", "STATE",
                                                      "PARENT", "SCRIPT"]
    assert set(lines[1]) == {"-"}      # the rule under the header (shapelang.report.table)
    assert sid in r.stdout and "demo.shape" in r.stdout and parent[:12] in lines[3]
    assert lines[2].split()[1].endswith("Z") and "T" in lines[2].split()[1]
    r = _shape("snapshot", "--store", location, "list", "--json", "--limit", "1")
    rows = json.loads(r.stdout)
    assert [x["id"] for x in rows] == [sid] and rows[0]["parent"] == parent
    assert rows[0]["created"].endswith("Z") and rows[0]["script"] == "demo.shape"
    r = _shape("snapshot", "--store", location, "list", "--script", "other.shape")
    assert r.returncode == 0 and "No snapshots" in r.stdout
    r = _shape("snapshot", "--store", location, "info", sid[:8])
    assert r.returncode == 0 and f"shape --resume {sid}" in r.stdout and f"parent:   {parent}" in r.stdout
    r = _shape("snapshot", "--store", location, "info", sid[:8], "--json")
    assert json.loads(r.stdout)["parents"] == [parent]
    r = _shape("snapshot", "--store", location, "verify")
    assert r.returncode == 0 and "OK" in r.stdout
    r = _shape("snapshot", "--store", location, "info", "ffff")
    assert r.returncode == 1 and r.stderr.startswith("Error: ") and "Traceback" not in r.stderr
    r = _shape("snapshot", "--store", location, "delete", parent[:10])
    assert r.returncode == 0 and parent in r.stdout
    r = _shape("snapshot", "--store", location, "info", sid[:8])
    assert f"parent:   {parent} (not in this store)" in r.stdout
    r = _shape("snapshot", "--store", location, "delete", sid[:10])
    assert r.returncode == 0 and sid in r.stdout
    r = _shape("snapshot", "--store", location, "gc")
    assert r.returncode == 0 and "Removed 1" in r.stdout


def test_snapshot_cli_reports_tampering(store, location):
    sid = store.put_snapshot(b"state", [], None, "call", None)
    tamper(store, "UPDATE blobs SET data=? WHERE id=?", b"tampered", sid)
    r = _shape("snapshot", "--store", location, "verify")
    assert r.returncode == 1 and "BAD" in r.stdout and r.stderr.startswith("Error: ")


def test_the_store_is_chosen_by_the_environment_too(pg_url, tmp_path):
    prog = tmp_path / "p.shape"
    prog.write_text(PROGRAM)
    env = {**os.environ, "SHAPE_STORE": pg_url}
    r = _process("run", str(prog), env=env)
    assert r.returncode == 0
    r = _process("snapshot", "list", env=env)
    assert r.returncode == 0 and str(prog) in r.stdout


# ---------------------------------------------------------------- the output journal

def test_journal_is_numbered_per_snapshot_kept_by_gc_and_dropped_by_delete(store):
    out = blobs(b"saved output v1")
    base = store.put_snapshot(b"base", [], None, "call", None)
    other = store.put_snapshot(b"other", [], None, "call", None)
    store.put_blobs(out)
    assert store.journal(base) == []
    assert store.journal_add(base, {"op": "write", "path": "a.txt"}, out) == 0
    assert store.journal_add(base, {"op": "append", "n": 2}) == 1
    assert store.journal_add(other, {"op": "write"}) == 0
    assert store.journal(base) == [{"op": "write", "path": "a.txt"}, {"op": "append", "n": 2}]
    assert store.gc() == 0 and store.get_blob(next(iter(out))) == b"saved output v1"
    with pytest.raises(ShapeError):
        store.journal_add(base, {"op": "write"}, ["e" * 64])   # its blob must be stored first
    store.delete(base)
    assert store.journal(base) == [] and store.journal(other) == [{"op": "write"}]
    assert store.gc() == 1 and store.verify() == []
