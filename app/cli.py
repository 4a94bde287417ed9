"""The `shape` command: argument parsing, signals and reporting over `shapelang.api`.

Options for `shape` come before the script, as with `python`; what follows the script belongs to
the program. Every failure a user can cause ends as an `Error: …` line on stderr (first line,
so scripts can grep it) with exit code 1, 2 for usage errors; a Python traceback is never shown
(SHAPE_DEBUG=1 shows one for an internal error). Heavy modules (the engines, Pygments,
prompt_toolkit) are imported only by the commands that use them, to keep start-up small.
"""
from __future__ import annotations

import errno
import os
import signal
import sys
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Callable, Optional

from shapelang import api
from shapelang.runtime.errors import ShapeError, ShapeExit

if TYPE_CHECKING:
    import argparse

ENVIRONMENT = """environment variables:
  SHAPE_STORE     snapshot store: a file, sqlite:///PATH or postgresql://… (default:
                  $XDG_DATA_HOME/shape/snapshots.db, or ~/.local/share/shape/snapshots.db)
  SHAPE_CACHE_DIR compiled code kept between runs: the prelude and program files (default:
                  $XDG_CACHE_HOME/shape, or ~/.cache/shape; empty: no cache)
  NO_COLOR        never colour diagnostics (they are coloured only on a terminal)
  SHAPE_DEBUG     show the Python traceback of an internal error
"""


STORE_HELP = ("snapshot store: a path, sqlite:///PATH or postgresql://… (default: $SHAPE_STORE "
              "or the user data directory)")
NO_ID = object()     # `--resume` without an id (so that `shape --resume --help` still works)


