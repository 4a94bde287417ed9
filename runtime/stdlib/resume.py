"""Resuming the I/O of a run: check the files against a snapshot's ledger, then rewind outputs.

Before a resumed run executes anything:

1. every output file must still hold what the snapshot recorded: an appended output at least
   its recorded length, with a first part whose SHA-256 is the recorded one (the run's own later
   appends are what follows); an overwritten output must exist (its content comes back from the
   store). A missing or changed output is a ResumeError naming it: it is never recreated or
   overwritten silently;
2. every input file that is not pinned must still have the fingerprint the run saw, unless the
   user allows changed inputs; pinned inputs are read from the store;
3. only when every check passed are the outputs rewound: appended ones truncated to their
   recorded length, overwritten ones given their recorded content back.

So what the code after the snapshot writes again is written once, and a refused resume touches
no file.
"""
from __future__ import annotations

import os
from typing import Callable, Optional

from shapelang.runtime.errors import ShapeError
from shapelang.runtime.stdlib.context import IOContext, LiveOutput, hash_file, sha256_hex
from shapelang.runtime.stdlib.ledger import Ledger, LedgerError


def resume_error(message: str) -> ShapeError:
    return ShapeError("ResumeError", message, phase="resume")


def load_ledger(data: object, sid: str) -> Ledger:
    try:
        return Ledger.load(data)
    except LedgerError as e:
        raise resume_error(f"Snapshot {sid[:12]} is malformed (I/O ledger: {e})") from None


def restore(ledger: Ledger, fetch_blob: Callable[[str], bytes], *,
            allow_changed_inputs: bool = False, pin_inputs: bool = False,
            environ: Optional[dict] = None, notes: Optional[list] = None) -> IOContext:
    """Check the files against `ledger`, rewind the outputs, and return the I/O context the
    resumed run continues with. `notes` receives one line per input that changed (only with
    `allow_changed_inputs`)."""
    outputs: dict[str, LiveOutput] = {}
    rewinds: list[tuple[str, str, object]] = []
    for path, rec in ledger.outputs.items():
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            raise resume_error(f"Output {path} is missing; it had {rec.size} bytes at the "
                               "snapshot (restore the file to resume)") from None
        except OSError as e:
            raise resume_error(f"Output {path} cannot be checked: {e.strerror or e}") from None
        if rec.kind == "append":
            if size < rec.size:
                raise _changed_output(path, rec.size, size)
            try:
                h, n = hash_file(path, rec.size)
            except OSError as e:
                raise resume_error(f"Output {path} cannot be read: {e.strerror or e}") from None
            if n != rec.size or h.hexdigest() != rec.fingerprint:
                raise _changed_output(path, rec.size, size)
            rewinds.append(("truncate", path, rec.size))
            outputs[path] = LiveOutput("append", rec.size, h)
        else:
            content = _blob(fetch_blob, rec.fingerprint, f"the saved content of output {path}")
            rewinds.append(("write", path, content))
            outputs[path] = LiveOutput("write", rec.size, content=content)
    seen: dict[str, str] = {}
    pinned: dict[str, bytes] = {}
    for path, rec in ledger.inputs.items():
        if rec.pinned:
            pinned[rec.fingerprint] = _blob(fetch_blob, rec.fingerprint, f"pinned input {path}")
            continue
        try:
            h, size = hash_file(path)
            now: Optional[str] = h.hexdigest()
        except OSError:
            now, size = None, 0
        if now != rec.fingerprint:
            what = "is missing" if now is None else "changed since the snapshot"
            if not allow_changed_inputs:
                raise resume_error(
                    f"Input {path} {what}: sha256 {rec.fingerprint} at the snapshot, "
                    f"{now or 'no file'} now (resume with --allow-changed-inputs to continue "
                    "with the file as it is)")
            if notes is not None:
                notes.append(f"Input {path} {what}; continuing with the file as it is "
                             "(--allow-changed-inputs)")
            if now is not None:
                rec.fingerprint, rec.size = now, size
        if now is not None:
            seen[path] = now
    for kind, path, arg in rewinds:
        try:
            if kind == "truncate":
                os.truncate(path, arg)  # type: ignore[arg-type]
            else:
                with open(path, "wb") as f:
                    f.write(arg)  # type: ignore[arg-type]
        except OSError as e:
            raise resume_error(f"Output {path} cannot be rewound: {e.strerror or e}") from None
    ctx = IOContext(ledger=ledger, environ=environ, pin_inputs=pin_inputs,
                    allow_changed_inputs=allow_changed_inputs, fetch_blob=fetch_blob)
    ctx.outputs = outputs
    ctx.seen = seen
    ctx.pinned.update(pinned)
    ctx.handed = set(ledger.blob_ids())
    return ctx


def _changed_output(path: str, recorded: int, size: int) -> ShapeError:
    how = (f"it had {recorded} bytes then and has {size} now" if size < recorded else
           f"its first {recorded} bytes are not the ones the run had written")
    return resume_error(f"Output {path} was changed since the snapshot ({how}); "
                        "restore it to resume")


def _blob(fetch_blob: Callable[[str], bytes], fingerprint: str, what: str) -> bytes:
    try:
        data = fetch_blob(fingerprint)
    except ShapeError as e:
        raise resume_error(f"Cannot resume: {what} is not in the store ({e.message})") from None
    if sha256_hex(data) != fingerprint:
        raise resume_error(f"Cannot resume: {what} is corrupt in the store")
    return data
