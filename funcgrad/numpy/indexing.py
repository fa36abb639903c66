"""Indexing, traceable: ``x[index]`` and ``x.at[index]`` with NumPy's full
semantics, and NumPy's index functions (``take``, ``take_along_axis``, ...).

An index is parsed once into a plan: one entry per index item, after the
Ellipsis is expanded and boolean masks became integer arrays.  ``x[index]``
then slices (``rev`` + ``slice``) and, if there are integer arrays, gathers;
``x.at[index].set(v)`` scatters into the same positions.

Integer indices that are traced (a traced scalar or array) are wrapped when
negative; an out-of-range traced index cannot raise (its value is unknown
while tracing): it is clamped when reading and dropped when writing, as in
JAX.  Constant out-of-range indices raise ``IndexError``, as in NumPy.
Boolean masks make shapes that depend on values, so a traced mask needs its
concrete value: it works under a transform called on concrete arrays (e.g.
``grad``) and raises ``ConcretizationError`` under ``jit``/``vmap``.

Example:
    >>> import funcgrad as fg, numpy as np
    >>> print(fg.make_ir(lambda x, i: x[::-2, i])(np.ones((4, 3)), np.int64(1)))
    { lambda a:f64[4,3] b:i64[] .
      c:bool[] = lt b 0:i64[]~
      d:i64[] = add b 3:i64[]~
      e:i64[] = select c d b
      f:f64[4,3] = rev[dimensions=(0,)] a
      g:f64[2,3] = slice[limit_indices=(3, 3) start_indices=(0, 0) strides=(2, 1)] f
      h:i64[1] = broadcast_in_dim[broadcast_dimensions=() shape=(1,)] e
      i:f64[2] = gather[axes=(1,)] g h
      in (i) }
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from funcgrad.errors import IndexingError
from funcgrad.numpy import ufuncs
from funcgrad.numpy._core import (
    _contains_tracer,
    aval_of,
    broadcast_to,
    convert,
    implements,
    is_tracer,
    ndim_of,
    normalize_axis,
    reshape,
    result_dtype,
    shape_of,
)
from funcgrad.primitives import indexing as prims
from funcgrad.primitives import structural

__all__ = [
    "argwhere", "choose", "compress", "diag_indices", "diag_indices_from", "extract",
    "flatnonzero", "indices", "ix_", "nonzero", "take", "take_along_axis", "tril_indices",
    "tril_indices_from", "triu_indices", "triu_indices_from", "unravel_index",
]



_VALID_INDICES = ("only integers, slices (`:`), ellipsis (`...`), numpy.newaxis (`None`) and "
                  "integer or boolean arrays are valid indices")


# ---------------------------------------------------------------- parsing


@dataclasses.dataclass(frozen=True)
class _Slice:
    """``start:start+length*step:step`` along ``axis``."""

    axis: int
    start: int
    step: int
    length: int


@dataclasses.dataclass(frozen=True)
class _Array:
    """An integer index array along ``axis``: non-negative constants, or traced."""

    axis: int
    index: Any


@dataclasses.dataclass(frozen=True)
class _Plan:
    """A parsed index.  ``shape`` is the indexed array's shape with a unit axis
    for each 0-d boolean index; ``entries`` holds ``_Slice``, ``_Array`` and
    ``None`` (a new axis), in index order."""

    shape: tuple[int, ...]
    entries: tuple
    batch_shape: tuple[int, ...]  # the broadcast shape of the index arrays
    adjacent: bool  # index arrays side by side: their dimensions go in place, else first

    @property
    def arrays(self) -> list[_Array]:
        return [e for e in self.entries if isinstance(e, _Array)]

    def layout(self) -> list:
        """The result's dimensions: a ``_Slice``, ``None`` (a new axis) or ``j``,
        the j-th dimension of the batch shape."""
        layout, batch = [], list(range(len(self.batch_shape)))
        for entry in self.entries:
            if not isinstance(entry, _Array):
                layout.append(entry)
            elif self.adjacent and batch:
                layout.extend(batch)
                batch = []
        return batch + layout

    def out_shape(self, layout: list) -> tuple[int, ...]:
        return tuple(d.length if isinstance(d, _Slice) else 1 if d is None else self.batch_shape[d]
                     for d in layout)


def _parse(shape: tuple[int, ...], index: Any) -> _Plan:
    items = [_classify(item) for item in (index if isinstance(index, tuple) else (index,))]
    consumed = sum(item.ndim if _is_mask(item) else 0 if item is None or item is Ellipsis else 1
                   for item in items)
    if sum(item is Ellipsis for item in items) > 1:
        raise IndexingError("an index can only have a single ellipsis ('...')")
    if consumed > len(shape):
        raise IndexingError(f"too many indices for array: array is {len(shape)}-dimensional, "
                            f"but {consumed} were indexed")
    fill = [slice(None)] * (len(shape) - consumed)  # what `...` stands for
    at = next((k for k, item in enumerate(items) if item is Ellipsis), None)
    if at is None:
        items += fill
    else:  # NumPy: an Ellipsis separates index arrays even where it stands for no axis
        items[at + 1:at + 1] = fill

    new_shape, entries, dim = [], [], 0  # dim: the axis of `shape` the next item indexes
    is_array = []  # per entry, and for the Ellipsis: is it an index array?
    for item in items:
        axis, count = len(new_shape), len(entries)
        if item is Ellipsis:
            is_array.append(False)
        elif item is None:
            entries.append(None)
        elif isinstance(item, slice):
            start, stop, step = item.indices(shape[dim])
            entries.append(_Slice(axis, start, step, len(range(start, stop, step))))
            new_shape.append(shape[dim])
            dim += 1
        elif _is_mask(item) and item.ndim == 0:  # a new unit axis, taken once or not at all
            entries.append(_Array(axis, np.zeros(int(item), np.intp)))
            new_shape.append(1)
        elif _is_mask(item):
            _check_mask(item, shape, dim)
            for k, coordinate in enumerate(np.nonzero(item)):
                entries.append(_Array(axis + k, coordinate))
            new_shape.extend(shape[dim:dim + item.ndim])
            dim += item.ndim
        else:
            entries.append(_Array(axis, _wrap(item, shape[dim], dim)))
            new_shape.append(shape[dim])
            dim += 1
        is_array.extend(isinstance(e, _Array) for e in entries[count:])

    positions = [k for k, array in enumerate(is_array) if array]
    index_shapes = [shape_of(e.index) for e in entries if isinstance(e, _Array)]
    try:
        batch_shape = np.broadcast_shapes(*index_shapes)
    except ValueError:
        listed = " ".join(str(tuple(s)) for s in index_shapes)
        raise IndexingError("shape mismatch: indexing arrays could not be broadcast together "
                            f"with shapes {listed}") from None
    adjacent = positions == list(range(positions[0], positions[0] + len(positions))) \
        if positions else True
    return _Plan(tuple(new_shape), tuple(entries), batch_shape, adjacent)


def _is_mask(item: Any) -> bool:
    return isinstance(item, np.ndarray) and item.dtype == np.bool_


def _classify(item: Any) -> Any:
    """An index item as None, Ellipsis, a slice, a boolean mask (ndarray) or
    an integer array (ndarray or tracer)."""
    if item is None or item is Ellipsis or isinstance(item, slice):
        return item
    if is_tracer(item):
        if item.dtype == np.bool_:
            return np.asarray(item.concrete_value(
                "boolean mask indexing (the result's shape depends on the mask's values)"))
        if item.dtype.kind not in "iu":
            raise IndexingError(_VALID_INDICES + f", not a traced {item.aval!r}")
        return item
    if isinstance(item, (list, tuple)) and _contains_tracer(item):
        return _classify(_stack([_classify_nested(i) for i in item]))
    array = np.asarray(item)
    if array.dtype.kind in "iub":
        return array
    if isinstance(item, (list, tuple)) and array.size == 0:
        return array.astype(np.intp)  # [] indexes nothing, as NumPy's intp array
    try:
        return np.asarray(operator.index(item))
    except TypeError:
        raise IndexingError(_VALID_INDICES) from None


def _classify_nested(item: Any) -> Any:
    """An element of an index list: nested lists become (stacked) arrays."""
    if isinstance(item, (list, tuple)):
        return _stack([_classify_nested(i) for i in item]) if _contains_tracer(item) \
            else np.asarray(item)
    return item


def _check_mask(mask: np.ndarray, shape: tuple[int, ...], dim: int) -> None:
    for k, (size, mask_size) in enumerate(zip(shape[dim:], mask.shape)):
        if size != mask_size:
            raise IndexingError(f"boolean index did not match indexed array along axis {dim + k}; "
                                f"size of axis is {size} but size of corresponding boolean axis "
                                f"is {mask_size}")


def _wrap(index: Any, size: int, dim: int) -> Any:
    """Negative indices counted from the end: checked constants, or traced."""
    if is_tracer(index):
        index = convert(index, np.intp)
        return structural.select.bind(ufuncs.less(index, 0), ufuncs.add(index, size), index)
    bad = (index < -size) | (index >= size)
    if bad.any():
        raise IndexingError(f"index {index[bad].flat[0]} is out of bounds for axis {dim} "
                            f"with size {size}")
    return np.where(index < 0, index + size, index).astype(np.intp)


# ---------------------------------------------------------------- building blocks


def _stack(values: list) -> Any:
    """``np.stack(values)`` for tracers, constants and Python scalars."""
    dtype = result_dtype(*values)
    parts = [reshape(convert(v, dtype), (1,) + aval_of(v).shape) for v in values]
    return _concatenate(parts, 0)


def _concatenate(parts: list, axis: int) -> Any:
    if len(parts) == 1:
        return parts[0]
    if any(is_tracer(p) for p in parts):
        return structural.concatenate.bind(*parts, dimension=axis)
    return np.concatenate(parts, axis)


def _place(array: Any, shape: tuple[int, ...], dims: tuple[int, ...]) -> Any:
    """``array`` broadcast into ``shape``, its dimensions at ``dims``."""
    if is_tracer(array):
        return structural.broadcast_in_dim.bind(array, shape=shape, broadcast_dimensions=dims)
    expanded = [1] * len(shape)
    for i, d in enumerate(dims):
        expanded[d] = array.shape[i]
    return np.broadcast_to(np.reshape(array, expanded), shape)


def _transpose(x: Any, permutation: list[int]) -> Any:
    if permutation == sorted(permutation):
        return x
    return structural.transpose.bind(x, permutation=tuple(permutation))


def _apply_slices(x: Any, plan: _Plan, scalars: bool) -> Any:
    """``x`` sliced by the plan's slices and, with ``scalars``, its constant
    scalar indices (kept as unit axes), as one ``rev`` and one ``slice``."""
    shape = plan.shape
    starts, limits, strides, flipped = [0] * len(shape), list(shape), [1] * len(shape), []
    for entry in plan.entries:
        if isinstance(entry, _Slice):
            start, step, length = entry.start, entry.step, entry.length
        elif scalars and isinstance(entry, _Array):
            start, step, length = int(entry.index), 1, 1
        else:
            continue
        if step < 0:  # the same elements, counted from the end of the reversed axis
            flipped.append(entry.axis)
            start, step = shape[entry.axis] - 1 - start, -step
        start = start if length else 0
        starts[entry.axis], strides[entry.axis] = start, step
        limits[entry.axis] = start + (length - 1) * step + 1 if length else start
    if flipped:
        x = structural.rev.bind(x, dimensions=tuple(flipped))
    if starts != [0] * len(shape) or limits != list(shape) or strides != [1] * len(shape):
        x = structural.slice_.bind(x, start_indices=tuple(starts), limit_indices=tuple(limits),
                                  strides=tuple(strides))
    return x


def _gather_form(plan: _Plan) -> tuple[tuple[int, ...], Any, list[int], list]:
    """The plan as a gather/scatter: ``(axes, indices, order, layout)``.

    Whole axes (full slices) stay whole; every other axis gets a coordinate
    array over the remaining ("batch") dimensions of the result.  The gather's
    result (the scatter's updates) holds the result's dimensions in ``order``.
    """
    layout = plan.layout()
    out_shape = plan.out_shape(layout)
    whole = {d for d, e in enumerate(layout) if isinstance(e, _Slice) and e.start == 0
             and e.step == 1 and e.length == plan.shape[e.axis]}
    batch = [d for d in range(len(layout)) if d not in whole]
    batch_shape = tuple(out_shape[d] for d in batch) + (1,)
    position = {layout[d]: k for k, d in enumerate(batch) if isinstance(layout[d], (int, _Slice))}
    axes, coordinates = [], []
    for entry in plan.entries:
        if isinstance(entry, _Slice) and position.get(entry) is not None:
            values = entry.start + entry.step * np.arange(entry.length, dtype=np.intp)
            coordinates.append(_place(values, batch_shape, (position[entry],)))
        elif isinstance(entry, _Array):
            ndim = ndim_of(entry.index)
            dims = tuple(position[j] for j in range(len(plan.batch_shape) - ndim,
                                                    len(plan.batch_shape)))
            coordinates.append(_place(entry.index, batch_shape, dims))
        else:
            continue
        axes.append(entry.axis)
    indices = _concatenate(coordinates, len(batch)) if coordinates \
        else np.zeros(batch_shape[:-1] + (0,), np.intp)
    return tuple(axes), indices, batch + sorted(whole), layout


# ---------------------------------------------------------------- x[index]


@implements(None, name="_getitem")
def _getitem(x: Any, index: Any) -> Any:
    """``x[index]`` with NumPy's semantics, traced (``Tracer.__getitem__``)."""
    if not _contains_tracer((x, index)):
        return np.asarray(x)[index]
    plan = _parse(shape_of(x), index)
    basic = not any(is_tracer(a.index) or a.index.ndim for a in plan.arrays)
    x = _apply_slices(reshape(x, plan.shape), plan, scalars=basic)
    if basic:
        return reshape(x, plan.out_shape(plan.layout()))
    # What is left is a gather over whole slices: the slices are applied.
    entries = tuple(_Slice(e.axis, 0, 1, e.length) if isinstance(e, _Slice) else e
                    for e in plan.entries)
    plan = dataclasses.replace(plan, shape=shape_of(x), entries=entries)
    axes, indices, order, _ = _gather_form(plan)
    gathered = prims.gather.bind(x, indices, axes=axes)
    return _transpose(gathered, [order.index(d) for d in range(len(order))])


# ---------------------------------------------------------------- x.at[index]


def _scatter(x: Any, index: Any, values: Any, scatter: Any) -> Any:
    """``x`` with ``values`` written (or combined) at ``x[index]``, traced."""
    plan = _parse(shape_of(x), index)
    axes, indices, order, layout = _gather_form(plan)
    out_shape = plan.out_shape(layout)
    dtype = aval_of(x).dtype
    values = convert(values if is_tracer(values) else np.asarray(values), dtype)
    extra = ndim_of(values) - len(out_shape)
    if extra > 0 and all(n == 1 for n in shape_of(values)[:extra]):  # as NumPy assignment
        values = reshape(values, shape_of(values)[extra:])
    updates = _transpose(broadcast_to(values, out_shape), order)
    out = scatter.bind(reshape(x, plan.shape), indices, updates, axes=axes)
    return reshape(out, shape_of(x))


# Update name -> (its scatter primitive, its NumPy ufunc for concrete arrays).
# Divide and power have no scatter: they apply the product of their values.
_UPDATES = {
    "set": (prims.scatter, None),
    "add": (prims.scatter_add, np.add),
    "multiply": (prims.scatter_mul, np.multiply),
    "min": (prims.scatter_min, np.minimum),
    "max": (prims.scatter_max, np.maximum),
    "divide": (None, np.divide),
    "power": (None, np.power),
}


class _IndexUpdateRef:
    """``x.at[index]``: functional updates of ``x[index]`` (JAX's API).

    Each method returns a new array; ``values`` are cast to ``x``'s dtype and
    broadcast to ``x[index]``'s shape.  Duplicate indices: ``set`` keeps the
    last value (as NumPy assignment); the others combine all of them (as
    ``np.add.at``).
    """

    def __init__(self, array: Any, index: Any):
        self.array, self.index = array, index

    def _update(self, name: str, values: Any) -> Any:
        x, index = self.array, self.index
        scatter, ufunc = _UPDATES[name]
        if not _contains_tracer((x, index, values)):
            out = np.array(x, copy=True)
            values = np.asarray(values).astype(out.dtype)
            if ufunc is None:
                out[index] = values
            else:
                ufunc.at(out, index, values)
            return out
        if scatter is None:  # x / f or x ** f, f: the product of the values at each index
            dtype = aval_of(x).dtype
            factor = _IndexUpdateRef(np.ones(shape_of(x), dtype), index).multiply(values)
            return convert(getattr(ufuncs, name)(x, factor), dtype)
        return _scatter(x, index, values, scatter)

    def get(self) -> Any:
        """``x[index]``."""
        return _getitem(self.array, self.index)

    def set(self, values: Any) -> Any:
        """``x[index] = values``, functionally."""
        return self._update("set", values)

    def add(self, values: Any) -> Any:
        """``x[index] += values``, functionally; duplicates accumulate."""
        return self._update("add", values)

    def multiply(self, values: Any) -> Any:
        """``x[index] *= values``, functionally; duplicates accumulate."""
        return self._update("multiply", values)

    def min(self, values: Any) -> Any:
        """``x[index] = minimum(x[index], values)``, functionally."""
        return self._update("min", values)

    def max(self, values: Any) -> Any:
        """``x[index] = maximum(x[index], values)``, functionally."""
        return self._update("max", values)

    def divide(self, values: Any) -> Any:
        """``x[index] /= values``, functionally; duplicates accumulate."""
        return self._update("divide", values)

    def power(self, values: Any) -> Any:
        """``x[index] **= values``, functionally; duplicates accumulate."""
        return self._update("power", values)


class _IndexUpdateHelper:
    """``x.at``: index it to get the update methods."""

    def __init__(self, array: Any):
        self.array = array

    def __getitem__(self, index: Any) -> _IndexUpdateRef:
        return _IndexUpdateRef(self.array, index)


@implements(None, name="_at")
def _at(x: Any) -> _IndexUpdateHelper:
    """``x.at`` (``Tracer.at``), JAX's functional index updates; works on
    NumPy arrays too (computed by NumPy).

    Example:
        >>> _at(np.zeros(3))[[0, 0, 2]].add(1.0)
        array([2., 0., 1.])
    """
    return _IndexUpdateHelper(x)


# ---------------------------------------------------------------- NumPy's functions


def _array(a: Any) -> Any:
    return a if is_tracer(a) else np.asarray(a)


def _ravel(a: Any) -> Any:
    a = _array(a)
    return reshape(a, (aval_of(a).size,))


def _no_out(name: str, out: Any) -> None:
    if out is not None:
        raise TypeError(f"{name}: out= writes in place, which traced arrays cannot do; "
                        "use the returned value instead")


def _as_intp(indices: Any) -> Any:
    return convert(indices, np.intp) if is_tracer(indices) else np.asarray(indices).astype(np.intp)


def _apply_mode(indices: Any, size: int, mode: str) -> Any:
    """``wrap`` / ``clip`` of take and choose; ``raise`` leaves them to indexing."""
    if mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"clipmode must be one of 'clip', 'raise', or 'wrap' (got {mode!r})")
    if mode == "raise":
        return indices
    if size == 0:
        if aval_of(indices).size:
            raise IndexingError("cannot do a non-empty take from an empty axes.")
        return indices
    if mode == "wrap":
        return ufuncs.remainder(indices, size)
    return ufuncs.minimum(ufuncs.maximum(indices, 0), size - 1)


