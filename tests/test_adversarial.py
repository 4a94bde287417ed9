"""Adversarial tests of the `shape` command: hostile sources, hostile snapshot stores, CLI misuse.

The contract under test: every failure is one `Error: …` line on stderr with exit code 1 (130 for
interrupts), never a Python traceback, and a failure never loses or spoils anything else in the
store. Most cases call `shapelang.cli.main` in-process (fast); a few run the real command in a
subprocess, where a traceback would really reach the user.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys

import msgpack
import pytest

from shapelang import api, cli
from shapelang.vm import snapshot as S
from shapelang.vm import store as ST

SHAPE = [sys.executable, "-m", "shapelang"]

PROGRAMS = {
    # name: (source, output of a full resume of its one snapshot)
    "p1": ("let mut total = 0\nfor i in 0..3 { total = total + i }\nlet a = [1, 2, 3]\nlet b = a\n"
           "let read = || total\n"   # a closure and a cell in the state, for the forged-record cases
           "let s = snapshot()\nb.push(4)\nprint(read(), a, s)\n", "3 [1, 2, 3, 4] Resumed\n"),
    "p2": ("fn f(x) { let s = snapshot()\n  x * 2 }\nprint(f(21))\n", "42\n"),
    "p3": ("let o = {k: 1.5, n: None}\nsnapshot()\nprint(o)\n", "{ k: 1.5, n: None }\n"),
}


# ---------------------------------------------------------------- helpers

def cli_main(*args: str) -> tuple[int, str, str]:
    """Run `shape ARGS` in-process; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return code, out.getvalue(), err.getvalue()


