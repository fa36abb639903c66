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
import math
import operator

import numpy as np

from funcgrad.errors import AxisError, DtypeError, ShapeError
from funcgrad.ir import AbstractArray, abstractify
from funcgrad.primitives.elementwise import PRIMITIVE_OF_ROW
from funcgrad.primitives.registry import primitive
from funcgrad.primitives.structural import (
    broadcast_in_dim,
    concatenate,
    convert_element_type,
    iota,
    transpose,
)
from funcgrad.transforms.batch_dims import at_front, moveaxis_to, ndim, shift_axes
from funcgrad.transforms.tangents import (
    Zero,
    add_tangents,
    aval_of,
    instantiate,
    is_linear,
    tangent_aval,
    zeros,
)


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


# ---------------------------------------------------------------- derivative rules
# gather, scatter, scatter_add and the dynamic slices are linear in their array
# operands (never in their integer indices); scatter_mul/min/max are not linear
# but their JVPs are, in the tangents.  Out-of-range indices behave in the
# derivatives as in the values: a gather reads the clamped position, so its
# cotangent goes back there; a scatter drops the update, so its cotangent is zero.


def _linear_in(primitive, positions: tuple[int, ...]):
    """The JVP rule of a primitive jointly linear in its operands at ``positions``
    (the others, the indices, are fixed): apply it to the tangents."""

    def jvp(primals, tangents, **params):
        out = primitive.bind(*primals, **params)
        if all(isinstance(tangents[i], Zero) for i in positions):
            return out, Zero(tangent_aval(abstractify(out)))
        args = [instantiate(t) if i in positions else p
                for i, (p, t) in enumerate(zip(primals, tangents))]
        return out, primitive.bind(*args, **params)

    return jvp


def _axis_sizes(indices, shape, axes, minus: int = 0) -> np.ndarray:
    """The sizes of the indexed axes (less ``minus``), to compare with ``indices``."""
    return np.array([shape[a] - minus for a in axes], abstractify(indices).dtype)


def _in_range(indices, shape, axes):
    """Which batch positions of ``indices`` a scatter writes (None: all of them)."""
    from funcgrad.primitives.registry import fnp

    inside = (indices >= 0) & (indices < _axis_sizes(indices, shape, axes))
    if isinstance(inside, np.ndarray) and inside.all():  # constant indices, all in range
        return None
    return fnp.all(inside, axis=-1)


def _where_batch(mask, values):
    """``values`` (batch + rest) where the batch-shaped ``mask`` holds, else 0."""
    from funcgrad.primitives.registry import fnp

    if mask is None:
        return values
    rest = np.ndim(values) - np.ndim(mask)
    return fnp.where(fnp.reshape(mask, np.shape(mask) + (1,) * rest), values, 0)


def _gather_transpose(ct, operand, indices, *, axes):
    from funcgrad.primitives.registry import fnp

    aval = operand.aval
    if aval.size == 0:
        return [zeros(aval), None]
    clamped = fnp.clip(indices, 0, _axis_sizes(indices, aval.shape, axes, minus=1))
    return [scatter_add.bind(zeros(aval), clamped, ct, axes=axes), None]


def _scatter_add_transpose(ct, operand, indices, updates, *, axes):
    t_updates = None
    if is_linear(updates):
        mask = _in_range(indices, abstractify(ct).shape, axes)
        t_updates = _where_batch(mask, gather.bind(ct, indices, axes=axes))
    return [ct if is_linear(operand) else None, None, t_updates]


def _scatter_transpose(ct, operand, indices, updates, *, axes):
    from funcgrad.primitives.registry import fnp

    t_operand = t_updates = None
    if is_linear(operand):  # the overwritten positions did not reach the output
        t_operand = scatter.bind(ct, indices, zeros(aval_of(updates)), axes=axes)
    if is_linear(updates):
        # Label each update element 1, 2, ... and scatter the labels as the
        # updates were: where its own label is read back, the update won (it
        # was the last of its duplicates, and in range).
        shape, int64 = updates.aval.shape, np.dtype(np.int64)
        labels = fnp.reshape(iota.bind(dtype=int64, shape=(math.prod(shape),), dimension=0),
                             shape) + 1
        written = scatter.bind(zeros(AbstractArray(abstractify(ct).shape, int64)), indices,
                               labels, axes=axes)
        won = gather.bind(written, indices, axes=axes) == labels
        t_updates = fnp.where(won, gather.bind(ct, indices, axes=axes), 0)
    return [t_operand, None, t_updates]


