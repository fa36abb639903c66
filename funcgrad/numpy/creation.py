"""Array creation, traceable: ``array``/``asarray`` of tracers and of nested
lists holding them, filled arrays, ranges, and triangles and diagonals.

Functions whose arguments are all static (``zeros``, ``arange``, ``eye``...)
make constants; given a tracer as a shape or bound they need its concrete
value, as NumPy would.  The ``*_like`` functions and ``full`` broadcast a
fill value; ``linspace`` is arithmetic on an ``iota``.

Example:
    >>> import funcgrad as fg, funcgrad.numpy as fnp
    >>> print(fg.make_ir(lambda x: fnp.triu(x))(np.ones((2, 2), np.float32)))
    { lambda a:f32[2,2] .
      b:i64[2,2] = iota[dimension=0 dtype=i64 shape=(2, 2)]
      c:i64[2,2] = iota[dimension=1 dtype=i64 shape=(2, 2)]
      d:bool[2,2] = le b c
      e:f32[2,2] = broadcast_in_dim[broadcast_dimensions=() shape=(2, 2)] 0.0:f32[]
      f:f32[2,2] = select d a e
      in (f) }
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from funcgrad.numpy import _core, ufuncs
from funcgrad.numpy._core import (
    aval_of,
    broadcast_shapes,
    constant,
    convert,
    implements,
    is_tracer,
    normalize_axis,
    shape_of,
)
from funcgrad.numpy.manipulation import (
    as_operand,
    concatenate,
    expand_dims,
    moveaxis,
    permute,
    ravel,
    reshape,
    slice_axis,
    static,
    static_ints,
)
from funcgrad.numpy.manipulation import broadcast_arrays as _broadcast_arrays
from funcgrad.primitives import structural

__all__ = [
    "arange", "array", "asarray", "copy", "diag", "diagonal", "empty", "empty_like", "eye",
    "full", "full_like", "identity", "linspace", "logspace", "meshgrid", "ones", "ones_like",
    "tri", "tril", "triu", "zeros", "zeros_like",
]


# ---------------------------------------------------------------- arrays from data


def _to_array(obj: Any, dtype: Any, copy: bool | None, ndmin: int) -> Any:
    if copy is False and (isinstance(obj, (list, tuple))
                          or (dtype is not None and np.dtype(dtype) != aval_of(obj).dtype)):
        raise ValueError("array: unable to avoid a copy while creating an array as requested "
                         "(copy=False)")
    x = as_operand(obj, dtype)
    x = convert(x, aval_of(x).dtype, weak_type=False)  # NumPy arrays are never weakly typed
    dims = tuple(shape_of(x))
    return _core.reshape(x, (1,) * (ndmin - len(dims)) + dims)


@implements(np.array)
def array(object, dtype=None, *, copy=True, order="K", subok=False, ndmin=0, ndmax=0, like=None):
    if ndmax:
        raise NotImplementedError("array: ndmax is not supported with traced values")
    return _to_array(object, dtype, copy, ndmin)


@implements(np.asarray)
def asarray(a, dtype=None, order=None, *, device=None, copy=None, like=None):
    return _to_array(a, dtype, copy, 0)


@implements(np.copy)
def copy(a, order="K", subok=False):
    return _to_array(a, None, True, 0)  # traced arrays are immutable: no copy to make


# ---------------------------------------------------------------- filled arrays


def _static_creation(numpy_function: Any, name: str):
    """The traced form of a creation function whose arguments are all static:
    tracers among them (a traced shape or bound) give their concrete values."""

    def traced(*args, **kwargs):
        why = f"{name}() of a traced argument"
        return numpy_function(*static(args, why), **{k: static(v, why) for k, v in kwargs.items()})

    return implements(getattr(np, name), name=name)(traced)


zeros = _static_creation(np.zeros, "zeros")
ones = _static_creation(np.ones, "ones")
empty = _static_creation(np.zeros, "empty")  # the values of an empty array are undefined
arange = _static_creation(np.arange, "arange")
eye = _static_creation(np.eye, "eye")
identity = _static_creation(np.identity, "identity")
tri = _static_creation(np.tri, "tri")


def _filled(value: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    """``value`` (a tracer or an array) cast to ``dtype`` and broadcast to ``shape``."""
    return _core.broadcast_to(convert(value, dtype, weak_type=False), shape)


@implements(np.full)
def full(shape, fill_value, dtype=None, order="C", *, device=None, like=None):
    value = as_operand(fill_value)
    dtype = aval_of(value).dtype if dtype is None else dtype
    return _filled(value, static_ints(shape, "full's shape"), dtype)


@implements(np.full_like)
def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    a = as_operand(a)
    dims = tuple(shape_of(a)) if shape is None else static_ints(shape, "full_like's shape")
    return _filled(as_operand(fill_value), dims, aval_of(a).dtype if dtype is None else dtype)


@implements(np.zeros_like)
def zeros_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return full_like(a, 0, dtype, shape=shape)


@implements(np.ones_like)
def ones_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return full_like(a, 1, dtype, shape=shape)


@implements(np.empty_like)
def empty_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return full_like(a, 0, dtype, shape=shape)  # the values are undefined: zeros will do


# ---------------------------------------------------------------- ranges


def _iota(dtype: Any, shape: tuple[int, ...], dimension: int = 0) -> Any:
    return structural.iota.bind(dtype=np.dtype(dtype), shape=tuple(shape), dimension=dimension)


def _select(pred: Any, on_true: Any, on_false: Any, dtype: Any) -> Any:
    """``np.where`` for operands already of ``dtype``, broadcast together."""
    dims = broadcast_shapes("where", shape_of(pred), shape_of(on_true), shape_of(on_false))
    return structural.select.bind(_core.broadcast_to(pred, dims),
                                  _filled(on_true, dims, dtype), _filled(on_false, dims, dtype))


def _weak_or_array(x: Any) -> Any:
    """A Python scalar as it is (weakly typed), anything else as an array operand
    (NumPy scalars such as ``np.float64(1)`` are strongly typed)."""
    return x if type(x) in (bool, int, float, complex) else as_operand(x)


@implements(np.linspace)
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *, device=None):
    # NumPy's algorithm step by step: the same operations give the same rounding.
    num = operator.index(static(num, "linspace's num"))
    if num < 0:
        raise ValueError(f"linspace: number of samples, {num}, must be non-negative")
    start, stop = (_weak_or_array(x) for x in (start, stop))
    if not (is_tracer(start) or is_tracer(stop)):  # only num was traced
        return np.linspace(start, stop, num, endpoint, retstep, dtype, axis)
    div = num - 1 if endpoint else num
    dt = _core.result_dtype(start, stop, 0.0)  # at least a float, Python scalars weak
    delta = ufuncs.subtract(convert(stop, dt), convert(start, dt))
    y = _iota(dt, (num,) + (1,) * len(shape_of(delta)))
    if div > 0:
        step = ufuncs.divide(delta, div)
        # Where the step underflows to zero, NumPy scales before multiplying.
        y = _select(ufuncs.equal(step, 0), ufuncs.multiply(ufuncs.divide(y, div), delta),
                    ufuncs.multiply(y, step), dt)
    else:
        step = float("nan")
        y = ufuncs.multiply(y, delta)
    y = ufuncs.add(y, start)
    if endpoint and num > 1:
        last = _filled(as_operand(stop), (1, *shape_of(y)[1:]), dt)
        y = concatenate([slice_axis(y, 0, num - 1, 0), last])
    y = moveaxis(y, 0, axis)
    if dtype is not None and np.issubdtype(dtype, np.integer):
        y = ufuncs.floor(y)
    y = convert(y, dt if dtype is None else dtype, weak_type=False)
    return (y, step) if retstep else y


@implements(np.logspace)
def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    base = _weak_or_array(base)
    if not isinstance(base, (float, int)) and len(shape_of(base)):
        # An array base broadcasts with the bounds along the new axis.
        ndmax = len(broadcast_shapes("logspace", *(shape_of(as_operand(x)) for x in (start, stop, base))))
        start, stop, base = (array(x, ndmin=ndmax) for x in (start, stop, base))
        base = expand_dims(base, axis)
    y = ufuncs.power(base, linspace(start, stop, num=num, endpoint=endpoint, axis=axis))
    return y if dtype is None else convert(y, dtype, weak_type=False)


@implements(np.meshgrid)
def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: valid values for `indexing` are 'xy' and 'ij', got {indexing!r}")
    n = len(xi)
    shapes = [[1] * n for _ in xi]
    for i, s in enumerate(shapes):
        s[i] = -1
    if indexing == "xy" and n > 1:  # Cartesian: the first two axes swap
        shapes[0][:2], shapes[1][:2] = [1, -1], [-1, 1]
    grids = [reshape(ravel(as_operand(x)), s) for x, s in zip(xi, shapes)]
    return tuple(grids if sparse else _broadcast_arrays(*grids))


# ---------------------------------------------------------------- triangles and diagonals


def _triangle(name: str, m: Any, keep_lower: bool, k: Any) -> Any:
    """``m`` with zeros above (``keep_lower``) or below the ``k``-th diagonal."""
    m = as_operand(m)
    dims = tuple(shape_of(m))
    if not dims:
        raise TypeError(f"{name}: needs an array of at least 1 dimension, got a 0-d array")
    k = operator.index(static(k, f"{name}'s k"))
    rows, cols = dims[-2:] if len(dims) > 1 else dims * 2
    # Row i, column j is on or below the k-th diagonal when i + k >= j.
    shifted_rows = _iota(np.int64, (rows, cols), 0)
    shifted_rows = ufuncs.add(shifted_rows, k) if k else shifted_rows
    compare = ufuncs.greater_equal if keep_lower else ufuncs.less_equal
    mask = compare(shifted_rows, _iota(np.int64, (rows, cols), 1))
    dtype = aval_of(m).dtype
    return _select(mask, m, np.zeros((), dtype), dtype)


@implements(np.tril)
def tril(m, k=0):
    return _triangle("tril", m, True, k)


@implements(np.triu)
def triu(m, k=0):
    return _triangle("triu", m, False, k)


@implements(np.diagonal)
def diagonal(a, offset=0, axis1=0, axis2=1):
    a = as_operand(a)
    nd = len(shape_of(a))
    if nd < 2:
        raise ValueError(f"diagonal: needs an array of at least two dimensions, got {nd}")
    axis1, axis2 = normalize_axis(axis1, nd, "diagonal"), normalize_axis(axis2, nd, "diagonal")
    if axis1 == axis2:
        raise ValueError(f"diagonal: axis1 and axis2 cannot be the same, got {axis1}")
    offset = operator.index(static(offset, "diagonal's offset"))
    x = permute(a, [i for i in range(nd) if i not in (axis1, axis2)] + [axis1, axis2])
    *lead, rows, cols = shape_of(x)
    if offset >= 0:
        x = slice_axis(x, min(offset, cols), cols, nd - 1)
    else:
        x = slice_axis(x, min(-offset, rows), rows, nd - 2)
    *lead, rows, cols = shape_of(x)
    n = min(rows, cols)
    # In the row-major flattening of an n x cols block, the diagonal is every (cols+1)-th element.
    flat = _core.reshape(slice_axis(x, 0, n, nd - 2), (*lead, n * cols))
    return slice_axis(flat, 0, n * cols, nd - 2, stride=cols + 1)


@implements(np.diag)
def diag(v, k=0):
    v = as_operand(v)
    dims = tuple(shape_of(v))
    k = operator.index(static(k, "diag's k"))
    if len(dims) == 2:
        return diagonal(v, k)
    if len(dims) != 1:
        raise ValueError(f"diag: input must be 1- or 2-d, got shape {dims}")
    # In the row-major flattening of the n x n result, v lies at first + i*(n+1):
    # interior padding of n places it, edge padding fills the rest.
    n = dims[0] + abs(k)
    first = k if k >= 0 else -k * n
    spread = dims[0] + max(dims[0] - 1, 0) * n
    zero = constant(0, aval_of(v).dtype, weak_type=False)
    flat = structural.pad.bind(v, zero, padding_config=((first, n * n - first - spread, n),))
    return _core.reshape(flat, (n, n))
