"""NumPy's reductions, statistics and cumulative ops, traceable.

Each function follows NumPy's own algorithm (``numpy/_core/_methods.py``,
``numpy/lib/_function_base_impl.py``, ``_nanfunctions_impl.py``) step by step:
the same accumulator dtypes (``np.sum`` of int32 accumulates in int64,
``np.mean`` of float16 in float32), the same order of operations (``np.var``
is mean, deviations, squares, sum, divide by ``n - ddof``), so values match
NumPy's to rounding.  The strict reduction primitives keep their operand's
dtype, so every conversion NumPy does implicitly shows in the IR.

Example:
    >>> import funcgrad as fg, funcgrad.numpy as fnp
    >>> print(fg.make_ir(lambda x: fnp.mean(x, axis=0))(np.ones((2, 3), np.int32)))
    { lambda a:i32[2,3] .
      b:f64[2,3] = convert_element_type[new_dtype=f64 weak_type=False] a
      c:f64[3] = reduce_sum[axes=(0,)] b
      d:f64[3]~ = broadcast_in_dim[broadcast_dimensions=() shape=(3,)] 2.0:f64[]~
      e:f64[3] = div c d
      in (e) }
"""

from __future__ import annotations

import builtins
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from funcgrad.numpy._core import (
    FUNCTIONS,
    _contains_tracer,
    aval_of,
    broadcast_shapes,
    broadcast_to,
    constant,
    convert,
    implements,
    is_tracer,
    normalize_axes,
    normalize_axis,
    operands,
    reshape,
    result_dtype,
    shape_of,
)
from funcgrad.numpy.ufuncs import (
    absolute,
    add,
    divide,
    isnan,
    less_equal,
    logical_not,
    maximum,
    multiply,
    not_equal,
    sqrt,
    square,
    subtract,
)
from funcgrad.primitives import reductions as primitives
from funcgrad.primitives import sorting, structural
from funcgrad.primitives.elementwise import PRIMITIVE_OF_ROW as ELEMENTWISE

__all__ = [
    "sum", "prod", "max", "min", "amax", "amin", "all", "any", "count_nonzero", "ptp",
    "mean", "var", "std", "average",
    "argmax", "argmin",
    "cumsum", "cumprod", "cumulative_sum", "cumulative_prod", "nancumsum", "nancumprod",
    "nansum", "nanprod", "nanmax", "nanmin", "nanmean", "nanvar", "nanstd",
    "median", "quantile", "percentile",
]

_INTP = np.dtype(np.intp)
# The elementwise primitive that combines a reduction's result with ``initial``.
_COMBINE = {np.add: "add", np.multiply: "mul", np.maximum: "max", np.minimum: "min",
            np.logical_and: "and", np.logical_or: "or"}


# ---------------------------------------------------------------- helpers


def _no_out(name: str, out: Any) -> None:
    if out is not None:
        raise TypeError(f"{name}: out= writes in place, which traced arrays cannot do; "
                        "use the returned value instead")


def _as_array(a: Any) -> Any:
    """A tracer, or ``a`` as a NumPy array (lists holding tracers are stacked)."""
    if is_tracer(a):
        return a
    if isinstance(a, (list, tuple)) and _contains_tracer(a):
        return FUNCTIONS["asarray"](a)
    return np.asarray(a)


def _dtype_of(a: Any) -> np.dtype:
    return aval_of(a).dtype


def _is_inexact(dtype: np.dtype) -> bool:
    return dtype.kind in "fc"


@functools.cache
def _accumulator(ufunc: np.ufunc, dtype: np.dtype) -> np.dtype:
    """The dtype ``ufunc.reduce`` accumulates ``dtype`` in (int32 sums in int64)."""
    return ufunc.reduce(np.ones(1, dtype)).dtype


def _ufunc_axes(axis: Any, ndim: int, name: str) -> tuple[int, ...]:
    """Axes for a ufunc reduction; like NumPy's, these accept a scalar axis 0
    or -1 on a 0-d array (reducing nothing)."""
    if ndim == 0 and axis is not None and not isinstance(axis, (tuple, list)):
        normalize_axis(axis, 1, name)
        return ()
    return normalize_axes(axis, ndim, name)


