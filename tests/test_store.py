"""The SQLite snapshot store: dedup, hash checks on load, prefixes, gc, corruption, concurrency."""
from __future__ import annotations

import multiprocessing
import os
import sqlite3

import pytest

from shapelang.runtime.errors import ShapeError
from shapelang.vm.store import SQLiteStore, default_store_path, sha256_hex


def blobs(*contents: bytes) -> dict:
    return {sha256_hex(c): c for c in contents}


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(str(tmp_path / "s.db"))
    yield s
    s.close()


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


def test_prefix_resolution(store):
    sid = store.put_snapshot(b"abc", [], None, "call", None)
    assert store.resolve(sid[:6]) == sid
    with pytest.raises(ShapeError) as e:
        store.resolve("zz")
    assert e.value.kind == "ResumeError"
    with pytest.raises(ShapeError):
        store.resolve("0123456789abcdef" * 4)


def test_tampered_state_detected_and_nothing_else_lost(store, tmp_path):
    code = blobs(b"code")
    store.put_blobs(code)
    good = store.put_snapshot(b"good", code, None, "call", None)
    bad = store.put_snapshot(b"bad", code, None, "call", None)
    conn = sqlite3.connect(store.path)
    conn.execute("UPDATE blobs SET data=? WHERE id=?", (b"evil", bad))
    conn.commit()
    conn.close()
    with pytest.raises(ShapeError) as e:
        store.get_snapshot(bad)
    assert "corrupt" in e.value.message
    assert store.get_snapshot(good)[1] == b"good"
    problems = store.verify()
    assert len(problems) == 1 and bad in problems[0]


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


def _writer(path: str, n: int, worker: int) -> None:
    s = SQLiteStore(path)
    code = blobs(b"shared-code")
    for i in range(n):
        s.put_blobs(code)
        s.put_snapshot(f"w{worker}-{i}".encode(), code, None, "call", None)
    s.close()


def test_concurrent_writers_lose_nothing(tmp_path):
    path = str(tmp_path / "c.db")
    SQLiteStore(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, 40, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    s = SQLiteStore(path)
    assert len(s.list()) == 160 and s.verify() == []


def _shape(*args, env=None):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "shapelang", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_snapshot_cli_list_info_delete_gc_verify(tmp_path):
    path = str(tmp_path / "cli.db")
    s = SQLiteStore(path)
    code = blobs(b"code-x")
    s.put_blobs(code)
    sid = s.put_snapshot(b"st", code, "demo.shape", "call", None)
    s.close()
    r = _shape("snapshot", "--store", path, "list")
    assert r.returncode == 0 and sid in r.stdout and "demo.shape" in r.stdout
    r = _shape("snapshot", "--store", path, "info", sid[:8])
    assert r.returncode == 0 and f"shape --resume {sid}" in r.stdout
    r = _shape("snapshot", "--store", path, "verify")
    assert r.returncode == 0 and "OK" in r.stdout
    r = _shape("snapshot", "--store", path, "info", "ffff")
    assert r.returncode == 1 and r.stderr.startswith("Error: ") and "Traceback" not in r.stderr
    r = _shape("snapshot", "--store", path, "delete", sid[:10])
    assert r.returncode == 0 and sid in r.stdout
    r = _shape("snapshot", "--store", path, "gc")
    assert r.returncode == 0 and "Removed 1" in r.stdout


def test_snapshot_cli_reports_tampering(tmp_path):
    path = str(tmp_path / "t.db")
    s = SQLiteStore(path)
    sid = s.put_snapshot(b"state", [], None, "call", None)
    s.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE blobs SET data=? WHERE id=?", (b"tampered", sid))
    conn.commit()
    conn.close()
    r = _shape("snapshot", "--store", path, "verify")
    assert r.returncode == 1 and "BAD" in r.stdout and r.stderr.startswith("Error: ")
