"""Compiled code is kept between runs in a local cache, validated like stored code.

vm/codecache.py: the prelude's blobs, and those of program files run by `shape FILE`, one file
per (kind, source, compiler) key under SHAPE_CACHE_DIR, validated when written and sealed with
a keyed hash under this user's private key; a file that is corrupt, forged, foreign or for other
code is ignored (never decoded) and replaced; an empty SHAPE_CACHE_DIR turns the cache off. Start-up
depends on it (issue 14: `shape hello.shape` within 0.1 s): a cached run loads neither the front
end nor the compiler.
"""
from __future__ import annotations

import dataclasses
import marshal
import os
import subprocess
import sys
import time

import pytest

from shapelang import api
from shapelang.runtime.prelude import PRELUDE_PATH
from shapelang.vm import blob as B
from shapelang.vm import codecache
from shapelang.vm import compiler as C
from shapelang.vm import verify

PROGRAM = "fn half(n) { n / 2 }\nprint([4, 6].map(half))\nprint(half(1) / 0)\n"


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """A private cache directory and no prelude compiled in this process yet."""
    monkeypatch.setenv("SHAPE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(C, "_PRELUDE", {})
    return tmp_path


def cache_files(d, kind: str) -> list[str]:
    return sorted(n for n in os.listdir(d) if n.startswith(kind + "-"))


def no_compiling(monkeypatch) -> list:
    """Record every compilation from now on (the prelude's and programs')."""
    calls = []
    compiling = C.compile_blobs

    def watched(program, path=None):
        calls.append(path)
        return compiling(program, path)
    monkeypatch.setattr(C, "compile_blobs", watched)
    return calls


def test_the_prelude_is_compiled_once_then_loaded(fresh, monkeypatch):
    compiled = C.prelude_blobs()
    source = codecache.prelude_source()
    assert cache_files(fresh, "prelude") == [f"prelude-{codecache.key('prelude', source)}.code"]
    monkeypatch.setattr(C, "_PRELUDE", {})
    calls = no_compiling(monkeypatch)
    loaded = C.prelude_blobs()
    assert loaded[1] == compiled[1] and set(loaded[0]) == set(compiled[0])
    assert all(b.source == PRELUDE_PATH for b in loaded[0].values())
    assert api.run("print([1, 2].map(|x| x * 3))", path="p.shape").stdout == "[3, 6]\n"
    assert calls == ["p.shape"]        # the program was compiled, the prelude was not


def test_a_cached_program_runs_without_compiling_and_fails_the_same_way(fresh, monkeypatch):
    first = api.run(PROGRAM, path="p.shape", cache=True)
    assert len(cache_files(fresh, "program")) == 1
    calls = no_compiling(monkeypatch)
    again = api.run(PROGRAM, path="p.shape", cache=True)
    assert calls == []
    assert again.stdout == first.stdout == "[2, 3]\n"
    assert again.error == first.error and again.error.kind == "ArithmeticError"
    assert [(f.name, f.line, f.col) for f in again.error.stack] == \
        [(f.name, f.line, f.col) for f in first.error.stack]
    # Another source, or the same one without `cache`, is compiled.
    api.run(PROGRAM + "print(1)\n", path="p.shape", cache=True)
    api.run(PROGRAM, path="p.shape")
    assert calls == ["p.shape", "p.shape"]
    assert len(cache_files(fresh, "program")) == 2


def test_the_command_caches_program_files_only(fresh, tmp_path):
    script = tmp_path / "hello.shape"
    script.write_text('print("hello")\n')
    env = dict(os.environ, SHAPE_CACHE_DIR=str(fresh))
    run = [sys.executable, "-m", "shapelang"]
    for _ in range(2):
        assert subprocess.run(run + [str(script)], env=env, capture_output=True,
                              text=True).stdout == "hello\n"
    assert subprocess.run(run + ["-c", 'print("c")'], env=env, capture_output=True,
                          text=True).stdout == "c\n"
    assert len(cache_files(fresh, "program")) == 1


def test_a_cached_run_loads_neither_the_front_end_nor_the_compiler(fresh, tmp_path):
    script = tmp_path / "hello.shape"
    script.write_text('print("hello")\n')
    probe = ("import sys, runpy\n"
             f"sys.argv = ['shape', {str(script)!r}]\n"
             "try:\n    runpy.run_module('shapelang', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "print(sorted(m for m in sys.modules if m.startswith(('shapelang.ref.',"
             " 'shapelang.vm.compiler', 'ply'))))\n")
    env = dict(os.environ, SHAPE_CACHE_DIR=str(fresh))
    outs = [subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                           text=True).stdout for _ in range(2)]
    assert outs[0].startswith("hello\n") and "shapelang.ref.parser" in outs[0]
    assert outs[1] == "hello\n['shapelang.ref.deepstack']\n"


def seal(key: bytes, payload: list) -> bytes:
    data = marshal.dumps(payload)
    return codecache._seal(key, data) + data


@pytest.mark.parametrize("kind", ["prelude", "program"])
@pytest.mark.parametrize("damage", ["truncated", "flipped byte", "not sealed", "forged blob",
                                    "foreign key", "renamed", "other entry", "bad magic"])
def test_a_damaged_cache_file_is_ignored_and_replaced(fresh, monkeypatch, kind, damage):
    expected = api.run(PROGRAM, path="p.shape", cache=True)
    path = fresh / cache_files(fresh, kind)[0]
    data = path.read_bytes()
    key = (fresh / codecache.KEY_FILE).read_bytes()
    magic, version, name, entry, stored = marshal.loads(data[codecache.MAC_SIZE:])
    assert name == path.name[:-len(codecache.SUFFIX)]
    other_key = bytes(31) + b"x"
    if damage == "truncated":
        data = data[:len(data) // 2]
    elif damage == "flipped byte":
        data = data[:-5] + bytes([data[-5] ^ 1]) + data[-4:]
    elif damage == "not sealed":
        data = data[codecache.MAC_SIZE:]
    elif damage == "forged blob":
        # Other code under the same id, sealed by someone without this user's key.
        bid, fields = stored[0]
        stored[0] = (bid, fields[:11] + [[[0, 0, 0]]] + fields[12:])
        data = seal(other_key, [magic, version, name, entry, stored])
    elif damage == "foreign key":
        # A good file from another cache directory (another user's, another machine's).
        data = seal(other_key, [magic, version, name, entry, stored])
    elif damage == "renamed":
        # Sealed here, for another source: the file of another key copied under this name.
        # (the name is a hash: change its last digit to one it does not have)
        data = seal(key, [magic, version, name[:-1] + ("1" if name.endswith("0") else "0"), entry,
                          stored])
    elif damage == "other entry":
        data = seal(key, [magic, version, name, "0" * 64, stored])
    else:
        data = seal(key, ["x", version, name, entry, stored])
    path.write_bytes(data)
    decoded = []
    monkeypatch.setattr(codecache, "marshal", type("M", (), {
        "loads": staticmethod(lambda b: decoded.append(b) or marshal.loads(b)),
        "dumps": staticmethod(marshal.dumps), "version": marshal.version}))
    assert codecache.load_program(PROGRAM, "p.shape") is None
    if damage not in ("renamed", "other entry", "bad magic"):
        # Bytes not sealed with this user's key are never decoded, let alone run.
        assert [d for d in decoded if d == data[codecache.MAC_SIZE:]] == []
    monkeypatch.setattr(C, "_PRELUDE", {})
    calls = no_compiling(monkeypatch)
    again = api.run(PROGRAM, path="p.shape", cache=True)
    assert again.stdout == expected.stdout and again.error == expected.error
    assert sorted(calls) == sorted([PRELUDE_PATH, "p.shape"] if kind == "prelude" else ["p.shape"])
    assert codecache.load_program(PROGRAM, "p.shape") is not None      # written again


def test_code_is_validated_once_when_written_not_when_loaded(fresh, monkeypatch):
    checked = []
    from_bytes = B.Blob.from_bytes
    monkeypatch.setattr(B.Blob, "from_bytes", staticmethod(
        lambda data, expect_id=None: checked.append(expect_id) or from_bytes(data, expect_id)))
    api.run(PROGRAM, path="p.shape", cache=True)
    program = codecache.load_program(PROGRAM, "p.shape")
    assert program is not None and set(checked) == set(program.blobs)   # every blob, once
    checked.clear()
    monkeypatch.setattr(C, "_PRELUDE", {})
    assert api.run(PROGRAM, path="p.shape", cache=True).stdout == "[2, 3]\n"
    assert checked == []


def test_code_that_fails_validation_is_not_cached(fresh, monkeypatch):
    program = C.compile_source(PROGRAM, "p.shape")
    entry = program.blobs[program.entry]
    # Code that jumps nowhere, under the id of the good code.
    bad = dataclasses.replace(entry, code=[[0, 10 ** 6, 0]] + entry.code[1:])
    with pytest.raises(verify.BlobError):
        verify.validate(bad)
    codecache.save_program(PROGRAM, B.Program({**program.blobs, program.entry: bad},
                                              program.entry, program.prelude, "p.shape"))
    assert cache_files(fresh, "program") == []
    codecache.save_program(PROGRAM, program)
    assert len(cache_files(fresh, "program")) == 1


@pytest.mark.parametrize("problem", ["readable by others", "a symbolic link", "short",
                                     "a directory"])
def test_a_key_that_is_not_private_is_not_trusted_and_is_replaced(fresh, monkeypatch, problem):
    api.run(PROGRAM, path="p.shape", cache=True)
    key = fresh / codecache.KEY_FILE
    assert key.stat().st_mode & 0o777 == 0o600 and codecache.load_program(PROGRAM, "p.shape")
    secret = key.read_bytes()
    if problem == "readable by others":
        key.chmod(0o644)
    elif problem == "a symbolic link":
        elsewhere = fresh.parent / f"{fresh.name}-key"
        elsewhere.write_bytes(secret)
        elsewhere.chmod(0o600)
        key.unlink()
        key.symlink_to(elsewhere)
    elif problem == "short":
        key.write_bytes(secret[:-1])
    else:
        key.unlink()
        key.mkdir()
    assert codecache.load_program(PROGRAM, "p.shape") is None
    if problem == "a directory":
        return          # cannot be replaced by a file: no cache, and still a correct run
    monkeypatch.setattr(C, "_PRELUDE", {})      # as in a new process
    assert api.run(PROGRAM, path="p.shape", cache=True).stdout == "[2, 3]\n"
    assert not key.is_symlink() and key.stat().st_mode & 0o777 == 0o600
    assert key.read_bytes() != secret and codecache.load_program(PROGRAM, "p.shape")


def test_the_key_follows_the_kind_the_source_and_the_compiler(fresh):
    source = codecache.prelude_source()
    assert codecache.key("prelude", source) == codecache.key("prelude", source)
    assert codecache.key("prelude", source + "\n") != codecache.key("prelude", source)
    assert codecache.key("program", source) != codecache.key("prelude", source)
    # The code that compiles is part of the key (every file of the front end, the runtime, the
    # VM and the compiler): a changed installation never reads another one's code.
    assert codecache._SOURCES == (("ref", True), ("runtime", True), ("vm", False),
                                  (os.path.join("vm", "compiler"), False))


def test_an_empty_cache_dir_setting_turns_the_cache_off(fresh, monkeypatch):
    monkeypatch.setenv("SHAPE_CACHE_DIR", "")
    assert codecache.cache_dir() is None
    assert api.run(PROGRAM, path="p.shape", cache=True).stdout == "[2, 3]\n"
    assert os.listdir(fresh) == []


def test_an_unwritable_cache_dir_only_means_no_cache(fresh, monkeypatch):
    blocked = fresh / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("SHAPE_CACHE_DIR", str(blocked / "cache"))
    assert C.prelude_blobs()[1]
    assert api.run("print(1)", path="p.shape", cache=True).stdout == "1\n"


def test_the_default_location_is_the_xdg_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("SHAPE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert codecache.cache_dir() == str(tmp_path / "shape")


def test_old_files_and_surplus_programs_are_removed(fresh, monkeypatch):
    monkeypatch.setattr(codecache, "MAX_PROGRAMS", 2)
    stale = fresh / ".tmp-left-behind"
    stale.write_bytes(b"")
    old = time.time() - codecache.MAX_AGE - 10
    os.utime(stale, (old, old))
    for i in range(4):
        api.run(f"print({i})", path="p.shape", cache=True)
        time.sleep(0.01)       # distinct modification times
    names = os.listdir(fresh)
    assert ".tmp-left-behind" not in names
    assert len(cache_files(fresh, "program")) == 2 and len(cache_files(fresh, "prelude")) == 1
    assert codecache.load_program("print(3)", "p.shape") is not None    # the newest are kept


def test_the_compiler_digest_follows_each_file_s_size_and_time(tmp_path, monkeypatch):
    for rel in ("ref/parser.py", "runtime/stdlib/io.py", "vm/blob.py", "vm/compiler/calls.py",
                "runtime/prelude.shape"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    monkeypatch.setattr(codecache, "_PACKAGE", str(tmp_path))

    def digest() -> bytes:
        monkeypatch.setattr(codecache, "_DIGEST", [])
        return codecache._compiler_digest()
    first = digest()
    assert digest() == first
    (tmp_path / "vm/compiler/calls.py").write_text("x = 22\n")          # another size
    second = digest()
    assert second != first
    os.utime(tmp_path / "runtime/stdlib/io.py", ns=(1, 10 ** 18))       # another time
    assert digest() not in (first, second)
    third = digest()
    (tmp_path / "vm/compiler/notes.txt").write_text("not code")           # not a source file
    (tmp_path / "vm/jit").mkdir()                                          # vm/ is not recursive
    (tmp_path / "vm/jit/x.py").write_text("")
    assert digest() == third
