"""Elementwise functions NumPy builds from several operations: ``where``,
``clip``, ``nan_to_num``, ``isclose``, ``round`` and the small ufuncs that are
a multiply or a select away from a primitive.

Each follows NumPy's own formula, so values match NumPy's, not just closely.

Example:
    >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
    >>> print(fg.make_ir(lambda x: fnp.where(x > 0, x, 0.0))(np.ones(2)))
    { lambda a:f64[2] .
      b:f64[2]~ = broadcast_in_dim[broadcast_dimensions=() shape=(2,)] 0.0:f64[]~
      c:bool[2] = gt a b
      d:f64[2]~ = broadcast_in_dim[broadcast_dimensions=() shape=(2,)] 0.0:f64[]~
      e:f64[2] = select c a d
      in (e) }
"""

from __future__ import annotations

from typing import Any

import numpy as np

from funcgrad.numpy import ufuncs as u
from funcgrad.numpy._core import (
    aval_of,
    broadcast_shapes,
    broadcast_to,
    convert,
    implements,
    normalize_axis,
    operands,
    resolve_ufunc,
    result_dtype,
    shape_of,
)
from funcgrad.primitives import structural

__all__ = [
    "where", "clip", "nan_to_num", "isclose", "allclose", "round", "around", "fix", "positive",
    "deg2rad", "radians", "rad2deg", "degrees", "fmax", "fmin", "heaviside", "sinc",
    "real", "imag", "conj", "conjugate", "float_power", "divmod", "diff", "isreal", "iscomplex",
]


def _select(pred: Any, on_true: Any, on_false: Any) -> Any:
    """``select`` after broadcasting all three and promoting the branches."""
    dtype = result_dtype(on_true, on_false)
    shape = broadcast_shapes("where", shape_of(pred), shape_of(on_true), shape_of(on_false))
    pred = broadcast_to(convert(pred, np.bool_), shape)
    on_true, on_false = (broadcast_to(convert(v, dtype), shape) for v in (on_true, on_false))
    return structural.select.bind(pred, on_true, on_false)


@implements(np.where)
def where(condition: Any, x: Any = None, y: Any = None) -> Any:
    """``numpy.where``; the one-argument form is ``nonzero`` (needs concrete values)."""
    if x is None and y is None:
        from funcgrad.numpy.indexing import nonzero

        return nonzero(condition)
    if x is None or y is None:
        raise ValueError("where: either both or neither of x and y should be given")
    return _select(condition, x, y)


@implements(np.clip)
def clip(a: Any, a_min: Any = np._NoValue, a_max: Any = np._NoValue, out: Any = None, *,
         min: Any = np._NoValue, max: Any = np._NoValue, **kwargs: Any) -> Any:
    low = a_min if a_min is not np._NoValue else min
    high = a_max if a_max is not np._NoValue else max
    if out is not None or kwargs:
        raise TypeError("clip: out= and other ufunc keywords are not supported on traced arrays")
    low = None if low is np._NoValue else low
    high = None if high is np._NoValue else high
    if low is None and high is None:
        raise ValueError("clip: one of max or min must be given")
    # NumPy's clip is minimum(maximum(a, low), high), promoting like a ufunc.
    result = a if low is None else u.maximum(a, low)
    return result if high is None else u.minimum(result, high)


@implements(np.nan_to_num)
def nan_to_num(x: Any, copy: bool = True, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Any:
    dtype = aval_of(x).dtype
    if dtype.kind not in "fc":
        return x
    info = np.finfo(dtype)
    x = where(u.isnan(x), convert(nan, dtype, False), x)
    x = where(u.logical_and(u.isinf(x), u.greater(x, 0)),
              convert(info.max if posinf is None else posinf, dtype, False), x)
    return where(u.logical_and(u.isinf(x), u.less(x, 0)),
                 convert(info.min if neginf is None else neginf, dtype, False), x)


@implements(np.isclose)
def isclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
            ) -> Any:
    # NumPy: |a - b| <= atol + rtol * |b|, exact equality covers infinities.
    dtype = result_dtype(a, b, 1.0)
    a, b = convert(a, dtype), convert(b, dtype)
    close = u.less_equal(u.absolute(u.subtract(a, b)), u.add(atol, u.multiply(rtol, u.absolute(b))))
    finite = u.logical_and(u.isfinite(a), u.isfinite(b))
    result = u.logical_or(u.logical_and(finite, close), u.equal(a, b))
    if equal_nan:
        result = u.logical_or(result, u.logical_and(u.isnan(a), u.isnan(b)))
    return result


@implements(np.allclose)
def allclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
             ) -> Any:
    """``numpy.allclose``; on traced arrays the result is a traced 0-d bool
    (``bool()`` of it needs concrete values, as for any traced comparison)."""
    from funcgrad.numpy.reductions import all as all_

    return all_(isclose(a, b, rtol, atol, equal_nan))


@implements(np.round)
def round(a: Any, decimals: int = 0, out: Any = None) -> Any:
    if out is not None:
        raise TypeError("round: out= is not supported on traced arrays")
    dtype = aval_of(a).dtype
    if dtype.kind in "biu":
        if decimals >= 0:
            return a
        scale = 10 ** -decimals  # NumPy: round half to even on the integer scale
        return convert(u.multiply(u.rint(u.divide(a, scale)), scale), dtype)
    if decimals == 0:
        return u.rint(a)
    scale = 10.0 ** abs(decimals)  # NumPy multiplies (or divides) by the scale, rints, undoes
    if decimals > 0:
        return u.divide(u.rint(u.multiply(a, scale)), scale)
    return u.multiply(u.rint(u.divide(a, scale)), scale)


