"""The built-in functions (brief §3).

BUILTINS are plain functions of their arguments, including the helpers the prelude and the
compiled code use (`__is_array`, …). The ENGINE_BUILTINS need the running engine (its output,
its frames, its snapshot machinery); each engine implements them, with the shared parts here
(`print_line`, errors.exit_with).
"""
from __future__ import annotations

import math
from typing import Any, Callable

from shapelang.runtime.arguments import (MAX_BUILD, argc, check_size, int_arg, list_arg, num_arg,
                                         str_arg)
from shapelang.runtime.display import display
from shapelang.runtime.errors import ShapeError, type_error, value_error
from shapelang.runtime.methods import group_entries, hashmap_of, order_by
from shapelang.runtime.numbers import (abs_num, ceil_num, floor_num, round_num, to_number)
from shapelang.runtime.iteration import range_len
from shapelang.runtime.iterators import open_walk, source_next
from shapelang.runtime.operators import min_max, pow_
from shapelang.runtime.stdlib.remote import BUILTINS as remote_builtins
from shapelang.runtime.values import (BuiltinFunction, Err, HashMapValue, Ok, RangeValue,
                                      StructValue, hashmap_key, type_name)

INF = math.inf
NAN = math.nan


def _b_len(args: list) -> Any:
    argc("len()", args, 1)
    x = args[0]
    t = type(x)
    if t is str or t is list or t is dict:
        return len(x)
    if t is HashMapValue:
        return len(x.entries)
    if t is RangeValue:
        return range_len(x)
    if isinstance(x, StructValue):
        return len(x.fields)
    raise type_error(f"len() expects a string, array, object, HashMap or range, got {type_name(x)}")


def _b_range(args: list) -> Any:
    argc("range()", args, 1, 3)
    if len(args) == 1:
        return RangeValue(0, int_arg("range()", args[0]), False)
    a = int_arg("range()", args[0])
    b = int_arg("range()", args[1])
    if len(args) == 2:
        return RangeValue(a, b, False)
    step = int_arg("range()", args[2])
    if step == 0:
        raise value_error("range() step must not be zero")
    if step == 1:
        return RangeValue(a, b, False)
    r = range(a, b, step)
    try:
        n = len(r)
    except OverflowError:
        n = MAX_BUILD + 1
    check_size(n)
    return list(r)


def _b_abs(args: list) -> Any:
    argc("abs()", args, 1)
    return abs_num(num_arg("abs()", args[0]))


def _min_max_args(what: str, args: list, want: int) -> Any:
    argc(what, args, 1, -1)
    items = args[0] if len(args) == 1 and type(args[0]) is list else args
    for x in items:
        if type(x) is not int and type(x) is not float:
            raise type_error(f"{what} expects numbers, got {type_name(x)}")
    return min_max(items, want)


def _b_min(args: list) -> Any:
    return _min_max_args("min()", args, -1)


def _b_max(args: list) -> Any:
    return _min_max_args("max()", args, 1)


def _math1(name: str, f: Callable[[float], float], domain: Callable[[float], float]) -> BuiltinFunction:
    what = f"{name}()"

    def call(args: list) -> Any:
        argc(what, args, 1)
        x = float(num_arg(what, args[0]))
        try:
            return f(x)
        except (ValueError, OverflowError):
            return domain(x)
    return BuiltinFunction(name, call)


def _sqrt_domain(x: float) -> float:
    return NAN


def _exp_domain(x: float) -> float:
    return INF if x > 0 else (0.0 if x < 0 else NAN)


def _log_domain(x: float) -> float:
    if x == 0:
        return -INF
    return NAN


def _trig_domain(x: float) -> float:
    return NAN


