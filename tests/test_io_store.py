"""Pinned inputs, saved outputs and the output journal in the snapshot store (spec/io.md):
`shape snapshot info` lists a snapshot's inputs and outputs, `gc` keeps the data a snapshot
uses and drops it with the snapshot, `verify --deep` loads snapshots that carry data."""
from __future__ import annotations

import contextlib
import hashlib
import io
import json

from shapelang import api
from shapelang.cli import main
from shapelang.vm.store import open_store

PROGRAM = """use std::core::file
let t = file.read_text("in.txt")?
file.write_text("state.txt", "saved")
file.append("log.txt", "x")
snapshot()
print(t)
"""


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


def _run(tmp_path, pin: bool) -> tuple[str, str]:
    (tmp_path / "in.txt").write_text("input bytes")
    store = str(tmp_path / "s.db")
    r = api.run(PROGRAM, path="p.shape", store=store, cwd=str(tmp_path), pin_inputs=pin)
    assert r.ok and r.stdout == "input bytes\n", r.error
    return store, r.snapshots[0]


def test_info_lists_inputs_and_outputs(tmp_path):
    store, sid = _run(tmp_path, pin=True)
    code, text = _cli("snapshot", "info", sid, "--store", store)
    assert code == 0
    assert f"inputs:   {tmp_path / 'in.txt'}  sha256 " in text and "11 bytes  pinned" in text
    assert f"outputs:  {tmp_path / 'log.txt'}  append  1 bytes" in text
    assert f"{tmp_path / 'state.txt'}  write  5 bytes" in text
    code, text = _cli("snapshot", "info", sid, "--store", store, "--json")
    doc = json.loads(text)
    assert doc["inputs"] == [{"path": str(tmp_path / "in.txt"),
                              "sha256": hashlib.sha256(b"input bytes").hexdigest(),
                              "size": 11, "pinned": True}]
    assert [o["kind"] for o in doc["outputs"]] == ["append", "write"]


def test_unpinned_input_is_listed_as_not_pinned(tmp_path):
    store, sid = _run(tmp_path, pin=False)
    assert "11 bytes  not pinned" in _cli("snapshot", "info", sid, "--store", store)[1]


def test_gc_keeps_the_data_snapshots_use(tmp_path):
    store, sid = _run(tmp_path, pin=True)
    pinned = hashlib.sha256(b"input bytes").hexdigest()
    saved = hashlib.sha256(b"saved").hexdigest()
    assert _cli("snapshot", "verify", "--deep", "--store", store)[0] == 0
    assert _cli("snapshot", "gc", "--store", store)[0] == 0
    st = open_store(store, create=False)
    try:
        assert st.has_blob(pinned) and st.has_blob(saved)
        st.delete(sid)
        st.gc()
        assert not st.has_blob(pinned) and not st.has_blob(saved)
    finally:
        st.close()


def test_resume_from_the_store_after_gc(tmp_path):
    store, sid = _run(tmp_path, pin=True)
    assert _cli("snapshot", "gc", "--store", store)[0] == 0
    (tmp_path / "in.txt").unlink()
    r = api.resume(sid, store=store)
    assert r.ok and r.stdout == "input bytes\n", r.error
    assert (tmp_path / "log.txt").read_text() == "x"