@implements(np.take)
def take(a, indices, axis=None, out=None, mode="raise"):
    _no_out("take", out)
    a = _array(a)
    if axis is None:
        a, axis = _ravel(a), 0
    axis = normalize_axis(axis, ndim_of(a), "take")
    indices = _apply_mode(_as_intp(indices), shape_of(a)[axis], mode)
    return _getitem(a, (slice(None),) * axis + (indices,))


@implements(np.take_along_axis)
def take_along_axis(arr, indices, axis=-1):
    arr, indices = _array(arr), _array(indices)
    if axis is None:
        if ndim_of(indices) != 1:
            raise ValueError("when axis=None, `indices` must have a single dimension.")
        arr, axis = _ravel(arr), 0
    if aval_of(indices).dtype.kind not in "iu":
        raise IndexingError("`indices` must be an integer array")
    if ndim_of(indices) != ndim_of(arr):
        raise ValueError("`indices` and `arr` must have the same number of dimensions")
    axis = normalize_axis(axis, ndim_of(arr), "take_along_axis")
    grids = np.ix_(*(np.arange(n) for n in shape_of(arr)))
    return _getitem(arr, grids[:axis] + (indices,) + grids[axis + 1:])


@implements(np.choose)
def choose(a, choices, out=None, mode="raise"):
    _no_out("choose", out)
    a = _as_intp(a)
    choices = [choices[k] for k in range(len(choices))]
    if mode == "raise" and not is_tracer(a) and ((a < 0) | (a >= len(choices))).any():
        raise ValueError("invalid entry in choice array")
    dtype = result_dtype(*choices)
    shape = np.broadcast_shapes(shape_of(a), *(aval_of(c).shape for c in choices))
    stacked = _stack([broadcast_to(convert(c, dtype), shape) for c in choices])
    a = broadcast_to(_apply_mode(a, len(choices), mode), shape)
    return _getitem(stacked, (a, *np.indices(shape, sparse=True)))


