"""Compiled code kept between runs: the prelude's blobs, and those of program files.

Every run needs the prelude (runtime/prelude.shape) compiled, and a program file is usually run
again unchanged; parsing and compiling them (and importing the front end and the compiler to do
it) is most of a small program's start-up. Blobs are plain data, so, as Python keeps bytecode in
`__pycache__` and Guile its compiled scripts in `~/.cache/guile`, they are kept in a local cache
directory: `$SHAPE_CACHE_DIR`, else `$XDG_CACHE_HOME/shape`, else `~/.cache/shape` (an empty
SHAPE_CACHE_DIR turns the cache off). A file is named by a hash (BLAKE2b) of the source and of
the code that compiles it (the name, size and modification time of each file of the front end,
the compiler, the blob format and the runtime rules it consults, and the Python version), so a
changed installation never reads code another one compiled.

This module imports neither the front end nor the compiler: a run whose code is cached does not
load them at all. A cache file is trusted no more than a snapshot store until it proves it was
written here: code is validated when it is written (each blob by the strict `Blob.from_bytes`,
which re-checks its id and runs the verifier, and the program's links by `check_program`), and
the file is sealed with a keyed hash (BLAKE2b, MAC_SIZE bytes) under a key only this user can
read (`key` in the cache directory, 0600, made on first use). A load checks the seal before it
reads anything else, so a corrupt, forged, renamed or foreign file (another user's, another
machine's) is ignored (and replaced), never decoded, and code from the cache has always passed
the verifier; a sealed file is decoded with `marshal` and is not validated again, which is what
makes a warm start cheap. A key file that is not a private file of this user turns the cache
off. Writing is atomic and best-effort: a read-only or missing cache directory only means no
cache. Files not used for a week are removed, and at most MAX_PROGRAMS program files are kept.
"""
from __future__ import annotations

import marshal
import os
import sys
import time
from typing import Optional

from shapelang.runtime.prelude import PRELUDE_PATH
from shapelang.vm.blob import Blob, BlobError, Program, reachable
from shapelang.vm.verify import check_program

try:
    # hashlib's own BLAKE2b: `import hashlib` first loads OpenSSL's library, ~2.5 ms of every
    # start-up, for hash functions a cached run does not use.
    from _blake2 import blake2b
except ImportError:  # pragma: no cover  (a Python built without its own BLAKE2)
    from hashlib import blake2b