class UsageError(Exception):
    """A command line that does not parse: an `Error:` line, the usage line, exit 2."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


def _usage_error(self: argparse.ArgumentParser, message: str) -> None:
    raise UsageError(self, message)


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


def seconds(text: str) -> float:
    import argparse
    try:
        s = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got '{text}'") from None
    if not s >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return s


# ---------------------------------------------------------------- the parser tree

COMMANDS: dict[str, str] = {
    "run": "run a program (options may follow FILE; program arguments after --)",
    "snapshot": "list, inspect, delete, collect and verify stored snapshots",
    "conformance": "run the conformance corpus on the engines or another implementation",
    "fuzz": "differential and resume-equivalence fuzzing of the two engines",
    "dis": "show the VM bytecode of a program",
    "bench": "benchmark the engines against each other and CPython (also `bench snapshot`, "
             "`bench io`, `bench startup`, `bench handoff`)",
    "submit": "enqueue a job that continues a snapshot on a worker (PostgreSQL store)",
    "worker": "run jobs from PostgreSQL queues, one resumed VM per job",
    "jobs": "list jobs: snapshot, queue, status, attempts, worker, times, hand-offs",
    "wait": "wait for a job (following its hand-offs); print its output, exit with its code",
    "repl": "start the interactive prompt (what `shape` alone does on a terminal)",
}


def _add_run_options(p: argparse.ArgumentParser) -> None:
    import argparse
    p.add_argument("--engine", choices=api.ENGINES, default=None,
                   help="vm (the default, resumable), jit (the VM with hot code compiled to "
                        "Python; same results and snapshots) or ref (the reference evaluator)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (stdout, value, error, exit_code, snapshots, "
                        "interrupt) instead of the program's output")
    p.add_argument("--store", metavar="STORE", help=STORE_HELP)
    p.add_argument("--snapshot-at", type=step_count, metavar="N",
                   help="interrupt after N steps, as Ctrl+C does, and store a snapshot (VM)")
    p.add_argument("--timeout", type=seconds, metavar="S",
                   help="interrupt after S seconds, as Ctrl+C does")
    p.add_argument("--resume-at", type=int, help=argparse.SUPPRESS)  # ref oracle, for harnesses
    p.add_argument("--pin-inputs", action="store_true",
                   help="copy every input file the program reads into the snapshot store, so "
                        "its continuations read the same bytes anywhere (spec/io.md)")
    p.add_argument("--allow-changed-inputs", action="store_true",
                   help="with --resume: continue even if an input file changed since the "
                        "snapshot")


def _help_formatter(prog: str) -> argparse.HelpFormatter:
    """argparse's formatter (a `formatter_class` may be any callable), given the terminal's
    width by shutil's rule ($COLUMNS, else the terminal of stdout, else 80) without importing
    shutil: argparse makes a formatter for every option it adds, so every parse paid for shutil
    and its compression modules."""
    import argparse
    return argparse.RawDescriptionHelpFormatter(prog, width=_columns() - 2)


def _columns() -> int:
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


def main_parser() -> argparse.ArgumentParser:
    import argparse
    commands = "\n".join(f"  {name:<13}{text}" for name, text in COMMANDS.items())
    p = argparse.ArgumentParser(
        prog="shape",
        usage="shape [OPTIONS] [FILE | -c CODE | -] [ARGS...]\n       shape COMMAND [ARGS...]",
        description="Run Shape programs on the resumable VM or the reference evaluator, and "
                    "continue stored snapshots. `-` (or no FILE with input "
                    "piped in) reads the program from standard "
                    "input. ARGS after the program belong to the program.",
        epilog=f"commands (shape COMMAND --help for each):\n{commands}\n\n{ENVIRONMENT}",
        formatter_class=_help_formatter)
    p.add_argument("-V", "--version", action="version", version=f"shape {_version()}",
                   help="print the version and exit")
    # REMAINDER: as with `python -c`, what follows CODE is the program's, options included
    p.add_argument("-c", nargs=argparse.REMAINDER, dest="code",
                   help="run CODE instead of a file: -c CODE [ARGS...]")
    p.add_argument("--resume", metavar="ID", nargs="?", const=NO_ID,
                   help="continue snapshot ID (an id or a unique prefix); with FILE, continue it "
                        "in the recompiled FILE (recompile-and-resume)")
    _add_run_options(p)
    p.add_argument("file", nargs="?", metavar="FILE", help="the program ('-' for standard input)")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS", help=argparse.SUPPRESS)
    return p


def run_parser() -> argparse.ArgumentParser:
    import argparse
    p = argparse.ArgumentParser(
        prog="shape run", usage="shape run [OPTIONS] FILE [ARGS...]",
        description="Run a Shape program. Options come before FILE; everything after FILE "
                    "belongs to the program (its env.args()), as with `shape FILE`.",
        epilog=ENVIRONMENT, formatter_class=_help_formatter)
    _add_run_options(p)
    p.add_argument("file", metavar="FILE", help="the program ('-' for standard input)")
    rest = p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS", help=argparse.SUPPRESS)
    rest.required = False   # else a missing FILE reads "required: FILE, ARGS"
    return p


def _version() -> str:
    from shapelang import __version__
    return __version__


# ---------------------------------------------------------------- signals

class Signals:
    """SIGINT and SIGTERM stop the run at its next safepoint (the VM stores an interrupt
    snapshot): exit 130 and 143. A second signal exits at once. A signal that was ignored when
    `shape` started stays ignored, as Python and `nohup` do. Only in the main thread."""

    CODES = {signal.SIGINT: api.INTERRUPT_EXIT, signal.SIGTERM: api.TERMINATE_EXIT}

    def __init__(self, control: api.Control) -> None:
        self.control = control
        self.saved: dict[int, Any] = {}

    def __enter__(self) -> "Signals":
        import threading
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in self.CODES:
            if signal.getsignal(sig) is signal.SIG_IGN:
                continue
            self.saved[sig] = signal.signal(sig, self._handler)
        return self

    def _handler(self, signum: int, frame: Any) -> None:
        code = self.CODES.get(signal.Signals(signum), api.INTERRUPT_EXIT)
        if self.control.stopped:
            _say("\nInterrupted again: exiting without a snapshot\n")
            os._exit(code)
        self.control.stop(code)

    def __exit__(self, *exc: Any) -> None:
        for sig, previous in self.saved.items():
            signal.signal(sig, previous)


# ---------------------------------------------------------------- running programs

def _stdout_write(text: str) -> None:
    sys.stdout.write(text)


def _report(result: api.Result, as_json: bool, source: Optional[str]) -> int:
    """Print how a run ended (the program's output has been streamed already)."""
    if as_json:
        import json     # imported on use (start-up)
        print(json.dumps(result.to_json()))
        return result.exit_code
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except Exception:
        pass
    if result.error is not None:
        _say(render_error(result.error, source) + "\n")
    elif result.interrupt is not None:
        _say(f"Snapshot saved: {result.interrupt}\nResume with: shape --resume {result.interrupt}\n")
    elif result.interrupted:
        _say("Error: interrupted\n")
    return result.exit_code


def render_error(error: api.Error, source: Optional[str]) -> str:
    from shapelang.diagnostics import for_stderr
    return for_stderr(error, source)


def _program(args: Any) -> tuple[Optional[str], str]:
    """(source, path) of the program named by -c, FILE or `-` (source None: read FILE)."""
    if getattr(args, "code", None) is not None:
        return args.code, "<string>"
    if args.file == "-":
        return sys.stdin.read(), "<stdin>"
    return None, args.file


def execute(args: Any, program_args: list[str],
            usage: Callable[[str], None]) -> int:
    """Run (or resume) what the parsed options ask for (an argparse.Namespace, or
    `plain_run`'s) and report it."""
    engine = args.engine or api.DEFAULT_ENGINE
    resume = getattr(args, "resume", None)
    if resume is not None:
        if resume is NO_ID:
            usage("argument --resume: expected a snapshot ID")
        if args.engine == "ref":
            usage("--resume runs on the VM (the reference evaluator stores no snapshots)")
        if args.resume_at is not None:
            usage("--resume-at is a reference-engine oracle; it does not combine with --resume")
    elif engine == "ref" and args.snapshot_at is not None:
        usage("--snapshot-at needs the VM engine (the reference evaluator stores no snapshots)")
    elif args.resume_at is not None and engine != "ref":
        usage("--resume-at needs --engine ref")
    source, path = _program(args) if (args.file is not None or getattr(args, "code", None)
                                      is not None) else (None, None)
    control = api.Control()
    write = None if args.json else _stdout_write
    stderr = None if args.json else _say
    script = "-c" if getattr(args, "code", None) is not None else (args.file or "--resume")
    options = dict(store=args.store, snapshot_at=args.snapshot_at, timeout=args.timeout,
                   argv=[script, *program_args], write=write, stderr=stderr, control=control,
                   pin_inputs=args.pin_inputs)
    if args.allow_changed_inputs and resume is None:
        usage("--allow-changed-inputs applies to --resume")
    if resume is not None and args.file is None and _is_repl_snapshot(resume, args.store):
        given = [o for o, v in (("--json", args.json), ("--snapshot-at", args.snapshot_at),
                                ("--timeout", args.timeout), ("--pin-inputs", args.pin_inputs))
                 if v not in (None, False)]
        if given:   # the prompt reads entries; none of these has a meaning there
            usage(f"{', '.join(given)}: snapshot {resume} was taken at the prompt, and resuming "
                  "it reopens the prompt")
        from shapelang import repl
        return repl.main(store=args.store, resume=resume)
    with Signals(control):
        if resume is not None:
            target: Any = source if source is not None else (
                _PathArg(path) if path is not None else None)
            result = api.resume(resume, target, path=path, engine=engine,
                                allow_changed_inputs=args.allow_changed_inputs, **options)
        else:
            if source is None:
                try:
                    source = api.read_source(path)  # type: ignore[arg-type]
                except ShapeError as e:
                    if path in COMMANDS and e.message.startswith("No such file"):
                        # `shape --store X snapshot list`: options before a command make it FILE
                        e.message += (f" (`{path}` is a command: give its options after it, "
                                      f"shape {path} [OPTIONS])")
                    return _report(api.Result(error=api.Error.of(e), exit_code=1), args.json, None)
            if args.resume_at is not None:
                options["resume_at"] = args.resume_at
            # A program file's compiled code is kept for its next run (vm/codecache.py).
            cache = args.file is not None and args.file != "-" and path == args.file
            result = api.run(source, path=path, engine=engine, cache=cache, **options)
    if result.error is not None:
        # The text the run had (a resumed run: the snapshot's stored source, wherever the
        # resume runs), else the file the error names when it is another one.
        if result.error.source is not None:
            source = result.error.source
        elif result.error.file != path:
            source = _read_quietly(result.error.file)
    return _report(result, args.json, source)


def _is_repl_snapshot(snapshot: str, store: Optional[str]) -> bool:
    """Whether a snapshot was taken at the interactive prompt (resuming it reopens the prompt).
    Any problem finding out is left for the resume itself to report."""
    from shapelang import repl
    try:
        with api.Store(store) as s:
            return s.info(snapshot).script == repl.SCRIPT
    except Exception:
        return False


class _PathArg(os.PathLike):
    def __init__(self, path: str) -> None:
        self.path = path

    def __fspath__(self) -> str:
        return self.path


def _read_quietly(path: Optional[str]) -> Optional[str]:
    """The source a diagnostic points into, when it is a readable file (else no excerpt)."""
    if not path or path.startswith("<") or path == "--resume":
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def cmd_main(argv: list[str]) -> int:
    p = main_parser()
    args = p.parse_args(argv)
    program_args = list(args.args)
    if args.code is not None:
        # `shape -c CODE a --json`: everything after CODE is the program's (as `python -c`).
        if not args.code:
            p.error("argument -c: expected one argument")
        args.code, *rest = args.code
        program_args = ([] if args.file is None else [args.file]) + rest + program_args
        args.file = None
    if args.code is None and args.file is None and args.resume is None:
        if sys.stdin.isatty():
            from shapelang import repl
            return repl.main(store=args.store)
        args.file = "-"
    return execute(args, program_args, lambda m: p.error(m))


def plain_run(argv: list[str]) -> Optional[SimpleNamespace]:
    """What `main_parser` makes of `shape FILE [ARGS...]` (FILE first, so every option keeps
    its default and the rest is the program's), found without building the parser: argparse and
    the parser tree are a tenth of a small program's start-up. None for any other command line
    (tests/test_cli.py holds this to what the parser says)."""
    if not argv or not argv[0] or argv[0].startswith("-") or argv[0] in COMMANDS \
            or argv[1:2] == ["--"]:      # argparse drops a `--` right after FILE
        return None
    return SimpleNamespace(code=None, resume=None, engine=None, json=False, store=None,
                           snapshot_at=None, timeout=None, resume_at=None, pin_inputs=False,
                           allow_changed_inputs=False, file=argv[0], args=argv[1:])


def _main_usage(message: str) -> None:
    raise UsageError(main_parser(), message)


def cmd_run(argv: list[str]) -> int:
    p = run_parser()
    args = p.parse_args(argv)
    return execute(args, list(args.args), lambda m: p.error(m))


def cmd_dis(argv: list[str]) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="shape dis", description="Show the VM bytecode of a program, "
                                "with each source line above the instructions compiled from it "
                                "(highlighted on a terminal).")
    p.add_argument("file", metavar="FILE", help="the program to disassemble")
    p.add_argument("--prelude", action="store_true", help="also show the prelude's blobs")
    p.add_argument("--full-ids", action="store_true", help="print blob ids in full")
    p.add_argument("--no-source", action="store_true", help="instructions only")
    args = p.parse_args(argv)
    source = api.read_source(args.file)
    text = api.disassemble(source, path=args.file, prelude=args.prelude, full_ids=args.full_ids)
    if not args.no_source:
        from shapelang.diagnostics import use_color
        text = with_source(text, source, color=use_color(sys.stdout))
    sys.stdout.write(text)
    return 0