def _keep(result: Any, shape: Sequence[int], axes: Sequence[int], keepdims: bool) -> Any:
    """``result`` with the reduced ``axes`` of ``shape`` put back as size 1."""
    if not keepdims:
        return result
    return reshape(result, tuple(1 if i in axes else s for i, s in enumerate(shape)))


def _reduced_shape(shape: Sequence[int], axes: Sequence[int]) -> tuple[int, ...]:
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def _binary(prim_name: str, x: Any, y: Any, dtype: Any) -> Any:
    """The strict elementwise primitive on ``x`` and ``y`` converted to ``dtype``."""
    return ELEMENTWISE[prim_name].bind(*operands(prim_name, [x, y], dtype))


def _where(cond: Any, x: Any, y: Any, dtype: np.dtype) -> Any:
    """``x`` where ``cond`` else ``y``, both cast to ``dtype`` (``out=`` style)."""
    shape = broadcast_shapes("where", shape_of(cond), shape_of(x), shape_of(y))
    if isinstance(cond, (bool, np.bool_)):
        return broadcast_to(convert(x if cond else y, dtype, weak_type=False), shape)
    return structural.select.bind(broadcast_to(convert(cond, np.bool_), shape),
                                  broadcast_to(convert(x, dtype, weak_type=False), shape),
                                  broadcast_to(convert(y, dtype, weak_type=False), shape))


def _as_bool(a: Any) -> Any:
    return a if _dtype_of(a) == np.bool_ else not_equal(a, 0)


def _transpose(x: Any, permutation: Sequence[int]) -> Any:
    permutation = tuple(permutation)
    if permutation == tuple(range(len(permutation))):
        return x
    return structural.transpose.bind(x, permutation=permutation)


def _slice_front(x: Any, start: int, stop: int) -> Any:
    """``x[start:stop]``."""
    shape = shape_of(x)
    return structural.slice_.bind(x, start_indices=(start,) + (0,) * (len(shape) - 1),
                                 limit_indices=(stop,) + tuple(shape[1:]),
                                 strides=(1,) * len(shape))


def _take_front(x: Any, indices: np.ndarray) -> Any:
    """``x[indices]`` for concrete, non-negative integer ``indices``."""
    rows = [_slice_front(x, i, i + 1) for i in indices.ravel().tolist()]
    taken = rows[0] if len(rows) == 1 else structural.concatenate.bind(*rows, dimension=0)
    return reshape(taken, indices.shape + tuple(shape_of(x)[1:]))


# ---------------------------------------------------------------- ufunc reductions


def _ufunc_reduce(ufunc: np.ufunc, name: str, a: Any, axis: Any, dtype: Any, keepdims: bool,
                  initial: Any, where: Any) -> Any:
    """``ufunc.reduce`` as NumPy does it: accumulate in the reduction's dtype,
    masked entries replaced by the identity (or ``initial``), then ``initial``
    combined into the result."""
    a = _as_array(a)
    if dtype is None:
        dtype = _dtype_of(a)
        if ufunc in (np.add, np.multiply):
            dtype = _accumulator(ufunc, dtype)
    dtype = np.dtype(dtype)
    shape = shape_of(a)
    axes = _ufunc_axes(axis, len(shape), name)
    x = convert(a, dtype, weak_type=False)  # NumPy results are never weak
    if where is not True:
        if initial is None and ufunc.identity is None:
            raise ValueError(f"{name}: reduction operation '{ufunc.__name__}' does not have an "
                             "identity, so to use a where mask one has to specify 'initial'")
        x = _where(where, x, initial if ufunc.identity is None else ufunc.identity, dtype)
    if initial is not None and builtins.any(shape[i] == 0 for i in axes):
        result = broadcast_to(convert(initial, dtype, weak_type=False), _reduced_shape(shape, axes))
    else:
        result = primitives.REDUCTION_OF_UFUNC[ufunc].bind(x, axes=axes) if axes else x
        if initial is not None:
            result = _binary(_COMBINE[ufunc], result, convert(initial, dtype, weak_type=False), dtype)
    return _keep(result, shape, axes, keepdims)


