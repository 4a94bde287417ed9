"""The language rules both engines share: the value model and every rule applied to values.

The reference evaluator (ref/evaluator.py) and the VM (vm/machine.py, vm/threader.py) decide
*when* a rule runs; what it does, and every error it raises, is written once, here:

    values       the Python class of each Shape type, and type names (`type_name`)
    errors       ShapeError, the closed set of error kinds and phases, common error values
    display      print / f-string / to_string display, string concatenation, format specs
    operators    truthiness, equality, ordering, arithmetic, unary and binary operators
    numbers      the int64 range and number conversions (parse, toInt, toNumber, rounding)
    access       indexing, slicing and properties, reading and assigning
    iteration    ranges (`a..b`) and what `for` walks
    arguments    argument counts, types and size limits of the built-in methods and functions
    methods      the built-in methods that do not call back into Shape
    builtins     the built-in functions that are plain functions of their arguments
    snapshots    the values `snapshot()` returns and the placeholder ids of store-less runs
    prelude.shape  the array methods that call back into Shape, and the annotation protocol
"""