around = implements(np.around, name="around")(round.__wrapped__)


@implements(np.fix)
def fix(x: Any, out: Any = None) -> Any:
    return u.trunc(x) if aval_of(x).dtype.kind == "f" else u.floor(x)


def _loop_operands(ufunc: np.ufunc, *args: Any) -> list[Any]:
    """``args`` converted and broadcast to the loop NumPy picks for ``ufunc``."""
    return operands(ufunc.__name__, args, resolve_ufunc(ufunc, *args)[0])


@implements(np.positive)
def positive(x: Any, out: Any = None) -> Any:
    return _loop_operands(np.positive, x)[0]


def _scaled(ufunc: np.ufunc, factor: float):
    def traced(x: Any, out: Any = None) -> Any:
        (x,) = _loop_operands(ufunc, x)
        return u.multiply(x, factor)

    return traced


deg2rad = implements(np.deg2rad, name="deg2rad")(_scaled(np.deg2rad, np.pi / 180.0))
radians = implements(np.radians, name="radians")(_scaled(np.radians, np.pi / 180.0))
rad2deg = implements(np.rad2deg, name="rad2deg")(_scaled(np.rad2deg, 180.0 / np.pi))
degrees = implements(np.degrees, name="degrees")(_scaled(np.degrees, 180.0 / np.pi))


def _nan_ignoring(ufunc: np.ufunc, keep_first: Any):
    def traced(x1: Any, x2: Any, out: Any = None) -> Any:
        x1, x2 = _loop_operands(ufunc, x1, x2)
        # fmax/fmin: the non-NaN operand wins; NaN only when both are NaN.
        return _select(u.logical_or(keep_first(x1, x2), u.isnan(x2)), x1, x2)

    return traced


fmax = implements(np.fmax, name="fmax")(_nan_ignoring(np.fmax, u.greater_equal))
fmin = implements(np.fmin, name="fmin")(_nan_ignoring(np.fmin, u.less_equal))


@implements(np.heaviside)
def heaviside(x1: Any, x2: Any, out: Any = None) -> Any:
    x1, x2 = _loop_operands(np.heaviside, x1, x2)
    step = _select(u.less(x1, 0), 0.0, _select(u.greater(x1, 0), 1.0, x2))
    return _select(u.isnan(x1), x1, step)


@implements(np.sinc)
def sinc(x: Any) -> Any:
    # NumPy: y = pi * where(x == 0, 1e-20, x); sin(y) / y.
    dtype = result_dtype(x, 1.0)
    x = convert(x, dtype)
    y = u.multiply(np.pi, where(u.equal(x, 0), 1.0e-20, x))
    return u.divide(u.sin(y), y)


@implements(np.real)
def real(val: Any) -> Any:
    return val


@implements(np.imag)
def imag(val: Any) -> Any:
    from funcgrad.numpy.creation import zeros_like

    return zeros_like(val)


@implements(np.conjugate)
def conjugate(x: Any, out: Any = None) -> Any:
    if aval_of(x).dtype.kind == "c":
        raise TypeError("conjugate: complex traced arrays are not supported yet")
    return _loop_operands(np.conjugate, x)[0]  # the real loop: bool becomes int8


conj = implements(np.conj, name="conj")(conjugate.__wrapped__)


@implements(np.isreal)
def isreal(x: Any) -> Any:
    return u.equal(imag(x), 0)


@implements(np.iscomplex)
def iscomplex(x: Any) -> Any:
    return u.not_equal(imag(x), 0)


@implements(np.float_power)
def float_power(x1: Any, x2: Any, out: Any = None) -> Any:
    return u.power(*_loop_operands(np.float_power, x1, x2))


@implements(np.divmod)
def divmod(x1: Any, x2: Any, out: Any = None) -> tuple[Any, Any]:
    return u.floor_divide(x1, x2), u.remainder(x1, x2)


@implements(np.diff)
def diff(a: Any, n: int = 1, axis: int = -1, prepend: Any = np._NoValue,
         append: Any = np._NoValue) -> Any:
    from funcgrad.numpy.manipulation import concatenate, slice_axis

    axis = normalize_axis(axis, len(shape_of(a)), "diff")
    pieces = [a]
    for extra, front in ((prepend, True), (append, False)):
        if extra is not np._NoValue:
            shape = list(shape_of(a))
            shape[axis] = 1
            extra = extra if len(shape_of(extra)) else broadcast_to(extra, shape)
            pieces.insert(0 if front else len(pieces), extra)
    a = concatenate(pieces, axis=axis) if len(pieces) > 1 else a
    boolean = aval_of(a).dtype == np.bool_
    for _ in range(n):
        size = shape_of(a)[axis]
        upper = slice_axis(a, min(1, size), size, axis)
        lower = slice_axis(a, 0, max(size - 1, 0), axis)
        a = u.not_equal(upper, lower) if boolean else u.subtract(upper, lower)
    return a
