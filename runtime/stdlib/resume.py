"""Resuming the I/O of a run: check the files against a snapshot's ledger, then rewind outputs.

Before a resumed run executes anything:

1. every output file must still hold what the snapshot recorded: an appended output at least
   its recorded length, with a first part whose SHA-256 is the recorded one (the run's own later
   appends are what follows); an overwritten output must exist (its content comes back from the
   store). A missing or changed output is a ResumeError naming it: it is never recreated or
   overwritten silently. Files the run changed after the snapshot in ways the snapshot cannot
   undo (a file it first wrote then, an appended output it then overwrote) are put back from
   the output journal: what each held before the first such change (`walk_journal`);
2. every input file that is not pinned must still have the fingerprint the run saw, unless the
   user allows changed inputs; pinned inputs are read from the store;
3. only when every check passed are the outputs rewound: appended ones truncated to their
   recorded length, overwritten ones given their recorded content back.

So what the code after the snapshot writes again is written once, and a refused resume touches
no file.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from shapelang.runtime.errors import ShapeError
from shapelang.runtime.stdlib.context import (IOContext, LiveOutput, hash_file, new_hash,
                                              replace_file, sha256_hex)
from shapelang.runtime.stdlib.ledger import Ledger, LedgerError


def resume_error(message: str) -> ShapeError:
    return ShapeError("ResumeError", message, phase="resume")


def load_ledger(data: object, sid: str) -> Ledger:
    try:
        return Ledger.load(data)
    except LedgerError as e:
        raise resume_error(f"Snapshot {sid[:12]} is malformed (I/O ledger: {e})") from None


Link = tuple[str, int, str, int]   # (base, seq of its record {"next": to}, to, last seq of base)


def links_in(journals: Mapping[str, Sequence]) -> list[Link]:
    """The links of journals kept in memory (base -> records), as a store's `journal_links`
    gives them."""
    return [(base, seq, rec["next"], len(records) - 1)
            for base, records in journals.items()
            for seq, rec in enumerate(records)
            if type(rec) is dict and type(rec.get("next")) is str]


def walk_journal(base: str, journal: Callable[[str], list],
                 links: Callable[[], Iterable[Link]] = lambda: ()) -> list[dict]:
    """The journal records that concern a resume of snapshot `base`, so that the first record
    of a file is what it held at `base`:

    1. its own, then those of the snapshots taken after it by the runs that continued it (each
       journal names the next), in that order;
    2. then what runs that branched off *before* it did after it was taken: a resume of an
       earlier snapshot that ran past `base`'s point again. Such a run journals under that
       earlier snapshot (an ancestor: its journal links to the next one up to `base`), after the
       link, and under the snapshots it took then. So for each ancestor, nearest first: its
       records after its link towards `base`, and what they link on to.

    `links()` gives every link of the store's journals (`links_in`, `journal_links`); it is
    asked once, and only the journals of ancestors with records after their link are read."""
    out: list[dict] = []
    seen = {base}

    def follow(records: Sequence, todo: list) -> None:
        for rec in records:
            if type(rec) is not dict:
                raise resume_error(f"The output journal of snapshot {base[:12]} is malformed")
            nxt = rec.get("next")
            if nxt is not None:
                if type(nxt) is str and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
            else:
                out.append(rec)

    def forward(records: Sequence) -> None:
        todo: list[str] = []
        follow(records, todo)
        while todo:
            follow(journal(todo.pop(0)), todo)

    forward(journal(base))
    up: dict[str, list[tuple[str, int, int]]] = {}
    for parent, seq, child, last in links():
        up.setdefault(child, []).append((parent, seq, last))
    # Ancestors nearest first; of several links from one ancestor the first counts (what came
    # after it happened after the child was taken). All are climbed before any tail is read: a
    # tail that links to an ancestor again (a run that took that snapshot anew) must not bring
    # in what that ancestor's journal holds from before its own link.
    level, order, tails = [base], [], {}
    while level:
        found: dict[str, tuple[int, int]] = {}
        for child in level:
            for parent, seq, last in up.get(child, ()):
                if parent not in seen and parent not in tails and (
                        parent not in found or seq < found[parent][0]):
                    found[parent] = (seq, last)
        tails.update(found)
        level = sorted(found)
        order += level
    seen.update(order)
    for parent in order:
        seq, last = tails[parent]
        if last > seq:
            forward(journal(parent)[seq + 1:])
    return out


Content = tuple[str, int]     # (SHA-256, size) of a file's content


def _journalled(records: list[dict]) -> tuple[dict[str, Optional[Content]], dict[str, list],
                                              dict[str, list]]:
    """From the journal: per file, what it held before the run first changed it ((fingerprint,
    size), or None for no file; the first record of a file wins), every content the run
    overwrote it with, and every content it held before an overwrite (in the journal's order)."""
    before: dict[str, Optional[Content]] = {}
    wrote: dict[str, list] = {}
    held: dict[str, list] = {}
    for rec in records:
        path, size = rec.get("path"), rec.get("size")
        if "wrote" in rec:
            fp = rec["wrote"]
            if not (type(path) is str and type(fp) is str and type(size) is int):
                raise resume_error("The output journal is malformed")
            wrote.setdefault(path, []).append((fp, size))
            continue
        pre = rec.get("pre")
        if not (type(path) is str and os.path.isabs(path)
                and (pre is None or (type(pre) is str and type(size) is int))):
            raise resume_error("The output journal is malformed")
        if path not in before:
            before[path] = None if pre is None else (pre, size)
        if pre is not None:
            held.setdefault(path, []).append((pre, size))
    return before, wrote, held


def _explained(path: str, size: int, contents: list) -> bool:
    """Whether the file holds one of `contents`, or one of them followed by more (the run
    appended after writing it): else someone else changed it."""
    for fp, n in contents:
        if n <= size:
            try:
                h, got = hash_file(path, n)
            except OSError:
                return False
            if got == n and h.hexdigest() == fp:
                return True
    return False


def _head(fetch_blob: Callable[[str], bytes], path: str, contents: list, n: int,
          fingerprint: str) -> Optional[bytes]:
    """The first `n` bytes of the first of `contents` (journalled) that start with the bytes
    whose fingerprint is `fingerprint`, else None."""
    for fp, size in contents:
        if size >= n:
            head = _blob(fetch_blob, fp, f"the journalled content of output {path}")[:n]
            if sha256_hex(head) == fingerprint:
                return head
    return None


def _prefix(path: str, size: int, n: int, fingerprint: str) -> Any:
    """The running SHA-256 of the file's first `n` bytes when their fingerprint is
    `fingerprint` (else None)."""
    if size < n:
        return None
    try:
        h, got = hash_file(path, n)
    except OSError as e:
        raise resume_error(f"Output {path} cannot be read: {e.strerror or e}") from None
    return h if got == n and h.hexdigest() == fingerprint else None


def restore(ledger: Ledger, fetch_blob: Callable[[str], bytes], *,
            allow_changed_inputs: bool = False, pin_inputs: bool = False,
            environ: Optional[dict] = None, notes: Optional[list] = None,
            journal: Sequence[dict] = ()) -> IOContext:
    """Check the files against `ledger` (and the `journal` records `walk_journal` gathered),
    rewind the outputs, and return the I/O context the resumed run continues with. `notes`
    receives one line per input that changed (only with `allow_changed_inputs`)."""
    outputs: dict[str, LiveOutput] = {}
    rewinds: list[tuple[str, str, object]] = []
    before, wrote, held = _journalled(list(journal))
    for path, rec in ledger.outputs.items():
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            raise resume_error(f"Output {path} is missing; it had {rec.size} bytes at the "
                               "snapshot (restore the file to resume)") from None
        except OSError as e:
            raise resume_error(f"Output {path} cannot be checked: {e.strerror or e}") from None
        before.pop(path, None)
        if rec.kind == "append":
            h = _prefix(path, size, rec.size, rec.fingerprint)
            if h is not None:
                # The snapshot's bytes, then the run's later appends (or a resume's rewind,
                # then the appends of that resumed run, however far it got).
                rewinds.append(("truncate", path, rec.size))
                outputs[path] = LiveOutput("append", rec.size, h)
                continue
            # Else only an overwrite after the snapshot explains it: the journal has what the
            # file held before such an overwrite, which starts with the snapshot's bytes (the
            # first overwrite after the snapshot, or, when a run of another branch went past
            # the snapshot's point, the one that followed its appends there).
            ours = held.get(path, [])
            if not ours or not _explained(path, size, ours + wrote.get(path, [])):
                raise _changed_output(path, rec.size, size)
            head = _head(fetch_blob, path, ours, rec.size, rec.fingerprint)
            if head is None:
                raise _changed_output(path, rec.size, size)
            rewinds.append(("write", path, head))
            outputs[path] = LiveOutput("append", rec.size, new_hash(head))
        else:
            if not _explained(path, size, [(rec.fingerprint, rec.size)] + wrote.get(path, [])):
                raise _changed_output(path, rec.size, size)
            content = _blob(fetch_blob, rec.fingerprint, f"the saved content of output {path}")
            rewinds.append(("write", path, content))
            outputs[path] = LiveOutput("write", rec.size, content=content)
    # Files the snapshot did not record as outputs but the run changed after it.
    for path, pre in before.items():
        exists = os.path.lexists(path)
        ours = ([] if pre is None else [pre]) + wrote.get(path, [])
        if exists and ours and not _explained(path, os.stat(path).st_size, ours):
            raise resume_error(f"Output {path} was changed since the snapshot by someone other "
                               "than the run; restore it to resume")
        if pre is None:
            if exists:
                rewinds.append(("remove", path, None))
            continue
        if not exists:
            raise resume_error(f"Output {path} is missing; the run changed it after the "
                               "snapshot and it must be put back (restore the file to resume)")
        rewinds.append(("write", path, _blob(fetch_blob, pre[0],
                                             f"the journalled content of output {path}")))
    seen: dict[str, str] = {}
    pinned: dict[str, bytes] = {}
    for path, rec in ledger.inputs.items():
        if rec.pinned:
            pinned[rec.fingerprint] = _blob(fetch_blob, rec.fingerprint, f"pinned input {path}")
            continue
        if before.get(path) is not None:
            # An input the run overwrote after the snapshot: it is put back as it was then.
            now, size = before[path]  # type: ignore[misc]
        else:
            try:
                h, size = hash_file(path)
                now = h.hexdigest()
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
            elif kind == "remove":
                os.remove(path)
            else:
                replace_file(path, arg)  # type: ignore[arg-type]
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


def resume_context(ledger: Optional[Ledger], fetch_blob: Callable[[str], bytes],
                   journal: Sequence[dict] = (), *, argv: Sequence[str] = (),
                   cwd: Optional[str] = None, **options: Any) -> IOContext:
    """The I/O context of a resumed run: `restore` on the snapshot's ledger, or, for a run that
    had done no I/O when it took the snapshot, on an empty one when the journal says it
    changed files after it (else a fresh context: the snapshot is then exactly that of a
    program without the std modules). Such a run takes `argv` and `cwd` (default: the
    process's directory) from the resuming invocation."""
    if ledger is None:
        if not journal:
            return IOContext(cwd=cwd, argv=list(argv),
                             pin_inputs=options.get("pin_inputs", False),
                             environ=options.get("environ"),
                             allow_changed_inputs=options.get("allow_changed_inputs", False))
        ledger = Ledger(cwd=os.path.abspath(cwd or os.getcwd()), argv=list(argv))
    return restore(ledger, fetch_blob, journal=journal, **options)
