"""The I/O ledger, checkpoints and the resume-side check and rewind (runtime/stdlib), without an
engine: a "run" here is a sequence of module calls in an IOContext, a "snapshot" its checkpoint,
and a "resume" `resume.restore` on the checkpoint's ledger with the blobs it handed over."""
from __future__ import annotations

import copy
import hashlib
import os

import pytest

from shapelang.runtime import stdlib
from shapelang.runtime.errors import ShapeError
from shapelang.runtime.stdlib import resume
from shapelang.runtime.stdlib.context import IOContext, running
from shapelang.runtime.stdlib.ledger import Ledger, LedgerError
from shapelang.runtime.values import Ok


def call(module: str, name: str, *args):
    return stdlib.import_value(f"std::core::{module}", name).fn(list(args))


class Snap(dict):
    """A checkpoint's ledger, with the id of the snapshot it belongs to."""
    base = ""


class Store:
    """The blobs checkpoints hand over and the output journal, as the snapshot store keeps them;
    a snapshot's id here is its number."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.journals: dict[str, list] = {}

    def note(self, base: str, record: dict, blobs: dict) -> None:
        self.blobs.update(blobs)
        self.journals.setdefault(base, []).append(record)

    def snapshot(self, ctx: IOContext) -> Snap:
        ctx.journal = self.note
        cp = ctx.checkpoint()
        if cp is not None:
            self.blobs.update(cp.new_blobs)
            assert set(cp.blob_ids) <= set(self.blobs)
        snap = Snap(copy.deepcopy(cp.ledger) if cp is not None else {})
        snap.base = f"snap{len(self.journals)}-{id(snap)}"
        self.journals.setdefault(snap.base, [])
        ctx.after_snapshot(snap.base)
        return snap

    def journal(self, base: str) -> list:
        return self.journals.get(base, [])

    def get(self, blob_id: str) -> bytes:
        if blob_id not in self.blobs:
            raise ShapeError("StoreError", f"Blob {blob_id[:12]} is missing from the store")
        return self.blobs[blob_id]

    def resume(self, snap: Snap, **kw) -> IOContext:
        ctx = resume.resume_context(Ledger.load(dict(snap)) if snap else None, self.get,
                                    resume.walk_journal(snap.base, self.journal), **kw)
        ctx.journal = self.note
        ctx.after_snapshot(snap.base)
        return ctx


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- what a checkpoint holds

def test_no_io_means_no_ledger(tmp_path):
    assert IOContext(cwd=str(tmp_path), argv=["p.shape"]).checkpoint() is None
    ctx = IOContext(cwd=str(tmp_path), argv=["p.shape", "arg"])
    cp = ctx.checkpoint()
    assert cp is not None and cp.ledger["argv"] == ["p.shape", "arg"] and cp.blob_ids == []


def test_checkpoint_records_inputs_outputs_and_environment(tmp_path):
    (tmp_path / "in.txt").write_text("input")
    ctx = IOContext(cwd=str(tmp_path), argv=["p.shape"], environ={"A": "1"})
    with running(ctx):
        call("file", "read_text", "in.txt")
        call("file", "append", "log.txt", "x")
        call("file", "write_text", "w.txt", "whole")
        call("env", "get", "A")
        call("env", "get", "B")
    cp = ctx.checkpoint()
    d = str(tmp_path)
    assert cp.ledger["inputs"] == {f"{d}/in.txt": [sha(b"input"), 5, False]}
    assert cp.ledger["outputs"] == {f"{d}/log.txt": ["append", 1, sha(b"x")],
                                    f"{d}/w.txt": ["write", 5, sha(b"whole")]}
    assert cp.ledger["env"] == {"A": "1", "B": None}
    assert cp.blob_ids == [sha(b"whole")] and cp.new_blobs == {sha(b"whole"): b"whole"}
    # A second checkpoint refers to the same blob but hands over nothing new.
    cp2 = ctx.checkpoint()
    assert cp2.blob_ids == [sha(b"whole")] and cp2.new_blobs == {}


def test_append_fingerprint_is_lazy_and_covers_what_was_there(tmp_path):
    (tmp_path / "log.txt").write_text("old\n")
    ctx = IOContext(cwd=str(tmp_path))
    with running(ctx):
        call("file", "append", "log.txt", "new\n")
    live = ctx.outputs[str(tmp_path / "log.txt")]
    assert live.hasher is None          # nothing hashed until a snapshot needs it
    rec = ctx.checkpoint().ledger["outputs"][str(tmp_path / "log.txt")]
    assert rec == ["append", 8, sha(b"old\nnew\n")]
    # Someone else appends: the next checkpoint fingerprints what is really there.
    with open(tmp_path / "log.txt", "a") as f:
        f.write("other\n")
    rec = ctx.checkpoint().ledger["outputs"][str(tmp_path / "log.txt")]
    assert rec == ["append", 14, sha(b"old\nnew\nother\n")]


def test_write_then_append_is_an_append_output(tmp_path):
    ctx = IOContext(cwd=str(tmp_path))
    with running(ctx):
        call("file", "write_text", "o.txt", "head\n")
        call("file", "append", "o.txt", "row\n")
    assert ctx.checkpoint().ledger["outputs"][str(tmp_path / "o.txt")] == \
        ["append", 9, sha(b"head\nrow\n")]


def test_a_file_the_run_writes_is_not_an_input(tmp_path):
    (tmp_path / "f.txt").write_text("a")
    ctx = IOContext(cwd=str(tmp_path))
    with running(ctx):
        call("file", "read_text", "f.txt")
        call("file", "append", "f.txt", "b")
        call("file", "read_text", "f.txt")
    led = ctx.checkpoint().ledger
    assert led["inputs"] == {} and list(led["outputs"]) == [str(tmp_path / "f.txt")]


def test_export_is_canonical(tmp_path):
    a = IOContext(cwd=str(tmp_path), environ={"X": "1", "Y": "2"})
    b = IOContext(cwd=str(tmp_path), environ={"Y": "2", "X": "1"})
    with running(a):
        call("env", "get", "Y"), call("env", "get", "X")
    with running(b):
        call("env", "get", "X"), call("env", "get", "Y")
    assert list(a.checkpoint().ledger["env"]) == list(b.checkpoint().ledger["env"]) == ["X", "Y"]


@pytest.mark.parametrize("change", [
    lambda d: d.pop("cwd"),
    lambda d: d.update(v=2),
    lambda d: d.update(cwd="relative"),
    lambda d: d.update(argv=[1]),
    lambda d: d.update(env={"A": 3}),
    lambda d: d.update(env_all="yes"),
    lambda d: d.update(system={"kernel": "x"}),
    lambda d: d.update(inputs={"/a": ["zz", 1, False]}),
    lambda d: d.update(inputs={"/a": [sha(b""), -1, False]}),
    lambda d: d.update(outputs={"/a": ["delete", 1, sha(b"")]}),
    lambda d: d.update(outputs={"/a": ["write", 1]}),
    lambda d: d.update(inputs={"/a": [sha(b""), 0, False]}, outputs={"/a": ["write", 0, sha(b"")]}),
    lambda d: d.update(extra=1),
])
def test_forged_ledgers_are_refused(tmp_path, change):
    ctx = IOContext(cwd=str(tmp_path), argv=["p", "q"])
    data = ctx.checkpoint().ledger
    assert Ledger.load(copy.deepcopy(data)).export() == data
    change(data)
    with pytest.raises(LedgerError):
        Ledger.load(data)
    with pytest.raises(ShapeError) as e:
        resume.load_ledger(data, "ab" * 32)
    assert e.value.kind == "ResumeError" and "I/O ledger" in e.value.message


# ---------------------------------------------------------------- resume: rewind outputs

def test_appended_output_is_rewound_to_the_snapshot(tmp_path):
    store = Store()
    ctx = IOContext(cwd=str(tmp_path))
    with running(ctx):
        call("file", "append", "out.txt", "1\n")
        snap = store.snapshot(ctx)
        call("file", "append", "out.txt", "2\n")       # after the snapshot, then "killed"
    resumed = store.resume(snap)
    assert (tmp_path / "out.txt").read_text() == "1\n"
    with running(resumed):
        call("file", "append", "out.txt", "2\n")
        call("file", "append", "out.txt", "3\n")
        snap2 = store.snapshot(resumed)
    assert (tmp_path / "out.txt").read_text() == "1\n2\n3\n"
    assert snap2["outputs"][str(tmp_path / "out.txt")] == ["append", 6, sha(b"1\n2\n3\n")]


def test_overwritten_output_gets_its_content_back(tmp_path):
    store = Store()
    ctx = IOContext(cwd=str(tmp_path))
    with running(ctx):
        call("file", "write_text", "state.json", "{\"n\": 1}")
        snap = store.snapshot(ctx)
        call("file", "write_text", "state.json", "{\"n\": 2}")
    store.resume(snap)
    assert (tmp_path / "state.json").read_text() == "{\"n\": 1}"


def test_missing_or_changed_output_is_an_error_and_nothing_is_touched(tmp_path):
    store = Store()
    ctx = IOContext(cwd=str(tmp_path))
    with running(ctx):
        call("file", "append", "a.txt", "keep\n")
        call("file", "write_text", "b.txt", "B")
        snap = store.snapshot(ctx)
        call("file", "append", "a.txt", "more\n")
        call("file", "write_text", "b.txt", "B2")
    (tmp_path / "a.txt").write_text("KEEP\nmore\n")             # someone edited the prefix
    with pytest.raises(ShapeError) as e:
        store.resume(snap)
    assert e.value.kind == "ResumeError" and e.value.phase == "resume"
    assert f"Output {tmp_path / 'a.txt'} was changed since the snapshot" in e.value.message
    assert (tmp_path / "b.txt").read_text() == "B2"             # not rewound: resume refused
    (tmp_path / "a.txt").write_text("kee")                       # shorter than at the snapshot
    with pytest.raises(ShapeError) as e:
        store.resume(snap)
    assert "it had 5 bytes then and has 3 now" in e.value.message
    os.remove(tmp_path / "a.txt")
    with pytest.raises(ShapeError) as e:
        store.resume(snap)
    assert f"Output {tmp_path / 'a.txt'} is missing" in e.value.message
    assert not (tmp_path / "a.txt").exists()                     # never recreated


def test_saved_output_content_missing_from_the_store(tmp_path):
    ctx = IOContext(cwd=str(tmp_path))
    with running(ctx):
        call("file", "write_text", "b.txt", "B")
    snap = ctx.checkpoint().ledger
    with pytest.raises(ShapeError) as e:
        resume.restore(Ledger.load(snap), Store().get)
    assert e.value.kind == "ResumeError" and "saved content of output" in e.value.message


# ---------------------------------------------------------------- resume: inputs

def _read_then_snapshot(tmp_path, store, **kw):
    (tmp_path / "in.txt").write_text("one\ntwo\nthree\n")
    ctx = IOContext(cwd=str(tmp_path), **kw)
    with running(ctx):
        reader = call("file", "lines", "in.txt").value
        assert reader.next_line() == "one"
        snap = store.snapshot(ctx)
    state = {f: getattr(reader, f) for f in reader.FIELDS}
    return snap, state


def _reader_from(state):
    reader_cls = stdlib.records()[0][0]
    r = object.__new__(reader_cls)
    for f, v in state.items():
        setattr(r, f, v)
    return r


def test_reader_continues_after_resume(tmp_path):
    store = Store()
    snap, state = _read_then_snapshot(tmp_path, store)
    with running(store.resume(snap)):
        r = _reader_from(state)
        assert [r.next_line(), r.next_line(), r.next_line()] == ["two", "three", None]


def test_changed_input_stops_the_resume_naming_both_hashes(tmp_path):
    store = Store()
    snap, _ = _read_then_snapshot(tmp_path, store)
    (tmp_path / "in.txt").write_text("one\nTWO\n")
    with pytest.raises(ShapeError) as e:
        store.resume(snap)
    msg = e.value.message
    assert e.value.kind == "ResumeError" and str(tmp_path / "in.txt") in msg
    assert sha(b"one\ntwo\nthree\n") in msg and sha(b"one\nTWO\n") in msg
    assert "--allow-changed-inputs" in msg
    os.remove(tmp_path / "in.txt")
    with pytest.raises(ShapeError) as e:
        store.resume(snap)
    assert "is missing" in e.value.message


def test_allowed_changed_input_continues_at_the_same_position(tmp_path):
    store = Store()
    snap, state = _read_then_snapshot(tmp_path, store)
    (tmp_path / "in.txt").write_text("one\nTWO\nTHREE\n")
    notes: list = []
    ctx = store.resume(snap, allow_changed_inputs=True, notes=notes)
    assert len(notes) == 1 and "changed since the snapshot" in notes[0]
    with running(ctx):
        r = _reader_from(state)
        assert [r.next_line(), r.next_line()] == ["TWO", "THREE"]
    led = ctx.checkpoint().ledger
    assert led["inputs"][str(tmp_path / "in.txt")][0] == sha(b"one\nTWO\nTHREE\n")


def test_pinned_input_is_read_from_the_store(tmp_path):
    store = Store()
    snap, state = _read_then_snapshot(tmp_path, store, pin_inputs=True)
    key = str(tmp_path / "in.txt")
    assert snap["pin"] is True and snap["inputs"][key] == [sha(b"one\ntwo\nthree\n"), 14, True]
    assert store.blobs[sha(b"one\ntwo\nthree\n")] == b"one\ntwo\nthree\n"
    os.remove(tmp_path / "in.txt")                      # the input is gone
    other = tmp_path / "elsewhere"
    other.mkdir()
    old = os.getcwd()
    os.chdir(other)                                     # and the resume runs elsewhere
    try:
        ctx = store.resume(snap)
        with running(ctx):
            r = _reader_from(state)
            assert [r.next_line(), r.next_line(), r.next_line()] == ["two", "three", None]
            assert call("file", "read_text", "in.txt").value == "one\ntwo\nthree\n"
            assert call("env", "cwd") == str(tmp_path)
    finally:
        os.chdir(old)


def test_pinned_whole_file_reads(tmp_path):
    store = Store()
    (tmp_path / "c.csv").write_text("a,b\n1,2\n")
    ctx = IOContext(cwd=str(tmp_path), pin_inputs=True)
    with running(ctx):
        assert call("csv", "read_file", "c.csv").value == [["a", "b"], ["1", "2"]]
        snap = store.snapshot(ctx)
        (tmp_path / "c.csv").write_text("changed,after\n")
        # Pinned: this run keeps seeing the bytes it pinned.
        assert call("csv", "read_file", "c.csv").value == [["a", "b"], ["1", "2"]]
    with running(store.resume(snap)):
        assert call("file", "read_text", "c.csv").value == "a,b\n1,2\n"


def test_pinning_refuses_an_input_that_changed_before_the_snapshot(tmp_path):
    (tmp_path / "in.txt").write_text("abc\n")
    ctx = IOContext(cwd=str(tmp_path), pin_inputs=True)
    with running(ctx):
        call("file", "lines", "in.txt")
    (tmp_path / "in.txt").write_text("xyz\n")
    with pytest.raises(ShapeError) as e:
        ctx.checkpoint()
    assert e.value.kind == "IOError" and "changed after the program read it" in e.value.message


def test_reader_notices_a_file_changed_under_it_after_resume(tmp_path):
    """An input that changed during the first run: the reader's own fingerprint is checked the
    first time it reads after the resume."""
    store = Store()
    (tmp_path / "in.txt").write_text("1\n2\n")
    ctx = IOContext(cwd=str(tmp_path))
    with running(ctx):
        r = call("file", "lines", "in.txt").value
        r.next_line()
        state = {f: getattr(r, f) for f in r.FIELDS}
        (tmp_path / "in.txt").write_text("1\n2\n3\n")
        call("file", "read_text", "in.txt")             # the ledger now has the new content
        snap = store.snapshot(ctx)
    with running(store.resume(snap)):
        with pytest.raises(ShapeError) as e:
            _reader_from(state).next_line()
    assert e.value.kind == "IOError" and "changed while the program was reading it" in e.value.message


# ---------------------------------------------------------------- resume: environment

def test_resumed_run_sees_what_the_first_run_saw(tmp_path):
    store = Store()
    ctx = IOContext(cwd=str(tmp_path), argv=["p.shape", "--fast"], environ={"MODE": "a"})
    with running(ctx):
        assert call("env", "get", "MODE") == "a"
        assert call("env", "os")
        snap = store.snapshot(ctx)
    resumed = store.resume(snap, environ={"MODE": "b", "NEW": "n"})
    with running(resumed):
        assert call("env", "get", "MODE") == "a"
        assert call("env", "args") == ["p.shape", "--fast"]
        assert call("env", "get", "NEW") == "n"          # not read before: read now
        assert call("env", "cwd") == str(tmp_path)


def test_env_all_is_recorded_whole(tmp_path):
    store = Store()
    ctx = IOContext(cwd=str(tmp_path), environ={"B": "2", "A": "1"})
    with running(ctx):
        assert list(call("env", "all").keys_list()) == ["A", "B"]
        snap = store.snapshot(ctx)
    with running(store.resume(snap, environ={"C": "3"})):
        assert list(call("env", "all").keys_list()) == ["A", "B"]
        assert call("env", "get", "C") is None
        assert call("env", "has", "A") is True


def test_outputs_resolve_against_the_runs_directory_not_the_process(tmp_path):
    store = Store()
    ctx = IOContext(cwd=str(tmp_path))
    with running(ctx):
        call("file", "append", "o.txt", "a")
        snap = store.snapshot(ctx)
    other = tmp_path / "sub"
    other.mkdir()
    old = os.getcwd()
    os.chdir(other)
    try:
        with running(store.resume(snap)):
            assert type(call("file", "append", "o.txt", "b")) is Ok
    finally:
        os.chdir(old)
    assert (tmp_path / "o.txt").read_text() == "ab" and not (other / "o.txt").exists()


@pytest.mark.parametrize("field, value", [
    ("path", "relative.txt"), ("path", 3), ("fingerprint", "abc"), ("offset", -1),
    ("offset", 1.5), ("line", None), ("done", 0),
])
def test_forged_reader_fields_are_not_well_formed(field, value):
    reader_cls = stdlib.records()[0][0]
    r = reader_cls("/a/b.txt", sha(b""), 0, 0, False)
    assert r.well_formed()
    setattr(r, field, value)
    assert not r.well_formed()


# ---------------------------------------------------------------- resume: the output journal

def test_file_first_written_after_the_snapshot_is_put_back(tmp_path):
    store = Store()
    (tmp_path / "old.txt").write_text("was here\n")
    ctx = IOContext(cwd=str(tmp_path))
    with running(ctx):
        snap = store.snapshot(ctx)                      # nothing written yet
        call("file", "append", "new.txt", "1\n")        # a file that did not exist
        call("file", "append", "old.txt", "more\n")     # a file the snapshot never saw
        call("file", "write_text", "old.txt", "replaced")
    store.resume(snap)
    assert not (tmp_path / "new.txt").exists()
    assert (tmp_path / "old.txt").read_text() == "was here\n"


def test_append_output_overwritten_after_the_snapshot(tmp_path):
    store = Store()
    ctx = IOContext(cwd=str(tmp_path))
    with running(ctx):
        call("file", "append", "o.txt", "keep\n")
        snap = store.snapshot(ctx)
        call("file", "append", "o.txt", "tail\n")
        call("file", "write_text", "o.txt", "new content")
        call("file", "append", "o.txt", "!")
    ctx2 = store.resume(snap)
    assert (tmp_path / "o.txt").read_text() == "keep\n"
    with running(ctx2):
        call("file", "append", "o.txt", "again\n")
    assert ctx2.checkpoint().ledger["outputs"][str(tmp_path / "o.txt")] == \
        ["append", 11, sha(b"keep\nagain\n")]


def test_changes_after_a_later_snapshot_of_the_same_run(tmp_path):
    store = Store()
    ctx = IOContext(cwd=str(tmp_path))
    with running(ctx):
        call("file", "write_text", "a.txt", "A")
        first = store.snapshot(ctx)
        store.snapshot(ctx)
        store.snapshot(ctx)
        call("file", "append", "late.txt", "x")       # first touched after the third snapshot
    store.resume(first)
    assert not (tmp_path / "late.txt").exists()


def test_resuming_one_snapshot_twice(tmp_path, monkeypatch):
    # A run that had done no I/O at its snapshot resumes in the resuming process's directory.
    monkeypatch.chdir(tmp_path)
    store = Store()
    ctx = IOContext(cwd=str(tmp_path))
    with running(ctx):
        snap = store.snapshot(ctx)
        call("file", "write_text", "f.txt", "first run")
    for text in ("fork 1", "fork 2"):
        ctx = store.resume(snap)
        assert not (tmp_path / "f.txt").exists()
        with running(ctx):
            call("file", "write_text", "f.txt", text)
    assert (tmp_path / "f.txt").read_text() == "fork 2"


@pytest.mark.parametrize("setup", ["ledger write", "journalled", "overwritten append"])
def test_someone_elses_change_after_the_runs_own_is_refused(tmp_path, setup):
    store = Store()
    (tmp_path / "f.txt").write_text("at start")
    ctx = IOContext(cwd=str(tmp_path))
    with running(ctx):
        if setup == "ledger write":
            call("file", "write_text", "f.txt", "at snapshot")
        elif setup == "overwritten append":
            call("file", "append", "f.txt", "+")
        snap = store.snapshot(ctx)
        call("file", "write_text", "f.txt", "the run's own")
        call("file", "append", "f.txt", " and more")
    before = (tmp_path / "f.txt").read_text()
    store.resume(snap)                                     # the run's own changes: fine
    (tmp_path / "f.txt").write_text(before)                # as the run had left it
    with running(store.resume(snap)):
        pass
    (tmp_path / "f.txt").write_text("edited by hand")
    with pytest.raises(ShapeError) as e:
        store.resume(snap)
    assert e.value.kind == "ResumeError" and "was changed since the snapshot" in e.value.message
    assert (tmp_path / "f.txt").read_text() == "edited by hand"


def test_resume_killed_before_it_overwrote_again_resumes_again(tmp_path):
    # The first run appended after the snapshot, then overwrote the appended output. A resume
    # puts the snapshot's bytes back and is killed while it only appends: a second resume of
    # the same snapshot finds the snapshot's prefix plus the resumed run's appends.
    store = Store()
    ctx = IOContext(cwd=str(tmp_path))
    with running(ctx):
        call("file", "append", "o.txt", "keep\n")
        snap = store.snapshot(ctx)
        call("file", "append", "o.txt", "tail\n")
        call("file", "write_text", "o.txt", "new content")
    with running(store.resume(snap)):
        call("file", "append", "o.txt", "ta")           # killed inside this append
    assert (tmp_path / "o.txt").read_text() == "keep\nta"
    store.resume(snap)
    assert (tmp_path / "o.txt").read_text() == "keep\n"


def test_rewound_outputs_resume_again_after_a_kill_right_after_the_rewind(tmp_path):
    # Every kind of rewind leaves files a second resume of the same snapshot accepts.
    store = Store()
    (tmp_path / "old.txt").write_text("was here\n")
    ctx = IOContext(cwd=str(tmp_path))
    with running(ctx):
        call("file", "append", "a.txt", "a\n")
        call("file", "write_text", "w.txt", "at snapshot")
        snap = store.snapshot(ctx)
        call("file", "append", "a.txt", "more\n")
        call("file", "write_text", "a.txt", "over")
        call("file", "write_text", "w.txt", "later")
        call("file", "write_text", "old.txt", "replaced")
        call("file", "append", "new.txt", "1\n")
    files = ("a.txt", "w.txt", "old.txt", "new.txt")
    store.resume(snap)
    after = {n: (tmp_path / n).read_bytes() if (tmp_path / n).exists() else None for n in files}
    assert after == {"a.txt": b"a\n", "w.txt": b"at snapshot", "old.txt": b"was here\n",
                     "new.txt": None}
    store.resume(snap)                                 # killed right after the rewind: again
    assert {n: (tmp_path / n).read_bytes() if (tmp_path / n).exists() else None
            for n in files} == after