def shape(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(SHAPE + list(args), capture_output=True, text=True, timeout=120, **kw)


def assert_clean_error(code: int, err: str, where: str | None = None) -> None:
    assert code == 1, err
    assert err.startswith("Error: "), err    # the Error line comes first, nothing before it
    assert sum(line.startswith("Error: ") for line in err.splitlines()) == 1, err  # (a source
    # excerpt may follow the Error line)
    assert "Traceback" not in err and "internal error" not in err, err
    if where is not None:
        assert err.startswith(f"Error: {where}"), err


def assert_usage_error(code: int, err: str) -> None:
    """A command line that does not parse: exit 2, the Error line, then the usage line."""
    assert code == 2, err
    lines = err.splitlines()
    assert lines[0].startswith("Error: shape") and "--help" in lines[0], err
    assert lines[1].startswith("usage: shape"), err
    assert "Traceback" not in err, err


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> dict:
    """A store holding one snapshot of each of PROGRAMS (never the default store)."""
    d = tmp_path_factory.mktemp("adv-base")
    db = str(d / "base.db")
    ids = {}
    for name, (src, _) in PROGRAMS.items():
        path = str(d / f"{name}.shape")
        with open(path, "w") as f:
            f.write(src)
        assert api.run(src, path=path, store=db).ok
        st = ST.SQLiteStore(db)
        try:
            ids[name] = next(s.id for s in st.list() if s.script == path)
        finally:
            st.close()
    con = sqlite3.connect(db)
    state = con.execute("SELECT data FROM blobs WHERE id=?", (ids["p1"],)).fetchone()[0]
    meta = con.execute("SELECT created, script, kind, parent, state_size, blob_ids FROM snapshots "
                       "WHERE id=?", (ids["p1"],)).fetchone()
    con.close()
    return {"db": db, "dir": str(d), "ids": ids, "state": bytes(state), "meta": meta}


@pytest.fixture
def db(base, tmp_path) -> str:
    """A private copy of the base store, free to damage."""
    path = str(tmp_path / "store.db")
    shutil.copy(base["db"], path)
    return path


def resume_out(sid: str, db: str) -> str:
    r = api.resume(sid, store=db)
    assert r.error is None, r.error
    return r.stdout


def assert_others_resume(base: dict, db: str, except_: set[str] = frozenset()) -> None:
    for name, sid in base["ids"].items():
        if name not in except_:
            assert resume_out(sid, db) == PROGRAMS[name][1], name


def forge(base: dict, db: str, data: bytes) -> str:
    """Store `data` as a snapshot whose id matches its hash (a tampered but consistent entry)."""
    sid = hashlib.sha256(data).hexdigest()
    con = sqlite3.connect(db)
    con.execute("INSERT OR REPLACE INTO blobs VALUES (?,?,?)", (sid, len(data), data))
    created, script, kind, parent, _, blob_ids = base["meta"]
    con.execute("INSERT OR REPLACE INTO snapshots VALUES (?,?,?,?,?,?,?)",
                (sid, created, script, kind, parent, len(data), blob_ids))
    con.commit()
    con.close()
    return sid


def sql(db: str, statement: str, *params) -> None:
    con = sqlite3.connect(db)
    con.execute(statement, params)
    con.commit()
    con.close()


# ---------------------------------------------------------------- hostile sources

SOURCES = {
    "random-bytes": (bytes(range(256)) * 8, "IOError"),
    "invalid-utf8": (b"print(1)\n\xff\xfe", "IOError"),
    "nul-byte": (b"print(1)\x00print(2)\n", "SyntaxError"),
    "unterminated-string": (b'print("abc\n', "SyntaxError"),
    "unterminated-fstring": (b'print(f"abc{1\n', "SyntaxError"),
    "unterminated-paren": (b"print((1\n", "SyntaxError"),
    "unterminated-block": (b"fn f() {\n", "SyntaxError"),
    "unterminated-comment": (b"/* abc\n", "SyntaxError"),
    "fstring-nesting": (b"print(" + b'f"{' * 3000 + b"1" + b'}"' * 3000 + b")\n", "SyntaxError"),
    "deep-recursion": (b"fn f(n) { f(n + 1) }\nf(0)\n", "StackOverflow"),
}
VM_ONLY = {  # the reference evaluator takes seconds to build these; the VM is what users run
    "deep-data-display": (b"let mut a = []\nfor i in 0..200000 { a = [a] }\nprint(a)\n",
                          "StackOverflow"),
}


@pytest.mark.parametrize("name,engine", [(n, e) for n in sorted(SOURCES) for e in ("vm", "ref")]
                         + [(n, "vm") for n in sorted(VM_ONLY)])
def test_hostile_source_is_one_clean_error(name, engine, tmp_path, db):
    data, kind = {**SOURCES, **VM_ONLY}[name]
    path = tmp_path / "hostile.shape"
    path.write_bytes(data)
    code, out, err = cli_main("run", "--engine", engine, "--store", db, str(path))
    assert_clean_error(code, err, where=str(path))
    assert f": {kind}: " in err


@pytest.mark.parametrize("engine", ["vm", "ref"])
@pytest.mark.parametrize("src,out", [
    (b"print(1)\r\nprint(2)\r\n", "1\n2\n"),          # CRLF line ends are whitespace
    (b"print(1e999999999)\n", "Infinity\n"),           # a float literal beyond range
    (b"print(" + b"-" * 20000 + b"1)\n", "1\n"),       # long unary chains parse iteratively
])
def test_odd_but_valid_sources_run(src, out, engine, tmp_path):
    path = tmp_path / "odd.shape"
    path.write_bytes(src)
    assert cli_main("run", "--engine", engine, str(path)) == (0, out, "")


@pytest.mark.parametrize("engine", ["vm", "ref"])
def test_leading_bom_is_ignored_and_a_later_one_is_an_error(engine, tmp_path):
    path = tmp_path / "bom.shape"
    path.write_bytes(b"\xef\xbb\xbfprint(1)\n")
    assert cli_main("run", "--engine", engine, str(path)) == (0, "1\n", "")
    path.write_bytes(b"print(1)\n\xef\xbb\xbfprint(2)\n")
    code, out, err = cli_main("run", "--engine", engine, str(path))
    assert_clean_error(code, err, where=f"{path}:2:1")
    assert "SyntaxError: Unexpected character" in err


def test_nesting_beyond_python_limits_is_a_compile_error(tmp_path):
    # 100k nested blocks: deeper than the front end's recursion goes (seconds, so only one case;
    # the mapping itself is tested below with an injected RecursionError)
    path = tmp_path / "deep.shape"
    path.write_text("{" * 100_000 + "}" * 100_000 + "\n")
    code, out, err = cli_main("run", str(path))
    if code:  # a front end that can take it may run it; it must never be an internal error
        assert_clean_error(code, err, where=str(path))
        assert "nested too deeply" in err


@pytest.mark.parametrize("engine", ["ref", "vm"])
def test_moderately_nested_source_runs_on_both_engines(engine, tmp_path):
    # 3,000 nested blocks are beyond Python's default recursion limit but well within what both
    # front ends (resolver, compiler) handle on their deep stacks: both engines must run it.
    path = tmp_path / "nested.shape"
    path.write_text("print(" + "{" * 3000 + "1" + "}" * 3000 + ")\n")
    code, out, err = cli_main("run", "--engine", engine, str(path))
    assert (code, out, err) == (0, "1\n", "")


@pytest.mark.parametrize("engine", ["ref", "vm"])
def test_values_nested_10000_deep_display_and_compare(engine, tmp_path):
    # The guaranteed range of spec/implementation-contracts.md "Implementation limits".
    path = tmp_path / "deepvalue.shape"
    path.write_text("let mut a = []\nlet mut b = []\nlet mut i = 0\n"
                    "while i < 10000 { a = [a]; b = [b]; i += 1 }\n"
                    "print(to_string(a).length, a == b)\n")
    assert cli_main("run", "--engine", engine, str(path)) == (0, "20002 true\n", "")


@pytest.mark.parametrize("argv", [["run", "--json"], ["run"]])
def test_recursion_in_the_front_end_is_reported_with_the_file(argv, tmp_path, monkeypatch):
    def deep(*a, **k):
        raise RecursionError("maximum recursion depth exceeded")
    monkeypatch.setattr(api, "_run_vm", deep)
    path = tmp_path / "x.shape"
    path.write_text("print(1)\n")
    code, out, err = cli_main(*argv, str(path))
    if "--json" in argv:
        import json
        doc = json.loads(out)
        assert code == 1 and doc["error"]["kind"] == "CompileError" and err == ""
    else:
        assert_clean_error(code, err, where=str(path))
        assert "CompileError: Program is nested too deeply" in err


def test_huge_integer_literal_is_a_syntax_error(tmp_path):
    path = tmp_path / "big.shape"
    path.write_text("print(" + "9" * 100_000 + ")\n")
    code, out, err = cli_main("run", str(path))
    assert_clean_error(code, err, where=f"{path}:1:7")
    assert "SyntaxError: Integer literal 99999999999999999999" in err
    assert len(err.splitlines()[0]) < 300 and len(err) < 600   # the excerpt is a window too


def _address_space_limit(resource, nbytes: int):
    """A preexec_fn that limits the child's address space (`ulimit -v`)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (nbytes, nbytes))
    return limit


def test_reference_engine_runs_when_a_1gb_stack_does_not_fit(tmp_path):
    # The reference evaluator asks for a 1 GB thread stack; under a smaller address-space limit
    # it must fall back to a smaller stack (and a matching depth) rather than fail.
    resource = pytest.importorskip("resource")
    path = tmp_path / "deep.shape"
    path.write_text("fn f(n) { if n == 0 { 0 } else { 1 + f(n - 1) } }\nprint(f(3000))\n")
    r = shape("run", "--engine", "ref", str(path),
              preexec_fn=_address_space_limit(resource, 900_000_000))
    assert (r.returncode, r.stdout, r.stderr) == (0, "3000\n", "")


def test_out_of_memory_is_a_clean_error(tmp_path):
    resource = pytest.importorskip("resource")
    path = tmp_path / "grow.shape"
    path.write_text('let mut s = "x"\nfor i in 0..40 { s = s + s }\nprint(s.len())\n')
    r = shape("run", "--engine", "vm", str(path),
              preexec_fn=_address_space_limit(resource, 1_500_000_000))
    assert_clean_error(r.returncode, r.stderr, where=str(path))
    assert "Out of memory" in r.stderr


@pytest.mark.parametrize("kind", ["missing", "directory", "unreadable", "devnull"])
@pytest.mark.parametrize("command", [["run"], ["run", "--engine", "ref"], ["dis"]])
def test_bad_file_arguments(kind, command, tmp_path, monkeypatch):
    path = str(tmp_path / "f.shape")
    if kind == "directory":
        os.mkdir(path)
    elif kind == "unreadable":
        open(path, "w").close()
        real_open = open

        def deny(p, *a, **k):  # chmod 000 does not stop root, so deny the read itself
            if p == path:
                raise PermissionError(13, "Permission denied", p)
            return real_open(p, *a, **k)
        monkeypatch.setattr("builtins.open", deny)
    elif kind == "devnull":
        path = os.devnull
    code, out, err = cli_main(*command, path)
    if kind == "devnull":
        assert code == 0 and err == ""
    else:
        assert_clean_error(code, err, where=f"{path}: IOError: ")


# ---------------------------------------------------------------- hostile snapshots

def _doc(base: dict) -> list:
    return msgpack.unpackb(base["state"])


def _mut(f):
    """A forged state: the p1 state document, changed by f (node numbers are p1's)."""
    def make(base: dict) -> bytes:
        d = _doc(base)
        f(d)
        return msgpack.packb(d, use_bin_type=True)
    return make


def _frame_ref(d: list) -> list:
    """The reference ["@", n] to the module frame, found by following references."""
    machine = d[3][1][1]                       # node 1: the machine table, flat [k, v, …]
    frames = d[3][machine[machine.index("frames") + 1][1]][1]
    return frames[0]


def _frame(d: list) -> list:
    """The module frame [blob id, pc, registers, task]."""
    return d[3][_frame_ref(d)[1]][1]


def _closure(d: list) -> list:
    return next(n for n in d[3] if n[0] == "R" and n[1] == "Closure")


def _closures(d: list) -> list:
    return [n for n in d[3] if n[0] == "R" and n[1] == "Closure"]


FORGED = {
    "not-msgpack": lambda b: b"\xc1\xc1\xc1",
    "empty": lambda b: b"",
    "scalar": lambda b: msgpack.packb(5),
    "truncated": lambda b: b["state"][: len(b["state"]) // 2],
    "bad-magic": _mut(lambda d: d.__setitem__(0, "NOPE")),
    "version-2": _mut(lambda d: d.__setitem__(1, 2)),
    "version-true": _mut(lambda d: d.__setitem__(1, True)),
    "version-float": _mut(lambda d: d.__setitem__(1, 1.0)),
    "node-table-dict": _mut(lambda d: d.__setitem__(3, {"a": 1})),
    "root-out-of-range": _mut(lambda d: d.__setitem__(2, ["@", 10 ** 6])),
    "root-negative": _mut(lambda d: d.__setitem__(2, ["@", -1])),
    "root-bool-ref": _mut(lambda d: d.__setitem__(2, ["@", True])),
    "root-scalar": _mut(lambda d: d.__setitem__(2, 7)),
    "root-is-a-list": _mut(lambda d: d.__setitem__(2, ["@", 2])),
    "ref-out-of-range": _mut(lambda d: d[3][1][1].__setitem__(1, ["@", 99999])),
    "unknown-record": _mut(lambda d: _closure(d).__setitem__(1, "os.system")),
    "record-extra-field": _mut(lambda d: _closure(d)[2].append(1)),
    "unknown-node-tag": _mut(lambda d: d[3][3].__setitem__(0, "X")),
    "unknown-constant": _mut(lambda d: d[3][1][1].__setitem__(5, ["C", "builtin:eval"])),
    "ext-type": lambda b: msgpack.packb(["SHAPE-SNAP", 1, ["@", 0],
                                         [["L", [msgpack.ExtType(5, b"xx")]]]]),
    "bin-item": lambda b: msgpack.packb(["SHAPE-SNAP", 1, ["@", 0], [["L", [b"xx"]]]],
                                        use_bin_type=True),
    "bigint-double-minus": _mut(lambda d: d[3][1][1].__setitem__(9, ["I", "--5"])),
    "bigint-superscript": _mut(lambda d: d[3][1][1].__setitem__(9, ["I", "\u00b2"])),
    "bigint-too-long": _mut(lambda d: d[3][1][1].__setitem__(9, ["I", "9" * 5000])),
    "unhashable-key": _mut(lambda d: d[3][3][1].extend([["@", 2], 1])),
    "deep-tuples": lambda b: (b"\x94\xaaSHAPE-SNAP\x01" + b"\x92\xa1T\x91" * 3000 + b"\xc0"
                              + b"\x90"),
    "deep-msgpack": lambda b: b"\x91" * 100_000 + b"\xc0",
    "huge-array-header": lambda b: b"\x94\xaaSHAPE-SNAP\x01\xc0\xdd\xff\xff\xff\xff",
    "huge-str-header": lambda b: b"\x94\xaaSHAPE-SNAP\x01\xc0\xdb\xff\xff\xff\xf0abc",
    "state-not-dict": _mut(lambda d: d[3].__setitem__(0, ["L", []])),
    "state-version-2": _mut(lambda d: d[3][0][1].__setitem__(1, 2)),
    "state-version-true": _mut(lambda d: d[3][0][1].__setitem__(1, True)),
    "entry-not-str": _mut(lambda d: d[3][0][1].__setitem__(3, 5)),
    "entry-unknown": _mut(lambda d: d[3][0][1].__setitem__(3, "f" * 64)),
    "source-unknown": _mut(lambda d: d[3][0][1].__setitem__(7, "e" * 64)),
    "source-is-code": _mut(lambda d: d[3][0][1].__setitem__(7, d[3][0][1][5])),
    "machine-is-list": _mut(lambda d: d[3][0][1].__setitem__(9, ["@", 2])),
    "frames-missing": _mut(lambda d: d[3][1][1].__setitem__(0, "framez")),
    "frames-dict": _mut(lambda d: d[3][1][1].__setitem__(1, ["@", 3])),
    "frames-self-cycle": _mut(lambda d: d[3][2].__setitem__(1, [["@", 2]])),
    "frame-short": _mut(lambda d: _frame(d).pop()),
    "frame-pc-huge": _mut(lambda d: _frame(d).__setitem__(1, 10 ** 9)),
    "frame-pc-negative": _mut(lambda d: _frame(d).__setitem__(1, -1)),
    "frame-pc-bool": _mut(lambda d: _frame(d).__setitem__(1, True)),
    "frame-code-is-source": _mut(lambda d: _frame(d).__setitem__(0, d[3][0][1][7])),
    "frame-registers-int": _mut(lambda d: _frame(d).__setitem__(2, 5)),
    "frame-registers-cycle": _mut(lambda d: _frame(d).__setitem__(2, _frame_ref(d))),
    "frame-task-bogus": _mut(lambda d: _frame(d).__setitem__(3, "zzz")),
    "pending-bogus": _mut(lambda d: d[3][1][1].__setitem__(7, "boom")),
    # Consistent types, inconsistent state: without the pending snapshot() result, the code
    # after the call would pop an empty operand stack.
    "pending-none": _mut(lambda d: d[3][1][1].__setitem__(7, None)),
    "frame-pc-back-one": _mut(lambda d: _frame(d).__setitem__(1, _frame(d)[1] - 1)),
    "methods-list": _mut(lambda d: d[3][1][1].__setitem__(3, ["@", 2])),
    "closure-code-int": _mut(lambda d: _closure(d)[2].__setitem__(1, 5)),
    "closure-code-unknown": _mut(lambda d: _closure(d)[2].__setitem__(1, "a" * 64)),
}


@pytest.mark.parametrize("name", sorted(FORGED))
def test_forged_state_is_refused_and_nothing_else_is_lost(name, base, db):
    sid = forge(base, db, FORGED[name](base))
    code, out, err = cli_main("--resume", sid, "--store", db)
    assert_clean_error(code, err, where="--resume: ")
    assert out == ""
    # Recompile-and-resume loads the same way: refused as cleanly.
    src = os.path.join(base["dir"], "p1.shape")
    code, out, err = cli_main("--resume", sid, src, "--store", db)
    assert_clean_error(code, err, where="--resume: ")
    assert ": ResumeError: " in err or ": StoreError: " in err
    # `verify --deep` names it; the plain hash check cannot (its hash is right).
    code, out, err = cli_main("snapshot", "--store", db, "verify", "--deep")
    assert code == 1 and f"BAD  snapshot {sid}" in out and err.startswith("Error: ")
    for cmd in (["list"], ["info", sid[:20]]):
        code, out, err = cli_main("snapshot", "--store", db, *cmd)
        assert code == 0 and sid in out, err
    assert_others_resume(base, db)
    code, out, err = cli_main("snapshot", "--store", db, "delete", sid)
    assert code == 0
    assert cli_main("snapshot", "--store", db, "verify", "--deep")[0] == 0
    assert_others_resume(base, db)


METADATA = {
    "blob-ids-not-json": ("UPDATE snapshots SET blob_ids='{not json' WHERE id=:p1", False),
    "blob-ids-int": ("UPDATE snapshots SET blob_ids='5' WHERE id=:p1", False),
    "blob-ids-ints": ("UPDATE snapshots SET blob_ids='[1,2]' WHERE id=:p1", False),
    "blob-ids-null-items": ("UPDATE snapshots SET blob_ids='[null]' WHERE id=:p1", False),
    "blob-ids-dict": ("UPDATE snapshots SET blob_ids='{\"a\":1}' WHERE id=:p1", False),
    "blob-ids-binary": ("UPDATE snapshots SET blob_ids=x'00ff' WHERE id=:p1", False),
    "blob-ids-null": ("UPDATE snapshots SET blob_ids=NULL WHERE id=:p1", False),
    "blob-ids-deep": ("UPDATE snapshots SET blob_ids=:deep WHERE id=:p1", False),
    "created-text": ("UPDATE snapshots SET created='yesterday' WHERE id=:p1", True),
    "created-null": ("UPDATE snapshots SET created=NULL WHERE id=:p1", True),
    "created-huge": ("UPDATE snapshots SET created=1e300 WHERE id=:p1", True),
    "created-minus-inf": ("UPDATE snapshots SET created=-1e400 WHERE id=:p1", True),
    "kind-null": ("UPDATE snapshots SET kind=NULL WHERE id=:p1", True),
    "kind-int": ("UPDATE snapshots SET kind=7 WHERE id=:p1", True),
    "size-text": ("UPDATE snapshots SET state_size='big' WHERE id=:p1", True),
    "size-null": ("UPDATE snapshots SET state_size=NULL WHERE id=:p1", True),
    "script-binary": ("UPDATE snapshots SET script=x'ff00' WHERE id=:p1", True),
    "script-not-utf8": ("UPDATE snapshots SET script=CAST(x'ff00' AS TEXT) WHERE id=:p1", True),
    "kind-not-utf8": ("UPDATE snapshots SET kind=CAST(x'c3' AS TEXT) WHERE id=:p1", True),
    "blob-ids-not-utf8": ("UPDATE snapshots SET blob_ids=CAST(x'5bff5d' AS TEXT) WHERE id=:p1",
                          False),
    "parent-int": ("UPDATE snapshots SET parent=12 WHERE id=:p1", True),
    "state-deleted": ("DELETE FROM blobs WHERE id=:p1", False),
    "state-flipped": ("UPDATE blobs SET data=x'00' || substr(data, 2) WHERE id=:p1", False),
    "state-truncated": ("UPDATE blobs SET data=substr(data, 1, 100) WHERE id=:p1", False),
    "state-null": ("UPDATE blobs SET data=NULL WHERE id=:p1", False),
    "state-text": ("UPDATE blobs SET data='hello' WHERE id=:p1", False),
    "state-int": ("UPDATE blobs SET data=5 WHERE id=:p1", False),
    "state-empty": ("UPDATE blobs SET data=x'' WHERE id=:p1", False),
    "code-deleted": ("DELETE FROM blobs WHERE id=:code", False),
    "code-flipped": ("UPDATE blobs SET data=x'00' || substr(data, 2) WHERE id=:code", False),
    "code-null": ("UPDATE blobs SET data=NULL WHERE id=:code", False),
    "source-deleted": ("DELETE FROM blobs WHERE id=:source", False),
    "source-null": ("UPDATE blobs SET data=NULL WHERE id=:source", False),
}


def _p1_blobs(base: dict) -> dict:
    """p1's module blob (its own code, shared with no other program) and its source blob."""
    d = _doc(base)
    root = dict(zip(d[3][0][1][::2], d[3][0][1][1::2]))
    return {"code": root["entry"], "source": root["source"]}


@pytest.mark.parametrize("name", sorted(METADATA))
def test_damaged_store_rows(name, base, db):
    statement, still_resumes = METADATA[name]
    params = {"p1": base["ids"]["p1"], "deep": "[" * 100_000, **_p1_blobs(base)}
    con = sqlite3.connect(db)
    con.execute(statement, {k: v for k, v in params.items() if f":{k}" in statement})
    con.commit()
    con.close()
    p1 = base["ids"]["p1"]
    code, out, err = cli_main("--resume", p1, "--store", db)
    if still_resumes:  # only shown to people: the snapshot itself is intact
        assert code == 0 and out == PROGRAMS["p1"][1], err
    else:
        assert_clean_error(code, err, where="--resume: ")
        code, out, err = cli_main("snapshot", "--store", db, "verify")
        named = [p1, *_p1_blobs(base).values()]
        assert code == 1 and any(f"BAD  snapshot {x}" in out or f"BAD  blob {x}" in out
                                 for x in named), out
    for cmd in (["list"], ["verify"], ["verify", "--deep"], ["info", p1[:12]], ["gc"]):
        code, out, err = cli_main("snapshot", "--store", db, *cmd)
        if code:
            assert_clean_error(code, err)
    # The other programs share prelude blobs with p1, never its module blob, state or source.
    assert_others_resume(base, db, except_={"p1"})


def test_list_shows_a_row_with_corrupt_metadata_beside_the_good_ones(base, db):
    sql(db, "UPDATE snapshots SET blob_ids='5' WHERE id=?", base["ids"]["p1"])
    code, out, err = cli_main("snapshot", "--store", db, "list")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split()[0] == "ID"  # the header
    assert len(lines) == 5 and all(sid in out for sid in base["ids"].values())   # header, rule, 3
    assert any(base["ids"]["p1"] in ln and "corrupt metadata" in ln for ln in lines)


def test_gc_with_corrupt_metadata_deletes_nothing(base, db):
    sql(db, "UPDATE snapshots SET blob_ids='{bad' WHERE id=?", base["ids"]["p2"])
    con = sqlite3.connect(db)
    before = con.execute("SELECT COUNT(*) FROM blobs").fetchone()[0]
    con.close()
    code, out, err = cli_main("snapshot", "--store", db, "gc")
    assert_clean_error(code, err)
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == before
    con.close()
    assert_others_resume(base, db, except_={"p2"})


def test_gc_with_a_wrong_but_well_formed_blob_list_deletes_nothing(base, db):
    # The list names real blobs but leaves out code the snapshot needs: gc must not trust it.
    p2 = base["ids"]["p2"]
    con = sqlite3.connect(db)
    ids = json.loads(con.execute("SELECT blob_ids FROM snapshots WHERE id=?", (p2,)).fetchone()[0])
    gone = S.load(ST.SQLiteStore(db), p2).program.entry
    con.execute("UPDATE snapshots SET blob_ids=? WHERE id=?",
                (json.dumps([b for b in ids if b != gone]), p2))
    con.commit()
    before = con.execute("SELECT COUNT(*) FROM blobs").fetchone()[0]
    con.close()
    code, out, err = cli_main("snapshot", "--store", db, "gc")
    assert_clean_error(code, err)
    assert "nothing was deleted" in err
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == before
    # Putting the list right makes the snapshot whole again: nothing was lost.
    con.execute("UPDATE snapshots SET blob_ids=? WHERE id=?", (json.dumps(ids), p2))
    con.commit()
    con.close()
    assert_others_resume(base, db)


def test_gc_keeps_a_source_the_blob_list_does_not_name(base, db, tmp_path):
    # Snapshots saved by resumed runs of earlier versions did not list their source.
    p2 = base["ids"]["p2"]
    con = sqlite3.connect(db)
    ids = json.loads(con.execute("SELECT blob_ids FROM snapshots WHERE id=?", (p2,)).fetchone()[0])
    source_id = S.load(ST.SQLiteStore(db), p2).source_id
    con.execute("UPDATE snapshots SET blob_ids=? WHERE id=?",
                (json.dumps([b for b in ids if b != source_id]), p2))
    con.commit()
    con.close()
    code, out, err = cli_main("snapshot", "--store", db, "gc")
    assert code == 0, err
    assert S.load(ST.SQLiteStore(db), p2).source is not None
    assert_others_resume(base, db)


def test_concurrent_gc_cannot_delete_code_a_new_snapshot_is_about_to_use(tmp_path, monkeypatch):
    db = str(tmp_path / "race.db")
    real = ST.SQLiteStore.put_snapshot

    def gc_first(self, *a, **k):  # another process runs `shape snapshot gc` at the worst moment
        other = ST.SQLiteStore(self.path)
        other.gc()
        other.close()
        return real(self, *a, **k)
    monkeypatch.setattr(ST.SQLiteStore, "put_snapshot", gc_first)
    out: list[str] = []
    src, expected = PROGRAMS["p1"]
    out.append(api.run(src, path="p1.shape", store=db).stdout)
    out.append(api.run(src, path="p1.shape", store=db).stdout)
    sid = out[0].split("Hash(")[1].split(")")[0]
    monkeypatch.setattr(ST.SQLiteStore, "put_snapshot", real)
    assert resume_out(sid, db) == expected


# ---------------------------------------------------------------- ids and prefixes

@pytest.mark.parametrize("prefix", ["", " ", "zz", "0x12", "g", "-1", "a" * 65, "é",
                                    "f" * 64, "0000"])
def test_bad_or_unknown_ids(prefix, base, db):
    for argv in (["--resume", prefix], ["snapshot", "info", prefix], ["snapshot", "delete", prefix]):
        if argv[0] == "--resume":
            argv = argv + ["--store", db]
        else:
            argv = argv[:1] + ["--store", db] + argv[1:]
        code, out, err = cli_main(*argv)
        assert_clean_error(code, err)
        assert "ResumeError" in err
    assert_others_resume(base, db)


def test_ambiguous_prefix_deletes_nothing(base, db):
    st = ST.SQLiteStore(db)
    try:  # two snapshots whose ids share a first digit
        for i in range(64):
            st.put_snapshot(f"filler-{i}".encode(), [], None, "call", None)
        ids = [s.id for s in st.list()]
    finally:
        st.close()
    shared = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) > 1)
    code, out, err = cli_main("snapshot", "--store", db, "delete", shared)
    assert_clean_error(code, err)
    assert "ambiguous" in err
    st = ST.SQLiteStore(db)
    assert len(st.list()) == len(ids)
    st.close()
    assert_others_resume(base, db)


# ---------------------------------------------------------------- the store file itself

def _store_file(kind: str, tmp_path) -> str:
    path = tmp_path / "s.db"
    if kind == "zero-bytes":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(bytes(range(256)) * 20)
    elif kind == "sqlite-header-then-garbage":
        path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 16)
    elif kind == "directory":
        path.mkdir()
    elif kind == "parent-is-a-file":
        (tmp_path / "file").write_text("x")
        return str(tmp_path / "file" / "s.db")
    elif kind == "empty-path":
        return ""
    return str(path)


