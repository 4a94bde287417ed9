"""The std modules (runtime/stdlib) as functions over Shape values, without an engine.

Expected texts and values follow upstream (crates/shape-runtime/src/stdlib/*.rs and the Rust
crates they use: serde_json, csv); spec/io.md states them.
"""
from __future__ import annotations

import os

import pytest

from shapelang.runtime import stdlib
from shapelang.runtime.display import display
from shapelang.runtime.errors import ShapeError
from shapelang.runtime.stdlib import json_module as J
from shapelang.runtime.stdlib.context import IOContext, running
from shapelang.runtime.values import UNIT, Err, HashMapValue, Ok, StructValue


def call(module: str, name: str, *args):
    return stdlib.import_value(f"std::core::{module}", name).fn(list(args))


@pytest.fixture
def io(tmp_path):
    ctx = IOContext(cwd=str(tmp_path), argv=["prog.shape", "x", "y"], environ={"HOME": "/h"})
    with running(ctx):
        yield ctx


# ---------------------------------------------------------------- registry

def test_exports_and_unknown_modules():
    assert stdlib.exports("std::core::file") == (
        "read_text", "write_text", "read_lines", "append", "read_bytes", "write_bytes", "lines")
    assert stdlib.exports("std::core::json") == ("parse", "stringify", "is_valid")
    assert set(stdlib.exports("std::core::csv")) == {
        "parse", "parse_records", "stringify", "stringify_records", "read_file", "is_valid"}
    assert set(stdlib.exports("std::core::env")) == {
        "get", "has", "all", "args", "cwd", "os", "arch"}
    assert stdlib.exports("std::core::math") is None
    assert stdlib.exports("std::core::snapshot") == ("Snapshot", "snapshot")
    assert not stdlib.binds("std::core::snapshot") and stdlib.binds("std::core::file")


def test_export_lists_match_the_implementations():
    for path, (_, names) in stdlib.EXPORTS.items():
        assert tuple(stdlib.implementation(path).FUNCTIONS) == names


def test_module_value_fields_and_display():
    m = stdlib.module_value("std::core::json")
    assert display(m) == "[module std::core::json]"
    assert m.shape_property("parse") is stdlib.import_value("std::core::json", "parse")
    with pytest.raises(ShapeError) as e:
        m.shape_property("load")
    assert e.value.kind == "TypeError" and "has no function 'load'" in e.value.message
    assert display(m.shape_property("parse")) == "[Function json.parse]"


def test_builtin_values_are_qualified_names_no_identifier_spells():
    names = set(stdlib.BUILTIN_VALUES)
    assert {"std::core::file", "std::core::csv::read_file", "std::core::env::args"} <= names
    assert len(names) == 4 + sum(len(stdlib.exports(p)) for p in stdlib.MODULES)
    assert all("::" in n for n in names)


# ---------------------------------------------------------------- file

def test_write_then_read(io, tmp_path):
    assert display(call("file", "write_text", "a.txt", "héllo\nworld")) == "Ok(())"
    assert (tmp_path / "a.txt").read_bytes() == "héllo\nworld".encode()
    r = call("file", "read_text", "a.txt")
    assert type(r) is Ok and r.value == "héllo\nworld"


def test_read_lines_splits_like_rust_lines(io, tmp_path):
    (tmp_path / "l.txt").write_bytes(b"a\r\n\nb\rc\nlast\r")
    assert call("file", "read_lines", "l.txt").value == ["a", "", "b\rc", "last\r"]
    (tmp_path / "e.txt").write_bytes(b"")
    assert call("file", "read_lines", "e.txt").value == []
    (tmp_path / "n.txt").write_bytes(b"x\n")
    assert call("file", "read_lines", "n.txt").value == ["x"]


def test_missing_file_is_an_err_in_upstreams_words(io):
    r = call("file", "read_text", "nope.txt")
    assert type(r) is Err
    assert r.value == "file.read_text() failed: No such file or directory (os error 2)"
    assert call("file", "read_lines", "").value == \
        "file.read_lines() failed: No such file or directory (os error 2)"
    assert call("file", "read_bytes", "a\x00b").value == \
        "file.read_bytes() failed: file name contained an unexpected NUL byte"