@implements(np.sum)
def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
    _no_out("sum", out)
    return _ufunc_reduce(np.add, "sum", a, axis, dtype, keepdims, initial, where)


@implements(np.prod)
def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
    _no_out("prod", out)
    return _ufunc_reduce(np.multiply, "prod", a, axis, dtype, keepdims, initial, where)


@implements(np.max)
def max(a, axis=None, out=None, keepdims=False, initial=None, where=True):
    _no_out("max", out)
    return _ufunc_reduce(np.maximum, "max", a, axis, None, keepdims, initial, where)


@implements(np.min)
def min(a, axis=None, out=None, keepdims=False, initial=None, where=True):
    _no_out("min", out)
    return _ufunc_reduce(np.minimum, "min", a, axis, None, keepdims, initial, where)


amax = implements(np.amax, name="amax")(max.__wrapped__)  # NumPy's aliases, distinct objects
amin = implements(np.amin, name="amin")(min.__wrapped__)


@implements(np.all)
def all(a, axis=None, out=None, keepdims=False, *, where=True):
    _no_out("all", out)
    return _ufunc_reduce(np.logical_and, "all", _as_bool(_as_array(a)), axis, None, keepdims,
                         None, where)


@implements(np.any)
def any(a, axis=None, out=None, keepdims=False, *, where=True):
    _no_out("any", out)
    return _ufunc_reduce(np.logical_or, "any", _as_bool(_as_array(a)), axis, None, keepdims,
                         None, where)


@implements(np.count_nonzero)
def count_nonzero(a, axis=None, *, keepdims=False):
    return sum(_as_bool(_as_array(a)), axis, _INTP, keepdims=keepdims)


@implements(np.ptp)
def ptp(a, axis=None, out=None, keepdims=False):
    _no_out("ptp", out)
    return subtract(max(a, axis, keepdims=keepdims), min(a, axis, keepdims=keepdims))


# ---------------------------------------------------------------- statistics


def _count(a: Any, axes: tuple[int, ...], keepdims: bool, where: Any) -> Any:
    """How many entries each reduction sees: a Python int, or an intp array
    counting ``where``'s True entries."""
    shape = shape_of(a)
    if where is True:
        return math.prod(shape[i] for i in axes)
    mask = where if is_tracer(where) else np.broadcast_to(np.asarray(where), shape)
    return sum(broadcast_to(mask, shape), axes, _INTP, keepdims=keepdims)


def _divide_by_count(total: Any, count: Any) -> Any:
    """``total / count`` stored back in ``total``'s dtype, as NumPy's
    ``true_divide(total, count, out=total, casting='unsafe')``.  A float total
    is divided in its own dtype, which rounds the same as NumPy's float64
    division followed by the cast (the count is an exact integer)."""
    dtype = _dtype_of(total)
    if _is_inexact(dtype):
        return _binary("div", total, count, dtype)
    return convert(_binary("div", total, count, np.float64), dtype)


def _ddof(ddof: Any, correction: Any) -> Any:
    if correction is None:
        return ddof
    if ddof != 0:
        raise ValueError("ddof and correction can't be provided simultaneously.")
    return correction


@implements(np.mean)
def mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    _no_out("mean", out)
    a = _as_array(a)
    in_dtype = _dtype_of(a)
    axes = normalize_axes(axis, len(shape_of(a)), "mean")
    float16_result = dtype is None and in_dtype == np.float16
    if dtype is None:
        # NumPy's choice: integers average in float64, float16 accumulates in float32.
        dtype = np.float64 if in_dtype.kind in "biu" else np.float32 if float16_result else in_dtype
    total = sum(a, axes, dtype, keepdims=keepdims, where=where)
    result = _divide_by_count(total, _count(a, axes, keepdims, where))
    return convert(result, in_dtype) if float16_result else result


