"""How host failures read in the messages of the std modules.

The modules return upstream's messages (`file.read_text() failed: No such file or directory (os
error 2)`), and upstream formats a failure the way Rust's standard library displays it. These
helpers turn the Python exception for the same failure into the same words, so a program that
prints an `Err` prints the same text on every engine and on upstream.
"""
from __future__ import annotations

import errno
import os


def os_error_text(e: BaseException) -> str:
    """Rust's `io::Error` display: the C library's description and the error number."""
    if isinstance(e, OSError) and e.errno is not None:
        return f"{e.strerror or os.strerror(e.errno)} (os error {e.errno})"
    if isinstance(e, ValueError):
        # Python refuses a path with a NUL byte before asking the system.
        return "file name contained an unexpected NUL byte"
    return str(e)


def not_found() -> OSError:
    """The failure of opening the empty path (Python would open the working directory)."""
    return FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))


def utf8_error_text(e: UnicodeDecodeError) -> str:
    """Rust's `Utf8Error` display for the first invalid sequence."""
    if e.reason == "unexpected end of data":
        return f"incomplete utf-8 byte sequence from index {e.start}"
    return f"invalid utf-8 sequence of {e.end - e.start} bytes from index {e.start}"
