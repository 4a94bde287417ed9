"""The built-in methods that do not call back into Shape code, by receiver type.

Array and HashMap methods that take a callback (`map`, `filter`, …) and the terminal operations
of iterators are written in Shape, in the prelude (runtime/prelude.shape); an engine runs them in
its own frames so a snapshot can be taken inside the callback. The parts of those methods that
need no callback (sorting by keys already computed, building the resulting map) are here, and the
prelude calls them as builtins.
"""
from __future__ import annotations

from functools import cmp_to_key
from typing import Any, Callable

from shapelang.runtime.arguments import (argc, check_size, hashmap_arg, int_arg, list_arg,
                                         str_arg)
from shapelang.runtime.display import display, fixed
from shapelang.runtime.errors import ShapeError, type_error, value_error
from shapelang.runtime.numbers import (abs_num, ceil_num, floor_num, round_num, to_int,
                                       to_number)
from shapelang.runtime.iteration import range_len, range_values
from shapelang.runtime.iterators import METHODS as ITERATOR_METHODS
from shapelang.runtime.iterators import READER_METHODS, SOURCES, IteratorValue, iter_method
from shapelang.runtime.operators import add, compare, equals, min_max
from shapelang.runtime.prelude import prelude_method, prelude_receivers
from shapelang.runtime.stdlib.readers import LineReader
from shapelang.runtime.types import type_of
from shapelang.runtime.values import Err, HashMapValue, Ok, RangeValue, hashmap_key, type_name


# ---------------------------------------------------------------- array methods

def _arr_length(a: list, args: list) -> Any:
    argc("length()", args, 0)
    return len(a)


def _arr_push(a: list, args: list) -> Any:
    argc("push()", args, 1, -1)
    a.extend(args)
    return a


def _arr_pop(a: list, args: list) -> Any:
    argc("pop()", args, 0)
    if a:
        a.pop()
    return a  # as upstream: pop returns the array, not the element


def _arr_reverse(a: list, args: list) -> Any:
    argc("reverse()", args, 0)
    return a[::-1]


def _arr_join(a: list, args: list) -> Any:
    argc("join()", args, 0, 1)
    sep = str_arg("join()", args[0]) if args else ","
    return sep.join([display(x) for x in a])


def _slice_range(n: int, args: list, what: str) -> tuple[int, int]:
    s = int_arg(what, args[0]) if args else 0
    e = int_arg(what, args[1]) if len(args) > 1 and args[1] is not None else n
    if s < 0:
        s = max(0, s + n)
    if e < 0:
        e = max(0, e + n)
    s = min(s, n)
    e = min(e, n)
    return s, max(s, e)


def _arr_slice(a: list, args: list) -> Any:
    argc("slice()", args, 0, 2)
    s, e = _slice_range(len(a), args, "slice()")
    return a[s:e]


def _arr_concat(a: list, args: list) -> Any:
    # As JavaScript: array arguments are spread, anything else is appended as one element.
    out = list(a)
    for x in args:
        if type(x) is list:
            out.extend(x)
        else:
            out.append(x)
    return out


def _arr_first(a: list, args: list) -> Any:
    argc("first()", args, 0)
    return a[0] if a else None


def _arr_last(a: list, args: list) -> Any:
    argc("last()", args, 0)
    return a[-1] if a else None


def _arr_index_of(a: list, args: list) -> Any:
    argc("indexOf()", args, 1)
    x = args[0]
    for i, y in enumerate(a):
        if equals(y, x):
            return i
    return -1


def _arr_includes(a: list, args: list) -> Any:
    argc("includes()", args, 1)
    return _arr_has(a, args[0])


def _arr_flatten(a: list, args: list) -> Any:
    argc("flatten()", args, 0)
    out: list = []
    for x in a:
        if type(x) is list:
            out.extend(x)
        else:
            out.append(x)
    return out


def _distinct(a: list, without: list = ()) -> list:
    """The elements of `a` in order, each kept only the first time (by `==`), leaving out those
    equal to an element of `without`."""
    out: list = []
    for x in a:
        for y in out:
            if equals(x, y):
                break
        else:
            if not _arr_has(without, x):
                out.append(x)
    return out


def _arr_has(a: list, x: Any) -> bool:
    for y in a:
        if equals(y, x):
            return True
    return False


def _arr_unique(a: list, args: list) -> Any:
    argc("unique()", args, 0)
    return _distinct(a)


def _arr_distinct(a: list, args: list) -> Any:
    argc("distinct()", args, 0)
    return _distinct(a)


def _arr_union(a: list, args: list) -> Any:
    argc("union()", args, 1)
    return _distinct(a + list_arg("union()", args[0]))


