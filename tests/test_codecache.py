"""Compiled code is kept between runs in a local cache, validated like stored code.

vm/codecache.py: the prelude's blobs, and those of program files run by `shape FILE`, one file
per (kind, source, compiler) key under SHAPE_CACHE_DIR; a file that is corrupt, forged or for
other code is ignored and replaced; an empty SHAPE_CACHE_DIR turns the cache off. Start-up
depends on it (issue 14: `shape hello.shape` within 0.1 s): a cached run loads neither the front
end nor the compiler.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import msgpack
import pytest

from shapelang import api
from shapelang.runtime.prelude import PRELUDE_PATH
from shapelang.vm import codecache
from shapelang.vm import compiler as C

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
    assert cache_files(fresh, "prelude") == [f"prelude-{codecache.key('prelude', source)}.msgpack"]
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


@pytest.mark.parametrize("kind", ["prelude", "program"])
@pytest.mark.parametrize("damage", ["truncated", "not msgpack", "forged blob", "other entry",
                                    "bad magic", "other kind"])
def test_a_damaged_cache_file_is_ignored_and_replaced(fresh, monkeypatch, kind, damage):
    expected = api.run(PROGRAM, path="p.shape", cache=True)
    path = fresh / cache_files(fresh, kind)[0]
    data = path.read_bytes()
    magic, version, stored_kind, entry, encoded = msgpack.unpackb(data, raw=False)
    if damage == "truncated":
        data = data[:len(data) // 2]
    elif damage == "not msgpack":
        data = b"\xc1" * 40
    elif damage == "forged blob":
        bid = next(iter(encoded))
        doc = msgpack.unpackb(encoded[bid], raw=False)
        doc[13] = [[0, 0, 0]]        # other code under the same id
        encoded[bid] = msgpack.packb(doc, use_bin_type=True)
        data = msgpack.packb([magic, version, kind, entry, encoded], use_bin_type=True)
    elif damage == "other entry":
        data = msgpack.packb([magic, version, kind, "0" * 64, encoded], use_bin_type=True)
    elif damage == "bad magic":
        data = msgpack.packb(["x", version, kind, entry, encoded], use_bin_type=True)
    else:
        other = "program" if kind == "prelude" else "prelude"
        data = msgpack.packb([magic, version, other, entry, encoded], use_bin_type=True)
    path.write_bytes(data)
    assert codecache.load_program(PROGRAM, "p.shape") is None
    monkeypatch.setattr(C, "_PRELUDE", {})
    calls = no_compiling(monkeypatch)
    again = api.run(PROGRAM, path="p.shape", cache=True)
    assert again.stdout == expected.stdout and again.error == expected.error
    assert sorted(calls) == sorted([PRELUDE_PATH, "p.shape"] if kind == "prelude" else ["p.shape"])
    assert codecache.load_program(PROGRAM, "p.shape") is not None      # written again


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