def _squared_deviations(x: Any, center: Any) -> Any:
    deviations = subtract(x, center)
    if _dtype_of(deviations).kind == "c":
        return square(absolute(deviations))
    return square(deviations)


def _var(name: str, a: Any, axis: Any, dtype: Any, ddof: Any, keepdims: bool, where: Any,
         center: Any, correction: Any) -> Any:
    """NumPy's ``_var``: mean, deviations, squares, sum, divide by ``n - ddof``."""
    a = _as_array(a)
    ddof = _ddof(ddof, correction)
    if dtype is None and _dtype_of(a).kind in "biu":
        dtype = np.float64
    axes = normalize_axes(axis, len(shape_of(a)), name)
    if center is None:
        center = _divide_by_count(sum(a, axes, dtype, keepdims=True, where=where),
                                  _count(a, axes, True, where))
    total = sum(_squared_deviations(a, center), axes, dtype, keepdims=keepdims, where=where)
    return _divide_by_count(total, maximum(subtract(_count(a, axes, keepdims, where), ddof), 0))


def _sqrt_keeping_dtype(x: Any) -> Any:
    return convert(sqrt(x), _dtype_of(x))


@implements(np.var)
def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=None,
        correction=None):
    _no_out("var", out)
    return _var("var", a, axis, dtype, ddof, keepdims, where, mean, correction)


@implements(np.std)
def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=None,
        correction=None):
    _no_out("std", out)
    return _sqrt_keeping_dtype(_var("std", a, axis, dtype, ddof, keepdims, where, mean, correction))


def _weights_along(weights: Any, a: Any, axis: tuple[int, ...] | None) -> Any:
    """NumPy's ``_weights_are_valid``: weights along ``axis`` reshaped to broadcast with ``a``."""
    a_shape, w_shape = tuple(shape_of(a)), tuple(shape_of(weights))
    if a_shape == w_shape:
        return weights
    if axis is None:
        raise TypeError("average: Axis must be specified when shapes of a and weights differ.")
    if w_shape != tuple(a_shape[ax] for ax in axis):
        raise ValueError("average: Shape of weights must be consistent with shape of a along "
                         f"specified axis (weights {w_shape}, a {a_shape}, axis {axis}).")
    weights = _transpose(weights, np.argsort(axis).tolist())
    return reshape(weights, tuple(s if ax in axis else 1 for ax, s in enumerate(a_shape)))


@implements(np.average)
def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    a = _as_array(a)
    if axis is not None:
        axes = axis if isinstance(axis, (tuple, list)) else (axis,)
        axis = tuple(normalize_axis(ax, len(shape_of(a)), "average") for ax in axes)
    if weights is None:
        avg = mean(a, axis, keepdims=keepdims)
        avg_size = math.prod(shape_of(avg))
        scale = np.asarray(aval_of(a).size / avg_size, _dtype_of(avg))
    else:
        weights = _weights_along(_as_array(weights), a, axis)
        extra = ("f8",) if _dtype_of(a).kind in "biu" else ()
        dtype = np.result_type(_dtype_of(a), _dtype_of(weights), *extra)
        # NumPy cannot check ``scale == 0`` (a ZeroDivisionError) on traced weights.
        scale = sum(weights, axis, dtype, keepdims=keepdims)
        avg = divide(sum(multiply(a, weights, dtype=dtype), axis, keepdims=keepdims), scale)
    if not returned:
        return avg
    if tuple(shape_of(scale)) != tuple(shape_of(avg)):
        scale = broadcast_to(scale, shape_of(avg))
    return avg, scale


# ---------------------------------------------------------------- arg-reductions


def _argreduce(primitive, name: str, a: Any, axis: Any, out: Any, keepdims: bool) -> Any:
    _no_out(name, out)
    a = _as_array(a)
    shape = tuple(shape_of(a))
    if axis is None:
        x, dim = reshape(a, (math.prod(shape),)), 0
    else:  # like NumPy, a 0-d array counts as 1-d here
        dim = normalize_axis(axis, builtins.max(len(shape), 1), name)
        x = a if shape else reshape(a, (1,))
    result = primitive.bind(x, axis=dim, index_dtype=_INTP)
    if not keepdims:
        return result
    return reshape(result, tuple(1 if axis is None or i == dim else s for i, s in enumerate(shape)))


