"""The conformance case format: parsing a `.shape` case file into a `Case`.

A case is one `.shape` file whose header is the run of `//` lines at the very top of the file
(see conformance/README.md for the full format). The header is data, so the parser is strict:
an unknown key or a malformed value is a `CaseFormatError`, because a silently ignored typo
(`stdot:`) would turn a check off without anyone noticing.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

# Where the corpus lives; `id` defaults to the path relative to this directory.
CASES_DIR = Path(__file__).resolve().parent / "cases"

KNOWN_FLAGS = frozenset({"ref-only", "vm-only", "non-deterministic", "no-wrap", "slow"})

# Snapshot ids are content hashes and differ between implementations and runs, so they are
# masked on both sides before stdout is compared.
SNAPSHOT_ID_RE = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
MASK = "<id>"

_KEY_RE = re.compile(r"^(?P<key>[a-z][a-z-]*)(?P<args>(?: [^:\s]+)*)\s*:(?P<rest>.*)$")
_ERROR_RE = re.compile(r'^(?P<kind>[A-Za-z]+)\s+(?P<phase>[a-z]+)(?:\s+(?P<msg>"(?:[^"\\]|\\.)*"))?'
                       r'(?:\s+at\s+(?P<line>[0-9]+):(?P<col>[0-9]+))?\s*$')


class CaseFormatError(ValueError):
    """A case file whose header does not follow the format."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message


@dataclass(frozen=True)
class ExpectedError:
    kind: str
    phase: str
    message: Optional[str] = None  # a substring of the actual message; None = any message
    line: Optional[int] = None     # `at LINE:COL`: where the error is reported; None = anywhere
    col: Optional[int] = None

    def describe(self) -> str:
        s = f"{self.kind} {self.phase}"
        s += f" {json.dumps(self.message)}" if self.message is not None else ""
        return s + (f" at {self.line}:{self.col}" if self.line is not None else "")


@dataclass(frozen=True)
class ExpectedValue:
    type: str
    display: str


@dataclass(frozen=True)
class ResumeExpectation:
    """What resuming the case from snapshot event `event` must do.

    `source_file` set means recompile-and-resume with that edited source (path relative to the
    case file), the first step of the chain when there is one; `stdout` None means the resume
    must fail with `error`."""
    event: int
    stdout: Optional[str] = None
    error: Optional[ExpectedError] = None
    source_file: Optional[str] = None
    # A chain (`resume K/J/…`): after resuming event K, resume the J-th snapshot event of that
    # resumed run (counted from 0 within it), and so on; only the last resume's output counts.
    then: tuple[int, ...] = ()
    # Files the resumed run leaves in its directory: (name, content, or None for no such file).
    files: tuple[tuple[str, Optional[str]], ...] = ()
    # Changes someone else makes to the directory between the first run and the resume.
    changes: tuple[tuple[str, Optional[str]], ...] = ()

    @property
    def chain(self) -> str:
        return "/".join(str(k) for k in (self.event, *self.then))

    @property
    def label(self) -> str:
        if self.source_file is not None:
            return f"recompile {self.chain} {self.source_file}"
        return f"resume {self.chain}"


@dataclass
class Case:
    path: str                 # the file, as given / discovered
    id: str
    area: str                 # first directory under cases/ ("" when outside the corpus)
    source: str               # the whole file
    body: str                 # the source after the header (what the derived contexts wrap)
    features: tuple[str, ...] = ()
    flags: frozenset[str] = frozenset()
    stdout: Optional[str] = None            # None = stdout not checked
    value: Optional[ExpectedValue] = None   # None = value not checked
    error: Optional[ExpectedError] = None   # None = the run must not fail
    # `stack:` the error's Shape call stack, most recent call last: (name, line, col) entries.
    stack: Optional[tuple[tuple[str, Optional[int], Optional[int]], ...]] = None
    exit: Optional[int] = None              # explicit `exit:`; see expected_exit
    resumes: list[ResumeExpectation] = field(default_factory=list)
    # Files put in the run's fresh directory before it runs, and the files the run must leave
    # there (None: the file must not exist) — spec/io.md's programs read and write files.
    fixtures: dict[str, str] = field(default_factory=dict)
    files: dict[str, Optional[str]] = field(default_factory=dict)
    # The program's arguments (after the script) and the environment variables added for the
    # run (spec/io.md: `env.args()`, `env.get`); a resume is started without them.
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    @property
    def uses_files(self) -> bool:
        return bool(self.fixtures or self.files
                    or any(r.files or r.changes for r in self.resumes))

    @property
    def expected_exit(self) -> int:
        if self.exit is not None:
            return self.exit
        return 1 if self.error is not None else 0

    @property
    def checks_stdout(self) -> bool:
        return self.stdout is not None and "non-deterministic" not in self.flags

    @property
    def wrappable(self) -> bool:
        """Eligible for the generated contexts (function wrapper, one-iteration loop)."""
        return "no-wrap" not in self.flags and self.error is None and self.exit is None