@implements(np.compress)
def compress(condition, a, axis=None, out=None):
    _no_out("compress", out)
    condition = np.asarray(_concrete(condition, "compress"))
    if condition.ndim != 1:
        raise ValueError("condition must be a 1-d array")
    return take(a, np.nonzero(condition)[0], axis=axis)


@implements(np.extract)
def extract(condition, arr):
    condition = np.asarray(_concrete(condition, "extract"))
    return take(_ravel(arr), np.nonzero(condition.ravel())[0])


@implements(np.ix_)
def ix_(*args):
    out = []
    for k, a in enumerate(args):
        a = _array(a)
        if not is_tracer(a) and isinstance(args[k], (list, tuple)) and a.size == 0:
            a = a.astype(np.intp)
        if aval_of(a).dtype == np.bool_:
            a = np.nonzero(_concrete(a, "ix_ of a boolean array"))[0]
        if ndim_of(a) != 1:
            raise ValueError("Cross index must be 1 dimensional")
        shape = (1,) * k + shape_of(a) + (1,) * (len(args) - k - 1)
        out.append(reshape(a, shape) if is_tracer(a) else a.reshape(shape))
    return tuple(out)


@implements(np.unravel_index)
def unravel_index(indices, shape, order="C"):
    if order not in ("C", "F"):
        raise ValueError("only 'C' or 'F' order is permitted")
    index = _as_intp(indices)
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    coordinates = []
    for n in reversed(dims) if order == "C" else dims:
        coordinates.append(ufuncs.remainder(index, n))
        index = ufuncs.floor_divide(index, n)
    return tuple(reversed(coordinates)) if order == "C" else tuple(coordinates)


