"""Hypothesis strategies that build well-formed, deterministic, terminating Shape core programs.

Programs are built as ASTs (`shapelang.ref.ast`) and printed with the AST printer, so every
generated program is also a printer round-trip test. The generator tracks, for every variable in
scope, its type and a bound on its size, so that almost every program runs without an error the
generator did not plant on purpose:

- int expressions carry a magnitude bound and are only combined while the bound stays below 2**62,
  so an `int` never silently overflows into a float (overflow is generated on purpose, in `num`
  expressions that are only printed, compared or combined with other numbers);
- every loop is bounded (for over small ranges or arrays that the loop body cannot grow, while and
  loop with a counter incremented first), recursion passes an explicit depth counter, and a cost
  estimate (statement executions, multiplied through loops and calls) caps the whole program;
- strings and arrays assigned back to a variable may reference at most one sequence variable, so
  lengths grow at most linearly with the number of executed statements;
- divisors are non-zero literals or `e % 5 + 6`, except where a division by zero is planted.

Every choice is one Hypothesis draw whose zero value is the simplest alternative, so shrinking
removes features, shortens blocks and simplifies expressions while the program stays well formed.

Modules: `choices` (where decisions come from), `model` (bounds, budgets, literal pools, the
typing model, AST helpers, the builder's state), `expressions`, `statements` (statements and
loops), `annotations` (annotations and async), `program` (program assembly and the entry points).
"""
from shapelang.fuzz.generator.choices import ChoiceSource, RandomChoiceSource
from shapelang.fuzz.generator.program import (GeneratedProgram, ProgramBuilder, features, generate,
                                              programs, to_source)

__all__ = ["ChoiceSource", "GeneratedProgram", "ProgramBuilder", "RandomChoiceSource", "features",
           "generate", "programs", "to_source"]
