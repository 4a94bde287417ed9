"""Pattern matching (`match`, and destructuring in `let`, parameters and `for`)."""
from __future__ import annotations

from typing import Any

from shapelang.runtime.display import display
from shapelang.runtime.errors import ShapeError


def no_arm_matched(subject: Any) -> ShapeError:
    return ShapeError("MatchError", f"No match arm matched the value {display(subject)}")