@pytest.mark.parametrize("kind", ["zero-bytes", "garbage", "sqlite-header-then-garbage",
                                  "directory", "parent-is-a-file", "empty-path"])
def test_unusable_store_files(kind, tmp_path, base):
    store = _store_file(kind, tmp_path)
    before = open(store, "rb").read() if os.path.isfile(store) else None
    prog = os.path.join(base["dir"], "p1.shape")
    runs = [("--resume", "abc", "--store", store),
            ("snapshot", "--store", store, "list"), ("snapshot", "--store", store, "verify"),
            ("snapshot", "--store", store, "gc"), ("snapshot", "--store", store, "delete", "ab"),
            ("run", "--store", store, prog), ("run", "--snapshot-at", "3", "--store", store, prog)]
    for argv in runs:
        code, out, err = cli_main(*argv)
        if kind == "zero-bytes" and code in (0, 130):
            continue  # an empty file is an empty SQLite database: a fine store
        assert_clean_error(code, err)
        assert "StoreError" in err or "ResumeError" in err
    if before:  # not a store: never rewritten (a user's file passed by mistake survives)
        with open(store, "rb") as f:
            assert f.read() == before


def test_read_only_store_reads_but_refuses_writes_cleanly(base, db, monkeypatch):
    real = sqlite3.connect

    def read_only(path, *a, **k):  # chmod does not stop root; open the file read-only instead
        return real(f"file:{path}?mode=ro", *a, uri=True, **k)
    monkeypatch.setattr(sqlite3, "connect", read_only)
    assert cli_main("snapshot", "--store", db, "verify")[0] == 0
    assert cli_main("--resume", base["ids"]["p3"], "--store", db)[1] == PROGRAMS["p3"][1]
    code, out, err = cli_main("snapshot", "--store", db, "delete", base["ids"]["p1"])
    assert_clean_error(code, err)
    assert "readonly" in err
    monkeypatch.setattr(sqlite3, "connect", real)
    assert_others_resume(base, db)