_DIS_POSITION = r"^\s+(\d+):\d+ "


def with_source(listing: str, source: str, color: bool = False) -> str:
    """A disassembly with the source line shown above the first instruction of each line run
    (`objdump -S` style); prelude code, whose lines are not in `source`, is left as it is."""
    import re
    position = re.compile(_DIS_POSITION)
    lines = source.splitlines()
    out: list[str] = []
    last = None
    for row in listing.split("\n"):
        if row.startswith("Blob "):
            last = None
        m = position.match(row)
        if m and int(m.group(1)) != last and 1 <= int(m.group(1)) <= len(lines):
            last = int(m.group(1))
            text = lines[last - 1].strip()
            if color:
                from shapelang.highlight import highlight_line
                text = highlight_line(text)
            out.append(f"  {last:>7} | {text}")
        out.append(row)
    return "\n".join(out)


def cmd_repl(argv: list[str]) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="shape repl", description="Start the interactive prompt: "
                                "each entry runs on the VM, bindings carry over, snapshot() "
                                "works (resuming one reopens the prompt).",
                                epilog=ENVIRONMENT,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", metavar="STORE", help=STORE_HELP)
    args = p.parse_args(argv)
    from shapelang import repl
    return repl.main(store=args.store)


def _commands() -> dict[str, Callable[[list[str]], int]]:
    # Imported on use: each tool pulls in its own dependencies.
    def snapshot(argv: list[str]) -> int:
        from shapelang import snapshot_cli
        return snapshot_cli.main(argv) or 0

    def conformance(argv: list[str]) -> int:
        from shapelang.conformance import runner
        return runner.main(argv) or 0

    def fuzz(argv: list[str]) -> int:
        from shapelang.fuzz import cli as fuzz_cli
        return fuzz_cli.main(argv) or 0

    def bench(argv: list[str]) -> int:
        if argv[:1] == ["handoff"]:
            from shapelang.jobs import bench as handoff
            return handoff.main(argv[1:]) or 0
        from shapelang import bench as B
        return B.main(argv) or 0

    def job_command(name: str) -> Callable[[list[str]], int]:
        def run(argv: list[str]) -> int:
            from shapelang.jobs import cli as jobs_cli
            return getattr(jobs_cli, f"{name}_main")(argv) or 0
        return run

    return {"run": cmd_run, "snapshot": snapshot, "conformance": conformance, "fuzz": fuzz,
            "dis": cmd_dis, "bench": bench, "repl": cmd_repl,
            **{name: job_command(name) for name in ("submit", "worker", "jobs", "wait")}}