def mask_ids(text: str) -> str:
    return SNAPSHOT_ID_RE.sub(MASK, text)


def case_id_for(path: Path, cases_dir: Path = CASES_DIR) -> tuple[str, str]:
    """(default id, area) of a case file: its path relative to cases/ without `.shape`."""
    try:
        rel = path.resolve().relative_to(cases_dir.resolve())
    except ValueError:
        return path.with_suffix("").as_posix(), ""
    parts = rel.with_suffix("").parts
    return "/".join(parts), (parts[0] if len(parts) > 1 else "")


def _header_lines(source: str) -> tuple[list[str], str]:
    lines = source.splitlines(keepends=True)
    header: list[str] = []
    for line in lines:
        if not line.startswith("//"):
            break
        header.append(line.rstrip("\r\n"))
    body = "".join(lines[len(header):])
    return header, body


def _parse_error(text: str, path: str, lineno: int) -> ExpectedError:
    m = _ERROR_RE.match(text.strip())
    if not m:
        raise CaseFormatError(path, lineno, f'expected KIND PHASE ["message"] [at LINE:COL], '
                                            f'got {text.strip()!r}')
    msg = m.group("msg")
    if msg is not None:
        try:
            msg = json.loads(msg)
        except json.JSONDecodeError:
            msg = msg[1:-1]  # not valid JSON escapes: take it literally
    line = int(m.group("line")) if m.group("line") else None
    col = int(m.group("col")) if m.group("col") else None
    return ExpectedError(m.group("kind"), m.group("phase"), msg, line, col)


def _parse_stack(text: str, path: str, lineno: int) -> tuple:
    """`NAME LINE:COL, NAME LINE:COL, …` (outermost first; a NAME alone has no position)."""
    out = []
    for part in _comma_list(text):
        m = re.fullmatch(r"(\S+)(?: (\d+):(\d+))?", part)
        if not m:
            raise CaseFormatError(path, lineno, f"expected NAME LINE:COL in stack:, got {part!r}")
        out.append((m.group(1), int(m.group(2)) if m.group(2) else None,
                    int(m.group(3)) if m.group(3) else None))
    if not out:
        raise CaseFormatError(path, lineno, "stack: needs at least one NAME LINE:COL entry")
    return tuple(out)