@implements(np.argmax)
def argmax(a, axis=None, out=None, *, keepdims=False):
    return _argreduce(primitives.argmax, "argmax", a, axis, out, keepdims)


@implements(np.argmin)
def argmin(a, axis=None, out=None, *, keepdims=False):
    return _argreduce(primitives.argmin, "argmin", a, axis, out, keepdims)


# ---------------------------------------------------------------- cumulative


def _accumulate(ufunc: np.ufunc, name: str, a: Any, axis: Any, dtype: Any, *,
                flatten: bool) -> tuple[Any, int]:
    """``ufunc.accumulate`` along ``axis`` in NumPy's accumulator dtype; with
    ``flatten``, ``axis=None`` (or a 0-d array) scans the flattened array."""
    a = _as_array(a)
    shape = tuple(shape_of(a))
    x = convert(a, _accumulator(ufunc, _dtype_of(a)) if dtype is None else dtype)
    if not shape or (flatten and axis is None):
        x = reshape(x, (math.prod(shape),))
        axis = 0 if axis is None else axis
    dim = normalize_axis(axis, len(shape_of(x)), name)
    return primitives.CUMULATIVE_OF_UFUNC[ufunc].bind(x, axis=dim, reverse=False), dim


@implements(np.cumsum)
def cumsum(a, axis=None, dtype=None, out=None):
    _no_out("cumsum", out)
    return _accumulate(np.add, "cumsum", a, axis, dtype, flatten=True)[0]


@implements(np.cumprod)
def cumprod(a, axis=None, dtype=None, out=None):
    _no_out("cumprod", out)
    return _accumulate(np.multiply, "cumprod", a, axis, dtype, flatten=True)[0]


def _cumulative(ufunc: np.ufunc, name: str, x: Any, axis: Any, dtype: Any, out: Any,
                include_initial: bool) -> Any:
    """NumPy 2's ``cumulative_sum`` / ``cumulative_prod``."""
    _no_out(name, out)
    if axis is None:
        if len(shape_of(x)) >= 2:
            raise ValueError(f"{name}: For arrays which have more than one dimension ``axis`` "
                             "argument is required.")
        axis = 0
    result, dim = _accumulate(ufunc, name, x, axis, dtype, flatten=False)
    if not include_initial:
        return result
    identity = constant(ufunc.identity, _dtype_of(result), weak_type=False)
    config = tuple((1, 0, 0) if i == dim else (0, 0, 0) for i in range(len(shape_of(result))))
    return structural.pad.bind(result, identity, padding_config=config)


