"""Indexing primitives: ``gather``, the ``scatter`` family, ``dynamic_slice``
and ``dynamic_update_slice``.

``gather`` and ``scatter*`` share one index convention.  ``indices`` is an
integer array of shape ``batch_shape + (len(axes),)``; ``axes`` is a sorted
tuple of the operand axes it indexes.  The other ("rest") axes are taken
whole, so a gather's result (a scatter's ``updates``) has shape
``batch_shape + rest_shape``::

    gather(x, i, axes)[b..., r...] = x[axes[k] = i[b..., k], rest axes = r...]

Traced code cannot raise for one bad element, so out-of-range indices are
handled as in JAX: ``gather`` clamps them into range, ``scatter*`` drops the
updates they point to.  Negative indices are not wrapped here (they are out
of range); ``funcgrad.numpy`` wraps them before binding.

Example:
    >>> x = np.arange(12).reshape(3, 4)
    >>> gather.impl(np, x, np.array([[2], [0], [7]]), axes=(0,))   # row 7 clamps to 2
    array([[ 8,  9, 10, 11],
           [ 0,  1,  2,  3],
           [ 8,  9, 10, 11]])
    >>> scatter_add.impl(np, np.zeros(3), np.array([[0], [0], [5]]), np.ones(3), axes=(0,))
    array([2., 0., 0.])

``dynamic_slice`` and ``dynamic_update_slice`` take one integer scalar start
per axis (traced, e.g. a loop counter) and clamp it so the slice fits:

    >>> dynamic_slice.impl(np, np.arange(5), np.int64(4), slice_sizes=(2,))
    array([3, 4])
    >>> dynamic_update_slice.impl(np, np.zeros(4), np.ones(2), np.int64(-1))
    array([1., 1., 0., 0.])
"""

from __future__ import annotations

import functools
import operator

import numpy as np

from funcgrad.errors import AxisError, DtypeError, ShapeError
from funcgrad.ir import AbstractArray
from funcgrad.primitives.registry import primitive