CACHE_MAGIC = "shape-code-cache"
CACHE_VERSION = 2
SUFFIX = ".code"
MAC_SIZE = 32                # bytes of the keyed hash that seals a file (it comes first)
KEY_FILE = "key"
KEY_SIZE = 32
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
    hashing the ~1 MB of them would cost a warm start more than the cache saves), and the
    Python that reads the cache (marshal's format is Python's)."""
    if not _DIGEST:
        h = blake2b(f"{CACHE_MAGIC} {CACHE_VERSION} {sys.implementation.cache_tag} "
                    f"{marshal.version}".encode(), digest_size=32)
        for sub, recursive in _SOURCES:
            top = os.path.join(_PACKAGE, sub)
            for d, dirs, files in os.walk(top):
                dirs[:] = sorted(x for x in dirs if recursive and not x.startswith(("_", ".")))
                rel = os.path.join(sub, d[len(top) + 1:]) if d != top else sub
                for name in sorted(f for f in files if f.endswith((".py", ".shape", ".pickle"))):
                    st = os.stat(os.path.join(d, name))
                    h.update(f"{os.path.join(rel, name)} {st.st_size} {st.st_mtime_ns}\n".encode())
                if not recursive:
                    break
        _DIGEST.append(h.digest())
    return _DIGEST[0]


def key(kind: str, source: str) -> str:
    """The cache key of `source` compiled as `kind` ("prelude" or "program")."""
    h = blake2b(_compiler_digest(), digest_size=32)
    h.update(kind.encode() + b"\0" + source.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def _file(kind: str, source: str) -> Optional[str]:
    d = cache_dir()
    if d is None:
        return None
    try:
        return os.path.join(d, f"{kind}-{key(kind, source)}{SUFFIX}")
    except OSError:
        return None


# ---------------------------------------------------------------- the seal

def _private_key(d: str, create: bool) -> Optional[bytes]:
    """The key that seals this user's cache files in `d`: a regular file of KEY_SIZE random
    bytes that this user owns and nobody else may read or write. With `create`, a missing key
    is made, and one that is not such a file (a key others could read or replace proves
    nothing) is replaced; else None: no cache."""
    path = os.path.join(d, KEY_FILE)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return _new_key(d, path, replace=False) if create else None
    except OSError:
        return _new_key(d, path, replace=True) if create else None
    try:
        st = os.fstat(fd)
        data = os.read(fd, KEY_SIZE + 1) if _private(st) else b""
    except OSError:
        data = b""
    finally:
        os.close(fd)
    if len(data) == KEY_SIZE:
        return data
    return _new_key(d, path, replace=True) if create else None


def _private(st: os.stat_result) -> bool:
    """A regular file of KEY_SIZE bytes, owned by this user, that only this user may access."""
    if (st.st_mode & 0o170000) != 0o100000 or st.st_size != KEY_SIZE:   # stat.S_ISREG
        return False
    geteuid = getattr(os, "geteuid", None)      # POSIX: ownership and permission bits
    return geteuid is None or (st.st_uid == geteuid() and (st.st_mode & 0o077) == 0)


def _new_key(d: str, path: str, replace: bool) -> Optional[bytes]:
    """A new key, written whole under a temporary name and then moved into place, so no process
    ever reads half a key. A missing key is linked into place: when another process made one
    first, that one is used."""
    data = os.urandom(KEY_SIZE)
    tmp = os.path.join(d, f".tmp-key-{os.getpid()}-{data[:4].hex()}")
    try:
        os.makedirs(d, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return _private_key(d, create=False)
    except OSError:
        return None
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    return data


def _name(file: str) -> str:
    """The name a cache file is sealed with: its kind and key."""
    return os.path.basename(file)[:-len(SUFFIX)]


def _seal(key_bytes: bytes, payload: bytes) -> bytes:
    return blake2b(payload, key=key_bytes, digest_size=MAC_SIZE).digest()


# ---------------------------------------------------------------- files

def _load(kind: str, source: str, path: Optional[str]) -> Optional[tuple[dict[str, Blob], str]]:
    """The blobs and entry id cached for `source` when its file is sealed with this user's key
    (then its code passed the verifier when it was written); None when there are none."""
    file = _file(kind, source)
    if file is None:
        return None
    secret = _private_key(os.path.dirname(file), create=False)
    if secret is None:
        return None
    try:
        with open(file, "rb") as f:
            data = f.read()
    except OSError:
        return None
    mac, payload = data[:MAC_SIZE], data[MAC_SIZE:]
    if len(mac) != MAC_SIZE or _seal(secret, payload) != mac:
        return None
    try:
        magic, version, name, entry, stored = marshal.loads(payload)
    except (ValueError, TypeError, EOFError):
        return None
    if (magic, version, name) != (CACHE_MAGIC, CACHE_VERSION, _name(file)):
        return None          # sealed here, but for other code (a renamed file)
    blobs = {}
    for bid, fields in stored:
        blob = Blob(*fields)
        blob._id = bid       # validated with this id when the file was written
        blob.source = path
        blobs[bid] = blob
    if entry not in blobs:
        return None
    try:
        os.utime(file)       # in use: not old (see _forget_old)
    except OSError:
        pass
    return blobs, entry


def _validated(blobs: dict[str, Blob], context: dict[str, Blob]) -> bool:
    """Whether `blobs` pass what a load from a store checks: each blob decoded strictly from
    its encoding under its id (hash, verifier, canonical form), and the links of all of them
    with `context` (the prelude, for a program)."""
    try:
        for bid, b in blobs.items():
            Blob.from_bytes(b.to_bytes(), expect_id=bid)
        check_program({**context, **blobs})
    except BlobError:
        return False
    return True


def _save(kind: str, source: str, blobs: dict[str, Blob], entry: str,
          context: dict[str, Blob]) -> None:
    """Keep `blobs` for `source`, validated and sealed (not at all when they fail validation:
    the run goes on with its compiled code, as without a cache)."""
    file = _file(kind, source)
    if file is None or entry not in blobs or not _validated(blobs, context):
        return
    d = os.path.dirname(file)
    secret = _private_key(d, create=True)
    if secret is None:
        return
    payload = marshal.dumps([CACHE_MAGIC, CACHE_VERSION, _name(file), entry,
                             [(bid, b.encoding()[2:]) for bid, b in blobs.items()]])
    import tempfile    # only when writing (it imports random, shutil, …)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_seal(secret, payload) + payload)
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
    _save("prelude", source, blobs, entry, {})


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
    _save("program", source, own, program.entry,
          {bid: b for bid, b in program.blobs.items() if bid in prelude})
