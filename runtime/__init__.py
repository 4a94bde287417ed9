"""The language rules both engines share: the value model and every rule applied to values.

The reference evaluator (ref/evaluator.py) and the VM (vm/machine.py, vm/threader.py) decide
*when* a rule runs; what it does, and every error it raises, is written once, here. A VM fast
path may inline a rule's common, successful case (vm/threader.py says which); everything else
calls the function below, and the generic VM (SHAPE_VM_GENERIC=1) calls it every time.

Modules:

    values       the Python class of each Shape type, and type names (`type_name`)
    errors       ShapeError, the closed set of error kinds and phases, common errors
    display      print / f-string / to_string display, string concatenation, format specs
    operators    truthiness, equality, ordering, arithmetic, unary and binary operators
    numbers      the int64 range and number conversions (parse, toInt, toNumber, rounding)
    access       indexing, slicing and properties, reading and assigning
    iteration    ranges, what `for` walks, what a spread gives
    results      postfix `?` and `!!` (Option and Result)
    records      structs and enum variants: construction, their errors
    types        declared types: slot checks and conversions, widths, `as`, type values
    traits       impls at run time: their methods, operator traits, conversions
    calls        method lookup order, arity and call errors, uninitialised variables
    patterns     pattern descriptors and the one definition of matching
    arguments    argument counts, types and size limits of the built-in methods and functions
    methods      the built-in methods that do not call back into Shape
    builtins     the built-in functions; the names the resolver knows as builtins
    iterators    lazy iterators: the value, its adapters, the walks the prelude runs
    prelude      which method calls run the Shape prelude (prelude.shape: array and HashMap
                 methods with callbacks, iterator terminals, the annotation protocol)
    snapshots    the values `snapshot()` returns and the placeholder ids of store-less runs

Each shared rule and its one function:

    rule                                    function
    --------------------------------------  -----------------------------------------------
    display, `string + x`, `{x:.2f}`        display.display, display_concat, format_spec
    truthiness                              operators.truthy
    `==`, ordering, `sort()` order          operators.equals, compare (lt, le, gt, ge)
    arithmetic and unary operators          operators.binary_op (add, sub, …), unary_op
    bitwise operators and shifts            operators.bit_and, bit_or, bit_xor, shl, shr,
                                            bit_not (shift counts: shift_count_out_of_range)
    wrapping an int to 64 (or n) bits       numbers.wrap_int
    `~=`, `~<`, `~>` (`within t`, `t%`)     operators.fuzzy (closeness: operators.close)
    `a[i]`, slices, `a[i] = v`              access.index_get, index_set
    `o.f`, `o.f = v`                        access.get_property, set_property
    `a..b`, `a..=b`                         iteration.make_range
    what `for` (and a comprehension) walks  iteration.for_start, for_item (an iterator or a
                                            line reader: loop_item, PULL, the prelude's
                                            `__iter_for`; without adapters: pull_source)
    `...x` in arrays / calls, in objects    iteration.spread_array, spread_object
    `!!`                                    results.attach_context
    postfix `?`                             results.try_top (top level); is_failure,
                                            unwrap_ok (in a function)
    a value stored where a type is declared types.check_slot (conform: `number` converts,
      (variables, params, returns, fields,    widths wrap; mismatch, does_not_fit)
      payloads)
    `e as T`, `e as T?`                     types.convert, try_convert (cannot_convert…);
                                            traits.conversion (Into/TryInto impls)
    typed pattern `n: T`                    types.is_instance
    `.type()`, type values                  types.type_of (values.TypeValue)
    which traits a type implements          types.implements (Declarations.impls)
    impl methods, trait defaults            traits.impl_method (in calls.method_target)
    `a + b` … `-a` by operator traits       traits.operator_method
    call stack of an error                  errors.call_stack
    `T { … }` checks, defaults              records.build_struct (fields_of)
    `E::V { … }`, `E::V(…)`                 records.build_struct_variant, build_tuple_variant
    errors of paths and type values         records.no_such_variant, unresolved_path,
                                            not_a_type, not_a_struct_variant,
                                            not_a_tuple_variant, constructed_with_braces
    method lookup order                     calls.method_target
    built-in methods, unknown methods       methods.call_method
    methods with callbacks: array, HashMap  prelude.prelude_method (PRELUDE_TABLES: per
    methods, iterator terminals             receiver type; prelude_receivers, prelude_label)
    the maps HashMap map/filter/groupBy     methods.hashmap_of, group_entries
    make (after the prelude's callbacks)
    `orderBy` order (keys already computed) methods.order_by
    `union`, `intersect`, `except`,         methods (their table entries; one `==` rule:
    `distinct`                              _distinct)
    `.iter()`, iterator adapters            iterators.iter_method, adapt (on a line reader:
                                            READER_METHODS, as_iterator)
    an iterator's walk (the prelude's       iterators.walk_of, source_next
    `__iter_pull` runs its adapters)
    wrong number of arguments               calls.arity_error
    calling a non-function                  calls.not_callable; snapshot_arguments
    variable used before initialisation     calls.uninitialised
    `match` and destructuring               patterns.strict_code / strict, loose (the
                                            descriptors: ref/patterns.py describe)
    no arm matched                          patterns.no_arm_matched
    builtins and their names                builtins.BUILTINS, ENGINE_BUILTINS, builtin_names
    `print`, `exit`                         builtins.print_line, errors.exit_with
    `snapshot()` values, placeholder ids    snapshots.snapshot_hash, SNAPSHOT_RESUMED,
                                            placeholder_id
    stack overflow, division by zero        errors.stack_overflow, division_by_zero

tests/test_error_messages.py checks that every error message is written in one module only.
"""