# ---------------------------------------------------------------- CLI misuse

# Usage errors: exit 2 with a usage line (issue 14); the others are ordinary errors, exit 1.
MISUSE = [
    ["run"], ["run", "--engine"], ["run", "--engine", "bogus", "{p1}"],
    ["run", "--snapshot-at", "-5", "{p1}"], ["run", "--snapshot-at", "abc", "{p1}"],
    ["run", "--snapshot-at", "1.5", "{p1}"], ["run", "--bogus", "{p1}"],
    ["--resume"], ["--resume", "{sid}", "--snapshot-at", "-1"], ["--resume", "{sid}", "--bogus"],
    ["--resume", "{sid}", "--engine", "ref", "{p1}"], ["--bogus"],
    ["snapshot"], ["snapshot", "bogus"], ["snapshot", "info"], ["snapshot", "delete"],
    ["snapshot", "list", "extra"], ["snapshot", "list", "--store"],
    ["dis"], ["bench", "--bogus"], ["bench", "snapshot", "--bogus"],
    ["bench", "io", "--bogus"], ["bench", "io", "--rows", "0"],
    ["bench", "nosuchbench"], ["bench", "fib", "--engines", "zz"],
    ["run", "--engine", "ref", "--snapshot-at", "5", "{p1}"],
    ["fuzz", "--seconds", "abc"], ["fuzz", "--seconds", "-1"], ["fuzz", "--jobs", "0"],
    ["conformance", "--junit", "/nonexistent-dir/x.xml", "{p1}"],   # found before the run
]
FAILED_COMMANDS = [["dis", "{missing}"]]


