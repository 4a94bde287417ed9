"""The I/O ledger: what a run has read and written, as its snapshots record it (spec/io.md).

A snapshot of a run that used `std::core::file`, `csv` or `env` (or that was given program
arguments) carries the ledger beside the machine state:

- the run's working directory (the base of every relative path, fixed when the run starts) and
  its arguments;
- every environment variable and system property the run read, with the value it saw;
- every input file, by absolute path: the SHA-256 of the bytes the run read, their size, and
  whether the bytes are pinned in the store (then the fingerprint is also the blob id);
- every output file, by absolute path: how the run wrote it (`append` or `write`), its size at
  the snapshot and the SHA-256 of its content then. The content of a `write` output is stored
  in the store under that fingerprint; an `append` output is rewound by truncation, so only its
  length and the fingerprint of that prefix are kept.

The ledger is plain data (`export` / `load`); `load` checks every field as strictly as the
codec checks the machine state, so a forged ledger is a clean resume error.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Optional

LEDGER_VERSION = 1

_HEX64 = re.compile(r"[0-9a-f]{64}")
OUTPUT_KINDS = ("append", "write")
SYSTEM_KEYS = ("os", "arch")


class LedgerError(ValueError):
    """A ledger in a snapshot that does not have the shape `Ledger.export` writes."""


@dataclass
class InputRecord:
    fingerprint: str
    size: int
    pinned: bool = False


@dataclass
class OutputRecord:
    kind: str            # "append" or "write"
    size: int
    fingerprint: str     # SHA-256 of the whole content at the snapshot


@dataclass
class Ledger:
    cwd: str
    argv: list = field(default_factory=list)
    env: dict = field(default_factory=dict)        # name -> value read, None if it was unset
    env_all: bool = False                          # env.all() was called: `env` is complete
    system: dict = field(default_factory=dict)     # "os" / "arch" -> value read
    pin: bool = False                              # the run pins every input it reads
    inputs: dict = field(default_factory=dict)     # absolute path -> InputRecord
    outputs: dict = field(default_factory=dict)    # absolute path -> OutputRecord

    def blob_ids(self) -> list:
        """The store blobs this ledger refers to: pinned inputs and `write` output contents."""
        ids = {r.fingerprint for r in self.inputs.values() if r.pinned}
        ids.update(r.fingerprint for r in self.outputs.values() if r.kind == "write")
        return sorted(ids)

    def export(self) -> dict:
        """Canonical plain data: keys sorted, so equal ledgers encode to equal bytes."""
        return {
            "v": LEDGER_VERSION,
            "cwd": self.cwd,
            "argv": list(self.argv),
            "env": {k: self.env[k] for k in sorted(self.env)},
            "env_all": self.env_all,
            "system": {k: self.system[k] for k in sorted(self.system)},
            "pin": self.pin,
            "inputs": {p: [r.fingerprint, r.size, r.pinned]
                       for p, r in sorted(self.inputs.items()) if p not in self.outputs},
            "outputs": {p: [r.kind, r.size, r.fingerprint] for p, r in sorted(self.outputs.items())},
        }

    @classmethod
    def load(cls, data: Any) -> "Ledger":
        """The ledger `export` wrote; LedgerError names the first thing that does not fit."""
        if type(data) is not dict:
            raise LedgerError("it is not a table")
        if set(data) != {"v", "cwd", "argv", "env", "env_all", "system", "pin", "inputs",
                         "outputs"}:
            raise LedgerError("its fields are not the ones this version writes")
        if data["v"] != LEDGER_VERSION or type(data["v"]) is not int:
            raise LedgerError("unsupported version")
        cwd = data["cwd"]
        if not _is_abs_path(cwd):
            raise LedgerError("the working directory is not an absolute path")
        argv = data["argv"]
        if type(argv) is not list or not all(type(a) is str for a in argv):
            raise LedgerError("the arguments are not a list of strings")
        env = data["env"]
        if type(env) is not dict or not all(
                type(k) is str and (v is None or type(v) is str) for k, v in env.items()):
            raise LedgerError("the environment is not a table of strings")
        for flag in ("env_all", "pin"):
            if type(data[flag]) is not bool:
                raise LedgerError(f"'{flag}' is not a bool")
        system = data["system"]
        if type(system) is not dict or not all(
                k in SYSTEM_KEYS and type(v) is str for k, v in system.items()):
            raise LedgerError("the system properties are malformed")
        inputs: dict = {}
        if type(data["inputs"]) is not dict:
            raise LedgerError("the inputs are not a table")
        for path, rec in data["inputs"].items():
            if not (_is_abs_path(path) and type(rec) is list and len(rec) == 3
                    and _is_fingerprint(rec[0]) and _is_size(rec[1]) and type(rec[2]) is bool):
                raise LedgerError("an input record is malformed")
            inputs[path] = InputRecord(rec[0], rec[1], rec[2])
        outputs: dict = {}
        if type(data["outputs"]) is not dict:
            raise LedgerError("the outputs are not a table")
        for path, rec in data["outputs"].items():
            if not (_is_abs_path(path) and type(rec) is list and len(rec) == 3
                    and rec[0] in OUTPUT_KINDS and type(rec[0]) is str
                    and _is_size(rec[1]) and _is_fingerprint(rec[2])):
                raise LedgerError("an output record is malformed")
            if path in inputs:
                raise LedgerError("a file is both an input and an output")
            outputs[path] = OutputRecord(rec[0], rec[1], rec[2])
        return cls(cwd, list(argv), dict(env), data["env_all"], dict(system), data["pin"],
                   inputs, outputs)


def _is_abs_path(p: Any) -> bool:
    return type(p) is str and os.path.isabs(p) and "\x00" not in p


def _is_fingerprint(s: Any) -> bool:
    return type(s) is str and _HEX64.fullmatch(s) is not None


def _is_size(n: Any) -> bool:
    return type(n) is int and 0 <= n < 2 ** 63


def short(fingerprint: Optional[str]) -> str:
    """How messages show a fingerprint: enough digits to tell two apart."""
    return "none" if fingerprint is None else fingerprint[:12]
