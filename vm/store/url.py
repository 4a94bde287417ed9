"""Where a store is: a path or URL names one of the store backends, and how a URL is shown.

    PATH, sqlite:///relative/path, sqlite:////absolute/path   the embedded SQLite file
    postgresql://user:password@host:port/db, postgres://…     a shared PostgreSQL database
    postgresql:///db?host=/run/postgresql                      libpq's socket-directory form

A password never leaves this module unmasked: every message, listing and log line shows a store
by `mask_url`, and `scrub` removes it from text that a driver produced.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional

from shapelang.runtime.errors import ShapeError

POSTGRES_SCHEMES = ("postgresql", "postgres")


def default_store_path() -> str:
    """`$SHAPE_STORE`, else `$XDG_DATA_HOME/shape/snapshots.db`, else
    `~/.local/share/shape/snapshots.db` (a path or a URL)."""
    env = os.environ.get("SHAPE_STORE")
    if env:
        return env
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "shape", "snapshots.db")


@dataclass(frozen=True)
class StoreURL:
    kind: str            # "sqlite" or "postgresql"
    target: str          # the file path (sqlite) or the libpq connection URL (postgresql)

    @property
    def shown(self) -> str:
        """How the store is named in output: the path, or the URL with its password masked."""
        return self.target if self.kind == "sqlite" else mask_url(self.target)

    @property
    def secrets(self) -> list[str]:
        """The password(s) in the URL, raw and percent-decoded, for `scrub`."""
        if self.kind != "postgresql":
            return []
        from urllib.parse import parse_qsl, unquote, urlsplit   # only for URLs (start-up)
        parts = urlsplit(self.target)
        found = []
        if parts.password:
            found += [parts.password, unquote(parts.password)]
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key == "password" and value:
                found += [value]
        return [s for s in found if s]


def parse_store_url(text: Optional[str]) -> StoreURL:
    """The store that `--store` / `$SHAPE_STORE` name (the default location when None)."""
    raw = default_store_path() if text is None else text
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if scheme in POSTGRES_SCHEMES:
        return StoreURL("postgresql", raw)
    if scheme == "sqlite":
        path = raw[len("sqlite://"):]
        if not path.startswith("/") or path == "/":
            raise ShapeError("StoreError", f"A SQLite store URL is sqlite:///PATH, got {raw}",
                             phase="resume")
        # sqlite:///x.db is the relative path x.db; sqlite:////tmp/x.db the absolute /tmp/x.db.
        return StoreURL("sqlite", path[1:])
    if scheme:
        raise ShapeError("StoreError", f"Unknown store URL scheme '{scheme}://' in "
                         f"{mask_url(raw)} (expected a path, sqlite:/// or postgresql://)",
                         phase="resume")
    return StoreURL("sqlite", raw)


_PASSWORD_PARAM = re.compile(r"(?i)(password=)[^&\s]*")


def mask_url(url: str) -> str:
    """`url` with its password (in the authority or a `password=` parameter) replaced by ***."""
    from urllib.parse import urlsplit   # only for URLs: a path-only run never loads it
    masked = url
    try:
        netloc = urlsplit(url).netloc
    except ValueError:  # not even a URL: mask anything that looks like a password
        masked = re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)
    else:
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            if ":" in userinfo:
                masked = url.replace(f"//{netloc}", f"//{userinfo.split(':', 1)[0]}:***@{host}", 1)
    return _PASSWORD_PARAM.sub(r"\1***", masked)


def scrub(text: str, store: StoreURL) -> str:
    """`text` (an error from a driver) with the store's password and raw URL masked."""
    if store.kind != "postgresql":
        return text
    text = text.replace(store.target, store.shown)
    for secret in sorted(store.secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