@implements(np.cumulative_sum)
def cumulative_sum(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
    return _cumulative(np.add, "cumulative_sum", x, axis, dtype, out, include_initial)


@implements(np.cumulative_prod)
def cumulative_prod(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
    return _cumulative(np.multiply, "cumulative_prod", x, axis, dtype, out, include_initial)


# ---------------------------------------------------------------- NaN-ignoring


def _replace_nan(a: Any, value: float) -> tuple[Any, Any]:
    """NumPy's ``_replace_nan``: NaNs replaced by ``value`` and the NaN mask,
    or ``a`` and None for dtypes without NaN."""
    a = _as_array(a)
    if not _is_inexact(_dtype_of(a)):
        return a, None
    mask = isnan(a)
    return _where(mask, value, a, _dtype_of(a)), mask


@implements(np.nansum)
def nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
    return sum(_replace_nan(a, 0)[0], axis, dtype, out, keepdims, initial, where)


@implements(np.nanprod)
def nanprod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
    return prod(_replace_nan(a, 1)[0], axis, dtype, out, keepdims, initial, where)


@implements(np.nancumsum)
def nancumsum(a, axis=None, dtype=None, out=None):
    return cumsum(_replace_nan(a, 0)[0], axis, dtype, out)


@implements(np.nancumprod)
def nancumprod(a, axis=None, dtype=None, out=None):
    return cumprod(_replace_nan(a, 1)[0], axis, dtype, out)


def _nan_extreme(ufunc: np.ufunc, name: str, a: Any, axis: Any, out: Any, keepdims: bool,
                 initial: Any, where: Any) -> Any:
    """``np.fmax.reduce`` / ``np.fmin.reduce``: NaNs are skipped, a slice of
    only NaNs gives NaN."""
    _no_out(name, out)
    filled, mask = _replace_nan(a, -np.inf if ufunc is np.maximum else np.inf)
    result = _ufunc_reduce(ufunc, name, filled, axis, None, keepdims, initial, where)
    if mask is None or initial is not None:
        return result
    all_nan = _ufunc_reduce(np.logical_and, name, mask, axis, None, keepdims, None, where)
    return _where(all_nan, np.nan, result, _dtype_of(result))


@implements(np.nanmax)
def nanmax(a, axis=None, out=None, keepdims=False, initial=None, where=True):
    return _nan_extreme(np.maximum, "nanmax", a, axis, out, keepdims, initial, where)


@implements(np.nanmin)
def nanmin(a, axis=None, out=None, keepdims=False, initial=None, where=True):
    return _nan_extreme(np.minimum, "nanmin", a, axis, out, keepdims, initial, where)


@implements(np.nanmean)
def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    _no_out("nanmean", out)
    arr, mask = _replace_nan(a, 0)
    if mask is None:
        return mean(arr, axis, dtype, keepdims=keepdims, where=where)
    if dtype is not None and not _is_inexact(np.dtype(dtype)):
        raise TypeError("nanmean: If a is inexact, then dtype must be inexact")
    count = sum(logical_not(mask), axis, _INTP, keepdims=keepdims, where=where)
    return _divide_by_count(sum(arr, axis, dtype, keepdims=keepdims, where=where), count)


def _nanvar(name: str, a: Any, axis: Any, dtype: Any, ddof: Any, keepdims: bool, where: Any,
            center: Any, correction: Any) -> Any:
    """NumPy's ``nanvar``: the variance of the non-NaN entries, NaN where
    ``count - ddof <= 0``."""
    arr, mask = _replace_nan(a, 0)
    if mask is None:
        return _var(name, arr, axis, dtype, ddof, keepdims, where, center, correction)
    ddof = _ddof(ddof, correction)
    count = sum(logical_not(mask), axis, _INTP, keepdims=True, where=where)
    if center is None:
        center = _divide_by_count(sum(arr, axis, dtype, keepdims=True, where=where), count)
    # NumPy subtracts in place (into arr's dtype), then zeroes the NaN entries.
    deviations = _where(mask, 0, subtract(arr, center), _dtype_of(arr))
    squares = square(absolute(deviations)) if _dtype_of(arr).kind == "c" else square(deviations)
    total = sum(squares, axis, dtype, keepdims=keepdims, where=where)
    dof = subtract(reshape(count, shape_of(total)), ddof)
    variance = _divide_by_count(total, dof)
    return _where(less_equal(dof, 0), np.nan, variance, _dtype_of(variance))


@implements(np.nanvar)
def nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=None,
           correction=None):
    _no_out("nanvar", out)
    return _nanvar("nanvar", a, axis, dtype, ddof, keepdims, where, mean, correction)


@implements(np.nanstd)
def nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=None,
           correction=None):
    _no_out("nanstd", out)
    return _sqrt_keeping_dtype(
        _nanvar("nanstd", a, axis, dtype, ddof, keepdims, where, mean, correction))


# ---------------------------------------------------------------- order statistics