def _scatter_mul_jvp(primals, tangents, *, axes):
    """``out = x * P``, ``P[p]`` the product of the updates at ``p``:
    ``dout = dx * P + x * scatter_add(others * du)``, with ``others`` the
    product of an update's duplicates but itself, computed without dividing
    by zero: the product of the nonzero updates at ``p`` over the update
    (if nonzero), and zero where another update at ``p`` is zero."""
    from funcgrad.primitives.registry import fnp

    (x, indices, u), (dx, _, du) = primals, tangents
    out = scatter_mul.bind(x, indices, u, axes=axes)
    t_out = Zero(tangent_aval(abstractify(out)))
    ones = fnp.ones_like(x)
    if not isinstance(dx, Zero):
        t_out = dx * scatter_mul.bind(ones, indices, u, axes=axes)
    if not isinstance(du, Zero):
        is_zero = u == 0
        nonzero = fnp.where(is_zero, 1, u)
        product = gather.bind(scatter_mul.bind(ones, indices, nonzero, axes=axes), indices,
                              axes=axes)
        n_zeros = scatter_add.bind(fnp.zeros_like(x), indices, is_zero.astype(u.dtype),
                                   axes=axes)
        no_other_zero = gather.bind(n_zeros, indices, axes=axes) == is_zero
        others = fnp.where(no_other_zero, product / nonzero, 0)
        t_out = add_tangents(t_out, x * scatter_add.bind(fnp.zeros_like(x), indices,
                                                          others * du, axes=axes))
    return out, t_out


def _scatter_extremum_jvp(primitive):
    """scatter_min/max: the tangent of each output element is the mean of the
    tangents of the values that tie for it (the operand's and the updates'):
    ties split evenly, JAX's convention for max and min."""

    def jvp(primals, tangents, *, axes):
        from funcgrad.primitives.registry import fnp

        (x, indices, u), (dx, _, du) = primals, tangents
        out = primitive.bind(x, indices, u, axes=axes)
        x_won = (x == out).astype(x.dtype)
        u_won = (u == gather.bind(out, indices, axes=axes)).astype(x.dtype)
        # Dropped (out-of-range) updates do not count: scatter_add drops them too.
        n_won = x_won + scatter_add.bind(fnp.zeros_like(x), indices, u_won, axes=axes)
        t_out = Zero(tangent_aval(abstractify(out)))
        if not isinstance(dx, Zero):
            t_out = dx * (x_won / n_won)
        if not isinstance(du, Zero):
            # A dropped update reads 0 winners back from an empty operand.
            share = u_won / fnp.maximum(gather.bind(n_won, indices, axes=axes), 1)
            t_out = add_tangents(t_out, scatter_add.bind(fnp.zeros_like(x), indices, share * du,
                                                         axes=axes))
        return out, t_out

    return jvp


def _dynamic_slice_transpose(ct, operand, *starts, slice_sizes):
    return [dynamic_update_slice.bind(zeros(operand.aval), ct, *starts)] + [None] * len(starts)


def _dynamic_update_slice_transpose(ct, operand, update, *starts):
    t_operand = t_update = None
    if is_linear(operand):  # the updated window did not reach the output
        t_operand = dynamic_update_slice.bind(ct, zeros(aval_of(update)), *starts)
    if is_linear(update):
        t_update = dynamic_slice.bind(ct, *starts, slice_sizes=update.aval.shape)
    return [t_operand, t_update] + [None] * len(starts)


gather.jvp, gather.transpose = _linear_in(gather, (0,)), _gather_transpose
scatter.jvp, scatter.transpose = _linear_in(scatter, (0, 2)), _scatter_transpose
scatter_add.jvp, scatter_add.transpose = _linear_in(scatter_add, (0, 2)), _scatter_add_transpose
scatter_mul.jvp = _scatter_mul_jvp
scatter_min.jvp, scatter_max.jvp = _scatter_extremum_jvp(scatter_min), _scatter_extremum_jvp(
    scatter_max)
dynamic_slice.jvp, dynamic_slice.transpose = _linear_in(dynamic_slice, (0,)), _dynamic_slice_transpose
dynamic_update_slice.jvp = _linear_in(dynamic_update_slice, (0, 1))
dynamic_update_slice.transpose = _dynamic_update_slice_transpose


# ---------------------------------------------------------------- batching rules
# Indices the same for every member leave the operand's batch axis alone: it is
# one more whole ("rest") axis.  Indices that vary over the batch also index the
# operand's batch axis, with an iota, so that each member reads (writes) its own
# slice.  A dynamic slice whose start varies becomes a gather (scatter) of its
# window.


