"""Shape core: a reference evaluator and a resumable bytecode VM.

    import shapelang
    result = shapelang.run('print("hello")')

The API (`run`, `resume`, `Store`, `Result`, …) lives in `shapelang.api` and is imported on
first use, so `import shapelang` (and the `shape` command's start-up) stays cheap.
"""
__version__ = "0.1.0"

_API = ("run", "resume", "Store", "Result", "Error", "Frame", "Control", "Session", "ENGINES")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from shapelang import api
        return getattr(api, name)
    raise AttributeError(f"module 'shapelang' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