def _parse_int(text: str, path: str, lineno: int, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise CaseFormatError(path, lineno, f"{what} must be an integer, got {text.strip()!r}") from None


def _parse_chain(text: str, path: str, lineno: int, what: str) -> list[int]:
    """`K` or a chain `K/J/…` of non-negative event numbers."""
    ks = [_parse_int(part, path, lineno, what) for part in text.split("/")]
    if any(k < 0 for k in ks):
        raise CaseFormatError(path, lineno, f"{what}: event numbers count from 0")
    return ks


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def parse_case(source: str, path: str, case_id: Optional[str] = None, area: str = "") -> Case:
    """Parse a case from its source. `case_id`/`area` are the defaults used when the header
    has no `id:`."""
    header, body = _header_lines(source)
    case = Case(path=path, id=case_id or Path(path).with_suffix("").as_posix(), area=area,
                source=source, body=body)
    seen: set[str] = set()
    # The key whose `// |` lines are being collected: ("stdout", None) or ("resume", index).
    block: Optional[tuple[str, Optional[int]]] = None
    block_lines: list[str] = []

    def close_block() -> None:
        nonlocal block, block_lines
        if block is None:
            return
        text = "".join(line + "\n" for line in block_lines)
        if block[0] in ("fixture", "file", "resume-file", "resume-change"):
            _put_file(case, block, text)
        elif block[0] == "stdout":
            case.stdout = text
        else:
            idx = block[1]
            assert idx is not None
            r = case.resumes[idx]
            case.resumes[idx] = dataclasses.replace(r, stdout=text, error=None)
        block, block_lines = None, []

    for i, raw in enumerate(header, start=1):
        text = raw[2:]
        if text.startswith("/"):
            continue  # `///` doc comment: free text
        if text.startswith(" "):
            text = text[1:]
        if text.startswith("|"):
            if block is None:
                raise CaseFormatError(path, i, "'// |' line outside a stdout:, resume K: or "
                                               "recompile K FILE: block")
            # Exactly one space after `|` belongs to the syntax; everything after it (trailing
            # spaces too) is output.
            content = text[1:]
            block_lines.append(content[1:] if content.startswith(" ") else content)
            continue
        close_block()
        stripped = text.strip()
        if not stripped:
            continue  # a bare `//` separates header groups
        m = _KEY_RE.match(text.lstrip())
        if not m:
            raise CaseFormatError(path, i, f"not a header line: {raw!r} (end the header with a blank "
                                           "line before free-form comments)")
        key, args, rest = m.group("key"), m.group("args").split(), m.group("rest")
        # Values are separated from the key by one space; strip only that, so a value display
        # can keep meaningful trailing text.
        value = rest[1:] if rest.startswith(" ") else rest
        if key in ("id", "features", "flags", "stdout", "value", "error", "stack", "exit",
                   "args"):
            if args:
                raise CaseFormatError(path, i, f"'{key}' takes no arguments before ':'")
            if key in seen:
                raise CaseFormatError(path, i, f"duplicate key '{key}'")
            seen.add(key)
        if key == "id":
            if not value.strip():
                raise CaseFormatError(path, i, "empty id")
            case.id = value.strip()
        elif key == "features":
            case.features = _comma_list(value)
        elif key == "flags":
            flags = _comma_list(value)
            unknown = [f for f in flags if f not in KNOWN_FLAGS]
            if unknown:
                raise CaseFormatError(path, i, f"unknown flag(s) {', '.join(unknown)} "
                                               f"(known: {', '.join(sorted(KNOWN_FLAGS))})")
            case.flags = frozenset(flags)
        elif key == "stdout":
            if value.strip():
                raise CaseFormatError(path, i, "stdout: takes its lines as '// | text' lines below it")
            block, block_lines = ("stdout", None), []
        elif key == "value":
            parts = value.split(" ", 1)
            if not parts[0]:
                raise CaseFormatError(path, i, "value: needs TYPE DISPLAY")
            case.value = ExpectedValue(parts[0], parts[1] if len(parts) > 1 else "")
        elif key == "error":
            case.error = _parse_error(value, path, i)
        elif key == "stack":
            case.stack = _parse_stack(value, path, i)
        elif key == "exit":
            case.exit = _parse_int(value, path, i, "exit")
        elif key == "args":
            try:
                case.args = tuple(shlex.split(value))
            except ValueError as e:
                raise CaseFormatError(path, i, f"args: {e} (the arguments are split as a shell "
                                               "splits them)") from None
        elif key == "env":
            if len(args) != 1 or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", args[0]):
                raise CaseFormatError(path, i, "expected 'env NAME: \"value\"' (a JSON string)")
            if args[0] in case.env:
                raise CaseFormatError(path, i, f"duplicate env {args[0]}")
            try:
                env_value = json.loads(value.strip())
            except json.JSONDecodeError:
                env_value = None
            if type(env_value) is not str:
                raise CaseFormatError(path, i, f"env {args[0]}: the value must be a JSON string")
            case.env[args[0]] = env_value
        elif key == "resume":
            if len(args) != 1 or value.strip():
                raise CaseFormatError(path, i, "expected 'resume K:' followed by '// |' lines")
            k, *then = _parse_chain(args[0], path, i, "resume K")
            case.resumes.append(ResumeExpectation(k, "", None, None, tuple(then)))
            block, block_lines = ("resume", len(case.resumes) - 1), []
        elif key == "resume-error":
            if len(args) != 1:
                raise CaseFormatError(path, i, 'expected \'resume-error K: KIND PHASE "msg"\'')
            k, *then = _parse_chain(args[0], path, i, "resume-error K")
            case.resumes.append(ResumeExpectation(k, None, _parse_error(value, path, i), None,
                                                  tuple(then)))
        elif key == "recompile-error":
            if len(args) != 2:
                raise CaseFormatError(path, i, 'expected \'recompile-error K FILE: KIND PHASE "msg"\'')
            k, *then = _parse_chain(args[0], path, i, "recompile-error K")
            case.resumes.append(ResumeExpectation(k, None, _parse_error(value, path, i), args[1],
                                                  tuple(then)))
        elif key in ("fixture", "file", "resume-file", "resume-change"):
            want = 2 if key.startswith("resume-") else 1
            if len(args) != want:
                raise CaseFormatError(path, i, f"expected '{key}{' K' if want == 2 else ''} NAME:' "
                                               "followed by '// |' lines, a JSON string"
                                               f"{'' if key == 'fixture' else ' or absent'}")
            name = _file_name(args[-1], path, i)
            target: tuple = (key, name, i)
            if key.startswith("resume-"):
                chain = tuple(_parse_chain(args[0], path, i, f"{key} K"))
                idx = next((n for n, r in enumerate(case.resumes)
                            if r.source_file is None and (r.event, *r.then) == chain), None)
                if idx is None:
                    raise CaseFormatError(path, i, f"{key} {args[0]}: no 'resume {args[0]}:' "
                                                   "or 'resume-error' line before it")
                target = (key, (idx, name), i)
            if not value.strip():
                block, block_lines = target, []
            else:
                _put_file(case, target, _file_value(value, key != "fixture", path, i))
        elif key == "recompile":
            if len(args) != 2 or value.strip():
                raise CaseFormatError(path, i, "expected 'recompile K FILE:' followed by '// |' lines")
            k, *then = _parse_chain(args[0], path, i, "recompile K")
            case.resumes.append(ResumeExpectation(k, "", None, args[1], tuple(then)))
            block, block_lines = ("resume", len(case.resumes) - 1), []
        else:
            raise CaseFormatError(path, i, f"unknown header key '{key}'")
    close_block()
    if case.stack is not None and (case.error is None or case.error.phase != "runtime"):
        raise CaseFormatError(path, 1, "stack: goes with a runtime error: line")
    if "ref-only" in case.flags and "vm-only" in case.flags:
        raise CaseFormatError(path, 1, "a case cannot be both ref-only and vm-only")
    return case


def _file_name(name: str, path: str, lineno: int) -> str:
    """A file name relative to the run's directory: no absolute paths, no `..`."""
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or ".." in parts:
        raise CaseFormatError(path, lineno, f"{name!r} must be a relative path inside the "
                                            "run's directory")
    return name


def _file_value(value: str, absent_ok: bool, path: str, lineno: int) -> Optional[str]:
    text = value.strip()
    if absent_ok and text == "absent":
        return None
    try:
        content = json.loads(text)
    except json.JSONDecodeError:
        content = None
    if type(content) is not str:
        raise CaseFormatError(path, lineno, "expected '// |' lines below, a JSON string"
                                            f"{' or absent' if absent_ok else ''}")
    return content


def _put_file(case: Case, target: tuple, content: Optional[str]) -> None:
    key, where, lineno = target
    if key == "fixture":
        table = case.fixtures
    elif key == "file":
        table = case.files
    else:
        idx, where = where
        r = case.resumes[idx]
        field_name = "files" if key == "resume-file" else "changes"
        entries = getattr(r, field_name)
        if any(n == where for n, _ in entries):
            raise CaseFormatError(case.path, lineno, f"duplicate {key} for {where}")
        case.resumes[idx] = dataclasses.replace(r, **{field_name: entries + ((where, content),)})
        return
    if where in table:
        raise CaseFormatError(case.path, lineno, f"duplicate {key} {where}")
    table[where] = content  # type: ignore[assignment]


def load_case(path: str | os.PathLike[str], cases_dir: Path = CASES_DIR) -> Case:
    p = Path(path)
    with open(p, encoding="utf-8", newline="") as f:
        source = f.read()
    default_id, area = case_id_for(p, cases_dir)
    return parse_case(source, str(p), default_id, area)


def is_case_file(p: Path) -> bool:
    # Files starting with `_` are auxiliary (e.g. the edited source of a `recompile` expectation).
    return p.suffix == ".shape" and not p.name.startswith("_")


def discover(paths: Optional[list[str]] = None, cases_dir: Path = CASES_DIR,
             include_private: bool = False) -> list[Path]:
    """Case files under `paths` (default: the whole corpus), sorted.

    Directories whose name starts with `_` (such as `_selftest`) are skipped while walking, but
    are searched when named explicitly or when include_private is set."""
    roots = [Path(p) for p in paths] if paths else [cases_dir]
    found: set[Path] = set()
    for root in roots:
        if root.is_file():
            found.add(root)
            continue
        if not root.is_dir():
            raise FileNotFoundError(f"no such case file or directory: {root}")
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if include_private or not d.startswith("_"))
            for name in filenames:
                p = Path(dirpath) / name
                if is_case_file(p):
                    found.add(p)
    return sorted(found)
