"""The `shape` command.

    shape FILE                          run FILE on the VM (the default engine)
    shape run FILE [--engine ref|vm] [--json] [--store PATH] [--snapshot-at N]
    shape --resume ID [FILE]            resume a snapshot (recompile-and-resume with FILE)
    shape snapshot list|info|delete|gc|verify
    shape conformance [PATHS] --engine ref|vm|all|cmd:"…"
    shape dis FILE | shape bench [NAMES] | shape fuzz …

Every failure a user can cause ends as one `Error: …` line on stderr and exit code 1; a Python
traceback is never shown (set SHAPE_DEBUG=1 to see one for an internal error).
"""
from __future__ import annotations

import errno
import json
import math
import os
import sys
from typing import Any, Callable, Optional

from shapelang.runtime.errors import ShapeError, ShapeExit

ENGINES = ("ref", "vm")


# ---------------------------------------------------------------- running programs

def read_source(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise ShapeError("IOError", f"No such file: {path}", file=path)
    except IsADirectoryError:
        raise ShapeError("IOError", f"Is a directory: {path}", file=path)
    except UnicodeDecodeError:
        raise ShapeError("IOError", f"File is not valid UTF-8: {path}", file=path)
    except OSError as e:
        raise ShapeError("IOError", f"Cannot read {path}: {e.strerror}", file=path)


def vm_available() -> bool:
    try:
        from shapelang import vm
        return hasattr(vm, "run_source")
    except Exception:
        return False


def run_source(source: str, path: str, engine: str, write: Callable[[str], None],
               options: Optional[dict] = None) -> Any:
    """Run a program on an engine; returns its value, raises ShapeError / ShapeExit."""
    try:
        return _run_source(source, path, engine, write, options)
    except RecursionError:
        # The engines turn deep Shape recursion into StackOverflow themselves; what is left is a
        # front end (resolver, compiler) walking source nested beyond Python's limits.
        raise ShapeError("CompileError", "Program is nested too deeply to compile",
                         file=path) from None
    except MemoryError:
        raise ShapeError("RuntimeError", "Out of memory", file=path) from None


def _run_source(source: str, path: str, engine: str, write: Callable[[str], None],
                options: Optional[dict] = None) -> Any:
    options = options or {}
    if engine == "ref":
        from shapelang.ref.evaluator import run_source as ref_run
        return ref_run(source, write, path, resume_at=options.get("resume_at"),
                       recompile_from=options.get("recompile_from"),
                       on_first_snapshot=options.get("on_first_snapshot"))
    if engine == "vm":
        if not vm_available():
            raise ShapeError("RuntimeError", "The VM engine is not available in this build")
        from shapelang.vm import snapshot
        return snapshot.run_source(source, path, write, **options)
    raise ShapeError("RuntimeError", f"Unknown engine '{engine}' (expected ref or vm)")


def value_json(v: Any) -> dict:
    from shapelang.runtime import display as D, values as V
    t = V.type_name(v)
    native: Any = None
    if t in ("int", "string", "bool"):
        native = v
    elif t == "number" and math.isfinite(v):
        native = v
    return {"type": t, "display": D.display(v), "json": native}


def run_source_json(source: str, path: str, engine: str = "vm",
                    options: Optional[dict] = None) -> dict:
    """Run a program and return the --json result object (see spec/implementation-contracts.md)."""
    chunks: list[str] = []
    result: dict = {"stdout": "", "value": None, "error": None, "exit_code": 0}
    try:
        value = run_source(source, path, engine, chunks.append, options)
        result["value"] = value_json(value)
    except ShapeExit as e:
        result["exit_code"] = e.code
    except ShapeError as e:
        if e.file is None:
            e.file = path
        result["error"] = e.to_json()
        result["exit_code"] = 1
    except Exception as e:  # an engine bug: still a structured answer, never a traceback
        result["error"] = {"kind": "InternalError", "phase": "runtime",
                           "message": f"{type(e).__name__}: {e}", "line": None, "col": None}
        result["exit_code"] = 1
    result["stdout"] = "".join(chunks)
    return result


def _stdout_writer() -> Callable[[str], None]:
    out = sys.stdout
    return out.write


def step_count(text: str) -> int:
    """argparse type of --snapshot-at: a step count, 0 or more."""
    import argparse
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of steps, got '{text}'") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {n}")
    return n


def cmd_run(argv: list[str]) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="shape run", description="Run a Shape program.")
    p.add_argument("file")
    p.add_argument("--engine", default=None, choices=ENGINES,
                   help="vm (default) or ref, the reference evaluator")
    p.add_argument("--json", action="store_true", help="print one JSON result object")
    p.add_argument("--store", help="snapshot store file (default: $SHAPE_STORE or the data dir)")
    p.add_argument("--snapshot-at", type=step_count, help="interrupt after N instructions (VM)")
    p.add_argument("--resume-at", type=int, help=argparse.SUPPRESS)  # ref oracle, for harnesses
    args = p.parse_args(argv)
    if args.engine is None:
        args.engine = "vm" if vm_available() else "ref"
    if args.engine == "ref" and args.snapshot_at is not None:
        # The reference evaluator has no serialisable state: it never stores a snapshot. (A
        # --store is accepted, so one command line can drive both engines; the note says it.)
        p.error("--snapshot-at needs the VM engine (the reference evaluator stores no snapshots)")
    options: dict = {}
    if args.store is not None:
        options["store"] = args.store
    if args.snapshot_at is not None:
        options["snapshot_at"] = args.snapshot_at
    if args.resume_at is not None:
        options["resume_at"] = args.resume_at
    if args.json:
        try:
            source = read_source(args.file)
        except ShapeError as e:
            print(json.dumps({"stdout": "", "value": None, "error": e.to_json(), "exit_code": 1}))
            return 1
        result = run_source_json(source, args.file, args.engine, options)
        print(json.dumps(result))
        return result["exit_code"]
    source = read_source(args.file)
    if args.engine == "ref":
        options["on_first_snapshot"] = lambda: _say(
            "Note: the reference evaluator does not store snapshots; the ids it returns cannot "
            "be resumed (run on the VM to store them)\n")
    try:
        run_source(source, args.file, args.engine, _stdout_writer(), options)
    except ShapeError as e:
        if e.file is None:
            e.file = args.file
        raise
    finally:
        sys.stdout.flush()
    return 0


