"""NumPy's sorting and searching, traceable, on the stable ``sort`` primitive.

``argsort`` sorts the array together with an ``iota`` of positions and keeps
the positions; ``lexsort`` sorts by several keys at once.  The sort is always
stable, so ``argsort`` gives NumPy's ``kind="stable"`` answer whatever
``kind`` says (NumPy's default quicksort may order ties differently).

Example:
    >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
    >>> print(fg.make_ir(fnp.argsort)(np.array([3.0, 1.0, 2.0])))
    { lambda a:f64[3] .
      b:i64[3] = iota[dimension=0 dtype=i64 shape=(3,)]
      c:f64[3] d:i64[3] = sort[dimension=0 num_keys=1] a b
      in (d) }
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from funcgrad.numpy._core import (
    FUNCTIONS,
    implements,
    is_tracer,
    normalize_axis,
    reshape,
    result_dtype,
    shape_of,
)
from funcgrad.numpy.reductions import _as_array, sum
from funcgrad.numpy.ufuncs import isnan, less, less_equal, logical_and, logical_not, logical_or
from funcgrad.primitives import sorting, structural

__all__ = ["sort", "argsort", "lexsort", "searchsorted"]

_INTP = np.dtype(np.intp)


def _no_order(name: str, order: Any) -> None:
    if order is not None:
        raise TypeError(f"{name}: order= sorts structured arrays, which traced arrays are not")


def _flattened(a: Any) -> Any:
    return reshape(a, (math.prod(shape_of(a)),))


def _argsort_along(keys: list[Any], dim: int) -> Any:
    """Positions that sort ``keys`` (the first most significant) along ``dim``, stably."""
    positions = structural.iota.bind(dtype=_INTP, shape=tuple(shape_of(keys[0])), dimension=dim)
    return sorting.sort.bind(*keys, positions, dimension=dim, num_keys=len(keys))[-1]


@implements(np.sort)
def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    _no_order("sort", order)
    a = _as_array(a)
    if axis is None:
        a, axis = _flattened(a), 0
    dim = normalize_axis(axis, len(shape_of(a)), "sort")
    return sorting.sort.bind(a, dimension=dim, num_keys=1)[0]


@implements(np.argsort)
def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    _no_order("argsort", order)
    a = _as_array(a)
    if axis is None or not shape_of(a):  # NumPy sorts a 0-d array as a 1-d one
        a, axis = _flattened(a), 0 if axis is None else axis
    return _argsort_along([a], normalize_axis(axis, len(shape_of(a)), "argsort"))


def _rows(keys: Any) -> list[Any]:
    """The keys of ``lexsort``: a sequence, or the rows of an array."""
    if not is_tracer(keys):
        return [_as_array(k) for k in keys]
    shape = shape_of(keys)
    if len(shape) < 2:  # NumPy: a 1-d array is a sequence of 0-d keys
        return [keys] if not shape else [reshape(_row(keys, i), ()) for i in range(shape[0])]
    return [_row(keys, i) for i in range(shape[0])]


def _row(keys: Any, i: int) -> Any:
    shape = shape_of(keys)
    row = structural.slice_.bind(keys, start_indices=(i,) + (0,) * (len(shape) - 1),
                                 limit_indices=(i + 1,) + tuple(shape[1:]),
                                 strides=(1,) * len(shape))
    return reshape(row, shape[1:])


@implements(np.lexsort)
def lexsort(keys, axis=-1):
    rows = _rows(keys)
    if not rows:
        raise TypeError("lexsort: need sequence of keys with len > 0 in lexsort")
    shape = tuple(shape_of(rows[0]))
    if any(tuple(shape_of(r)) != shape for r in rows):
        raise ValueError("lexsort: all keys need to be the same shape, got "
                         + " ".join(str(tuple(shape_of(r))) for r in rows))
    if not shape:
        normalize_axis(axis, 1, "lexsort")
        return reshape(_argsort_along([reshape(r, (1,)) for r in reversed(rows)], 0), ())
    # NumPy's last key is the most significant; the primitive's first is.
    return _argsort_along(list(reversed(rows)), normalize_axis(axis, len(shape), "lexsort"))


@implements(np.searchsorted)
def searchsorted(a, v, side="left", sorter=None):
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: search side must be one of 'left' or 'right' (got {side!r})")
    a = _as_array(a)
    if len(shape_of(a)) != 1:
        raise ValueError(f"searchsorted: a must be 1-d, got shape {tuple(shape_of(a))}")
    if sorter is not None:
        a = FUNCTIONS["take"](a, sorter)
    # Count the entries of ``a`` before each ``v`` in NumPy's order (NaNs last).
    column = reshape(_as_array(v) if isinstance(v, (list, tuple)) else v, tuple(shape_of(v)) + (1,))
    before = (less if side == "left" else less_equal)(a, column)
    if result_dtype(a, v).kind in "fc":
        if side == "left":
            before = logical_or(before, logical_and(isnan(column), logical_not(isnan(a))))
        else:
            before = logical_or(before, isnan(column))
    return sum(before, axis=-1, dtype=_INTP)