def test_invalid_utf8_is_an_err(io, tmp_path):
    (tmp_path / "b.bin").write_bytes(b"ab\xffcd")
    assert call("file", "read_text", "b.bin").value == \
        "file.read_text() invalid UTF-8: invalid utf-8 sequence of 1 bytes from index 2"
    (tmp_path / "c.bin").write_bytes(b"ab\xe2\x82")
    assert call("file", "read_lines", "c.bin").value == \
        "file.read_lines() invalid UTF-8: incomplete utf-8 byte sequence from index 2"


def test_write_into_a_missing_directory_is_an_err(io):
    r = call("file", "write_text", "no/such/dir.txt", "x")
    assert type(r) is Err and r.value.startswith("file.write_text() failed: No such file")


def test_append_creates_then_appends(io, tmp_path):
    assert call("file", "append", "log.txt", "one\n").value is UNIT
    call("file", "append", "log.txt", "two\n")
    assert (tmp_path / "log.txt").read_text() == "one\ntwo\n"


def test_bytes_round_trip(io, tmp_path):
    assert type(call("file", "write_bytes", "b.bin", [0, 127, 255.0])) is Ok
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x7f\xff"
    assert call("file", "read_bytes", "b.bin").value == [0, 127, 255]


@pytest.mark.parametrize("data, kind, text", [
    ([256], "ValueError", "element 0 is not a valid byte (0-255): 256"),
    ([1, 2.5], "ValueError", "element 1 is not a valid byte (0-255): 2.5"),
    ([-1], "ValueError", "element 0 is not a valid byte"),
    (["a"], "TypeError", "element 0 is not a number"),
    ("abc", "TypeError", "requires a data array"),
])
def test_write_bytes_checks_its_data(io, data, kind, text):
    with pytest.raises(ShapeError) as e:
        call("file", "write_bytes", "b.bin", data)
    assert e.value.kind == kind and text in e.value.message


@pytest.mark.parametrize("name, args, text", [
    ("read_text", [], "file.read_text() requires a path string"),
    ("read_text", [3], "file.read_text() requires a path string"),
    ("write_text", ["p"], "file.write_text() requires a content string"),
    ("append", ["p", 1], "file.append() requires a content string"),
    ("read_text", ["a", "b"], "file.read_text() expects at most 1 argument, got 2"),
])
def test_argument_errors_are_type_errors(io, name, args, text):
    with pytest.raises(ShapeError) as e:
        call("file", name, *args)
    assert e.value.kind == "TypeError" and e.value.message == text


def test_lazy_reader_reads_line_by_line(io, tmp_path):
    (tmp_path / "big.txt").write_text("".join(f"line {i}\r\n" for i in range(5000)) + "end")
    reader = call("file", "lines", "big.txt").value
    got = []
    while (line := reader.next_line()) is not None:
        got.append(line)
    assert got == [f"line {i}" for i in range(5000)] + ["end"]
    assert reader.done and reader.line == 5001
    assert reader.offset == os.path.getsize(tmp_path / "big.txt")
    assert reader.next_line() is None


def test_lazy_reader_long_lines_cross_blocks(io, tmp_path):
    long = "x" * (3 * (1 << 20) + 7)
    (tmp_path / "long.txt").write_text(f"a\n{long}\nb\n")
    reader = call("file", "lines", "long.txt").value
    assert [reader.next_line() for _ in range(4)] == ["a", long, "b", None]


def test_lazy_reader_continues_from_its_plain_state(io, tmp_path):
    (tmp_path / "t.txt").write_text("ä\nb\nc\n")
    reader = call("file", "lines", "t.txt").value
    assert reader.next_line() == "ä"
    fields = {f: getattr(reader, f) for f in reader.FIELDS}
    assert fields["offset"] == 3 and fields["line"] == 1
    copy = object.__new__(type(reader))     # as the codec builds it
    for f, v in fields.items():
        setattr(copy, f, v)
    assert copy.next_line() == "b" and copy.next_line() == "c" and copy.next_line() is None


def test_lazy_reader_bad_utf8_is_an_io_error(io, tmp_path):
    (tmp_path / "u.txt").write_bytes(b"ok\nb\xffd\n")
    reader = call("file", "lines", "u.txt").value
    assert reader.next_line() == "ok"
    with pytest.raises(ShapeError) as e:
        reader.next_line()
    assert e.value.kind == "IOError" and "line 2 is not valid UTF-8" in e.value.message


def test_lines_of_a_missing_file_is_an_err(io):
    assert call("file", "lines", "nope").value == \
        "file.lines() failed: No such file or directory (os error 2)"


# ---------------------------------------------------------------- env