def _arr_intersect(a: list, args: list) -> Any:
    argc("intersect()", args, 1)
    other = list_arg("intersect()", args[0])
    return [x for x in _distinct(a) if _arr_has(other, x)]


def _arr_except(a: list, args: list) -> Any:
    argc("except()", args, 1)
    return _distinct(a, list_arg("except()", args[0]))


def _arr_sum(a: list, args: list) -> Any:
    argc("sum()", args, 0)
    total: Any = 0
    for x in a:
        t = type(x)
        if t is not int and t is not float:
            raise type_error(f"sum() expects an array of numbers, found {type_name(x)}")
        total = add(total, x)
    return total


def _arr_avg(a: list, args: list) -> Any:
    argc("avg()", args, 0)
    if not a:
        return None
    total = _arr_sum(a, [])
    return total / len(a)


def _arr_min(a: list, args: list) -> Any:
    argc("min()", args, 0)
    return min_max(a, -1)


def _arr_max(a: list, args: list) -> Any:
    argc("max()", args, 0)
    return min_max(a, 1)


def _arr_count(a: list, args: list) -> Any:
    if args:
        raise type_error("count() with a predicate is a callback method; the engine runs it")
    return len(a)


def _arr_zip(a: list, args: list) -> Any:
    argc("zip()", args, 1)
    b = list_arg("zip()", args[0])
    return [[x, y] for x, y in zip(a, b)]


def _arr_take(a: list, args: list) -> Any:
    argc("take()", args, 1)
    n = int_arg("take()", args[0])
    return a[:max(0, n)]


def _skip(a: list, args: list, what: str) -> Any:
    argc(what, args, 1)
    n = int_arg(what, args[0])
    return a[max(0, n):]


def _arr_skip(a: list, args: list) -> Any:
    return _skip(a, args, "skip()")


def _arr_drop(a: list, args: list) -> Any:
    return _skip(a, args, "drop()")


_COMPARE_KEY = cmp_to_key(compare)


def _arr_sort(a: list, args: list) -> Any:
    if args:
        raise type_error("sort() with a comparator is a callback method; the engine runs it")
    return sorted(a, key=_COMPARE_KEY)  # stable


def order_by(a: list, keys: list, direction: Any) -> list:
    """`a.orderBy(f, direction)` once the prelude has computed `keys` (`f` of each element, in
    order): stably sorted by key, keys compared as `sort()` compares; descending when
    `direction` is `true` or the string "desc" in any case."""
    descending = direction is True or (type(direction) is str and direction.lower() == "desc")
    order = sorted(range(len(a)), key=lambda i: _COMPARE_KEY(keys[i]), reverse=descending)
    return [a[i] for i in order]


def _arr_is_empty(a: list, args: list) -> Any:
    argc("isEmpty()", args, 0)
    return not a


_ARRAY_METHODS: dict[str, Callable[[list, list], Any]] = {
    "length": _arr_length, "len": _arr_length, "push": _arr_push, "pop": _arr_pop,
    "reverse": _arr_reverse, "join": _arr_join, "slice": _arr_slice, "concat": _arr_concat,
    "first": _arr_first, "last": _arr_last, "indexOf": _arr_index_of, "includes": _arr_includes,
    "contains": _arr_includes, "flatten": _arr_flatten, "unique": _arr_unique, "sum": _arr_sum,
    "avg": _arr_avg, "min": _arr_min, "max": _arr_max, "count": _arr_count, "zip": _arr_zip,
    "take": _arr_take, "skip": _arr_skip, "sort": _arr_sort, "isEmpty": _arr_is_empty,
    "drop": _arr_drop, "distinct": _arr_distinct, "union": _arr_union,
    "intersect": _arr_intersect, "except": _arr_except,
}


# ---------------------------------------------------------------- string methods

def _str_length(s: str, args: list) -> Any:
    argc("length()", args, 0)
    return len(s)


def _str_upper(s: str, args: list) -> Any:
    argc("toUpperCase()", args, 0)
    return s.upper()


def _str_lower(s: str, args: list) -> Any:
    argc("toLowerCase()", args, 0)
    return s.lower()


def _str_trim(s: str, args: list) -> Any:
    argc("trim()", args, 0)
    return s.strip()


def _str_trim_start(s: str, args: list) -> Any:
    argc("trimStart()", args, 0)
    return s.lstrip()


def _str_trim_end(s: str, args: list) -> Any:
    argc("trimEnd()", args, 0)
    return s.rstrip()


def _str_split(s: str, args: list) -> Any:
    argc("split()", args, 1)
    sep = str_arg("split()", args[0])
    if sep == "":
        return list(s)
    return s.split(sep)


