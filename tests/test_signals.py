"""Signals (issue 14): SIGTERM stops a run as Ctrl+C does (the VM stores an interrupt snapshot,
exit 143; the reference engine says `Error: interrupted`), a signal ignored when `shape` starts
stays ignored on both engines, and a second signal exits at once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from shapelang import api, cli

LOOP = 'let mut i = 0\nprint("start")\nwhile true { i += 1 }\n'


def start(tmp_path, engine: str, ignore: tuple = ()) -> subprocess.Popen:
    prog = tmp_path / "loop.shape"
    prog.write_text(LOOP)

    def child_setup() -> None:
        for sig in ignore:
            signal.signal(sig, signal.SIG_IGN)
    env = dict(os.environ, SHAPE_STORE=str(tmp_path / "store.db"))
    p = subprocess.Popen([sys.executable, "-m", "shapelang", "--engine", engine, str(prog)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         preexec_fn=child_setup)
    assert p.stdout.readline() == "start\n"     # the program runs: the handlers are in place
    return p


def finish(p: subprocess.Popen) -> tuple[int, str]:
    try:
        _, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pytest.fail("the run did not stop")
    return p.returncode, err


def test_sigterm_on_the_vm_stores_a_snapshot_and_exits_143(tmp_path):
    p = start(tmp_path, "vm")
    p.send_signal(signal.SIGTERM)
    code, err = finish(p)
    assert code == 143, err
    lines = err.splitlines()
    assert lines[0].startswith("Snapshot saved: ")
    sid = lines[0].split()[-1]
    assert lines[1] == f"Resume with: shape --resume {sid}"
    with api.Store(str(tmp_path / "store.db")) as store:
        assert store.info(sid).kind == "interrupt"
    # the interrupted run continues (and is stopped again the same way)
    r = api.resume(sid, store=str(tmp_path / "store.db"), snapshot_at=1000)
    assert r.exit_code == 130 and r.interrupt is not None and r.error is None


def test_sigterm_on_the_reference_engine_is_error_interrupted_143(tmp_path):
    p = start(tmp_path, "ref")
    p.send_signal(signal.SIGTERM)
    assert finish(p) == (143, "Error: interrupted\n")


@pytest.mark.parametrize("engine", ["vm", "ref"])
def test_sigint_on_both_engines_exits_130(engine, tmp_path):
    p = start(tmp_path, engine)
    p.send_signal(signal.SIGINT)
    code, err = finish(p)
    assert code == 130
    assert err.startswith("Snapshot saved: " if engine == "vm" else "Error: interrupted"), err


@pytest.mark.parametrize("engine", ["vm", "ref"])
def test_a_signal_ignored_at_start_stays_ignored(engine, tmp_path):
    p = start(tmp_path, engine, ignore=(signal.SIGINT,))
    p.send_signal(signal.SIGINT)
    time.sleep(0.5)
    assert p.poll() is None            # as `nohup` and Python itself: the run goes on
    p.send_signal(signal.SIGTERM)      # not ignored: stops it
    code, err = finish(p)
    assert code == 143, err


def test_a_second_signal_exits_at_once(monkeypatch, capsys):
    exits: list[int] = []
    monkeypatch.setattr(cli.os, "_exit", exits.append)
    control = api.Control()
    stops: list[bool] = []
    control._attach(lambda: stops.append(True))
    handler = cli.Signals(control)
    handler._handler(signal.SIGTERM, None)
    assert stops == [True] and exits == [] and control.exit_code == 143
    handler._handler(signal.SIGINT, None)
    assert exits == [130]
    assert "Interrupted again" in capsys.readouterr().err