def _sorted_front(name: str, a: Any, axis: Any) -> tuple[Any, tuple[int, ...], tuple[int, ...]]:
    """``a`` with the reduced axes merged into one leading axis, sorted along
    it (NaNs last); also the reduced axes and ``a``'s shape."""
    a = _as_array(a)
    shape = tuple(shape_of(a))
    axes = normalize_axes(axis, len(shape), name)
    kept = [i for i in range(len(shape)) if i not in axes]
    merged = reshape(_transpose(a, list(axes) + kept),
                     (math.prod(shape[i] for i in axes),) + tuple(shape[i] for i in kept))
    return sorting.sort.bind(merged, dimension=0, num_keys=1)[0], axes, shape


def _nan_if_last_is_nan(ordered: Any, result: Any) -> Any:
    """A slice holding a NaN sorts it last; NumPy then answers that NaN."""
    n = shape_of(ordered)[0]
    if n == 0 or not _is_inexact(_dtype_of(ordered)):
        return result
    last = reshape(_slice_front(ordered, n - 1, n), shape_of(ordered)[1:])
    return _where(isnan(last), last, result, _dtype_of(result))


@implements(np.median)
def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    _no_out("median", out)
    ordered, axes, shape = _sorted_front("median", a, axis)
    n = shape_of(ordered)[0]
    # The mean of the middle one or two values (of nothing: NaN), as NumPy.
    middle = _slice_front(ordered, (n - 1) // 2, n // 2 + 1) if n else ordered
    result = _nan_if_last_is_nan(ordered, mean(middle, axis=0))
    return _keep(result, shape, axes, keepdims)


def _hyndman_fan(alpha: float, beta: float) -> Callable:
    return lambda n, q: n * q + (alpha + q * (1 - alpha - beta)) - 1


def _boundaries(index: np.ndarray, condition: Callable) -> np.ndarray:
    """NumPy's ``_discrete_interpolation_to_boundaries``: floor(index) where
    ``condition(fraction, index)``, else the next index; clipped at 0."""
    previous = np.floor(index)
    chosen = np.where(condition(index - previous, index), previous, previous + 1)
    return np.maximum(chosen, 0).astype(np.intp)


def _fraction(gamma: np.ndarray, index: np.ndarray) -> np.ndarray:
    return gamma


# method -> (virtual index of quantiles q among n sorted values, the weight of
# the upper neighbour from (fractional part, index)); no weight: the index is
# an integer and no interpolation happens.  NumPy's ``_QuantileMethods``.
_QUANTILE_METHODS: dict[str, tuple[Callable, Callable | None]] = {
    "inverted_cdf": (lambda n, q: _boundaries(n * q - 1, lambda g, i: g == 0), None),
    "averaged_inverted_cdf": (lambda n, q: n * q - 1, lambda g, i: np.where(g == 0, 0.5, 1.0)),
    "closest_observation": (lambda n, q: _boundaries(
        n * q - 1 - 0.5, lambda g, i: (g == 0) & (np.floor(i) % 2 == 1)), None),
    "interpolated_inverted_cdf": (_hyndman_fan(0, 1), _fraction),
    "hazen": (_hyndman_fan(0.5, 0.5), _fraction),
    "weibull": (_hyndman_fan(0, 0), _fraction),
    "linear": (lambda n, q: (n - 1) * q, _fraction),
    "median_unbiased": (_hyndman_fan(1 / 3.0, 1 / 3.0), _fraction),
    "normal_unbiased": (_hyndman_fan(3 / 8.0, 3 / 8.0), _fraction),
    "lower": (lambda n, q: np.floor((n - 1) * q).astype(np.intp), None),
    "higher": (lambda n, q: np.ceil((n - 1) * q).astype(np.intp), None),
    "midpoint": (lambda n, q: 0.5 * (np.floor((n - 1) * q) + np.ceil((n - 1) * q)),
                 lambda g, i: np.where(i % 1 == 0, 0.0, 0.5)),
    "nearest": (lambda n, q: np.around((n - 1) * q).astype(np.intp), None),
}


def _neighbours(virtual: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """NumPy's ``_get_indexes``: floor and floor + 1 of the virtual indexes;
    -1 (the last) past the end or for NaN, 0 before the start."""
    previous = np.floor(virtual)
    following = previous + 1
    last = (virtual >= n - 1) | np.isnan(virtual)
    previous = np.where(last, -1, np.where(virtual < 0, 0, previous)).astype(np.intp)
    following = np.where(last, -1, np.where(virtual < 0, 0, following)).astype(np.intp)
    return previous, following


def _lerp(a: Any, b: Any, t: float | np.ndarray) -> Any:
    """NumPy's ``_lerp``: from ``a`` for weights below 1/2, from ``b`` above
    (a Python float weight picks one side while tracing)."""
    diff = subtract(b, a)
    dtype = result_dtype(a, diff, t)
    if isinstance(t, float) and t < 0.5:
        return add(a, multiply(diff, t))
    high = subtract(b, multiply(diff, 1 - t), dtype=dtype)
    return high if isinstance(t, float) else _where(t >= 0.5, high, add(a, multiply(diff, t)), dtype)


def _concrete_q(name: str, q: Any) -> np.ndarray:
    if is_tracer(q) or (isinstance(q, (list, tuple)) and _contains_tracer(q)):
        raise TypeError(f"{name}: q must be a concrete value (it chooses which sorted entries "
                        "are picked), not a traced array; pass it as a constant")
    return np.asanyarray(q)


def _quantile(name: str, a: Any, q: np.ndarray, weak_q: bool, axis: Any, method: str,
              keepdims: bool) -> Any:
    """NumPy's ``_quantile`` on the sorted array (NumPy partitions instead,
    which picks the same values)."""
    if q.ndim > 2:
        raise ValueError(f"{name}: q must be a scalar or 1d")
    if method not in _QUANTILE_METHODS:
        raise ValueError(f"{name}: {method!r} is not a valid method. Use one of: "
                         f"{list(_QUANTILE_METHODS)}")
    virtual_index, fix_gamma = _QUANTILE_METHODS[method]
    ordered, axes, shape = _sorted_front(name, a, axis)
    n = shape_of(ordered)[0]
    if n == 0:
        raise IndexError(f"{name}: index -1 is out of bounds for axis 0 with size 0 "
                         "(a quantile of an empty slice)")
    virtual = np.asanyarray(virtual_index(n, q))
    if fix_gamma is None or (method == "linear" and virtual.dtype.kind in "iu"):
        result = _take_front(ordered, virtual % n)
    else:
        previous, following = _neighbours(virtual, n)
        gamma = np.asanyarray(fix_gamma(np.asanyarray(virtual - previous), virtual), virtual.dtype)
        gamma = float(gamma) if weak_q else gamma.reshape(gamma.shape + (1,) * (len(shape) - len(axes)))
        result = _lerp(_take_front(ordered, previous % n), _take_front(ordered, following % n), gamma)
    result = _nan_if_last_is_nan(ordered, result)
    if not keepdims:
        return result
    return reshape(result, q.shape + tuple(1 if i in axes else s for i, s in enumerate(shape)))


def _check_quantile_args(name: str, a: Any, out: Any, weights: Any) -> None:
    _no_out(name, out)
    if weights is not None:
        raise TypeError(f"{name}: weights= is not supported on traced arrays")
    if _dtype_of(_as_array(a)).kind == "c":
        raise TypeError(f"{name}: a must be an array of real numbers")


@implements(np.quantile)
def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *,
             weights=None):
    _check_quantile_args("quantile", a, out, weights)
    weak_q = type(q) in (int, float)
    q = _concrete_q("quantile", q)
    if not (np.all(q >= 0) and np.all(q <= 1)):
        raise ValueError("quantile: Quantiles must be in the range [0, 1]")
    return _quantile("quantile", a, q, weak_q, axis, method, keepdims)


@implements(np.percentile)
def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False,
               *, weights=None):
    _check_quantile_args("percentile", a, out, weights)
    weak_q = type(q) in (int, float)
    q = np.asanyarray(np.true_divide(_concrete_q("percentile", q), 100))
    if not (np.all(q >= 0) and np.all(q <= 1)):
        raise ValueError("percentile: Percentiles must be in the range [0, 100]")
    return _quantile("percentile", a, q, weak_q, axis, method, keepdims)
