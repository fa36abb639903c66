"""Reductions, arg-reductions and cumulative ops: one table row each.

Like the elementwise primitives, these are strict: the output keeps the
operand's dtype (``reduce_sum`` of int32 is int32), so ``funcgrad.numpy``
converts first where NumPy accumulates in a wider type (``np.sum`` of int32
is int64).  Each row names the NumPy ufunc whose loops define the dtypes the
primitive accepts and whose identity says whether an empty reduction is
defined.

Example:
    >>> x = np.arange(6, dtype=np.int32).reshape(2, 3)
    >>> reduce_sum.impl(np, x, axes=(1,))
    array([ 3, 12], dtype=int32)
    >>> cumsum.impl(np, x, axis=1, reverse=True)
    array([[ 3,  3,  2],
           [12,  9,  5]], dtype=int32)
    >>> argmax.abstract_eval(AbstractArray((2, 3), np.dtype(np.float32)), axis=0,
    ...                      index_dtype=np.dtype(np.int64))
    i64[3]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from funcgrad.errors import AxisError, DtypeError, ShapeError
from funcgrad.ir import AbstractArray
from funcgrad.primitives.elementwise import _loop_out_dtype
from funcgrad.primitives.registry import Primitive, primitive


@dataclass(frozen=True)
class Reduction:
    """A row of the table: primitive name, the ufunc that defines it, and its
    eager reduction ``(xp, x, axis) -> array`` that keeps ``x``'s dtype."""

    name: str
    ufunc: np.ufunc
    reduce: Callable


REDUCTION_TABLE = [
    Reduction("reduce_sum", np.add, lambda xp, x, axis: xp.sum(x, axis=axis, dtype=x.dtype)),
    Reduction("reduce_prod", np.multiply, lambda xp, x, axis: xp.prod(x, axis=axis, dtype=x.dtype)),
    Reduction("reduce_max", np.maximum, lambda xp, x, axis: xp.max(x, axis=axis)),
    Reduction("reduce_min", np.minimum, lambda xp, x, axis: xp.min(x, axis=axis)),
    Reduction("reduce_and", np.logical_and, lambda xp, x, axis: xp.all(x, axis=axis)),
    Reduction("reduce_or", np.logical_or, lambda xp, x, axis: xp.any(x, axis=axis)),
]

# Cumulative ops: same rows, the eager scan ``(xp, x, axis) -> array`` instead.
CUMULATIVE_TABLE = [
    Reduction("cumsum", np.add, lambda xp, x, axis: xp.cumsum(x, axis=axis, dtype=x.dtype)),
    Reduction("cumprod", np.multiply, lambda xp, x, axis: xp.cumprod(x, axis=axis, dtype=x.dtype)),
    Reduction("cummax", np.maximum, lambda xp, x, axis: xp.maximum.accumulate(x, axis=axis)),
    Reduction("cummin", np.minimum, lambda xp, x, axis: xp.minimum.accumulate(x, axis=axis)),
]


def _check_dtype(row: Reduction, x: AbstractArray) -> None:
    """The ufunc must have a loop from ``x``'s dtype to itself (no casting)."""
    if _loop_out_dtype(row.ufunc, x.dtype) != x.dtype:
        raise DtypeError(f"{row.name}: not defined for {x.dtype.name} operands",
                         "use funcgrad.numpy functions, which convert as NumPy does")


def _check_axis(name: str, x: AbstractArray, axis: int) -> None:
    if not 0 <= axis < x.ndim:
        raise AxisError(f"{name}: axis {axis} is out of bounds for {x!r}")


def _reduce_aval(row: Reduction):
    def abstract_eval(x: AbstractArray, *, axes: tuple[int, ...]) -> AbstractArray:
        if list(axes) != sorted(set(axes)):
            raise AxisError(f"{row.name}: axes {axes} must be sorted and distinct")
        for axis in axes:
            _check_axis(row.name, x, axis)
        _check_dtype(row, x)
        if row.ufunc.identity is None and any(x.shape[a] == 0 for a in axes):
            raise ShapeError(f"{row.name}: zero-size array to reduction operation "
                             f"{row.ufunc.__name__} which has no identity (reducing {x!r} "
                             f"over axes {axes})", "pass initial= to set the empty result")
        return AbstractArray(tuple(s for i, s in enumerate(x.shape) if i not in axes), x.dtype)

    return abstract_eval


def _reduce_impl(row: Reduction):
    def impl(xp, x, *, axes):
        return row.reduce(xp, x, axes)

    return impl


def _cumulative_aval(row: Reduction):
    def abstract_eval(x: AbstractArray, *, axis: int, reverse: bool) -> AbstractArray:
        _check_axis(row.name, x, axis)
        _check_dtype(row, x)
        return x.strong()

    return abstract_eval


def _cumulative_impl(row: Reduction):
    def impl(xp, x, *, axis, reverse):
        if not reverse:
            return row.reduce(xp, x, axis)
        return xp.flip(row.reduce(xp, xp.flip(x, axis), axis), axis)

    return impl


PRIMITIVE_OF_ROW: dict[str, Primitive] = {
    **{row.name: Primitive(row.name, _reduce_aval(row), _reduce_impl(row)) for row in REDUCTION_TABLE},
    **{row.name: Primitive(row.name, _cumulative_aval(row), _cumulative_impl(row))
       for row in CUMULATIVE_TABLE},
}
REDUCTION_OF_UFUNC: dict[np.ufunc, Primitive] = {
    row.ufunc: PRIMITIVE_OF_ROW[row.name] for row in REDUCTION_TABLE}
CUMULATIVE_OF_UFUNC: dict[np.ufunc, Primitive] = {
    row.ufunc: PRIMITIVE_OF_ROW[row.name] for row in CUMULATIVE_TABLE}

reduce_sum, reduce_prod, reduce_max, reduce_min, reduce_and, reduce_or = (
    PRIMITIVE_OF_ROW[row.name] for row in REDUCTION_TABLE)
cumsum, cumprod, cummax, cummin = (PRIMITIVE_OF_ROW[row.name] for row in CUMULATIVE_TABLE)


# ---------------------------------------------------------------- arg-reductions


def _argreduce_aval(name: str):
    def abstract_eval(x: AbstractArray, *, axis: int, index_dtype: np.dtype) -> AbstractArray:
        _check_axis(name, x, axis)
        if np.dtype(index_dtype).kind not in "iu":
            raise DtypeError(f"{name}: index_dtype must be an integer dtype, got {index_dtype}")
        if x.shape[axis] == 0:
            raise ShapeError(f"{name}: attempt to get {name} of an empty sequence "
                             f"(axis {axis} of {x!r} has size 0)")
        return AbstractArray(x.shape[:axis] + x.shape[axis + 1:], np.dtype(index_dtype))

    return abstract_eval


@primitive("argmax", _argreduce_aval("argmax"))
def argmax(xp, x, *, axis, index_dtype):
    """Index of the first maximum along ``axis`` (NaN counts as the maximum)."""
    return xp.argmax(x, axis=axis).astype(index_dtype, copy=False)


@primitive("argmin", _argreduce_aval("argmin"))
def argmin(xp, x, *, axis, index_dtype):
    """Index of the first minimum along ``axis`` (NaN counts as the minimum)."""
    return xp.argmin(x, axis=axis).astype(index_dtype, copy=False)