def _misuse_argv(argv: list[str], base: dict, db: str) -> list[str]:
    subst = {"{p1}": os.path.join(base["dir"], "p1.shape"), "{sid}": base["ids"]["p1"],
             "{missing}": os.path.join(base["dir"], "missing.shape")}
    argv = [subst.get(a, a) for a in argv]
    # Options of `shape` come before the script: what follows it is the program's.
    if argv[0] == "run":
        argv = ["run", "--store", db] + argv[1:]
    elif argv[0] == "--resume":
        argv = ["--store", db] + argv
    return argv


@pytest.mark.parametrize("argv", MISUSE, ids=lambda a: " ".join(a) or "-")
def test_cli_misuse_is_a_usage_error_exit_2(argv, base, db):
    code, out, err = cli_main(*_misuse_argv(argv, base, db))
    assert_usage_error(code, err)
    assert_others_resume(base, db)


@pytest.mark.parametrize("argv", FAILED_COMMANDS, ids=lambda a: " ".join(a))
def test_commands_that_fail_give_one_error_exit_1(argv, base, db):
    code, out, err = cli_main(*_misuse_argv(argv, base, db))
    assert_clean_error(code, err)
    assert_others_resume(base, db)


def test_snapshot_store_option_after_the_subcommand(base, db):
    code, out, err = cli_main("snapshot", "list", "--store", db)
    assert code == 0 and all(sid in out for sid in base["ids"].values())
    assert cli_main("snapshot", "verify", "--store", db)[0] == 0


