"""`shape fuzz`: differential and resume-equivalence fuzzing from the command line.

    shape fuzz [--seconds N] [--seed S] [--jobs J] [--check a,b,...]
    shape fuzz --seed S --replay K [--check ...] [--shrink-seconds T]   run program K again
    shape fuzz --seed S --show K                                        print program K

A live progress line (programs/s, checks run, failures) goes to stderr; failures, each with its
minimal program and the command that reproduces it, and the final summary go to stdout. The exit
code is 1 when a check failed, else 0. See fuzz/README.md.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Optional

from shapelang.fuzz import harness as H
from shapelang.report import Progress, report_path_problem


def parse_checks(text: str) -> str:
    if text in ("all", ""):
        return H.CHECK_NAMES
    out = ""
    for part in text.replace(",", " ").split():
        for ch in part.strip():
            if ch not in H.CHECK_NAMES:
                raise argparse.ArgumentTypeError(f"unknown check {ch!r} (expected "
                                                 f"{H.CHECK_NAMES[0]}-{H.CHECK_NAMES[-1]})")
            if ch not in out:
                out += ch
    return "".join(c for c in H.CHECK_NAMES if c in out)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shape fuzz", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="time budget (default 60)")
    p.add_argument("--seed", type=int, default=0, help="campaign seed (default 0)")
    p.add_argument("--jobs", "-j", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--check", type=parse_checks, default=H.CHECK_NAMES,
                   help="checks to run, e.g. a,b,c (default: all; missing engine APIs are skipped)")
    p.add_argument("--programs", type=int, help="stop after this many programs")
    p.add_argument("--start", type=int, default=0, help="first program index (default 0)")
    p.add_argument("--replay", type=int, metavar="K", help="run program K of the seed again")
    p.add_argument("--show", type=int, metavar="K", help="print program K of the seed")
    p.add_argument("--shrink-seconds", type=float, default=120.0,
                   help="time to shrink each new failure (0: no shrinking)")
    p.add_argument("--no-save", action="store_true",
                   help="do not save failures as conformance cases")
    p.add_argument("--save-dir", default=H.REGRESSION_DIR,
                   help=f"where failures are saved as conformance cases (default ./{H.REGRESSION_DIR}; "
                        "in a checkout, conformance/cases/regressions adds them to the corpus)")
    p.add_argument("--ref-vs", choices=("vm", "ref"), default="vm",
                   help="check a against the VM (default) or a second reference run")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="a program whose checks run longer than this is a failure")
    p.add_argument("--errors", action="store_true",
                   help="error-path programs: mistakes in functions, loops, callbacks, methods and "
                        "hooks (a different program k than without it)")
    p.add_argument("--cuts", type=int, default=H.CUT_POINTS,
                   help=f"cuts per program of check b (default {H.CUT_POINTS}); each cut that "
                        "stops the run is one more resumed continuation")
    p.add_argument("--strict", action="store_true",
                   help="count known divergences (harness.KNOWN_DIVERGENCES) as failures")
    p.add_argument("--json", metavar="FILE", help="also write the summary as JSON to FILE")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    return p


def summary_json(s: H.Summary) -> dict:
    return {
        "seed": s.config.seed, "errors": s.config.errors, "jobs": s.config.jobs,
        "checks": s.config.checks,
        "seconds": s.wall, "cpu_seconds": s.cpu, "programs": s.programs,
        "programs_per_second": s.programs / s.wall if s.wall else 0.0,
        "programs_per_cpu_second": s.programs / s.cpu if s.cpu else 0.0,
        "first_failure_seconds": s.first_failure,
        "harness_errors": s.stats.get("harness_errors", 0),
        "harness_error_share": s.harness_error_share(),
        "stats": s.stats, "skipped": s.skipped,
        "failing_programs": sorted([k, sig] for k, sig in s.failing),
        "failures": [{"check": f.check, "reason": f.reason, "program": f.program,
                      "reproduce": f.reproduce(), "saved": f.saved,
                      "source": f.minimal_source or f.source} for f in s.failures],
    }


def cmd_show(args: argparse.Namespace) -> int:
    case, _ = H.make_case(args.seed, args.show, args.errors, args.cuts)
    sys.stdout.write(case.source)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    save_dir = None if args.no_save else args.save_dir
    case, verdicts, failure = H.replay(args.seed, args.replay, args.check, args.ref_vs,
                                       args.shrink_seconds, save_dir, args.strict, args.errors,
                                       args.cuts)
    mode = " (error-path mode)" if args.errors else ""
    print(f"program {args.replay} of seed {args.seed}{mode}:")
    sys.stdout.write(case.source)
    problem = case.harness_error()
    if problem:
        print(f"harness error (the reference run is not what the generator intended): {problem}")
    for v in verdicts:
        extra = f": {v.reason}" if v.reason else ""
        print(f"check {v.check} ({H.CHECK_TITLES[v.check]}): {v.status}{extra}")
        if v.failed:
            print("  " + v.detail.replace("\n", "\n  "))
    if failure is not None:
        print(failure.render())
    return 1 if any(v.failed for v in verdicts) else 0


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    for name, value, low in (("--jobs", args.jobs, 1), ("--seconds", args.seconds, 0),
                             ("--shrink-seconds", args.shrink_seconds, 0),
                             ("--timeout", args.timeout, 0), ("--start", args.start, 0),
                             ("--programs", args.programs, 0), ("--cuts", args.cuts, 1)):
        if value is not None and not value >= low:     # nan too: a campaign of 0 programs
            parser.error(f"{name} must be at least {low}, got {value}")
    if args.json is not None and (problem := report_path_problem(args.json)):
        parser.error(f"--json {args.json}: {problem}")     # before the campaign, not after it
    if args.show is not None:
        return cmd_show(args)
    if args.replay is not None:
        return cmd_replay(args)
    cfg = H.CampaignConfig(seconds=args.seconds, seed=args.seed, jobs=args.jobs, checks=args.check,
                           ref_vs=args.ref_vs, shrink_seconds=args.shrink_seconds,
                           save_dir=None if args.no_save else args.save_dir,
                           program_timeout=args.timeout, max_programs=args.programs,
                           start=args.start, strict=args.strict, errors=args.errors,
                           cuts=args.cuts)
    # The one progress display of the tools (shapelang.report): a live bar on a terminal, a line
    # every 30 s in a log. A campaign is bounded by time, or by --programs.
    progress = Progress(args.programs, "programs", enabled=not args.quiet)
    avail = H.available_checks()
    for c in cfg.checks:
        if avail.get(c) and not (c == "a" and cfg.ref_vs == "ref"):
            print(f"note: check {c} ({H.CHECK_TITLES[c]}) is skipped: {avail[c]}", file=sys.stderr)

    def on_event(kind: str, payload: Any) -> None:
        if kind == "progress":
            progress.advance(payload.programs - progress.done, checks=payload.checks_run,
                             failures=payload.failure_count,
                             harness_errors=payload.stats.get("harness_errors", 0))
        elif kind == "failure":
            print(payload.render(), flush=True)     # above the live bar (rich redirects both)
        elif kind == "note" and not args.quiet:
            print(payload, file=sys.stderr, flush=True)

    try:
        with progress:
            summary = H.campaign(cfg, on_event)
    except KeyboardInterrupt:
        print("shape fuzz: interrupted", file=sys.stderr)
        return 130
    print(summary.render())
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(summary_json(summary), f, indent=2)
    return 1 if summary.failure_count else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