def _str_replace(s: str, args: list) -> Any:
    argc("replace()", args, 2)
    a = str_arg("replace()", args[0])
    b = str_arg("replace()", args[1])
    if a == "":
        check_size(len(s) + (len(s) + 1) * len(b))
    return s.replace(a, b)


def _str_substring(s: str, args: list) -> Any:
    # Indices clamp to [0, length]; a start past the end gives "" (no swapping, unlike JS).
    argc("substring()", args, 1, 2)
    n = len(s)
    start = int_arg("substring()", args[0])
    end = int_arg("substring()", args[1]) if len(args) > 1 and args[1] is not None else n
    start = min(max(start, 0), n)
    end = min(max(end, 0), n)
    if end <= start:
        return ""
    return s[start:end]


def _str_char_at(s: str, args: list) -> Any:
    argc("charAt()", args, 1)
    i = int_arg("charAt()", args[0])
    if 0 <= i < len(s):
        return s[i]
    return ""


def _str_repeat(s: str, args: list) -> Any:
    argc("repeat()", args, 1)
    n = int_arg("repeat()", args[0])
    if n < 0:
        raise value_error(f"repeat() count must be non-negative, got {n}")
    check_size(len(s) * n)
    return s * n


def _str_reverse(s: str, args: list) -> Any:
    argc("reverse()", args, 0)
    return s[::-1]