def _b_log(args: list) -> Any:
    # log(x) is base 10 (calculator convention, since `ln` is the natural log); log(x, b) is
    # base b.
    argc("log()", args, 1, 2)
    x = float(num_arg("log()", args[0]))
    if len(args) == 1:
        try:
            return math.log10(x)
        except ValueError:
            return _log_domain(x)
    base = float(num_arg("log()", args[1]))
    try:
        lx = math.log(x)
    except ValueError:
        lx = _log_domain(x)
    try:
        lb = math.log(base)
    except ValueError:
        lb = _log_domain(base)
    if lb == 0:
        return NAN if lx == 0 or lx != lx else math.copysign(INF, lx)
    try:
        return lx / lb
    except ZeroDivisionError:
        return NAN


def _b_pow(args: list) -> Any:
    argc("pow()", args, 2)
    return pow_(num_arg("pow()", args[0]), num_arg("pow()", args[1]))


def _b_floor(args: list) -> Any:
    argc("floor()", args, 1)
    return floor_num(num_arg("floor()", args[0]))


def _b_ceil(args: list) -> Any:
    argc("ceil()", args, 1)
    return ceil_num(num_arg("ceil()", args[0]))


def _b_round(args: list) -> Any:
    argc("round()", args, 1)
    return round_num(num_arg("round()", args[0]))


def _b_to_string(args: list) -> Any:
    argc("to_string()", args, 1)
    return display(args[0])


def _b_to_number(args: list) -> Any:
    argc("to_number()", args, 1)
    return to_number(args[0], "to_number()")


def _b_is_number(args: list) -> Any:
    argc("is_number()", args, 1)
    t = type(args[0])
    return t is int or t is float


def _b_some(args: list) -> Any:
    argc("Some()", args, 1)
    return args[0]  # Option is value-or-None: Some(x) is just x


def _b_ok(args: list) -> Any:
    argc("Ok()", args, 1)
    return Ok(args[0])


def _b_err(args: list) -> Any:
    argc("Err()", args, 1)
    return Err(args[0])


def _b_hashmap(args: list) -> Any:
    argc("HashMap()", args, 0)
    return HashMapValue({})


def _b_format(args: list) -> Any:
    # Each `{}` takes the display of the next argument; `{}` left over when the arguments run
    # out stay as they are, and surplus arguments are ignored.
    argc("format()", args, 1, -1)
    template = str_arg("format()", args[0])
    parts = template.split("{}")
    out = [parts[0]]
    rest = args[1:]
    for i, p in enumerate(parts[1:]):
        out.append(display(rest[i]) if i < len(rest) else "{}")
        out.append(p)
    return "".join(out)


def print_line(args: list) -> str:
    """What `print(a, b, …)` writes."""
    return " ".join([display(a) for a in args]) + "\n"


def one_argument(what: str, args: list) -> Any:
    if not args:
        raise type_error(f"{what}() expects 1 argument, got 0")
    return args[0]


def _b_is_array(args: list) -> Any:
    return type(one_argument("__is_array", args)) is list


def _b_is_numeric(args: list) -> Any:
    t = type(one_argument("__is_number", args))
    return t is int or t is float


def _b_is_object(args: list) -> Any:
    return type(one_argument("__is_object", args)) is dict


def _b_type_error(args: list) -> Any:
    # The prelude's way to raise a TypeError with its own message.
    raise type_error(display(args[0]) if args else "type error")


def _b_value_error(args: list) -> Any:
    # The prelude's way to raise a ValueError with its own message.
    raise value_error(display(args[0]) if args else "value error")


def _b_hashmap_key(args: list) -> Any:
    # The prelude checks a key a callback gave (HashMap groupBy) as soon as it has it.
    argc("__hashmap_key()", args, 1)
    hashmap_key(args[0])
    return args[0]


def _b_hashmap_of(args: list) -> Any:
    argc("__hashmap_of()", args, 2)
    return hashmap_of(list_arg("__hashmap_of()", args[0]), list_arg("__hashmap_of()", args[1]))


def _b_hashmap_group(args: list) -> Any:
    argc("__hashmap_group()", args, 3)
    what = "__hashmap_group()"
    return group_entries(list_arg(what, args[0]), list_arg(what, args[1]),
                         list_arg(what, args[2]))