def _with_batch_axis(axes: tuple[int, ...], dim: int) -> tuple[int, ...]:
    """``axes`` of an operand once a batch axis is inserted at ``dim``."""
    return tuple(a + (a >= dim) for a in axes)


def _rest_position(axes: tuple[int, ...], dim: int) -> int:
    """Where the operand's batch axis ``dim`` (not in ``axes``) is among the rest axes."""
    return sum(1 for d in range(dim) if d not in axes)


def _batch_at(x, dim: int | None, size: int, to: int):
    """``x`` with its batch axis at ``to``; an unbatched ``x`` is broadcast there."""
    if dim is not None:
        return moveaxis_to(x, dim, to)
    shape = abstractify(x).shape
    return broadcast_in_dim.bind(x, shape=shape[:to] + (size,) + shape[to:],
                                 broadcast_dimensions=_with_batch_axis(tuple(range(len(shape))), to))


def _off_last_axis(indices, dim: int) -> tuple:
    """Batched indices whose batch axis is not the index-vector (last) axis."""
    if dim == ndim(indices) - 1:
        return moveaxis_to(indices, dim, 0), 0
    return indices, dim


def _member_index(ctx, indices, dim: int, axes: tuple[int, ...]) -> tuple:
    """Batched indices (along ``dim``) and axes that also index the operand's
    batch axis (put first) with each member's number."""
    shape, dtype = abstractify(indices).shape, abstractify(indices).dtype
    if np.iinfo(dtype).max < ctx.size - 1:  # the member numbers must fit
        dtype = np.dtype(np.int64)
        indices = convert_element_type.bind(indices, new_dtype=dtype)
    member = iota.bind(dtype=dtype, shape=shape[:-1] + (1,), dimension=dim)
    return concatenate.bind(member, indices, dimension=len(shape) - 1), (0, *shift_axes(axes))


def _gather_batch(ctx, args, dims, *, axes):
    (operand, indices), (operand_dim, indices_dim) = args, dims
    if indices_dim is None:
        axes = _with_batch_axis(axes, operand_dim)
        out_dim = ndim(indices) - 1 + _rest_position(axes, operand_dim)
        return gather.bind(operand, indices, axes=axes), out_dim
    indices, indices_dim = _off_last_axis(indices, indices_dim)
    if operand_dim is not None:
        operand = moveaxis_to(operand, operand_dim, 0)
        indices, axes = _member_index(ctx, indices, indices_dim, axes)
    return gather.bind(operand, indices, axes=axes), indices_dim


def _scatter_batch(primitive):
    """The rule of a scatter: its result varies over the batch, so the operand
    is batched (broadcast if it is not), and the updates follow the indices."""

    def batch(ctx, args, dims, *, axes):
        (operand, indices, updates), (operand_dim, indices_dim, updates_dim) = args, dims
        if indices_dim is None:
            if operand_dim is None:
                operand, operand_dim = at_front(operand, None, ctx.size), 0
            axes = _with_batch_axis(axes, operand_dim)
            updates_to = ndim(indices) - 1 + _rest_position(axes, operand_dim)
        else:
            indices, indices_dim = _off_last_axis(indices, indices_dim)
            operand, operand_dim = at_front(operand, operand_dim, ctx.size), 0
            indices, axes = _member_index(ctx, indices, indices_dim, axes)
            updates_to = indices_dim
        updates = _batch_at(updates, updates_dim, ctx.size, updates_to)
        return primitive.bind(operand, indices, updates, axes=axes), operand_dim

    return batch


def _fixed_starts(shape, starts, dims, sizes) -> tuple[list, list[int]]:
    """The starts, those of whole-axis windows replaced by 0 (they clamp to 0
    whatever their value), and the axes whose start varies over the batch."""
    starts = [np.int64(0) if k == n else s for s, n, k in zip(starts, shape, sizes)]
    varying = [a for a, (d, n, k) in enumerate(zip(dims, shape, sizes)) if d is not None and k < n]
    return starts, varying


def _clamped_start(start, limit: int):
    """``start`` clamped into ``[0, limit]`` as dynamic_slice does, as int64:
    clamped in its own dtype (whose maximum may be less than ``limit``), then widened."""
    aval = abstractify(start)
    low, high = (np.full(aval.shape, bound, aval.dtype)
                 for bound in (0, min(limit, np.iinfo(aval.dtype).max)))
    start = PRIMITIVE_OF_ROW["min"].bind(PRIMITIVE_OF_ROW["max"].bind(start, low), high)
    if aval.dtype != np.int64:
        start = convert_element_type.bind(start, new_dtype=np.dtype(np.int64))
    return start


