"""Compiled code kept between runs: the prelude's blobs, and those of program files.

Every run needs the prelude (runtime/prelude.shape) compiled, and a program file is usually run
again unchanged; parsing and compiling them (and importing the front end and the compiler to do
it) is most of a small program's start-up. Blobs are plain data, so, as Python keeps bytecode in
`__pycache__` and Guile its compiled scripts in `~/.cache/guile`, they are kept in a local cache
directory: `$SHAPE_CACHE_DIR`, else `$XDG_CACHE_HOME/shape`, else `~/.cache/shape` (an empty
SHAPE_CACHE_DIR turns the cache off). A file is named by the SHA-256 of the source and of the
code that compiles it (the name, size and modification time of each file of the front end, the
compiler, the blob format and the runtime rules it consults), so a changed installation never
reads code another one compiled.

This module imports neither the front end nor the compiler: a run whose code is cached does not
load them at all. A cache file is trusted no more than a snapshot store: each blob is decoded by
the strict `Blob.from_bytes` (its id is its content's hash, then the verifier), the program's
links are checked, and a file that fails any of it is ignored (and replaced). Writing is atomic
and best-effort: a read-only or missing cache directory only means no cache. Files not used for
a week are removed, and at most MAX_PROGRAMS program files are kept.
"""
from __future__ import annotations

import hashlib
import os
import time
from typing import Optional

import msgpack

from shapelang.runtime.prelude import PRELUDE_PATH
from shapelang.vm.blob import Blob, BlobError, Program, reachable
from shapelang.vm.verify import check_program

CACHE_MAGIC = "shape-code-cache"
CACHE_VERSION = 1
MAX_AGE = 7 * 24 * 3600      # seconds a cache file is kept without being used
MAX_PROGRAMS = 500

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What compiled code depends on: (directory, including its subdirectories?).
_SOURCES = (("ref", True), ("runtime", True), ("vm", False), (os.path.join("vm", "compiler"), False))
_DIGEST: list = []           # the digest of those sources, computed once per process


def cache_dir() -> Optional[str]:
    configured = os.environ.get("SHAPE_CACHE_DIR")
    if configured is not None:
        return configured or None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "shape")


def _compiler_digest() -> bytes:
    """What identifies the installed code that compiles: the name, size and modification time
    of each of its files (as Python's own bytecode cache judges a source file: reading and
    hashing the ~1 MB of them would cost a warm start more than the cache saves)."""
    if not _DIGEST:
        h = hashlib.sha256(f"{CACHE_MAGIC} {CACHE_VERSION}".encode())
        for sub, recursive in _SOURCES:
            top = os.path.join(_PACKAGE, sub)
            for d, dirs, files in os.walk(top):
                dirs[:] = sorted(x for x in dirs if recursive and not x.startswith(("_", ".")))
                for name in sorted(f for f in files if f.endswith((".py", ".shape", ".pickle"))):
                    st = os.stat(os.path.join(d, name))
                    h.update(f"{os.path.relpath(os.path.join(d, name), _PACKAGE)} "
                             f"{st.st_size} {st.st_mtime_ns}\n".encode())
                if not recursive:
                    break
        _DIGEST.append(h.digest())
    return _DIGEST[0]


def key(kind: str, source: str) -> str:
    """The cache key of `source` compiled as `kind` ("prelude" or "program")."""
    h = hashlib.sha256(_compiler_digest())
    h.update(kind.encode() + b"\0" + source.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def _file(kind: str, source: str) -> Optional[str]:
    d = cache_dir()
    if d is None:
        return None
    try:
        return os.path.join(d, f"{kind}-{key(kind, source)}.msgpack")
    except OSError:
        return None


def _load(kind: str, source: str, path: Optional[str]) -> Optional[tuple[dict[str, Blob], str]]:
    """The blobs and entry id cached for `source`, validated; None when there are none."""
    file = _file(kind, source)
    if file is None:
        return None
    try:
        with open(file, "rb") as f:
            doc = msgpack.unpackb(f.read(), raw=False, strict_map_key=True)
        magic, version, stored_kind, entry, encoded = doc
        if (magic, version, stored_kind) != (CACHE_MAGIC, CACHE_VERSION, kind) \
                or type(encoded) is not dict:
            return None
        blobs = {bid: Blob.from_bytes(data, expect_id=bid) for bid, data in encoded.items()}
        if entry not in blobs:
            return None
    except (OSError, ValueError, TypeError, BlobError, msgpack.UnpackException):
        return None
    for b in blobs.values():
        b.source = path
    try:
        os.utime(file)       # in use: not old (see _forget_old)
    except OSError:
        pass
    return blobs, entry


def _save(kind: str, source: str, blobs: dict[str, Blob], entry: str) -> None:
    file = _file(kind, source)
    if file is None:
        return
    data = msgpack.packb([CACHE_MAGIC, CACHE_VERSION, kind, entry,
                          {bid: b.to_bytes() for bid, b in blobs.items()}], use_bin_type=True)
    import tempfile    # only when writing (it imports random, shutil, …)
    d = os.path.dirname(file)
    try:
        os.makedirs(d, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, file)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        _forget_old(d)
    except OSError:
        pass


def _forget_old(d: str) -> None:
    """Remove the files nobody used for MAX_AGE (a load refreshes a file's time), and the
    least recently used program files beyond MAX_PROGRAMS."""
    now = time.time()
    programs = []
    for name in os.listdir(d):
        p = os.path.join(d, name)
        try:
            age = now - os.stat(p).st_mtime
            if age > MAX_AGE and name.startswith(("prelude-", "program-", ".tmp-")):
                os.unlink(p)
            elif name.startswith("program-"):
                programs.append((age, p))
        except OSError:
            pass
    for _, p in sorted(programs)[MAX_PROGRAMS:]:
        try:
            os.unlink(p)
        except OSError:
            pass


# ---------------------------------------------------------------- the prelude and programs

def prelude_source() -> str:
    with open(PRELUDE_PATH, encoding="utf-8") as f:
        return f.read()


def load_prelude(source: str) -> Optional[tuple[dict[str, Blob], str]]:
    """The prelude's cached blobs and module blob id (`source` is its text), or None."""
    found = _load("prelude", source, PRELUDE_PATH)
    if found is not None:
        try:
            check_program(found[0])
        except BlobError:
            return None
    return found


def save_prelude(source: str, blobs: dict[str, Blob], entry: str) -> None:
    _save("prelude", source, blobs, entry)


def load_program(source: str, path: Optional[str]) -> Optional[Program]:
    """The compiled program of `source` (prelude included) when it is cached, or None."""
    found = _load("program", source, path)
    prelude = _load("prelude", prelude_source(), PRELUDE_PATH) if found is not None else None
    if found is None or prelude is None:
        return None
    blobs = dict(prelude[0])
    blobs.update(found[0])
    try:
        check_program(blobs)      # the prelude's links and the program's at once
    except BlobError:
        return None
    return Program(blobs, found[1], prelude[1], path)


def save_program(source: str, program: Program) -> None:
    """Keep `program`, compiled from `source`, for the next run of the same source."""
    prelude = set(reachable(program.blobs, program.prelude))
    own = {bid: b for bid, b in program.blobs.items() if bid not in prelude}
    _save("program", source, own, program.entry)