def dispatch(argv: list[str]) -> int:
    if argv and argv[0] in COMMANDS:
        return _commands()[argv[0]](argv[1:])
    return cmd_main(argv)


# ---------------------------------------------------------------- the entry point

class _ClosedStdout:
    """Stands in for a closed stdout (`shape … >&-`): the run goes on until it prints, and then
    fails with a clear IOError instead of an AttributeError on None."""

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "Standard output is closed")

    def flush(self) -> None:
        pass


class _ClosedStdin:
    """Stands in for a closed stdin (`shape - <&-`, `shape repl <&-`): not a terminal, and
    reading it fails with a clear IOError instead of an AttributeError on None."""

    def isatty(self) -> bool:
        return False

    def read(self, size: int = -1) -> str:
        raise OSError(errno.EBADF, "Standard input is closed", "<stdin>")

    readline = read


def _say(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except Exception:  # stderr closed or broken: nothing else can be told
        pass


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if sys.stdout is None:
        sys.stdout = _ClosedStdout()  # type: ignore[assignment]
    if sys.stdin is None:
        sys.stdin = _ClosedStdin()  # type: ignore[assignment]
    plain = plain_run(argv)
    restore = _report_usage_errors() if plain is None else None
    try:
        code = execute(plain, plain.args, _main_usage) if plain is not None else dispatch(argv)
    except UsageError as e:
        try:
            sys.stdout.flush()
        except Exception:
            pass
        _say(f"Error: {e.parser.prog}: {e.message} (see {e.parser.prog} --help)\n")
        _say(e.parser.format_usage())
        code = 2
    except ShapeExit as e:
        code = e.code
    except ShapeError as e:
        try:
            sys.stdout.flush()
        except Exception:
            pass
        _say(render_error(api.Error.of(e), _read_quietly(e.file)) + "\n")
        code = 1
    except KeyboardInterrupt:
        _say("Error: interrupted\n")
        code = 130
    except SystemExit as e:  # --help, --version, and commands that exit on their own
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
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
        if restore is not None:
            restore()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
    except Exception:
        pass
    return code


def _report_usage_errors() -> Callable[[], None]:
    """Make every parser of every command report usage errors the same way (Error: line first,
    then the usage line; exit 2), including those of the tools' own modules; returns what
    undoes it."""
    import argparse
    saved_error = argparse.ArgumentParser.error
    argparse.ArgumentParser.error = _usage_error  # type: ignore[method-assign]

    def restore() -> None:
        argparse.ArgumentParser.error = saved_error  # type: ignore[method-assign]
    return restore


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
