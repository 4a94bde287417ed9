"""std::core::remote (spec/remote.md): `@handoff(queue)` and `@remote(queue)`, end to end
through a real PostgreSQL server and real `shape worker` processes.

The conformance area conformance/handoff/ holds the programs: each is run with `shape run
--store postgresql://…`; when it hands off, `shape wait JOB` follows the job chain, and what the
two print together (stdout, then the error and exit code of the last job) must be what the case
expects. Its @remote calls are made by a worker of concurrency 1 that serves every queue, so a
job that calls @remote must not wait on itself.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shapelang import api, cli
from shapelang.conformance.caseformat import load_case

AREA = Path(__file__).resolve().parent.parent / "conformance" / "handoff"
CASES = sorted(p for p in AREA.glob("*.shape") if not p.name.startswith("_"))
QUEUES = ("default", "gpu", "cpu")


def shape(*args: str) -> subprocess.CompletedProcess:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def worker(url: str, *queues: str):
    argv = [sys.executable, "-m", "shapelang", "worker", "--store", url, "--heartbeat", "0.5"]
    for q in queues or QUEUES:
        argv += ["--queue", q]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


HANDED_OFF = re.compile(r"^Handed off to queue (\S+): job (\d+)$", re.M)


def run_chain(url: str, path: Path) -> tuple[str, int, str]:
    """(stdout, exit code, stderr) of `shape run` followed by `shape wait` on its hand-off."""
    r = subprocess.run([sys.executable, "-m", "shapelang", "run", "--store", url, str(path)],
                       capture_output=True, text=True, timeout=120)
    m = HANDED_OFF.search(r.stderr)
    if m is None:
        return r.stdout, r.returncode, r.stderr
    assert r.returncode == 0, r.stderr
    w = subprocess.run([sys.executable, "-m", "shapelang", "wait", m.group(2), "--store", url,
                        "--timeout", "100"], capture_output=True, text=True, timeout=120)
    return r.stdout + w.stdout, w.returncode, w.stderr


@pytest.fixture(scope="module")
def area_store(pg_server):
    url = pg_server.create_database()
    with worker(url):
        yield url


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_handoff_area(area_store, path):
    case = load_case(path, AREA)
    stdout, code, stderr = run_chain(area_store, path)
    assert stdout == case.stdout, stderr
    if case.error is not None:
        assert code == 1
        first = stderr.strip().splitlines()[0]
        assert f"{case.error.kind}: " in first and case.error.message in first, stderr
        if case.error.line is not None:
            assert f":{case.error.line}:{case.error.col}: " in first, first
    else:
        assert code == (case.exit or 0), stderr


def test_the_area_covers_both_annotations():
    names = [p.stem for p in CASES]
    assert len(names) >= 10
    assert any(n.startswith("handoff-") for n in names)
    assert any(n.startswith("remote-") for n in names)


def test_one_worker_of_concurrency_one_finishes_a_job_that_calls_remote(pg_url, tmp_path):
    prog = tmp_path / "calls.shape"
    prog.write_text(AREA.joinpath("remote-inside-a-job.shape").read_text())
    with worker(pg_url, "default", "cpu"):      # the default: concurrency 1
        stdout, code, stderr = run_chain(pg_url, prog)
    assert code == 0, stderr
    assert stdout.splitlines()[-1] == "Ok(49) Ok(2401)"
    jobs = shape("jobs", "--json", "--store", pg_url)
    import json
    rows = json.loads(jobs.stdout)
    # run -> job on default (hands the call on) -> call on cpu -> caller again on default ...
    assert [r["queue"] for r in rows] == ["default", "cpu", "default", "cpu", "default"]
    assert [r["status"] for r in rows] == ["handed-off"] * 4 + ["succeeded"]


def test_a_handoff_prints_the_job_and_exits_0_without_running_the_rest(pg_url, tmp_path):
    prog = tmp_path / "h.shape"
    prog.write_text('use std::core::remote\nprint("here")\nawait @handoff("q9") ()\n'
                    'print("there")\n')
    r = shape("run", "--store", pg_url, str(prog))
    assert r.returncode == 0 and r.stdout == "here\n"
    m = HANDED_OFF.search(r.stderr)
    assert m is not None and m.group(1) == "q9", r.stderr
    rows = shape("jobs", "--json", "--store", pg_url)
    assert '"queued"' in rows.stdout and '"q9"' in rows.stdout
    res = api.run('use std::core::remote\nawait @handoff("q9") ()\nprint("x")\n', store=pg_url)
    assert res.exit_code == 0 and res.stdout == "" and res.handoff_job is not None


@pytest.mark.parametrize("engine", ["ref", "vm", "vm-generic"])
@pytest.mark.parametrize("ann,where", [("await @handoff(\"q\") 1", "handoff"),
                                       ("f(1)", "remote")])
def test_without_a_shared_store_the_hooks_say_so_and_never_hang(engine, ann, where, tmp_path):
    src = (f'use std::core::remote\n@remote("q")\nfn f(x) {{ x }}\nprint("start")\n{ann}\n'
           'print("not reached")\n')
    res = api.run(src, engine="ref" if engine == "ref" else "vm",
                  store=str(tmp_path / "s.db"), timeout=60) if engine != "vm-generic" else None
    if res is None:
        os.environ["SHAPE_VM_GENERIC"] = "1"
        try:
            res = api.run(src, store=str(tmp_path / "s.db"), timeout=60)
        finally:
            del os.environ["SHAPE_VM_GENERIC"]
    assert res.stdout == "start\n"
    assert res.error is not None and res.error.kind == "RuntimeError", res
    assert f"@{where} needs a shared PostgreSQL store" in res.error.message
    assert (res.error.line, res.error.col) == (1, 1)   # the hooks belong to the import
    assert not os.path.exists(tmp_path / "s.db")          # no snapshot was taken


def test_imports_splice_only_what_they_name():
    only = api.run('from std::core::remote use { handoff }\n@remote("q")\nfn f() { 1 }\n')
    assert only.error is not None and only.error.kind == "NameError", only
    bad = api.run('from std::core::remote use { nope }\n')
    assert bad.error is not None and bad.error.kind == "CompileError"
    assert "has no export 'nope'" in bad.error.message
    wrong = api.run('use std::core::remote\n@handoff("q")\nfn f() { 1 }\n')
    assert wrong.error is not None and wrong.error.kind == "CompileError"
    assert "Annotation @handoff cannot be applied to a function" in wrong.error.message


def test_queue_names_are_checked(tmp_path):
    res = api.run('use std::core::remote\n@remote(5)\nfn f() { 1 }\nf()\n',
                  store=str(tmp_path / "s.db"))
    assert res.error is not None and res.error.kind == "TypeError"
    assert "@remote expects a queue name (a non-empty string), got int" in res.error.message


def test_a_hand_resumed_remote_snapshot_has_no_result(pg_url, tmp_path):
    """The hook's snapshot resumed by hand (not by the job chain) says what is missing."""
    prog = tmp_path / "r.shape"
    prog.write_text('use std::core::remote\n@remote("nobody")\nfn f() { 1 }\nprint(f())\n')
    proc = subprocess.Popen([sys.executable, "-m", "shapelang", "run", "--store", pg_url,
                             str(prog)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    import time
    deadline = time.monotonic() + 60
    while True:   # the call waits for a worker of queue `nobody`; its job is queued
        jobs = shape("jobs", "--json", "--store", pg_url)
        if jobs.returncode == 0 and '"nobody"' in jobs.stdout:
            break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    proc.send_signal(__import__("signal").SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "The @remote call goes on as job" in err
    import json
    sid = json.loads(jobs.stdout)[0]["snapshot"]
    r = shape("--resume", sid, "--store", pg_url)
    assert r.returncode == 1
    assert "This @remote call has no result" in r.stderr


# ---------------------------------------------------------------- failures, with real processes

SLOW = 1_500_000


def _expected_acc(n: int = SLOW) -> int:
    acc = 0
    for i in range(n):
        acc = (acc + i * i) % 1000003
    return acc


def _slow_loop(name: str = "acc") -> str:
    return (f"let mut {name} = 0\nfor i in 0..{SLOW} {{ {name} = ({name} + i * i) % 1000003 }}\n")


def _job_running(url: str, job: int) -> bool:
    import json
    rows = json.loads(shape("jobs", "--json", "--store", url).stdout or "[]")
    return any(r["id"] == job and r["status"] == "running" for r in rows)


def _wait_until(pred, timeout: float = 60) -> None:
    import time
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_handed_off_job_survives_a_killed_or_preempted_worker(pg_url, tmp_path, how):
    """SIGKILL: retried once the heartbeat stops; SIGTERM: preempted at a safepoint and
    re-enqueued. Either way `shape wait` gives the output of an uninterrupted run, once."""
    import signal
    prog = tmp_path / "slow.shape"
    prog.write_text('use std::core::remote\nprint("coordinator")\nawait @handoff("slow") ()\n'
                    'print("worker")\n' + _slow_loop() + 'print("done", acc)\n')
    r = shape("run", "--store", pg_url, str(prog))
    job = int(HANDED_OFF.search(r.stderr).group(2))
    with worker(pg_url, "slow") as first:
        _wait_until(lambda: _job_running(pg_url, job))
        import time
        time.sleep(0.3)
        first.send_signal(getattr(signal, how))
        first.wait(60)
    with worker(pg_url, "slow"):
        w = subprocess.run([sys.executable, "-m", "shapelang", "wait", str(job), "--store", pg_url,
                            "--timeout", "100"], capture_output=True, text=True, timeout=120)
    assert w.returncode == 0, w.stderr
    assert r.stdout + w.stdout == f"coordinator\nworker\ndone {_expected_acc()}\n"
    import json
    rows = {j["id"]: j for j in json.loads(shape("jobs", "--json", "--store", pg_url).stdout)}
    if how == "SIGKILL":     # the same job ran again on the second worker
        assert rows[job]["attempts"] == 2 and rows[job]["status"] == "succeeded"
    else:                    # the job was preempted and continued as a new job
        assert rows[job]["status"] == "preempted"
        assert rows[rows[job]["next_job"]]["status"] == "succeeded"


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_remote_call_survives_a_killed_or_preempted_worker(pg_url, tmp_path, how):
    """SIGKILL: the call's job is retried from the same snapshot; SIGTERM: it is preempted and
    continues as a new callee job. The waiting caller gets one outcome either way."""
    import signal
    prog = tmp_path / "call.shape"
    prog.write_text('use std::core::remote\n@remote("slow")\nfn work() {\n' + _slow_loop() +
                    '  acc\n}\nprint("calling")\nprint(work())\n')
    caller = subprocess.Popen([sys.executable, "-m", "shapelang", "run", "--store", pg_url,
                               str(prog)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with worker(pg_url, "slow") as first:
            _wait_until(lambda: _job_running(pg_url, 1))
            import time
            time.sleep(0.3)
            first.send_signal(getattr(signal, how))
            first.wait(60)
        with worker(pg_url, "slow"):
            out, err = caller.communicate(timeout=120)
    finally:
        if caller.poll() is None:
            caller.kill()
    assert caller.returncode == 0, err
    assert out == f"calling\nOk({_expected_acc()})\n"
    import json
    rows = json.loads(shape("jobs", "--json", "--store", pg_url).stdout)
    if how == "SIGKILL":
        assert [(j["attempts"], j["status"]) for j in rows] == [(2, "succeeded")]
    else:
        assert [j["status"] for j in rows] == ["preempted", "succeeded"]


def test_a_call_whose_job_cannot_run_gives_the_caller_an_err(pg_url, tmp_path):
    """A callee job that fails outside the function (here: its snapshot was deleted) still
    sends the caller an outcome, in a job chain as in a waiting process."""
    prog = tmp_path / "gone.shape"
    prog.write_text('use std::core::remote\n@remote("cpu")\nfn f() { 1 }\nprint("x")\n'
                    'await @handoff("default") ()\nprint(f())\n')
    r = shape("run", "--store", pg_url, str(prog))
    job = int(HANDED_OFF.search(r.stderr).group(2))
    with worker(pg_url, "default"):   # runs the caller's job, which hands the call to `cpu`
        _wait_until(lambda: any(j["queue"] == "cpu" for j in json_jobs(pg_url)))
    call = next(j for j in json_jobs(pg_url) if j["queue"] == "cpu")
    assert shape("snapshot", "delete", call["snapshot"], "--store", pg_url).returncode == 0
    with worker(pg_url, "cpu"):
        _wait_until(lambda: json_jobs(pg_url)[-1]["queue"] == "default"
                    and len(json_jobs(pg_url)) == 3)
    rows = json_jobs(pg_url)
    assert rows[1]["status"] == "handed-off" and rows[2]["status"] == "queued"


def json_jobs(url: str) -> list:
    import json
    r = shape("jobs", "--json", "--store", url)
    return json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip().startswith("[") else []