def _window_index(ctx, shape, starts, dims, sizes, batched_operand: bool) -> tuple:
    """A dynamic slice's window as a gather/scatter, for starts varying over the
    batch: ``(indices, axes, order)``.  The indices (batched along 0) hold each
    member's window positions along the axes that are not taken whole, and its
    member number first if the operand is batched (along 0); the gathered
    window holds the operand's axes in ``order``."""
    axes = tuple(a for a, (n, k) in enumerate(zip(shape, sizes)) if k < n)
    window = (ctx.size, *(sizes[a] for a in axes), 1)

    def counts(dimension):
        return iota.bind(dtype=np.dtype(np.int64), shape=window, dimension=dimension)

    columns = [counts(0)] if batched_operand else []
    for j, a in enumerate(axes):
        start = broadcast_in_dim.bind(_clamped_start(starts[a], shape[a] - sizes[a]), shape=window,
                                      broadcast_dimensions=(0,) if dims[a] is not None else ())
        columns.append(PRIMITIVE_OF_ROW["add"].bind(start, counts(1 + j)))
    indices = concatenate.bind(*columns, dimension=len(window) - 1)
    order = [*axes, *(a for a in range(len(shape)) if a not in axes)]
    return indices, (0, *shift_axes(axes)) if batched_operand else axes, order


def _unbatched_shape(x, dim: int | None) -> tuple[int, ...]:
    shape = abstractify(x).shape
    return shape if dim is None else shape[:dim] + shape[dim + 1:]


def _permute(x, order: list[int], inverse: bool = False):
    """``x`` (batched along 0) from its axes in ``order`` to their natural
    order (from the natural order to ``order`` if ``inverse``)."""
    permutation = order if inverse else [order.index(a) for a in range(len(order))]
    if permutation == list(range(len(order))):
        return x
    return transpose.bind(x, permutation=(0, *shift_axes(permutation)))


def _dynamic_slice_batch(ctx, args, dims, *, slice_sizes):
    (operand, *starts), (operand_dim, *start_dims) = args, dims
    shape = _unbatched_shape(operand, operand_dim)
    starts, varying = _fixed_starts(shape, starts, start_dims, slice_sizes)
    if not varying:
        if operand_dim is None:  # only starts of whole-axis windows vary
            return dynamic_slice.bind(operand, *starts, slice_sizes=slice_sizes), None
        starts.insert(operand_dim, np.int64(0))
        sizes = slice_sizes[:operand_dim] + (ctx.size,) + slice_sizes[operand_dim:]
        return dynamic_slice.bind(operand, *starts, slice_sizes=sizes), operand_dim
    batched = operand_dim is not None
    if batched:
        operand = moveaxis_to(operand, operand_dim, 0)
    indices, axes, order = _window_index(ctx, shape, starts, start_dims, slice_sizes, batched)
    return _permute(gather.bind(operand, indices, axes=axes), order), 0


def _dynamic_update_slice_batch(ctx, args, dims):
    (operand, update, *starts), (operand_dim, update_dim, *start_dims) = args, dims
    shape = _unbatched_shape(operand, operand_dim)
    sizes = _unbatched_shape(update, update_dim)
    starts, varying = _fixed_starts(shape, starts, start_dims, sizes)
    if not varying:
        if operand_dim is None and update_dim is None:  # only whole-axis starts vary
            return dynamic_update_slice.bind(operand, update, *starts), None
        if operand_dim is None:  # broadcast where the update's batch axis is
            operand_dim = update_dim
            operand = _batch_at(operand, None, ctx.size, operand_dim)
        starts.insert(operand_dim, np.int64(0))
        update = _batch_at(update, update_dim, ctx.size, operand_dim)
        return dynamic_update_slice.bind(operand, update, *starts), operand_dim
    indices, axes, order = _window_index(ctx, shape, starts, start_dims, sizes, True)
    update = _permute(at_front(update, update_dim, ctx.size), order, inverse=True)
    return scatter.bind(at_front(operand, operand_dim, ctx.size), indices, update, axes=axes), 0


gather.batch = _gather_batch
for _scatter in (scatter, scatter_add, scatter_mul, scatter_min, scatter_max):
    _scatter.batch = _scatter_batch(_scatter)
dynamic_slice.batch = _dynamic_slice_batch
dynamic_update_slice.batch = _dynamic_update_slice_batch