def test_env_reads_through_the_context(io, tmp_path):
    assert call("env", "args") == ["prog.shape", "x", "y"]
    assert call("env", "get", "HOME") == "/h"
    assert call("env", "get", "NOPE") is None
    assert call("env", "has", "HOME") is True and call("env", "has", "NOPE") is False
    assert call("env", "cwd") == str(tmp_path)
    assert display(call("env", "all")) == "HashMap { HOME: /h }"
    assert call("env", "os") in ("linux", "macos", "windows") and call("env", "arch")
    with pytest.raises(ShapeError) as e:
        call("env", "get", 1)
    assert e.value.message == "env.get() requires a variable name string"


# ---------------------------------------------------------------- json

@pytest.mark.parametrize("text, value", [
    ('{"b": 1, "a": [true, null, 2.5, "x"]}', "HashMap { b: 1, a: [true, None, 2.5, x] }"),
    ('{"a": 1, "a": 2, "b": 3}', "HashMap { a: 2, b: 3 }"),
    ("42", "42"), ("-0", "0.0"), ("1.0", "1.0"), ("1e2", "100.0"),
    ("9223372036854775807", "9223372036854775807"),
    ("9223372036854775808", "9223372036854776000"),      # beyond int: a number
    ('"\\ud83d\\ude00 \\n"', "😀 \n"), ("  []  ", "[]"),
])
def test_json_parse_values(text, value):
    r = call("json", "parse", text)
    assert type(r) is Ok and display(r.value) == value


def test_json_number_kinds():
    v = call("json", "parse", "[1, 1.0, -0, 9223372036854775808]").value
    assert [type(x) for x in v] == [int, float, float, float]


@pytest.mark.parametrize("text, message", [
    ("", "EOF while parsing a value at line 1 column 0"),
    ("x", "expected value at line 1 column 1"),
    ("[1,]", "trailing comma at line 1 column 4"),
    ('{"a" 1}', "expected `:` at line 1 column 6"),
    ("1 2", "trailing characters at line 1 column 3"),
    ('"abc', "EOF while parsing a string at line 1 column 4"),
    ('"\\q"', "invalid escape at line 1 column 3"),
    ("01", "invalid number at line 1 column 2"),
    ("1e400", "number out of range at line 1 column 5"),
    ("[1 2]", "expected `,` or `]` at line 1 column 4"),
    ('{"a":1 "b":2}', "expected `,` or `}` at line 1 column 8"),
    ("{1:2}", "key must be a string at line 1 column 2"),
    ("trux", "expected ident at line 1 column 4"),
    ("NaN", "expected value at line 1 column 1"),
    ('"\\udc00"', "lone leading surrogate in hex escape at line 1 column 7"),
    ('"a\nb"', "control character (\\u0000-\\u001F) found while parsing a string at line 2 column 0"),
    ("[\n  1,\n  }", "expected value at line 3 column 3"),
    ("[" * 128, "recursion limit exceeded at line 1 column 128"),
])
def test_json_parse_errors_in_serde_words(text, message):
    r = call("json", "parse", text)
    assert type(r) is Err and r.value == "json.parse() failed: " + message
    assert call("json", "is_valid", text) is False


def test_json_nesting_limit():
    assert call("json", "is_valid", "[" * 127 + "]" * 127) is True
    assert call("json", "is_valid", "[" * 128 + "]" * 128) is False


@pytest.mark.parametrize("value, text", [
    ({"a": 1, "b": [1.0, 0.1, 1e16, 1e-7, 1e-5, -0.0, float("nan")], "c": None}, 
     '{"a":1,"b":[1.0,0.1,1e16,1e-7,0.00001,-0.0,null],"c":null}'),
    (HashMapValue({"k": "v\n\"", 1: True}), '{"k":"v\\n\\"","1":true}'),
    (Ok(3), '{"status":"ok","value":3}'), (Err("e"), '{"status":"error","value":"e"}'),
    (StructValue("P", {"x": 1}), '{"x":1}'), (UNIT, "null"), ([], "[]"), ({}, "{}"),
    ("é\u0001", '"é\\u0001"'),
])
def test_json_stringify(value, text):
    r = call("json", "stringify", value)
    assert type(r) is Ok and r.value == text


def test_json_stringify_pretty_and_round_trip():
    v = call("json", "parse", '{"a": [1, {"b": []}], "c": {}}').value
    r = call("json", "stringify", v, True).value
    assert r == '{\n  "a": [\n    1,\n    {\n      "b": []\n    }\n  ],\n  "c": {}\n}'
    assert display(call("json", "parse", r).value) == display(v)


