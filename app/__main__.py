"""`python -m shapelang` and the `shape` command's entry point (pyproject.toml).

Loading the implementation takes a good part of a short run's start-up, so a Ctrl+C can come
before `shapelang.cli` has its handlers: it ends as a Ctrl+C during the run does, with
`Error: interrupted` and exit code 130, not with Python's traceback of the import.
"""
import sys


def main() -> int:
    try:
        from shapelang.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("Error: interrupted\n")
        return 130
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
