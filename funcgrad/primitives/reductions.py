"""Reductions, arg-reductions and cumulative ops: one table row each.

Like the elementwise primitives, these are strict: the output keeps the
operand's dtype (``reduce_sum`` of int32 is int32), so ``funcgrad.numpy``
converts first where NumPy accumulates in a wider type (``np.sum`` of int32
is int64).  Each row names the NumPy ufunc whose loops define the dtypes the
primitive accepts and whose identity says whether an empty reduction is
defined.

Derivatives (rules at the end): ``reduce_sum`` and ``cumsum`` are linear.
Ties in ``reduce_max``/``reduce_min`` share the derivative evenly (JAX's
convention), and so do ties in ``cummax``/``cummin`` among the elements equal
to the running value so far (where the value is NaN, so is the derivative).
The derivatives of ``reduce_prod`` and ``cumprod`` are exact where the
operand holds zeros: they multiply the other elements instead of dividing
the product.  Boolean and index results have no tangent.

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

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from funcgrad.errors import AxisError, DtypeError, ShapeError
from funcgrad.ir import AbstractArray, Literal, abstractify
from funcgrad.primitives import elementwise as ew
from funcgrad.primitives.elementwise import _loop_out_dtype
from funcgrad.primitives.registry import Primitive, primitive
from funcgrad.primitives.structural import (
    broadcast_in_dim,
    convert_element_type,
    pad,
    reshape,
    transpose,
)
from funcgrad.transforms.tangents import Zero, linear_jvp, tangent_aval


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


# ---------------------------------------------------------------- derivative rules
# reduce_sum and cumsum are linear.  The other rules apply linear operations to
# the tangent (a product with a factor computed from the primals, reduce_sum,
# shifts, the linear recurrence below), so reverse mode can transpose them.


def _bind(name: str, *args):
    return ew.PRIMITIVE_OF_ROW[name].bind(*args)


def _scalar(value, dtype: np.dtype) -> Literal:
    return Literal(np.array(value, dtype)[()], AbstractArray((), np.dtype(dtype)))


def _as(mask, dtype: np.dtype):
    return convert_element_type.bind(mask, new_dtype=dtype)


def _kept(ndim: int, axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(d for d in range(ndim) if d not in axes)


def _expand(y, shape: tuple[int, ...], axes: tuple[int, ...]):
    """``y``, reduced over ``axes``, broadcast back to ``shape``."""
    return broadcast_in_dim.bind(y, shape=shape, broadcast_dimensions=_kept(len(shape), axes))


def _shift(x, axis: int, by: int, fill):
    """``x`` moved ``by`` places along ``axis`` (towards the end if positive), ``fill`` entering."""
    config = tuple((by, -by, 0) if d == axis else (0, 0, 0) for d in range(abstractify(x).ndim))
    return pad.bind(x, _scalar(fill, abstractify(x).dtype), padding_config=config)


def linear_recurrence(a: Any, b: Any, axis: int, reverse: bool = False) -> Any:
    """``h[i] = a[i] * h[i-1] + b[i]`` along ``axis`` (from the end if
    ``reverse``), with ``h`` zero before the start; linear in ``b``.

    Recursive doubling (Hillis-Steele): after a step of offset ``d`` each
    ``b[i]`` holds the recurrence over the window ``(i - 2d, i]`` and ``a[i]``
    the product of ``a`` over it, so ``ceil(log2 n)`` steps of shifts, products
    and sums suffice.  Exact when ``a`` holds zeros (no division).

    Example:
        >>> linear_recurrence(np.array([5.0, 2.0, 0.0, 3.0]), np.ones(4), axis=0)
        array([1., 3., 1., 4.])
    """
    n, sign, d = abstractify(a).shape[axis], -1 if reverse else 1, 1
    while d < n:
        b = _bind("add", b, _bind("mul", a, _shift(b, axis, sign * d, 0)))
        if 2 * d < n:
            a = _bind("mul", a, _shift(a, axis, sign * d, 1))
        d *= 2
    return b


def _reduce_sum_transpose(ct, x, *, axes):
    return [_expand(ct, x.aval.shape, axes)]


def _reduce_chosen_jvp(primitive: Primitive):
    """reduce_max/min: the tangent of the chosen element; ties share it evenly (as JAX)."""

    def jvp(primals, tangents, *, axes):
        (x,), (t,) = primals, tangents
        ans = primitive.bind(x, axes=axes)
        dtype = abstractify(x).dtype
        chosen = _as(_bind("eq", x, _expand(ans, abstractify(x).shape, axes)), dtype)
        count = reduce_sum.bind(chosen, axes=axes)
        return ans, _bind("div", reduce_sum.bind(_bind("mul", t, chosen), axes=axes), count)

    return jvp


def _product_of_others(x, axes: tuple[int, ...]):
    """For each element of ``x``, the product of the other elements of its
    reduction over ``axes``: the products before and after it along the
    flattened axes, so no division (exact with zeros)."""
    shape = abstractify(x).shape
    order = _kept(len(shape), axes) + axes
    moved = tuple(shape[d] for d in order)
    last = len(order) - len(axes)
    rows = reshape.bind(transpose.bind(x, permutation=order),
                        new_sizes=moved[:last] + (math.prod(moved[last:]),))
    before = cumprod.bind(_shift(rows, last, 1, 1), axis=last, reverse=False)
    after = cumprod.bind(_shift(rows, last, -1, 1), axis=last, reverse=True)
    others = reshape.bind(_bind("mul", before, after), new_sizes=moved)
    return transpose.bind(others, permutation=tuple(sorted(range(len(order)), key=order.__getitem__)))


def _reduce_prod_jvp(primals, tangents, *, axes):
    (x,), (t,) = primals, tangents
    ans = reduce_prod.bind(x, axes=axes)
    return ans, reduce_sum.bind(_bind("mul", t, _product_of_others(x, axes)), axes=axes)


def _cumsum_transpose(ct, x, *, axis, reverse):
    return [cumsum.bind(ct, axis=axis, reverse=not reverse)]


def _cumprod_jvp(primals, tangents, *, axis, reverse):
    # y[i] = y[i-1] x[i], so dy[i] = x[i] dy[i-1] + y[i-1] dx[i].
    (x,), (t,) = primals, tangents
    ans = cumprod.bind(x, axis=axis, reverse=reverse)
    before = _shift(ans, axis, -1 if reverse else 1, 1)
    return ans, linear_recurrence(x, _bind("mul", t, before), axis, reverse)


def _cum_chosen_jvp(primitive: Primitive):
    """cummax/cummin: the running value's tangent is the mean tangent of the
    elements equal to it so far (ties share evenly, as reduce_max).  Those
    lie in the current run of equal running values, so a recurrence that
    restarts (``a = 0``) where the running value changes sums them."""

    def jvp(primals, tangents, *, axis, reverse):
        (x,), (t,) = primals, tangents
        ans = primitive.bind(x, axis=axis, reverse=reverse)
        dtype = abstractify(x).dtype
        chosen = _as(_bind("eq", x, ans), dtype)
        same_run = _as(_bind("eq", ans, _shift(ans, axis, -1 if reverse else 1, 0)), dtype)
        count = linear_recurrence(same_run, chosen, axis, reverse)
        total = linear_recurrence(same_run, _bind("mul", t, chosen), axis, reverse)
        return ans, _bind("div", total, count)

    return jvp


def _zero_jvp(primitive: Primitive):
    """Boolean and integer results (any, all, argmax): no tangent."""

    def jvp(primals, tangents, **params):
        out = primitive.bind(*primals, **params)
        return out, Zero(tangent_aval(abstractify(out)))

    return jvp


for _primitive in (reduce_sum, cumsum):
    _primitive.jvp = linear_jvp(_primitive)
reduce_sum.transpose = _reduce_sum_transpose
cumsum.transpose = _cumsum_transpose
reduce_max.jvp, reduce_min.jvp = _reduce_chosen_jvp(reduce_max), _reduce_chosen_jvp(reduce_min)
reduce_prod.jvp = _reduce_prod_jvp
cumprod.jvp = _cumprod_jvp
cummax.jvp, cummin.jvp = _cum_chosen_jvp(cummax), _cum_chosen_jvp(cummin)
for _primitive in (reduce_and, reduce_or, argmax, argmin):
    _primitive.jvp = _zero_jvp(_primitive)


# ---------------------------------------------------------------- batching rules
# The batch dimension stays where it is: the reduced axes shift past it, and
# the output's batch dimension moves left by the reduced axes before it.


def _past(axis: int, dim: int) -> int:
    """Unbatched ``axis`` of an operand whose batch dimension is ``dim``."""
    return axis + (axis >= dim)


def _reduce_batch(primitive: Primitive):
    def batch(ctx, args, dims, *, axes):
        (x,), (d,) = args, dims
        out = primitive.bind(x, axes=tuple(_past(a, d) for a in axes))
        return out, d - sum(a < d for a in axes)

    return batch


def _cumulative_batch(primitive: Primitive):
    def batch(ctx, args, dims, *, axis, reverse):
        (x,), (d,) = args, dims
        return primitive.bind(x, axis=_past(axis, d), reverse=reverse), d

    return batch


def _argreduce_batch(primitive: Primitive):
    def batch(ctx, args, dims, *, axis, index_dtype):
        (x,), (d,) = args, dims
        return primitive.bind(x, axis=_past(axis, d), index_dtype=index_dtype), d - (axis < d)

    return batch


for _row in REDUCTION_TABLE:
    PRIMITIVE_OF_ROW[_row.name].batch = _reduce_batch(PRIMITIVE_OF_ROW[_row.name])
for _row in CUMULATIVE_TABLE:
    PRIMITIVE_OF_ROW[_row.name].batch = _cumulative_batch(PRIMITIVE_OF_ROW[_row.name])
for _primitive in (argmax, argmin):
    _primitive.batch = _argreduce_batch(_primitive)
