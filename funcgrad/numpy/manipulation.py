"""Shape manipulation, traceable: NumPy's reshaping, joining, splitting,
tiling, flipping and padding functions, built from the structural
primitives (``reshape``, ``transpose``, ``rev``, ``slice``, ``pad``,
``concatenate``, ``broadcast_in_dim``).

Example:
    >>> import funcgrad as fg, funcgrad.numpy as fnp
    >>> print(fg.make_ir(lambda x: fnp.flip(x.reshape(2, 3), 1))(np.ones(6)))
    { lambda a:f64[6] .
      b:f64[2,3] = reshape[new_sizes=(2, 3)] a
      c:f64[2,3] = rev[dimensions=(1,)] b
      in (c) }
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from funcgrad.errors import ShapeError
from funcgrad.numpy import _core
from funcgrad.numpy._core import (
    aval_of,
    broadcast_shapes,
    convert,
    implements,
    is_tracer,
    normalize_axes,
    normalize_axis,
    shape_of,
)
from funcgrad.primitives import structural

__all__ = [
    "append", "array_split", "atleast_1d", "atleast_2d", "atleast_3d", "broadcast_arrays",
    "broadcast_to", "column_stack", "concatenate", "delete", "dsplit", "dstack", "expand_dims",
    "flip", "fliplr", "flipud", "hsplit", "hstack", "moveaxis", "pad", "ravel",
    "repeat", "reshape", "resize", "roll", "rot90", "split", "squeeze", "stack",
    "swapaxes", "tile", "transpose", "vsplit", "vstack",
]


# ---------------------------------------------------------------- operands and static values


def _leaves(value: Any):
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def as_operand(value: Any, dtype: Any = None) -> Any:
    """``value`` as an array operand: a tracer as it is, a (nested) sequence
    holding tracers stacked as ``np.array`` would, anything else a NumPy array.

    Python scalars inside sequences count as NumPy's default dtypes (int64,
    float64), as in ``np.array([np.float32(1), 2.0])``; with ``dtype`` every
    element is converted to it directly.

    Example:
        >>> as_operand([1, 2.5])
        array([1. , 2.5])
    """
    if is_tracer(value):
        return value if dtype is None else convert(value, dtype)
    leaves = list(_leaves(value)) if isinstance(value, (list, tuple)) else []
    if not any(map(is_tracer, leaves)):
        return np.asarray(value, dtype)
    if dtype is None:
        dtype = np.result_type(*(aval_of(x).dtype if is_tracer(x) else np.asarray(x).dtype
                                 for x in leaves))
    return _stack_nested(value, np.dtype(dtype))


def _stack_nested(value: Any, dtype: np.dtype) -> Any:
    if not isinstance(value, (list, tuple)) or not any(map(is_tracer, _leaves(value))):
        return as_operand(value, dtype)
    parts = [_stack_nested(item, dtype) for item in value]
    shapes = sorted({tuple(shape_of(p)) for p in parts})
    if len(shapes) > 1:
        raise ShapeError(f"array: the nested sequences have inhomogeneous shapes {shapes}",
                         "make every element of a nesting level the same shape")
    return stack(parts)


def static(value: Any, why: str) -> Any:
    """``value`` with every tracer in it (also inside lists and tuples)
    replaced by its concrete value: for arguments that must be known while
    tracing (shapes, axes, counts).  Raises ``ConcretizationError`` when a
    value is not known.

    Example:
        >>> static((2, 3), "a shape")
        (2, 3)
    """
    if is_tracer(value):
        return value.concrete_value(why)
    if isinstance(value, (list, tuple)):
        return type(value)(static(v, why) for v in value)
    return value


def static_ints(value: Any, why: str) -> tuple[int, ...]:
    """An int or a sequence of ints (a shape, axes, repetitions) as a tuple of ints.

    Example:
        >>> static_ints(3, "a shape"), static_ints(np.array([2, 3]), "a shape")
        ((3,), (2, 3))
    """
    value = static(value, why)
    if isinstance(value, (list, tuple)) or np.ndim(value) > 0:
        return tuple(operator.index(v) for v in value)
    return (operator.index(value),)


def _axis_tuple(axis: Any, ndim: int, name: str) -> tuple[int, ...]:
    """Distinct non-negative axes in the order given (``normalize_axes`` sorts)."""
    axes = tuple(normalize_axis(a, ndim, name) for a in static_ints(axis, f"{name}'s axes"))
    if len(set(axes)) != len(axes):
        raise ValueError(f"{name}: repeated axis in {axis}")
    return axes


# ---------------------------------------------------------------- primitive helpers


def permute(x: Any, permutation: Sequence[int]) -> Any:
    """``x`` with its axes permuted, skipping the identity.

    Example:
        >>> permute(np.zeros((2, 3)), (1, 0)).shape
        (3, 2)
    """
    permutation = tuple(permutation)
    if permutation == tuple(range(len(permutation))):
        return x
    return structural.transpose.bind(x, permutation=permutation)


def slice_axis(x: Any, start: int, limit: int, axis: int, stride: int = 1) -> Any:
    """``x[..., start:limit:stride, ...]`` along ``axis`` (non-negative, in range).

    Example:
        >>> slice_axis(np.arange(6), 1, 6, 0, stride=2)
        array([1, 3, 5])
    """
    shape = tuple(shape_of(x))
    if (start, limit, stride) == (0, shape[axis], 1):
        return x
    starts, limits, strides = [0] * len(shape), list(shape), [1] * len(shape)
    starts[axis], limits[axis], strides[axis] = start, limit, stride
    return structural.slice_.bind(x, start_indices=tuple(starts), limit_indices=tuple(limits),
                                  strides=tuple(strides))


def _concat(parts: Sequence[Any], axis: int) -> Any:
    return parts[0] if len(parts) == 1 else structural.concatenate.bind(*parts, dimension=axis)


def gather_static(x: Any, indices: Sequence[int], axis: int) -> Any:
    """``np.take(x, indices, axis)`` for known, in-range ``indices``, as slices:
    each run of consecutive, descending or repeated indices is one slice
    (reversed or broadcast), and the runs are concatenated.

    Example:
        >>> gather_static(np.arange(5), [3, 4, 0, 1, 1, 1], 0)
        array([3, 4, 0, 1, 1, 1])
    """
    indices = [int(i) for i in indices]
    if not indices:
        return slice_axis(x, 0, 0, axis)
    parts, i = [], 0
    while i < len(indices):
        step = indices[i + 1] - indices[i] if i + 1 < len(indices) else 1
        step = step if step in (-1, 0, 1) else 1
        j = i + 1
        while j < len(indices) and indices[j] - indices[j - 1] == step:
            j += 1
        low, high = min(indices[i], indices[j - 1]), max(indices[i], indices[j - 1])
        part = slice_axis(x, low, high + 1, axis)
        if step == -1:
            part = structural.rev.bind(part, dimensions=(axis,))
        elif step == 0:
            shape = list(shape_of(part))
            shape[axis] = j - i
            part = structural.broadcast_in_dim.bind(
                part, shape=tuple(shape), broadcast_dimensions=tuple(range(len(shape))))
        parts.append(part)
        i = j
    return _concat(parts, axis)


def _order(name: str, order: str) -> str:
    order = str(order).upper()
    if order in ("A", "K"):
        raise NotImplementedError(f"{name}: order={order!r} depends on the memory layout, which "
                                  "traced arrays do not have; use order='C' or 'F'")
    if order not in ("C", "F"):
        raise ValueError(f"{name}: order must be one of 'C', 'F', 'A' or 'K', got {order!r}")
    return order


# ---------------------------------------------------------------- shapes


def _infer_shape(dims: tuple[int, ...], new: tuple[int, ...]) -> tuple[int, ...]:
    """``new`` with its -1 (at most one) filled in so the size matches."""
    total = math.prod(dims)
    unknown = [i for i, n in enumerate(new) if n == -1]
    if len(unknown) > 1:
        raise ValueError(f"reshape: can only specify one unknown dimension, got shape {new}")
    if any(n < -1 for n in new):
        raise ValueError(f"reshape: negative dimensions not allowed, got shape {new}")
    known = math.prod(n for n in new if n != -1)
    if unknown and known and total % known == 0:
        new = new[: unknown[0]] + (total // known,) + new[unknown[0] + 1:]
    if -1 in new or math.prod(new) != total:
        raise ShapeError(f"reshape: cannot reshape an array of shape {dims} (size {total}) "
                         f"into shape {new}")
    return new


@implements(np.reshape)
def reshape(a, /, shape, order="C", *, copy=None):
    a = as_operand(a)
    new = _infer_shape(tuple(shape_of(a)), static_ints(shape, "reshape's shape"))
    if _order("reshape", order) == "F":
        # Filling in column-major order is filling the reversed shape in row-major order.
        return transpose(_core.reshape(transpose(a), new[::-1]))
    return _core.reshape(a, new)


@implements(np.ravel)
def ravel(a, order="C"):
    return reshape(a, -1, order=order)


@implements(np.transpose)
def transpose(a, axes=None):
    a = as_operand(a)
    nd = len(shape_of(a))
    if axes is None:
        return permute(a, range(nd)[::-1])
    axes = static_ints(axes, "transpose's axes")
    if len(axes) != nd:
        raise ValueError(f"transpose: axes {axes} don't match an array of dimension {nd}")
    return permute(a, _axis_tuple(axes, nd, "transpose"))


@implements(np.swapaxes)
def swapaxes(a, axis1, axis2):
    a = as_operand(a)
    nd = len(shape_of(a))
    permutation = list(range(nd))
    i, j = normalize_axis(axis1, nd, "swapaxes"), normalize_axis(axis2, nd, "swapaxes")
    permutation[i], permutation[j] = j, i
    return permute(a, permutation)


@implements(np.moveaxis)
def moveaxis(a, source, destination):
    a = as_operand(a)
    nd = len(shape_of(a))
    source = _axis_tuple(source, nd, "moveaxis")
    destination = _axis_tuple(destination, nd, "moveaxis")
    if len(source) != len(destination):
        raise ValueError("moveaxis: `source` and `destination` arguments must have the same "
                         f"number of elements, got {source} and {destination}")
    permutation = [i for i in range(nd) if i not in source]
    for dest, src in sorted(zip(destination, source)):
        permutation.insert(dest, src)
    return permute(a, permutation)


@implements(np.expand_dims)
def expand_dims(a, axis):
    a = as_operand(a)
    dims = iter(shape_of(a))
    axes = static_ints(axis, "expand_dims' axis")
    out_ndim = len(shape_of(a)) + len(axes)
    axes = normalize_axes(axes, out_ndim, "expand_dims")
    return _core.reshape(a, [1 if i in axes else next(dims) for i in range(out_ndim)])


@implements(np.squeeze)
def squeeze(a, axis=None):
    a = as_operand(a)
    dims = tuple(shape_of(a))
    if axis is None:
        axes = tuple(i for i, n in enumerate(dims) if n == 1)
    else:
        axes = normalize_axes(static_ints(axis, "squeeze's axis"), len(dims), "squeeze")
    wrong = [ax for ax in axes if dims[ax] != 1]
    if wrong:
        raise ShapeError(f"squeeze: cannot select an axis to squeeze out which has size not equal "
                         f"to one: axis {wrong[0]} of an array of shape {dims}")
    return _core.reshape(a, [n for i, n in enumerate(dims) if i not in axes])


@implements(np.broadcast_to)
def broadcast_to(array, shape, subok=False):
    dims = static_ints(shape, "broadcast_to's shape")
    if any(n < 0 for n in dims):
        raise ValueError(f"broadcast_to: all elements of the shape must be non-negative, got {dims}")
    return _core.broadcast_to(as_operand(array), dims)


@implements(np.broadcast_arrays)
def broadcast_arrays(*args, subok=False):
    arrays = [as_operand(a) for a in args]
    dims = broadcast_shapes("broadcast_arrays", *(shape_of(a) for a in arrays))
    return tuple(broadcast_to(a, dims) for a in arrays)


def _at_least(arys: Sequence[Any], layout: dict[int, Any]) -> Any:
    """Each array reshaped by ``layout[ndim](shape)`` when its ndim is a key."""
    results = []
    for a in map(as_operand, arys):
        dims = tuple(shape_of(a))
        results.append(_core.reshape(a, layout[len(dims)](dims)) if len(dims) in layout else a)
    return results[0] if len(results) == 1 else tuple(results)


@implements(np.atleast_1d)
def atleast_1d(*arys):
    return _at_least(arys, {0: lambda s: (1,)})


@implements(np.atleast_2d)
def atleast_2d(*arys):
    return _at_least(arys, {0: lambda s: (1, 1), 1: lambda s: (1, *s)})


@implements(np.atleast_3d)
def atleast_3d(*arys):
    return _at_least(arys, {0: lambda s: (1, 1, 1), 1: lambda s: (1, *s, 1), 2: lambda s: (*s, 1)})


# ---------------------------------------------------------------- joining


def _no_out(name: str, out: Any) -> None:
    if out is not None:
        raise TypeError(f"{name}: out= writes in place, which traced arrays cannot do; "
                        "use the returned value instead")


def _join_dtype(name: str, arrays: Sequence[Any], dtype: Any, casting: str) -> np.dtype:
    """The dtype NumPy joins ``arrays`` in: their common (strong) dtype, or
    ``dtype`` if every array can be cast to it under ``casting``."""
    dtypes = [aval_of(a).dtype for a in arrays]
    if dtype is None:
        return np.result_type(*dtypes)
    dtype = np.dtype(dtype)
    for d in dtypes:
        if not np.can_cast(d, dtype, casting):
            raise TypeError(f"{name}: cannot cast array data from {d} to {dtype} "
                            f"according to the rule {casting!r}")
    return dtype


@implements(np.concatenate)
def concatenate(arrays, /, axis=0, out=None, *, dtype=None, casting="same_kind"):
    _no_out("concatenate", out)
    arrays = [as_operand(a) for a in arrays]
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    if not arrays:
        raise ValueError("concatenate: need at least one array to concatenate")
    first = tuple(shape_of(arrays[0]))
    if not first:
        raise ValueError("concatenate: zero-dimensional arrays cannot be concatenated")
    axis = normalize_axis(axis, len(first), "concatenate")
    for i, a in enumerate(arrays):
        dims = tuple(shape_of(a))
        if len(dims) != len(first) or any(m != n for k, (m, n) in enumerate(zip(dims, first))
                                          if k != axis):
            raise ShapeError(f"concatenate: all the input array dimensions except for the "
                             f"concatenation axis {axis} must match exactly, but the array at index "
                             f"0 has shape {first} and the array at index {i} has shape {dims}")
    dtype = _join_dtype("concatenate", arrays, dtype, casting)
    return _concat([convert(a, dtype, weak_type=False) for a in arrays], axis)


@implements(np.stack)
def stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    _no_out("stack", out)
    arrays = [as_operand(a) for a in arrays]
    if not arrays:
        raise ValueError("stack: need at least one array to stack")
    shapes = sorted({tuple(shape_of(a)) for a in arrays})
    if len(shapes) > 1:
        raise ShapeError(f"stack: all input arrays must have the same shape, got {shapes}")
    axis = normalize_axis(axis, len(shapes[0]) + 1, "stack")
    return concatenate([expand_dims(a, axis) for a in arrays], axis, dtype=dtype, casting=casting)


@implements(np.hstack)
def hstack(tup, *, dtype=None, casting="same_kind"):
    arrays = [atleast_1d(a) for a in tup]
    axis = 0 if arrays and len(shape_of(arrays[0])) == 1 else 1
    return concatenate(arrays, axis, dtype=dtype, casting=casting)


@implements(np.vstack)
def vstack(tup, *, dtype=None, casting="same_kind"):
    return concatenate([atleast_2d(a) for a in tup], 0, dtype=dtype, casting=casting)


@implements(np.dstack)
def dstack(tup):
    return concatenate([atleast_3d(a) for a in tup], 2)


@implements(np.column_stack)
def column_stack(tup):
    arrays = [as_operand(a) for a in tup]
    return concatenate([reshape(a, (-1, 1)) if len(shape_of(a)) < 2 else a for a in arrays], 1)


@implements(np.append)
def append(arr, values, axis=None):
    arr, values = as_operand(arr), as_operand(values)
    if axis is None:
        arr, values = ravel(arr), ravel(values)
        axis = 0
    return concatenate((arr, values), axis=axis)


# ---------------------------------------------------------------- splitting


@implements(np.array_split)
def array_split(ary, indices_or_sections, axis=0):
    ary = as_operand(ary)
    axis = normalize_axis(axis, len(shape_of(ary)), "array_split")
    total = shape_of(ary)[axis]
    points = static(indices_or_sections, "array_split's indices")
    if np.ndim(points) == 0:
        sections = operator.index(points)
        if sections <= 0:
            raise ValueError("array_split: number sections must be larger than 0")
        each, extras = divmod(total, sections)
        sizes = [each + 1] * extras + [each] * (sections - extras)
        bounds = np.cumsum([0, *sizes]).tolist()
    else:
        bounds = [0, *(operator.index(p) for p in points), total]
    pieces = []
    for start, stop in itertools.pairwise(bounds):
        kept = range(total)[start:stop]  # Python's slice rules: negative, clipped, empty
        pieces.append(slice_axis(ary, kept.start, kept.start + len(kept), axis))
    return pieces


@implements(np.split)
def split(ary, indices_or_sections, axis=0):
    ary = as_operand(ary)
    points = static(indices_or_sections, "split's sections")
    if np.ndim(points) == 0:
        total = shape_of(ary)[normalize_axis(axis, len(shape_of(ary)), "split")]
        if operator.index(points) and total % operator.index(points):
            raise ValueError(f"split: array split does not result in an equal division "
                             f"({total} into {points} sections)")
    return array_split(ary, points, axis)


def _split_along(name: str, ary: Any, indices_or_sections: Any, min_ndim: int, axis: int) -> list:
    ary = as_operand(ary)
    if len(shape_of(ary)) < min_ndim:
        raise ValueError(f"{name} only works on arrays of {min_ndim} or more dimensions")
    return split(ary, indices_or_sections, axis)


@implements(np.hsplit)
def hsplit(ary, indices_or_sections):
    ary = as_operand(ary)
    return _split_along("hsplit", ary, indices_or_sections, 1, 1 if len(shape_of(ary)) > 1 else 0)


@implements(np.vsplit)
def vsplit(ary, indices_or_sections):
    return _split_along("vsplit", ary, indices_or_sections, 2, 0)


@implements(np.dsplit)
def dsplit(ary, indices_or_sections):
    return _split_along("dsplit", ary, indices_or_sections, 3, 2)


@implements(np.delete)
def delete(arr, obj, axis=None):
    arr = as_operand(arr)
    if axis is None:
        arr, axis = ravel(arr), 0
    axis = normalize_axis(axis, len(shape_of(arr)), "delete")
    obj = static(obj, "delete's indices")
    if not isinstance(obj, slice):
        obj = np.asarray(obj)
        obj = obj.astype(np.intp) if obj.size == 0 else obj  # [] means no index, not a float
    keep = np.ones(shape_of(arr)[axis], bool)
    keep[obj] = False  # NumPy's own index rules and errors
    return gather_static(arr, np.flatnonzero(keep), axis)


# ---------------------------------------------------------------- repeating


@implements(np.tile)
def tile(A, reps):
    A = as_operand(A)
    reps = static_ints(reps, "tile's reps")
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: negative dimensions are not allowed, got reps {reps}")
    dims = tuple(shape_of(A))
    dims = (1,) * (len(reps) - len(dims)) + dims
    reps = (1,) * (len(dims) - len(reps)) + reps
    A = _core.reshape(A, dims)
    if all(r == 1 for r in reps):
        return A
    # (r0, s0, r1, s1, ...) with A along the s axes, then merge each pair.
    interleaved = tuple(n for pair in zip(reps, dims) for n in pair)
    tiled = structural.broadcast_in_dim.bind(A, shape=interleaved,
                                             broadcast_dimensions=tuple(range(1, 2 * len(dims), 2)))
    return _core.reshape(tiled, [r * n for r, n in zip(reps, dims)])


@implements(np.repeat)
def repeat(a, repeats, axis=None):
    a = as_operand(a)
    if axis is None:
        a, axis = ravel(a), 0
    axis = normalize_axis(axis, len(shape_of(a)), "repeat")
    dims = tuple(shape_of(a))
    counts = np.asarray(static(repeats, "repeat's counts"))
    if not np.can_cast(counts.dtype, np.intp, "safe"):
        raise TypeError(f"repeat: repeats must be integers, got dtype {counts.dtype}")
    if (counts < 0).any():
        raise ValueError("repeat: negative dimensions are not allowed")
    if counts.size != 1:
        if counts.shape != (dims[axis],):
            raise ValueError(f"repeat: operands could not be broadcast together with shape "
                             f"({dims[axis]},) {counts.shape}")
        from funcgrad.numpy.indexing import take  # indexing builds on this module

        return take(a, np.repeat(np.arange(dims[axis]), counts), axis=axis)
    count = int(counts.reshape(()))
    if count == 1:
        return a
    # A new axis of `count` copies right after `axis`, merged into it.
    expanded = dims[: axis + 1] + (count,) + dims[axis + 1:]
    kept = tuple(i if i <= axis else i + 1 for i in range(len(dims)))
    copies = structural.broadcast_in_dim.bind(a, shape=expanded, broadcast_dimensions=kept)
    return _core.reshape(copies, dims[:axis] + (dims[axis] * count,) + dims[axis + 1:])


@implements(np.resize)
def resize(a, new_shape):
    a = ravel(as_operand(a))
    dims = static_ints(new_shape, "resize's shape")
    if any(n < 0 for n in dims):
        raise ValueError(f"resize: all elements of `new_shape` must be non-negative, got {dims}")
    new_size, old_size = math.prod(dims), shape_of(a)[0]
    if not new_size or not old_size:
        from funcgrad.numpy.creation import zeros_like  # creation builds on this module

        return zeros_like(a, shape=dims)
    return _core.reshape(slice_axis(tile(a, -(-new_size // old_size)), 0, new_size, 0), dims)


# ---------------------------------------------------------------- reordering


@implements(np.flip)
def flip(m, axis=None):
    m = as_operand(m)
    axes = normalize_axes(static(axis, "flip's axis"), len(shape_of(m)), "flip")
    return structural.rev.bind(m, dimensions=axes) if axes else m


def _flip_min_ndim(name: str, m: Any, min_ndim: int, axis: int) -> Any:
    m = as_operand(m)
    if len(shape_of(m)) < min_ndim:
        raise ValueError(f"{name}: input must be >= {min_ndim}-d, got shape {tuple(shape_of(m))}")
    return flip(m, axis)


@implements(np.fliplr)
def fliplr(m):
    return _flip_min_ndim("fliplr", m, 2, 1)


@implements(np.flipud)
def flipud(m):
    return _flip_min_ndim("flipud", m, 1, 0)


@implements(np.roll)
def roll(a, shift, axis=None):
    a = as_operand(a)
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), shape_of(a))
    dims = tuple(shape_of(a))
    axes = [normalize_axis(ax, len(dims), "roll") for ax in static_ints(axis, "roll's axis")]
    pairs = np.broadcast(np.asarray(static(shift, "roll's shift")), np.asarray(axes))
    if pairs.ndim > 1:
        raise ValueError("roll: 'shift' and 'axis' should be scalars or 1D sequences")
    shifts = dict.fromkeys(range(len(dims)), 0)
    for sh, ax in pairs:
        shifts[int(ax)] += int(sh)
    for ax, sh in shifts.items():
        if dims[ax] and sh % dims[ax]:
            a = gather_static(a, (np.arange(dims[ax]) - sh) % dims[ax], ax)
    return a


@implements(np.rot90)
def rot90(m, k=1, axes=(0, 1)):
    axes = tuple(static_ints(axes, "rot90's axes"))
    if len(axes) != 2:
        raise ValueError("rot90: len(axes) must be 2")
    m = as_operand(m)
    nd = len(shape_of(m))
    if axes[0] == axes[1] or abs(axes[0] - axes[1]) == nd:
        raise ValueError(f"rot90: axes must be different, got {axes}")
    if not all(-nd <= ax < nd for ax in axes):
        raise ValueError(f"rot90: axes={axes} out of range for array of ndim={nd}")
    k = operator.index(static(k, "rot90's k")) % 4
    if k == 0:
        return m
    if k == 2:
        return flip(m, axes)
    permutation = list(range(nd))
    permutation[axes[0]], permutation[axes[1]] = permutation[axes[1]], permutation[axes[0]]
    return permute(flip(m, axes[1]), permutation) if k == 1 else flip(permute(m, permutation), axes[1])


# ---------------------------------------------------------------- padding


def _pairs(value: Any, ndim: int, as_index: bool) -> np.ndarray:
    """NumPy's pad argument forms (``n``, ``(n,)``, ``(before, after)``,
    ``((b0, a0), (b1, a1), ...)``) as an ``(ndim, 2)`` array."""
    value = np.asarray(value)
    if as_index:
        value = np.round(value).astype(np.intp)
        if (value < 0).any():
            raise ValueError("pad: index can't contain negative values")
    if value.size == 1:
        value = value.reshape(())
    elif value.size == 2 and value.shape != (2, 1):
        value = value.reshape(2)
    return np.broadcast_to(value, (ndim, 2))


def _reflect(p: np.ndarray, n: int, period: int, offset: int) -> np.ndarray:
    """Periodic reflection: ``q = p % period`` inside ``[0, n)``, mirrored beyond."""
    q = p % period
    return np.where(q < n, q, period - offset - q)


# Source index along an axis of size n for each position p of the padded axis
# (p counted from the first original element): NumPy's modes are periodic.
_INDEX_MAPS = {
    "edge": lambda p, n: np.clip(p, 0, n - 1),
    "wrap": lambda p, n: p % n,
    "symmetric": lambda p, n: _reflect(p, n, 2 * n, 1),  # the edge repeats
    "reflect": lambda p, n: _reflect(p, n, max(2 * n - 2, 1), 0),  # the edge does not
}
_PAD_KWARGS = {"constant": {"constant_values"}, "empty": set(), "edge": set(), "wrap": set(),
               "reflect": {"reflect_type"}, "symmetric": {"reflect_type"},
               "linear_ramp": {"end_values"}, "maximum": {"stat_length"}, "mean": {"stat_length"},
               "median": {"stat_length"}, "minimum": {"stat_length"}}


def _pad_constant(x: Any, widths: np.ndarray, constant_values: Any) -> Any:
    nd, dtype = len(shape_of(x)), aval_of(x).dtype
    if is_tracer(constant_values):
        if constant_values.ndim:
            raise NotImplementedError("pad: a traced constant_values must be a scalar")
        values = [[convert(constant_values, dtype, weak_type=False)] * 2] * nd
        uniform = True
    else:
        pairs = _pairs(constant_values, nd, as_index=False).astype(dtype)
        uniform = not widths.any() or (pairs == pairs[0, 0]).all()
        values = [[np.asarray(v) for v in pair] for pair in pairs]  # 0-d arrays: strong Literals
    if not widths.any():
        return x
    if uniform:
        config = tuple((int(b), int(a), 0) for b, a in widths)
        return structural.pad.bind(x, values[0][0], padding_config=config)
    # Axis by axis, as NumPy: the later axes' values fill the corners.
    for ax in range(nd):
        for side, (width, value) in enumerate(zip(widths[ax], values[ax])):
            config = [(0, 0, 0)] * nd
            config[ax] = (0, int(width), 0) if side else (int(width), 0, 0)
            x = structural.pad.bind(x, value, padding_config=tuple(config)) if width else x
    return x


@implements(np.pad)
def pad(array, pad_width, mode="constant", **kwargs):
    x = as_operand(array)
    dims = tuple(shape_of(x))
    if callable(mode):
        raise NotImplementedError("pad: a function as mode is not supported on traced arrays")
    if mode not in _PAD_KWARGS:
        raise ValueError(f"pad: mode {mode!r} is not supported")
    unsupported = set(kwargs) - _PAD_KWARGS[mode]
    if unsupported:
        raise ValueError(f"pad: unsupported keyword arguments for mode {mode!r}: {unsupported}")
    pad_width = static(pad_width, "pad's widths")
    if isinstance(pad_width, dict):  # {axis: width or (before, after)}, the others 0
        pad_width = [pad_width.get(ax, 0) for ax in range(len(dims))]
        pad_width = [(w, w) if np.ndim(w) == 0 else w for w in pad_width]
    if np.asarray(pad_width).dtype.kind != "i":
        raise TypeError(f"pad: `pad_width` must be of integral type, got {pad_width!r}")
    widths = _pairs(pad_width, len(dims), as_index=True)
    if mode in ("constant", "empty"):  # 'empty' leaves the padding undefined: zeros will do
        return _pad_constant(x, widths, kwargs.get("constant_values", 0))
    if mode not in _INDEX_MAPS or kwargs.get("reflect_type", "even") != "even":
        raise NotImplementedError(f"pad: mode {mode!r} with {kwargs} is not supported on traced "
                                  "arrays; supported: constant, empty, edge, wrap, reflect, symmetric")
    for ax, (before, after) in enumerate(widths):
        if not before and not after:
            continue
        if dims[ax] == 0:
            raise ValueError(f"pad: can't extend empty axis {ax} using modes other than "
                             "'constant' or 'empty'")
        positions = np.arange(-before, dims[ax] + after)
        x = gather_static(x, _INDEX_MAPS[mode](positions, dims[ax]), ax)
    return x
