"""Every example in the specification (spec/*.md) is a test, on both engines.

The specification is written with fenced code blocks. A block tagged `shape` that is followed
(after nothing but blank lines) by a block tagged `output` is run on the reference engine and its
stdout must equal the `output` block exactly. A `shape` block followed by an `error` block must end
in that error: the first line of the `error` block is `KIND PHASE`, and every further non-empty
line is text the error message must contain. A `shape` block followed by neither is illustrative:
it is not run, but it must still parse, so the spec never shows code the front end rejects.

Test ids are `<section heading>-<n>`, n counting the examples of one section from 1, so a failure
names the place in the spec to look at.

A fence carries nothing after its language: a word there (```` ```shape later ````) is an error of
the spec, not a silently different block.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

SPEC_DIR = Path(__file__).resolve().parent.parent / "spec"
SPECS = sorted(SPEC_DIR.glob("*.md"))
ENGINES = ("ref", "vm")

_FENCE = re.compile(r"^(`{3,})\s*([A-Za-z0-9_-]*)((?:[ \t]+[A-Za-z0-9_-]+)*)\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


@dataclass
class Block:
    lang: str
    text: str
    line: int        # line of the opening fence, 1-based
    heading: str     # the nearest heading above the block
    follows: bool    # only blank lines separate it from the previous block


@dataclass
class Example:
    id: str
    source: str
    line: int
    expect: Optional[str]        # "output", "error" or None (illustrative)
    expected: str = ""


def _blocks(text: str) -> list[Block]:
    """Fenced blocks in document order. A fence closes only with at least as many backticks as
    opened it, so a spec passage may quote an example inside a longer fence without it running."""
    blocks: list[Block] = []
    lines = text.split("\n")
    heading = "preamble"
    i = 0
    last_end: Optional[int] = None   # index of the closing fence of the previous block
    while i < len(lines):
        line = lines[i]
        m = _FENCE.match(line)
        if m is None:
            h = _HEADING.match(line)
            if h is not None:
                heading = h.group(2)
            i += 1
            continue
        ticks, lang = m.group(1), m.group(2).lower()
        attrs = m.group(3).split()
        if attrs:
            raise AssertionError(f"line {i + 1}: fence attributes {attrs} (a fence names only its "
                                 "language)")
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines):
            close = re.match(r"^(`{3,})\s*$", lines[i])
            if close is not None and len(close.group(1)) >= len(ticks):
                break
            body.append(lines[i])
            i += 1
        else:
            raise AssertionError(f"spec/language.md:{start + 1}: unclosed code fence")
        follows = last_end is not None and all(not ln.strip() for ln in lines[last_end + 1:start])
        if len(ticks) == 3:
            blocks.append(Block(lang, "\n".join(body) + ("\n" if body else ""), start + 1,
                                heading, follows))
        else:
            blocks.append(Block("quoted", "", start + 1, heading, follows))
        last_end = i
        i += 1
    return blocks


def _slug(heading: str) -> str:
    s = re.sub(r"[`*_]", "", heading)
    s = re.sub(r"[^A-Za-z0-9]+", "-", s).strip("-").lower()
    return s or "section"


def collect_examples(text: str) -> list[Example]:
    blocks = _blocks(text)
    examples: list[Example] = []
    counts: dict[str, int] = {}
    for k, b in enumerate(blocks):
        if b.lang != "shape":
            continue
        nxt = blocks[k + 1] if k + 1 < len(blocks) else None
        expect = None
        expected = ""
        if nxt is not None and nxt.follows and nxt.lang in ("output", "error"):
            expect, expected = nxt.lang, nxt.text
        slug = _slug(b.heading)
        counts[slug] = counts.get(slug, 0) + 1
        examples.append(Example(f"{slug}-{counts[slug]}", b.text, b.line, expect, expected))
    return examples


def _spec_examples() -> list[Example]:
    out = []
    for path in SPECS:
        for e in collect_examples(path.read_text(encoding="utf-8")):
            e.id = f"{path.stem}:{e.id}"
            e.file = path.name
            out.append(e)
    return out


EXAMPLES = _spec_examples()
RUN = [e for e in EXAMPLES if e.expect is not None]
ILLUSTRATIVE = [e for e in EXAMPLES if e.expect is None]


def _params(examples: list) -> list:
    return [pytest.param(e, id=e.id) for e in examples]


def _where(e: Example) -> str:
    return f"spec/{getattr(e, 'file', 'language.md')}:{e.line}"


@pytest.fixture(autouse=True)
def _own_directory(tmp_path, monkeypatch) -> None:
    """Each example runs in a fresh empty working directory (spec/io.md's examples write files)."""
    monkeypatch.chdir(tmp_path)


def _run(e: Example, engine: str = "ref") -> dict:
    from shapelang import api
    return api.run(e.source, path=_where(e), engine=engine).to_json()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("example", _params([e for e in RUN if e.expect == "output"]))
def test_output_example(example: Example, engine: str) -> None:
    result = _run(example, engine)
    assert result["error"] is None, f"{_where(example)}: unexpected error {result['error']}"
    assert result["stdout"] == example.expected, f"{_where(example)}: stdout differs"


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("example", _params([e for e in RUN if e.expect == "error"]))
def test_error_example(example: Example, engine: str) -> None:
    lines = [ln.strip() for ln in example.expected.split("\n") if ln.strip()]
    assert lines, f"{_where(example)}: an error block needs 'KIND PHASE' on its first line"
    kind, phase = lines[0].split()
    result = _run(example, engine)
    err = result["error"]
    assert err is not None, f"{_where(example)}: expected {kind} ({phase}), the program " \
                            f"ran to the end printing {result['stdout']!r}"
    assert (err["kind"], err["phase"]) == (kind, phase), \
        f"{_where(example)}: got {err['kind']} ({err['phase']}): {err['message']}"
    for fragment in lines[1:]:
        assert fragment in err["message"], \
            f"{_where(example)}: message {err['message']!r} lacks {fragment!r}"
    assert result["exit_code"] == 1


@pytest.mark.parametrize("example", ILLUSTRATIVE, ids=lambda e: e.id)
def test_illustrative_example_parses(example: Example) -> None:
    from shapelang.ref.parser import parse
    parse(example.source, _where(example))


# ---------------------------------------------------------------- the extractor itself

def test_spec_has_examples() -> None:
    assert len(RUN) >= 100
    ids = [e.id for e in EXAMPLES]
    assert len(ids) == len(set(ids))


def test_extractor_pairs_blocks() -> None:
    doc = "\n".join([
        "# Title", "## Part one",
        "```shape", "print(1)", "```", "", "```output", "1", "```",
        "```shape", "let x = 1", "```", "text between", "```output", "2", "```",
        "### Part two",
        "```shape", "1 / 0", "```", "```error", "ArithmeticError runtime", "```",
        "````markdown", "```shape", "quoted()", "```", "```output", "x", "```", "````",
        "```shape", "print()", "```", "```output", "```",
    ])
    ex = collect_examples(doc)
    assert [(e.id, e.expect) for e in ex] == [
        ("part-one-1", "output"), ("part-one-2", None), ("part-two-1", "error"),
        ("part-two-2", "output")]
    assert ex[0].source == "print(1)\n" and ex[0].expected == "1\n"
    assert ex[2].expected == "ArithmeticError runtime\n"
    assert ex[3].expected == ""


@pytest.mark.parametrize("fence", ["```shape later", "```output pending", "```shape pending"])
def test_extractor_refuses_unknown_fence_attributes(fence: str) -> None:
    with pytest.raises(AssertionError, match="fence attributes"):
        collect_examples("\n".join(["# T", fence, "print(1)", "```"]))