def _b_order_by(args: list) -> Any:
    argc("__order_by()", args, 3)
    return order_by(list_arg("__order_by()", args[0]), list_arg("__order_by()", args[1]),
                    args[2])


def _b_has_key(args: list) -> Any:
    # Compiled struct defaults test which fields a literal gave (an object's keys).
    argc("__has_key()", args, 2)
    obj = args[0]
    if type(obj) is not dict:
        raise type_error(f"__has_key() expects an object, got {type_name(obj)}")
    return type(args[1]) is str and args[1] in obj


# Run by each engine itself; the resolver knows them as builtins.
ENGINE_BUILTINS = ("print", "exit", "snapshot", "Snapshot", "__arity")


def _run_by_the_engine(args: list) -> Any:  # pragma: no cover - engines intercept the calls
    raise ShapeError("RuntimeError", "this builtin is run by the engine")


# The function values of the engine builtins (what `let p = print` holds); an engine runs their
# calls itself. One object per name, so a snapshot refers to each by its name.
ENGINE_PLACEHOLDERS: dict[str, BuiltinFunction] = {
    name: BuiltinFunction(name, _run_by_the_engine) for name in ENGINE_BUILTINS
    if name != "Snapshot"}

BUILTINS: dict[str, BuiltinFunction] = {
    "len": BuiltinFunction("len", _b_len),
    "range": BuiltinFunction("range", _b_range),
    "abs": BuiltinFunction("abs", _b_abs),
    "min": BuiltinFunction("min", _b_min),
    "max": BuiltinFunction("max", _b_max),
    "sqrt": _math1("sqrt", math.sqrt, _sqrt_domain),
    "pow": BuiltinFunction("pow", _b_pow),
    "floor": BuiltinFunction("floor", _b_floor),
    "ceil": BuiltinFunction("ceil", _b_ceil),
    "round": BuiltinFunction("round", _b_round),
    "exp": _math1("exp", math.exp, _exp_domain),
    "ln": _math1("ln", math.log, _log_domain),
    "log": BuiltinFunction("log", _b_log),
    "sin": _math1("sin", math.sin, _trig_domain),
    "cos": _math1("cos", math.cos, _trig_domain),
    "tan": _math1("tan", math.tan, _trig_domain),
    "to_string": BuiltinFunction("to_string", _b_to_string),
    "to_number": BuiltinFunction("to_number", _b_to_number),
    "is_number": BuiltinFunction("is_number", _b_is_number),
    "Some": BuiltinFunction("Some", _b_some),
    "Ok": BuiltinFunction("Ok", _b_ok),
    "Err": BuiltinFunction("Err", _b_err),
    "HashMap": BuiltinFunction("HashMap", _b_hashmap),
    "format": BuiltinFunction("format", _b_format),
    "__is_array": BuiltinFunction("__is_array", _b_is_array),
    "__is_number": BuiltinFunction("__is_number", _b_is_numeric),
    "__is_object": BuiltinFunction("__is_object", _b_is_object),
    "__type_error": BuiltinFunction("__type_error", _b_type_error),
    "__has_key": BuiltinFunction("__has_key", _b_has_key),
    "__value_error": BuiltinFunction("__value_error", _b_value_error),
    "__hashmap_key": BuiltinFunction("__hashmap_key", _b_hashmap_key),
    "__hashmap_of": BuiltinFunction("__hashmap_of", _b_hashmap_of),
    "__hashmap_group": BuiltinFunction("__hashmap_group", _b_hashmap_group),
    "__order_by": BuiltinFunction("__order_by", _b_order_by),
    # The walks of iterators (runtime/iterators.py) that the prelude's terminals run.
    "__iter_open": BuiltinFunction("__iter_open", open_walk),
    "__iter_source": BuiltinFunction("__iter_source", source_next),
    **remote_builtins,
}


def builtin_names() -> list[str]:
    """Every name the resolver binds as a builtin, for both engines."""
    return sorted(set(BUILTINS) | set(ENGINE_BUILTINS))