def _batch_and_rest(name, operand, indices, axes) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Check the index convention; return the batch shape and the rest shape."""
    if indices.dtype.kind not in "iu":
        raise DtypeError(f"{name}: indices must be integers, got {indices!r}")
    if list(axes) != sorted(set(axes)) or any(not 0 <= a < operand.ndim for a in axes):
        raise AxisError(f"{name}: axes {axes} must be sorted, distinct axes of {operand!r}")
    if indices.ndim < 1 or indices.shape[-1] != len(axes):
        raise ShapeError(f"{name}: indices {indices!r} must have shape batch_shape + "
                         f"({len(axes)},), one index per axis in {axes}")
    rest = tuple(n for d, n in enumerate(operand.shape) if d not in axes)
    return indices.shape[:-1], rest


def _indexed_view(xp, operand, indices, axes):
    """``operand`` with its indexed axes moved to the front (a view), and one
    index array per front axis; with no axes, a unit front axis indexed by 0."""
    if not axes:
        return operand[None], (xp.zeros(indices.shape[:-1], dtype=np.intp),)
    rest = [d for d in range(operand.ndim) if d not in axes]
    view = xp.transpose(operand, list(axes) + rest)
    return view, tuple(indices[..., k] for k in range(len(axes)))


def _gather_aval(operand, indices, *, axes):
    batch, rest = _batch_and_rest("gather", operand, indices, axes)
    return AbstractArray(batch + rest, operand.dtype, operand.weak_type)


@primitive("gather", _gather_aval)
def gather(xp, operand, indices, *, axes):
    operand = xp.asarray(operand)
    view, index = _indexed_view(xp, operand, indices, axes)
    sizes = view.shape[:len(index)]
    if 0 in sizes:  # nothing to clamp to: every gathered element is out of range
        return xp.zeros(indices.shape[:-1] + view.shape[len(index):], operand.dtype)
    return view[tuple(xp.clip(i, 0, n - 1) for i, n in zip(index, sizes))]


def _scatter_aval(name):
    def abstract_eval(operand, indices, updates, *, axes):
        batch, rest = _batch_and_rest(name, operand, indices, axes)
        if updates.shape != batch + rest:
            raise ShapeError(f"{name}: updates {updates!r} must have shape batch_shape + rest "
                             f"= {batch + rest} for indices {indices!r} into {operand!r}")
        if updates.dtype != operand.dtype:
            raise DtypeError(f"{name}: updates {updates!r} must have the operand's dtype "
                             f"{operand.dtype.name}")
        return operand

    return abstract_eval


def _declare_scatter(name: str, ufunc_name: str | None):
    """A scatter primitive: set (``ufunc_name=None``; the last duplicate wins,
    as in NumPy) or accumulate duplicates with ``ufunc.at``, as ``np.add.at``."""

    def impl(xp, operand, indices, updates, *, axes):
        out = xp.array(operand, copy=True)
        view, index = _indexed_view(xp, out, indices, axes)
        inside = functools.reduce(operator.and_, [(i >= 0) & (i < n)
                                                  for i, n in zip(index, view.shape)])
        index = tuple(i[inside] for i in index)
        updates = xp.asarray(updates)[inside]
        if ufunc_name is None:
            view[index] = updates
        else:
            getattr(xp, ufunc_name).at(view, index, updates)
        return out

    return primitive(name, _scatter_aval(name))(impl)


# Primitive name -> the ufunc that combines an update with the current value.
SCATTERS = {"scatter": None, "scatter_add": "add", "scatter_mul": "multiply",
            "scatter_min": "minimum", "scatter_max": "maximum"}
scatter, scatter_add, scatter_mul, scatter_min, scatter_max = (
    _declare_scatter(name, ufunc) for name, ufunc in SCATTERS.items())


def _check_starts(name, operand, starts):
    if len(starts) != operand.ndim:
        raise ShapeError(f"{name}: needs one start index per axis of {operand!r}, "
                         f"got {len(starts)}")
    for start in starts:
        if start.shape != () or start.dtype.kind not in "iu":
            raise DtypeError(f"{name}: start indices must be integer scalars, got {start!r}")


def _clamped_slices(shape, starts, sizes) -> tuple[slice, ...]:
    """Start indices clamped so that each slice fits in its axis (JAX's rule)."""
    clamped = (min(max(int(s), 0), n - k) for s, n, k in zip(starts, shape, sizes))
    return tuple(slice(s, s + k) for s, k in zip(clamped, sizes))


def _dynamic_slice_aval(operand, *starts, slice_sizes):
    _check_starts("dynamic_slice", operand, starts)
    if len(slice_sizes) != operand.ndim or any(
            not 0 <= k <= n for k, n in zip(slice_sizes, operand.shape)):
        raise ShapeError(f"dynamic_slice: slice_sizes {slice_sizes} do not fit in {operand!r}")
    return AbstractArray(tuple(slice_sizes), operand.dtype, operand.weak_type)


@primitive("dynamic_slice", _dynamic_slice_aval)
def dynamic_slice(xp, operand, *starts, slice_sizes):
    """``operand[s0:s0+k0, s1:s1+k1, ...]`` for (traced) starts ``s``, clamped to fit."""
    operand = xp.asarray(operand)
    return operand[_clamped_slices(operand.shape, starts, slice_sizes)]


def _dynamic_update_slice_aval(operand, update, *starts):
    _check_starts("dynamic_update_slice", operand, starts)
    if update.ndim != operand.ndim or any(k > n for k, n in zip(update.shape, operand.shape)):
        raise ShapeError(f"dynamic_update_slice: update {update!r} does not fit in {operand!r}")
    if update.dtype != operand.dtype:
        raise DtypeError(f"dynamic_update_slice: update {update!r} must have the operand's "
                         f"dtype {operand.dtype.name}")
    return operand


@primitive("dynamic_update_slice", _dynamic_update_slice_aval)
def dynamic_update_slice(xp, operand, update, *starts):
    """A copy of ``operand`` with ``update`` written at (traced) ``starts``, clamped to fit."""
    out = xp.array(operand, copy=True)
    out[_clamped_slices(out.shape, starts, np.shape(update))] = update
    return out