@implements(np.diag_indices_from)
def diag_indices_from(arr):
    shape = shape_of(arr)
    if len(shape) < 2:
        raise ValueError("input array must be at least 2-d")
    if len(set(shape)) != 1:
        raise ValueError("All dimensions of input must be of equal length")
    return np.diag_indices(shape[0], len(shape))


def _triangle_from(np_from: Callable, np_indices: Callable) -> Callable:
    """``tril_indices_from`` / ``triu_indices_from``: they need only the shape."""

    def traced(arr, k=0):
        shape = shape_of(arr)
        if len(shape) != 2:
            raise ValueError("input array must be 2-d")
        return np_indices(shape[-2], k=_concrete(k, np_from.__name__), m=shape[-1])

    return implements(np_from, name=np_from.__name__)(traced)


tril_indices_from = _triangle_from(np.tril_indices_from, np.tril_indices)
triu_indices_from = _triangle_from(np.triu_indices_from, np.triu_indices)


def _concrete(value: Any, why: str) -> Any:
    return value.concrete_value(why) if is_tracer(value) else value


def _value_dependent(np_function: Callable) -> Callable:
    """A function whose result's shape depends on its arguments' values: on
    tracers it needs their concrete values (a concrete trace), then is NumPy's."""
    name = np_function.__name__
    why = f"{name} (the shape of its result depends on values, not only on shapes)"

    def traced(*args, **kwargs):
        args = [_concrete(a, why) for a in args]
        return np_function(*args, **{k: _concrete(v, why) for k, v in kwargs.items()})

    return implements(np_function, name=name)(traced)


nonzero, argwhere, flatnonzero, diag_indices, tril_indices, triu_indices, indices = (
    _value_dependent(f) for f in (np.nonzero, np.argwhere, np.flatnonzero, np.diag_indices,
                                  np.tril_indices, np.triu_indices, np.indices))
