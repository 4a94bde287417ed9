"""The `shape` command: exit codes, error lines, --json, and never a traceback."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

SHAPE = [sys.executable, "-m", "shapelang"]


def shape(*args: str, cwd=None, input_text=None) -> subprocess.CompletedProcess:
    return subprocess.run(SHAPE + list(args), capture_output=True, text=True, cwd=cwd,
                          input=input_text, timeout=120)


@pytest.fixture
def prog(tmp_path):
    def write(src: str, name: str = "p.shape") -> str:
        p = tmp_path / name
        p.write_text(src)
        return str(p)
    return write


def test_run_prints_and_exits_zero(prog):
    r = shape("run", "--engine", "ref", prog('print("hi", 1 + 2)'))
    assert (r.returncode, r.stdout, r.stderr) == (0, "hi 3\n", "")


def test_bare_file_argument_runs(prog):
    r = shape(prog("print(5)"), )
    if "not available" in r.stderr:
        pytest.skip("VM engine not built yet")
    assert r.stdout == "5\n"


@pytest.mark.parametrize("src,kind,line", [
    ("let x = (1 +", "SyntaxError", 1),
    ("print(1)\nprint(nope)", "NameError", 2),
    ("print(1)\nprint(1 / 0)", "ArithmeticError", 2),
    ('let s = "\\q"', "SyntaxError", 1),
])
def test_errors_start_with_one_line_with_location(prog, src, kind, line):
    path = prog(src)
    r = shape("run", "--engine", "ref", path)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    first, *excerpt = r.stderr.splitlines()
    assert first.startswith(f"Error: {path}:{line}:") and f"{kind}:" in first
    # then the source line, with a caret under the column the first line names
    col = int(first[len(f"Error: {path}:{line}:"):].split(":")[0])
    source_line = src.splitlines()[line - 1]
    assert excerpt[1] == f"{line} | {source_line}"
    assert excerpt[2] == " " * len(str(line)) + " | " + " " * (col - 1) + "^"


def test_missing_file_is_an_error_not_a_traceback(tmp_path):
    r = shape("run", "--engine", "ref", str(tmp_path / "nope.shape"))
    assert r.returncode == 1 and r.stderr.startswith("Error: ") and "Traceback" not in r.stderr


def test_binary_file_is_an_error(tmp_path):
    p = tmp_path / "bin.shape"
    p.write_bytes(b"\xff\xfe\x00\x01")
    r = shape("run", "--engine", "ref", str(p))
    assert r.returncode == 1 and r.stderr.startswith("Error: ")


def test_exit_code_passes_through(prog):
    r = shape("run", "--engine", "ref", prog('print("a")\nexit(7)'))
    assert (r.returncode, r.stdout) == (7, "a\n")


def test_json_contract(prog):
    r = shape("run", "--json", prog('print("x")\n40 + 2'), "--engine", "ref")
    data = json.loads(r.stdout)
    assert data == {"stdout": "x\n", "value": {"type": "int", "display": "42", "json": 42},
                    "error": None, "exit_code": 0, "snapshots": [], "interrupt": None}
    r = shape("run", "--json", prog("1 / 0"), "--engine", "ref")
    data = json.loads(r.stdout)
    assert r.returncode == 1 and data["exit_code"] == 1 and data["value"] is None
    assert data["error"] == {"kind": "ArithmeticError", "phase": "runtime",
                             "message": "Division by zero", "line": 1, "col": 1,
                             "file": data["error"]["file"],
                             "stack": [{"name": "<main>", "line": 1, "col": 1}],
                             "stack_omitted": 0, "note": None}
    assert data["error"]["file"].endswith("p.shape")


def test_no_parser_files_dropped_in_cwd(prog, tmp_path):
    work = tmp_path / "cwd"
    work.mkdir()
    shape("run", "--engine", "ref", prog("print(1)"), cwd=str(work))
    assert sorted(os.listdir(work)) == []


def test_startup_is_quick(prog):
    # Not a benchmark: only guards against regenerating the parse tables on every start.
    path = prog("print(1)")
    t = time.perf_counter()
    shape("run", "--engine", "ref", path)
    assert time.perf_counter() - t < 5


def test_committed_parse_tables_match_grammar():
    # A stale table would be regenerated (slowly) at every start-up of an installed copy.
    import ply.yacc as yacc
    from shapelang.ref import parser
    pinfo = yacc.ParserReflect({k: getattr(parser, k) for k in dir(parser)})
    pinfo.get_all()
    lr = yacc.LRTable()
    assert lr.read_pickle(parser._TABLES) == pinfo.signature()


def test_usage_and_unknown_option():
    assert shape("--help").returncode == 0
    r = shape("--bogus")
    assert r.returncode == 2 and r.stderr.startswith("Error: shape: unrecognized arguments: --bogus")
    assert r.stderr.splitlines()[1].startswith("usage: shape ")


def test_a_command_after_run_options_is_a_missing_file_with_a_hint(tmp_path):
    r = shape("--store", str(tmp_path / "s.db"), "snapshot", "list", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.splitlines()[0] == (
        "Error: snapshot: IOError: No such file: snapshot "
        "(`snapshot` is a command: give its options after it, shape snapshot [OPTIONS])")


def test_shape_run_without_a_file_names_only_the_file():
    # the program's arguments are optional; argparse listed them as missing too
    r = shape("run")
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == \
        "Error: shape run: the following arguments are required: FILE (see shape run --help)"


def test_reference_engine_says_its_snapshot_ids_cannot_be_resumed(prog):
    p = prog('let a = snapshot()\nlet b = snapshot()\nprint(a == b)\n')
    r = shape("run", "--engine", "ref", p)
    assert r.returncode == 0 and r.stdout == "false\n"
    # One note, however many snapshots, and never an Error line.
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("Note: the reference evaluator "
                                                             "does not store snapshots")


def test_json_carries_snapshot_and_interrupt_ids_also_with_resume(prog, tmp_path):
    """issue 14 item 2: `snapshots` and `interrupt` in --json; --json, --store and
    --snapshot-at work with --resume."""
    store = str(tmp_path / "ids.db")
    p = prog('let a = snapshot()\nprint("one")\nlet b = snapshot()\nvar i = 0\n'
             'while i < 100000 { i = i + 1 }\nprint("two")\n')
    first = json.loads(shape("--store", store, "--json", p).stdout)
    assert first["exit_code"] == 0 and first["interrupt"] is None
    assert len(first["snapshots"]) == 2 and first["stdout"] == "one\ntwo\n"
    again = json.loads(shape("--resume", first["snapshots"][0], "--store", store, "--json").stdout)
    assert again["stdout"] == "one\ntwo\n" and again["exit_code"] == 0
    assert len(again["snapshots"]) == 1 and again["snapshots"][0] not in first["snapshots"]
    cut = shape("--resume", first["snapshots"][1], "--store", store, "--snapshot-at", "50",
                "--json")
    data = json.loads(cut.stdout)
    assert (cut.returncode, data["exit_code"], data["stdout"]) == (130, 130, "")
    assert data["interrupt"] is not None and data["snapshots"] == []
    rest = json.loads(shape("--resume", data["interrupt"], "--store", store, "--json").stdout)
    assert (rest["stdout"], rest["exit_code"], rest["interrupt"]) == ("two\n", 0, None)


def test_snapshot_at_needs_the_vm(prog):
    r = shape("run", "--engine", "ref", "--snapshot-at", "5", prog("print(1)"))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("Error: shape run: --snapshot-at needs the VM engine")


def test_reference_engine_accepts_and_ignores_a_store(prog, tmp_path):
    db = tmp_path / "s.db"
    r = shape("run", "--engine", "ref", "--store", str(db), prog("print(snapshot() == snapshot())"))
    assert r.returncode == 0 and r.stdout == "false\n" and r.stderr.startswith("Note: ")
    assert not db.exists()


def test_run_options_may_come_before_the_bare_file(prog, tmp_path):
    db = tmp_path / "s.db"
    r = shape("--store", str(db), prog("let s = snapshot()\nprint(1)\n"))
    assert (r.returncode, r.stdout) == (0, "1\n") and db.exists()


def test_version_code_stdin_and_resume_help(prog):
    assert shape("-V").stdout == shape("--version").stdout != ""
    r = shape("-c", "print(1 + 2)")
    assert (r.returncode, r.stdout) == (0, "3\n")
    assert shape("-", input_text='print("in")').stdout == "in\n"
    assert shape(input_text='print("piped")').stdout == "piped\n"   # no FILE, not a terminal
    r = shape("--resume", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: shape")
    assert "SHAPE_STORE" in shape("--help").stdout and "NO_COLOR" in shape("--help").stdout


def test_arguments_after_the_script_belong_to_the_program(prog, tmp_path):
    # `--json` after the script is the program's argument, not an option of shape
    r = shape("--engine", "ref", prog("print(1)"), "--json", "--bogus")
    assert (r.returncode, r.stdout) == (0, "1\n")
    r = shape("run", "--engine", "ref", prog("print(2)"), "--", "--json")
    assert (r.returncode, r.stdout) == (0, "2\n")
    # `shape run` as `shape FILE`: options before the script, everything after it the program's
    r = shape("run", "--engine", "ref", prog("use std::core::env\nprint(env.args().slice(1))"),
              "a", "--engine", "vm", "--json")
    assert (r.returncode, r.stdout) == (0, "[a, --engine, vm, --json]\n")


def test_what_follows_the_code_of_c_is_the_programs_as_with_python(tmp_path):
    show = "use std::core::env\nprint(env.args())"
    r = shape("--engine", "ref", "-c", show, "a", "--json", "--engine", "vm", cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "[-c, a, --json, --engine, vm]\n")   # was exit 2
    r = shape("-c", show, cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "[-c]\n")
    r = shape("-c", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("Error: shape: argument -c: expected one")


@pytest.mark.parametrize("argv", [
    ["p.shape"], ["p.shape", "a", "b"], ["p.shape", "--json", "--engine", "ref", "-c", "x"],
    ["p.shape", "a", "--", "x"], ["p.shape", "x", "--"], ["p.shape", "-"], ["dir/p.shape", "--help"], ["p", "-V"],
    ["snapshots"], ["x y.shape", ""]])
def test_a_plain_command_line_is_read_as_the_parser_reads_it(argv):
    """`shape FILE [ARGS...]` skips building the parser (start-up): what it finds is what the
    parser finds."""
    from shapelang import cli
    plain = cli.plain_run(argv)
    assert plain is not None and vars(plain) == vars(cli.main_parser().parse_args(argv))


@pytest.mark.parametrize("argv", [[], [""], ["-"], ["--json", "p.shape"], ["-c", "print(1)"],
                                  ["--resume", "abc"], ["-V"], ["--help"], ["run", "p.shape"],
                                  ["snapshot", "list"], ["-x"], ["p.shape", "--", "x"]])
def test_other_command_lines_go_to_the_parser(argv):
    from shapelang import cli
    assert cli.plain_run(argv) is None


def test_a_plain_run_loads_no_argument_parser(prog):
    probe = ("import sys\nfrom shapelang import cli\ncode = cli.main(sys.argv[1:])\n"
             "print(sorted({'argparse', 'gettext'} & set(sys.modules)))\n")
    r = subprocess.run([sys.executable, "-c", probe, prog('print("hi")'), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.stdout == "hi\n[]\n", r.stderr
    r = subprocess.run([sys.executable, "-c", probe, "--json", prog('print("hi")')],
                       capture_output=True, text=True, timeout=120)
    assert r.stdout.splitlines()[-1] == "['argparse', 'gettext']", r.stderr


def test_every_command_and_option_has_a_description(monkeypatch, capsys):
    """issue 14: one parser tree with a description for every command and option."""
    import argparse

    from shapelang import cli
    seen: list[argparse.ArgumentParser] = []
    parse = argparse.ArgumentParser.parse_known_args

    def watched(self, *args, **kwargs):
        seen.append(self)
        return parse(self, *args, **kwargs)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", watched)
    for argv in [["--help"], ["bench", "handoff", "--help"],
                 *([name, "--help"] for name in cli.COMMANDS)]:
        try:
            code = cli.main(argv)
        except SystemExit as e:
            code = e.code
        assert code in (0, None), argv
    capsys.readouterr()
    missing, parsers = [], [(p, True) for p in seen]
    while parsers:
        p, top = parsers.pop()
        # a command's parser has a description; a sub-command's is its line in the parent's list
        assert p.description or not top, p.prog
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                helps = {c.dest: c.help for c in a._choices_actions}
                missing += [f"{p.prog} {name}" for name in a.choices if not helps.get(name)]
                parsers += [(c, False) for c in a.choices.values()]
            elif a.help is None:
                missing.append(f"{p.prog} {'/'.join(a.option_strings) or a.dest}")
    assert missing == []
    assert {p.prog for p in seen} >= {"shape", "shape snapshot", "shape dis", "shape bench handoff"}


def test_a_run_loads_no_highlighting_tables_or_prompt(prog):
    """issue 14 item 5: start-up stays small; Pygments, rich and prompt_toolkit are imported
    only when used (colour on a terminal, tables and progress, the REPL)."""
    probe = ("import sys\nfrom shapelang import cli\n"
             "code = cli.main(sys.argv[1:])\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & "
             "{'pygments', 'rich', 'prompt_toolkit', 'hypothesis', 'psycopg', 'sqlite_utils'}))\n")
    for args in ([prog('print("hi")')], [prog("fn f() { 1 / 0 }\nf()\n")], ["-c", "print(2)"]):
        r = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True,
                           timeout=120)
        assert r.stdout.splitlines()[-1] == "[]", (args, r.stdout, r.stderr)


def test_the_pygments_lexer_is_registered():
    """issue 14 item 8: the Shape lexer is a Pygments plugin (entry point pygments.lexers)."""
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename

    from shapelang.highlight import ShapeLexer
    assert isinstance(get_lexer_by_name("shape"), ShapeLexer)
    assert isinstance(get_lexer_for_filename("job.shape"), ShapeLexer)


def test_an_error_after_a_resume_elsewhere_shows_the_stored_source(tmp_path):
    """The excerpt of an error in a resumed run comes from the source stored with the
    snapshot, whatever the directory the resume runs in (and whatever file of that name it
    holds there)."""
    first, elsewhere = tmp_path / "first", tmp_path / "elsewhere"
    first.mkdir()
    elsewhere.mkdir()
    store = str(tmp_path / "s.db")
    (first / "job.shape").write_text(
        'let s = snapshot()\nlet d = match s { Snapshot::Hash(_) => 1, Snapshot::Resumed => 0 }\n'
        'print("ratio", 10 / d)\n')
    r = shape("--store", store, "job.shape", cwd=first)
    assert r.returncode == 0 and r.stdout == "ratio 10\n", r.stderr
    sid = json.loads(shape("snapshot", "list", "--json", "--store", store).stdout)[0]["id"]
    (elsewhere / "job.shape").write_text("// another program of the same name\n" * 5)
    for cwd in (elsewhere, tmp_path):
        r = shape("--store", store, "--resume", sid, cwd=cwd)
        assert r.returncode == 1
        lines = r.stderr.splitlines()
        assert lines[0] == "Resuming from snapshot: " + sid
        assert lines[1] == "Error: job.shape:3:16: ArithmeticError: Division by zero"
        assert lines[2:5] == ["  |", '3 | print("ratio", 10 / d)', "  |                ^"]


@pytest.mark.parametrize("seconds", ["inf", "1e400", "1e12"])
def test_a_timeout_too_long_to_come_is_no_timeout(prog, seconds):
    # Beyond threading.TIMEOUT_MAX the timer thread's wait overflowed, with a traceback.
    r = shape("--timeout", seconds, prog("print(1)"))
    assert (r.returncode, r.stdout, r.stderr) == (0, "1\n", "")


def test_ctrl_c_while_the_implementation_is_still_loading(monkeypatch, capsys):
    # The `shape` entry point imports shapelang.cli inside main(): a Ctrl+C during that import
    # is reported as a Ctrl+C during the run is, not as the import's traceback.
    from shapelang.__main__ import main

    class Interrupted:
        def find_spec(self, name, path=None, target=None):
            if name == "shapelang.cli":
                raise KeyboardInterrupt
            return None

    monkeypatch.delitem(sys.modules, "shapelang.cli", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Interrupted(), *sys.meta_path])
    assert main() == 130
    assert capsys.readouterr().err == "Error: interrupted\n"


def test_the_shape_command_is_the_entry_point_that_reports_an_early_ctrl_c():
    import tomllib
    with open(os.path.join(os.path.dirname(__file__), "..", "pyproject.toml"), "rb") as f:
        assert tomllib.load(f)["project"]["scripts"]["shape"] == "shapelang.__main__:main"


@pytest.mark.parametrize("args", [[], ["-"], ["repl"]])
def test_a_closed_stdin_is_an_io_error(args, tmp_path):
    # `shape <&-`: sys.stdin is None; it was "internal error: AttributeError … 'isatty'/'read'"
    r = subprocess.run(SHAPE + args, capture_output=True, text=True, timeout=120, cwd=tmp_path,
                       env=dict(os.environ, SHAPE_STORE=str(tmp_path / "s.db")),
                       preexec_fn=lambda: os.close(0))
    assert r.returncode == 1
    assert r.stderr.splitlines() == ["Error: <stdin>: IOError: Standard input is closed"]
