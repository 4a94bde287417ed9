"""`shape bench io` (issue 16 item 6): it measures what it says on a small file; the numbers
themselves are the benchmark's business (run it under the suite lock)."""
from __future__ import annotations

import json

from shapelang.bench import io as bench_io


def test_bench_io_measures_every_reading_and_the_fingerprint(capsys):
    code = bench_io.main(["--rows", "3000", "--every", "1000", "--repeat", "1", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert code in (0, 1)           # 1 only when a ratio is over the target
    assert code == (0 if max(r["for_lines_over_python_csv"], r["lines_over_python_csv"],
                             r["read_file_over_python_csv_list"]) <= r["target"] else 1)
    assert r["rows"] == 3000 and r["snapshots"] == 3 and r["target"] == 3.0
    for key in ("python_csv_s", "python_csv_list_s", "for_lines_s", "lines_s", "read_file_s",
                "fingerprint_s",
                "checkpoint_s", "ingest_with_snapshots_s"):
        assert r[key] > 0, key
    assert r["ledger_bytes"] > 100      # the ledger names the input and the appended output


def test_bench_io_table(capsys):
    bench_io.main(["--rows", "500", "--every", "250", "--repeat", "1"])
    out = capsys.readouterr().out
    for text in ("python csv.reader", "file.lines(): for line in reader",
                 "file.lines(): next() loop", "csv.read_file()",
                 "SHA-256 of the input at open", "I/O ledger per snapshot"):
        assert text in out