def _pad(s: str, args: list, what: str) -> str:
    argc(what, args, 1, 2)
    n = int_arg(what, args[0])
    fill = str_arg(what, args[1]) if len(args) > 1 else " "
    missing = n - len(s)
    if missing <= 0 or fill == "":
        return ""
    check_size(n)
    return (fill * (missing // len(fill) + 1))[:missing]


def _str_pad_start(s: str, args: list) -> Any:
    return _pad(s, args, "padStart()") + s


def _str_pad_end(s: str, args: list) -> Any:
    return s + _pad(s, args, "padEnd()")


def _str_starts_with(s: str, args: list) -> Any:
    argc("startsWith()", args, 1)
    return s.startswith(str_arg("startsWith()", args[0]))


def _str_ends_with(s: str, args: list) -> Any:
    argc("endsWith()", args, 1)
    return s.endswith(str_arg("endsWith()", args[0]))


def _str_contains(s: str, args: list) -> Any:
    argc("contains()", args, 1)
    return str_arg("contains()", args[0]) in s


def _str_index_of(s: str, args: list) -> Any:
    argc("indexOf()", args, 1)
    return s.find(str_arg("indexOf()", args[0]))


def _str_to_string(s: str, args: list) -> Any:
    argc("toString()", args, 0)
    return s


def _str_to_int(s: str, args: list) -> Any:
    argc("toInt()", args, 0)
    return to_int(s, "toInt()")


def _str_to_number(s: str, args: list) -> Any:
    argc("toNumber()", args, 0)
    return to_number(s, "toNumber()")


def _str_chars(s: str, args: list) -> Any:
    argc("chars()", args, 0)
    return list(s)


def _str_is_empty(s: str, args: list) -> Any:
    argc("isEmpty()", args, 0)
    return s == ""


def _str_is_digit(s: str, args: list) -> Any:
    argc("isDigit()", args, 0)
    return s != "" and all("0" <= c <= "9" for c in s)


def _str_is_alpha(s: str, args: list) -> Any:
    argc("isAlpha()", args, 0)
    return s != "" and all("a" <= c <= "z" or "A" <= c <= "Z" for c in s)


def _str_code_point_at(s: str, args: list) -> Any:
    argc("codePointAt()", args, 1)
    i = int_arg("codePointAt()", args[0])
    return ord(s[i]) if 0 <= i < len(s) else -1


_STRING_METHODS: dict[str, Callable[[str, list], Any]] = {
    "length": _str_length, "len": _str_length, "toUpperCase": _str_upper,
    "toLowerCase": _str_lower, "trim": _str_trim, "trimStart": _str_trim_start,
    "trimEnd": _str_trim_end, "split": _str_split, "replace": _str_replace,
    "substring": _str_substring, "charAt": _str_char_at, "repeat": _str_repeat,
    "reverse": _str_reverse, "padStart": _str_pad_start, "padEnd": _str_pad_end,
    "startsWith": _str_starts_with, "endsWith": _str_ends_with, "contains": _str_contains,
    "includes": _str_contains, "indexOf": _str_index_of, "toString": _str_to_string,
    "toInt": _str_to_int, "toNumber": _str_to_number, "chars": _str_chars,
    "isEmpty": _str_is_empty, "isDigit": _str_is_digit, "isAlpha": _str_is_alpha,
    "codePointAt": _str_code_point_at,
}


# ---------------------------------------------------------------- number methods

def _num_to_string(x: Any, args: list) -> Any:
    argc("toString()", args, 0)
    return display(x)


def _num_to_fixed(x: Any, args: list) -> Any:
    argc("toFixed()", args, 1)
    return fixed(x, int_arg("toFixed()", args[0]))


def _num_abs(x: Any, args: list) -> Any:
    argc("abs()", args, 0)
    return abs_num(x)


def _num_floor(x: Any, args: list) -> Any:
    argc("floor()", args, 0)
    return floor_num(x)


def _num_ceil(x: Any, args: list) -> Any:
    argc("ceil()", args, 0)
    return ceil_num(x)


def _num_round(x: Any, args: list) -> Any:
    argc("round()", args, 0)
    return round_num(x)


def _num_to_int(x: Any, args: list) -> Any:
    argc("toInt()", args, 0)
    return to_int(x, "toInt()")


def _num_to_number(x: Any, args: list) -> Any:
    argc("toNumber()", args, 0)
    return float(x)


_NUMBER_METHODS: dict[str, Callable[[Any, list], Any]] = {
    "toString": _num_to_string, "toFixed": _num_to_fixed, "abs": _num_abs,
    "floor": _num_floor, "ceil": _num_ceil, "round": _num_round, "toInt": _num_to_int,
    "toNumber": _num_to_number,
}


# ---------------------------------------------------------------- HashMap methods

def _map_set(m: HashMapValue, args: list) -> Any:
    argc("set()", args, 2)
    entries = dict(m.entries)
    entries[hashmap_key(args[0])] = args[1]
    return HashMapValue(entries)


def _map_get(m: HashMapValue, args: list) -> Any:
    argc("get()", args, 1)
    return m.entries.get(hashmap_key(args[0]))


def _map_has(m: HashMapValue, args: list) -> Any:
    argc("has()", args, 1)
    return hashmap_key(args[0]) in m.entries


def _map_delete(m: HashMapValue, args: list) -> Any:
    argc("delete()", args, 1)
    k = hashmap_key(args[0])
    if k not in m.entries:
        return m  # immutable, so sharing is safe
    entries = dict(m.entries)
    del entries[k]
    return HashMapValue(entries)


def _map_keys(m: HashMapValue, args: list) -> Any:
    argc("keys()", args, 0)
    return m.keys_list()


def _map_values(m: HashMapValue, args: list) -> Any:
    argc("values()", args, 0)
    return list(m.entries.values())


def _map_size(m: HashMapValue, args: list) -> Any:
    argc("size()", args, 0)
    return len(m.entries)


def _map_len(m: HashMapValue, args: list) -> Any:
    argc("len()", args, 0)
    return len(m.entries)


def _map_length(m: HashMapValue, args: list) -> Any:
    argc("length()", args, 0)
    return len(m.entries)


def _map_is_empty(m: HashMapValue, args: list) -> Any:
    argc("isEmpty()", args, 0)
    return not m.entries


def _map_entries(m: HashMapValue, args: list) -> Any:
    argc("entries()", args, 0)
    return [[k, v] for k, v in m.items_list()]


def _map_to_array(m: HashMapValue, args: list) -> Any:
    argc("toArray()", args, 0)
    return _map_entries(m, args)


def _map_get_or_default(m: HashMapValue, args: list) -> Any:
    argc("getOrDefault()", args, 2)
    return m.entries.get(hashmap_key(args[0]), args[1])


def _map_merge(m: HashMapValue, args: list) -> Any:
    argc("merge()", args, 1)
    entries = dict(m.entries)
    # dict.update keeps a key the receiver has in its place and appends the new ones.
    entries.update(hashmap_arg("merge()", args[0]).entries)
    return HashMapValue(entries)


def hashmap_of(keys: list, values: list) -> HashMapValue:
    """The map of `keys[i]` to `values[i]`, in order: the result of a HashMap method that the
    prelude runs (`map`, `filter`)."""
    return HashMapValue({hashmap_key(k): v for k, v in zip(keys, values)})


def group_entries(keys: list, values: list, groups: list) -> HashMapValue:
    """`m.groupBy(f)` once the prelude has computed `groups` (`f(key, value)` of each entry, in
    order): each distinct group key maps to the map of the entries that gave it."""
    out: dict = {}
    for k, v, g in zip(keys, values, groups):
        out.setdefault(hashmap_key(g), {})[hashmap_key(k)] = v
    return HashMapValue({g: HashMapValue(members) for g, members in out.items()})


_HASHMAP_METHODS: dict[str, Callable[[HashMapValue, list], Any]] = {
    "set": _map_set, "get": _map_get, "has": _map_has, "delete": _map_delete,
    "keys": _map_keys, "values": _map_values, "size": _map_size, "len": _map_len,
    "length": _map_length, "isEmpty": _map_is_empty, "entries": _map_entries,
    "toArray": _map_to_array, "getOrDefault": _map_get_or_default, "merge": _map_merge,
}


# ---------------------------------------------------------------- Result and range methods

def _res_is_ok(r: Any, args: list) -> Any:
    argc("isOk()", args, 0)
    return type(r) is Ok


def _res_is_err(r: Any, args: list) -> Any:
    argc("isErr()", args, 0)
    return type(r) is Err


def _res_unwrap(r: Any, args: list) -> Any:
    argc("unwrap()", args, 0)
    if type(r) is Ok:
        return r.value
    raise ShapeError("UnwrapError", f"called unwrap() on Err({display(r.value)})")


def _res_unwrap_or(r: Any, args: list) -> Any:
    argc("unwrapOr()", args, 1)
    return r.value if type(r) is Ok else args[0]


_RESULT_METHODS: dict[str, Callable[[Any, list], Any]] = {
    "isOk": _res_is_ok, "isErr": _res_is_err, "unwrap": _res_unwrap, "unwrapOr": _res_unwrap_or,
}


def _range_length(r: RangeValue, args: list) -> Any:
    argc("length()", args, 0)
    return range_len(r)


def _range_contains(r: RangeValue, args: list) -> Any:
    argc("contains()", args, 1)
    x = args[0]
    if type(x) is not int and type(x) is not float:
        return False
    return r.start <= x <= r.end if r.inclusive else r.start <= x < r.end


def _range_to_array(r: RangeValue, args: list) -> Any:
    argc("toArray()", args, 0)
    check_size(range_len(r))
    return list(range_values(r))


_RANGE_METHODS: dict[str, Callable[[RangeValue, list], Any]] = {
    "length": _range_length, "len": _range_length, "contains": _range_contains,
    "includes": _range_contains, "toArray": _range_to_array,
}


_METHOD_TABLES: dict = {
    list: _ARRAY_METHODS, str: _STRING_METHODS, int: _NUMBER_METHODS, float: _NUMBER_METHODS,
    HashMapValue: _HASHMAP_METHODS, Ok: _RESULT_METHODS, Err: _RESULT_METHODS,
    RangeValue: _RANGE_METHODS, IteratorValue: ITERATOR_METHODS,
    LineReader: READER_METHODS,
}
# Every source of an iterator has `iter()` (spec/iterators.md); its adapters are
# ITERATOR_METHODS, its terminal operations the prelude's.
for _source in SOURCES:
    _METHOD_TABLES[_source]["iter"] = iter_method

def builtin_receivers(name: str) -> list:
    """The Python types of the values whose method tables have method `name` (the VM inlines
    such calls for exactly these receivers)."""
    return [t for t, table in _METHOD_TABLES.items() if name in table]


def has_builtin_method(receiver: Any, name: str) -> bool:
    """Whether `receiver` has a built-in method `name` (one `call_method` runs, or a callback
    method the engine runs); a trait's impl cannot replace those (spec/traits.md §3)."""
    table = _METHOD_TABLES.get(type(receiver))
    if table is not None and name in table:
        return True
    if name in ("toString", "type", "to_string"):
        return True
    if getattr(type(receiver), "shape_call_method", None) is not None:
        return True
    return type(receiver) in prelude_receivers(name)


def call_method(receiver: Any, name: str, args: list) -> Any:
    """Every non-callback built-in method; unknown methods are a TypeError."""
    table = _METHOD_TABLES.get(type(receiver))
    if table is not None:
        f = table.get(name)
        if f is not None:
            return f(receiver, args)
    if name == "toString":
        argc("toString()", args, 0)
        return display(receiver)
    # Methods every value has (spec/traits.md §3).
    if name == "type":
        argc("type()", args, 0)
        return type_of(receiver)
    if name == "to_string":
        argc("to_string()", args, 0)
        return display(receiver)
    # Objects of the std modules (modules, line readers) answer their other methods.
    own = getattr(type(receiver), "shape_call_method", None)
    if own is not None:
        return own(receiver, name, args)
    if prelude_method(type(receiver), name, len(args)) is not None:
        raise type_error(f"'{name}' with a callback is run by the engine, not call_method")
    raise type_error(f"Unknown method '{name}' on {type_name(receiver)}")