def test_json_stringify_cycle_and_shared_values():
    a: list = [1]
    shared = [a, a]
    assert call("json", "stringify", shared).value == "[[1],[1]]"
    a.append(a)
    assert call("json", "stringify", a).value == "json.stringify() failed: the value contains itself"
    with pytest.raises(ShapeError):
        call("json", "stringify", 1, "yes")


def test_json_deep_values_do_not_exhaust_the_stack():
    v: list = []
    for _ in range(50_000):
        v = [v]
    assert call("json", "stringify", v).value == "[" * 50_001 + "]" * 50_001


@pytest.mark.parametrize("x, text", [
    (1.0, "1.0"), (0.1, "0.1"), (1e16, "1e16"), (1e15, "1000000000000000.0"),
    (123456789012345680000.0, "1.2345678901234568e20"), (1e-7, "1e-7"), (1e-5, "0.00001"),
    (0.0001, "0.0001"), (-0.0, "-0.0"), (5e-324, "5e-324"), (3.14, "3.14"), (100.0, "100.0"),
    (-2.5e-10, "-2.5e-10"), (float("inf"), "null"),
])
def test_json_number_format(x, text):
    assert J.format_number(x) == text


# ---------------------------------------------------------------- csv

def test_csv_parse_dialect():
    text = 'a,"b,c",d\r\n\n"x""y",,"multi\nline"\rq"r,s,t'
    assert call("csv", "parse", text) == [["a", "b,c", "d"], ['x"y', "", "multi\nline"],
                                          ['q"r', "s", "t"]]
    assert call("csv", "parse", "") == []
    assert call("csv", "parse", '""') == [[""]]


def test_csv_unequal_lengths_in_the_crates_words():
    with pytest.raises(ShapeError) as e:
        call("csv", "parse", "a,b\n\nc\n")
    assert e.value.kind == "ValueError"
    assert e.value.message == ("csv.parse() failed: CSV error: record 1 (line: 3, byte: 5): "
                               "found record with 1 fields, but the previous record has 2 fields")
    assert call("csv", "is_valid", "a,b\nc") is False
    assert call("csv", "is_valid", "a,b\nc,d") is True


def test_csv_records():
    recs = call("csv", "parse_records", "name,age\nAlice,30\nBob,25\n")
    assert display(recs) == "[HashMap { name: Alice, age: 30 }, HashMap { name: Bob, age: 25 }]"
    assert call("csv", "parse_records", "") == []
    assert call("csv", "parse_records", "h1,h2") == []


def test_csv_stringify():
    assert call("csv", "stringify", [["a", "b"], ["1", "2"]]) == "a,b\n1,2\n"
    assert call("csv", "stringify", [["a b", 'q"', "x,y", "l\nm", ""], [""], [1, 2.5, None]]) == \
        'a b,"q""",' + '"x,y","l\nm",\n""\n1,2.5,None\n'
    assert call("csv", "stringify", [["a", "b;c"]], ";") == 'a;"b;c"\n'
    assert call("csv", "stringify", [["a", "b"]], "\t|") == "a\tb\n"
    with pytest.raises(ShapeError):
        call("csv", "stringify", [["a"], "b"])


def test_csv_stringify_records_round_trip():
    text = "name,age\nAlice,30\nBob,25\n"
    recs = call("csv", "parse_records", text)
    assert call("csv", "stringify_records", recs) == text
    assert call("csv", "stringify_records", recs, ["age", "name", "x"]) == \
        "age,name,x\n30,Alice,\n25,Bob,\n"
    assert call("csv", "stringify_records", [{"k": 1, "v": "a,b"}]) == 'k,v\n1,"a,b"\n'
    assert call("csv", "stringify_records", []) == ""


def test_csv_read_file(io, tmp_path):
    (tmp_path / "d.csv").write_text("a,b\n1,2\n")
    assert call("csv", "read_file", "d.csv").value == [["a", "b"], ["1", "2"]]
    assert call("csv", "read_file", "none.csv").value == \
        "csv.read_file() failed to read 'none.csv': No such file or directory (os error 2)"
    (tmp_path / "bad.csv").write_text("a,b\n1\n")
    assert call("csv", "read_file", "bad.csv").value.startswith(
        "csv.read_file() parse error: CSV error: record 1 (line: 2, byte: 4)")