def _delegate(module: str, argv: list[str]) -> int:
    import importlib
    try:
        mod = importlib.import_module(module)
        entry = getattr(mod, "main")
    except (ImportError, AttributeError):
        raise ShapeError("RuntimeError", f"This command is not available yet ({module})")
    return entry(argv) or 0


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "run": cmd_run,
    "conformance": lambda argv: _delegate("shapelang.conformance.runner", argv),
    "dis": lambda argv: _delegate("shapelang.vm.disasm", argv),
    "bench": lambda argv: (_delegate("shapelang.vm.bench_snapshot", argv[1:])
                           if argv[:1] == ["snapshot"] else _delegate("shapelang.vm.bench", argv)),
    "snapshot": lambda argv: _delegate("shapelang.vm.snapshot_cli", argv),
    "fuzz": lambda argv: _delegate("shapelang.fuzz.cli", argv),
}

USAGE = """usage: shape FILE
       shape run FILE [--engine ref|vm] [--json] [--store PATH] [--snapshot-at N]
       shape --resume ID [FILE] [--store PATH]
       shape snapshot list|info ID|delete ID|gc|verify [--deep] [--store PATH]
       shape conformance [PATHS] [--engine ref|vm|all|cmd:COMMAND] [--json] [--junit FILE]
       shape dis FILE
       shape bench [NAMES]
       shape fuzz [--seconds N] [--seed S] [--jobs J] [--check a,b,...]
"""


_RUN_OPTIONS = ("--engine", "--json", "--store", "--snapshot-at")


def dispatch(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if argv else 1
    if argv[0] == "--version":
        from shapelang import __version__
        print(f"shape {__version__}")
        return 0
    if argv[0] == "--resume" or any(a == "--resume" or a.startswith("--resume=") for a in argv):
        return _delegate("shapelang.vm.resume_cli", argv)
    if argv[0] in COMMANDS:
        return COMMANDS[argv[0]](argv[1:])
    if argv[0].split("=")[0] in _RUN_OPTIONS:
        return cmd_run(argv)          # `shape --store X job.shape` is `shape run …` too
    if argv[0].startswith("-"):
        raise ShapeError("RuntimeError", f"Unknown option {argv[0]} (see shape --help)",
                         file="shape")
    return cmd_run(argv)


class _ClosedStdout:
    """Stands in for a closed stdout (`shape … >&-`): the run goes on until it prints, and then
    fails with a clear IOError instead of an AttributeError on None."""

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "Standard output is closed")

    def flush(self) -> None:
        pass


def _usage_error(parser: "argparse.ArgumentParser", message: str) -> None:
    raise ShapeError("RuntimeError", f"{message} (see {parser.prog} --help)", file=parser.prog)


def _say(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except Exception:  # stderr closed or broken: nothing else can be told
        pass


def main(argv: Optional[list[str]] = None) -> int:
    import argparse
    argv = sys.argv[1:] if argv is None else argv
    if sys.stdout is None:
        sys.stdout = _ClosedStdout()  # type: ignore[assignment]
    # Usage errors of the sub-commands become one `Error:` line with exit code 1, as all other
    # errors (argparse would print its usage and exit with 2). `shape conformance` keeps the 2
    # that its README documents for usage errors.
    saved_error = argparse.ArgumentParser.error
    if argv[:1] != ["conformance"]:
        argparse.ArgumentParser.error = _usage_error  # type: ignore[method-assign]
    try:
        code = dispatch(argv)
    except ShapeExit as e:
        code = e.code
    except ShapeError as e:
        try:
            sys.stdout.flush()
        except Exception:
            pass
        _say(e.render() + "\n")
        code = 1
    except KeyboardInterrupt:
        _say("Error: interrupted\n")
        code = 130
    except SystemExit as e:  # --help, and commands that exit on their own
        code = e.code if isinstance(e.code, int) else 1
    except BrokenPipeError:
        # The reader went away (`shape … | head`): stop quietly, as Unix tools do.
        _quiet_stdout()
        code = 1
    except RecursionError:
        if os.environ.get("SHAPE_DEBUG"):
            raise
        _say("Error: <input>: CompileError: Program is nested too deeply to compile\n")
        code = 1
    except MemoryError:
        _say("Error: <input>: RuntimeError: Out of memory\n")
        code = 1
    except OSError as e:
        if os.environ.get("SHAPE_DEBUG"):
            raise
        where = e.filename if e.filename is not None else "<output>"
        _say(f"Error: {where}: IOError: {e.strerror or e}\n")
        code = 1
    except Exception as e:
        if os.environ.get("SHAPE_DEBUG"):
            raise
        _say(f"Error: internal error: {type(e).__name__}: {e}\n")
        code = 1
    finally:
        argparse.ArgumentParser.error = saved_error  # type: ignore[method-assign]
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
    except Exception:
        pass
    return code


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so Python's exit-time flush stays silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except Exception:
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
