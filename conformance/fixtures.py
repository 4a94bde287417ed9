"""Files of a conformance case: the fixtures a run starts with and the files it must leave.

Every in-process run of a case (and of each of its resume checks) happens in a fresh directory
of its own, which is the run's working directory: the case's `fixture` files are written into
it first, and afterwards its `file` expectations (or a resume's `resume-file` ones) are compared
with what is there. A case therefore never sees files another case or run left behind, and a
program that writes files writes them into its own directory.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable, Optional

from shapelang.conformance.caseformat import Case


def run_dir(case: Case, tmpdir: Optional[str]) -> str:
    """A fresh directory holding the case's fixtures (the caller removes it)."""
    d = tempfile.mkdtemp(prefix="case-", dir=tmpdir)
    for name, content in case.fixtures.items():
        p = Path(d) / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content.encode("utf-8"))
    return d


def file_mismatches(expected: Iterable[tuple[str, Optional[str]]], directory: str,
                    label: str = "") -> list[str]:
    """What differs between the expected files and the directory's (one line per file)."""
    out = []
    prefix = f"{label}: " if label else ""
    for name, want in expected:
        p = os.path.join(directory, name)
        try:
            with open(p, "rb") as f:
                got: Optional[str] = f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            got = None
        except OSError as e:
            out.append(f"{prefix}file {name}: cannot be read ({e.strerror})")
            continue
        if got == want:
            continue
        if want is None:
            out.append(f"{prefix}file {name}: should not exist, holds {got!r}")
        elif got is None:
            out.append(f"{prefix}file {name}: missing (expected {want!r})")
        else:
            out.append(f"{prefix}file {name}: expected {want!r}, got {got!r}")
    return out