def test_snapshot_at_zero_interrupts_before_the_first_step(base, db, tmp_path):
    prog = os.path.join(base["dir"], "p1.shape")
    code, out, err = cli_main("run", "--snapshot-at", "0", "--store", db, prog)
    assert code == 130 and "Resume with: shape --resume " in err
    sid = err.split("Resume with: shape --resume ")[1].split()[0]
    assert resume_out(sid, db).startswith("3 [1, 2, 3, 4] Hash(")


def test_conformance_usage_errors_keep_their_documented_exit_2(tmp_path):
    code, out, err = cli_main("conformance", str(tmp_path / "nope"))
    assert code == 2 and err.startswith("Error: ") and "Traceback" not in err
    code, out, err = cli_main("conformance", "--bogus")
    assert code == 2 and "unrecognized arguments: --bogus" in err and "Traceback" not in err


# ---------------------------------------------------------------- real processes: stdout, pipes

def test_misuse_in_a_real_process_has_no_traceback(base, tmp_path):
    for argv in (["run", "--engine", "bogus", "x"], ["snapshot", "info"]):
        r = shape(*argv)
        assert_usage_error(r.returncode, r.stderr)
    r = shape("--resume", "zz", "--store", str(tmp_path / "s.db"))
    assert_clean_error(r.returncode, r.stderr)


@pytest.mark.parametrize("engine", ["vm", "ref"])
def test_closed_or_full_stdout_and_broken_pipe(engine, tmp_path):
    prog = tmp_path / "loop.shape"
    prog.write_text("for i in 0..100000 { print(i) }\n")
    # stdout closed: one clean error, not an AttributeError on None
    r = subprocess.run(SHAPE + ["run", "--engine", engine, str(prog)], stderr=subprocess.PIPE,
                       text=True, timeout=120, stdin=subprocess.DEVNULL,
                       preexec_fn=lambda: os.close(1))
    assert_clean_error(r.returncode, r.stderr, where="<output>: IOError: ")
    if os.path.exists("/dev/full"):
        with open("/dev/full", "w") as full:
            r = subprocess.run(SHAPE + ["run", "--engine", engine, str(prog)], stdout=full,
                               stderr=subprocess.PIPE, text=True, timeout=120)
        assert_clean_error(r.returncode, r.stderr, where="<output>: IOError: ")
    # the reader goes away (`shape run … | head -1`): stop quietly, exit 1, no traceback
    p = subprocess.Popen(SHAPE + ["run", "--engine", engine, str(prog)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    assert p.stdout.readline() == b"0\n"
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait(timeout=120)
    assert p.returncode == 1 and err == ""


def test_resume_of_a_forged_state_in_a_real_process(base, db):
    sid = forge(base, db, FORGED["bigint-double-minus"](base))
    r = shape("--resume", sid, "--store", db)
    assert_clean_error(r.returncode, r.stderr, where="--resume: ResumeError: ")
    r = shape("--resume", base["ids"]["p1"], "--store", db)
    assert r.returncode == 0 and r.stdout == PROGRAMS["p1"][1]
