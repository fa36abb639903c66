"""Collectives: values combined across the members of a named axis.

- ``psum``, ``pmean``, ``pmax``, ``pmin`` (operand, ``axis_name``): the sum,
  mean, maximum or minimum over the members; every member gets it.
- ``all_gather`` (operand, ``axis_name``, ``axis``): the members' operands
  stacked along a new axis at ``axis``; every member gets the stack.
- ``psum_scatter`` (operand, ``axis_name``, ``scatter_dimension``): the
  ``psum`` of operands whose axis ``scatter_dimension`` has one entry per
  member, of which member ``i`` gets entry ``i`` (the transpose of
  ``all_gather``).
- ``axis_index`` (no operand, ``axis_name``): the member's position, an
  int32 scalar.

They name an axis and nothing about how it is carried out: under
``fg.vmap(..., axis_name=...)`` their batching rules turn them into
reductions and moves of the batch axis (one batched operation, no loop); a
multi-device backend can lower the same primitives to MPI/NCCL collectives.
Each is marked ``collective``, so the batching pass calls its rule even when
no operand is batched (``psum`` of a value shared by every member is that
value times the axis size).  Abstract evaluation looks the axis up in the
axis environment (``funcgrad.transforms.batching.axis_size``): an unknown
name fails when the function is traced, and outside any vmap the eager
implementation fails the same way.  A collective over the name of an outer
vmap passes through an inner one untouched (applied to each inner member).

Derivatives treat a vmapped function's members together, as a loop over
them whose outputs are summed: ``psum``, ``pmean``, ``all_gather`` and
``psum_scatter`` are linear (the transpose of ``psum`` is ``psum``, of
``all_gather`` is ``psum_scatter`` and back), so ``fg.vmap(fg.grad(f))``
equals ``fg.grad`` of the sum over the members of ``fg.vmap(f)``.  Ties of
``pmax``/``pmin`` share the derivative evenly, as ``reduce_max`` does.

The user-facing functions (over pytrees) are in ``funcgrad.transforms.collectives``.

Example:
    >>> import funcgrad as fg, numpy as np
    >>> fg.vmap(lambda x: x / psum.bind(x, axis_name="i"), axis_name="i")(np.array([1.0, 3.0]))
    array([0.25, 0.75])
    >>> fg.vmap(lambda x: axis_index.bind(axis_name="i") * x, axis_name="i")(np.ones(3, np.int32))
    array([0, 1, 2], dtype=int32)
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from funcgrad.errors import AxisError, DtypeError, ShapeError
from funcgrad.ir import AbstractArray, Literal, abstractify
from funcgrad.primitives.elementwise import PRIMITIVE_OF_ROW as ELEMENTWISE
from funcgrad.primitives.reductions import reduce_max, reduce_min, reduce_sum
from funcgrad.primitives.registry import Primitive, primitive
from funcgrad.primitives.structural import broadcast_in_dim, convert_element_type, iota
from funcgrad.transforms.batch_dims import moveaxis_to
from funcgrad.transforms.batching import BatchingError, axis_size
from funcgrad.transforms.tangents import Zero, linear_jvp, tangent_aval

# ---------------------------------------------------------------- declarations


def _size(name: str, axis_name: Hashable) -> int:
    """The size of the vmap axis ``axis_name``: a clear error for an unknown one."""
    if axis_name is None:
        raise BatchingError(f"{name}: axis_name is None, but a collective needs the name of a "
                            "vmap axis", f"use fg.vmap(..., axis_name='i') and {name}(x, 'i')")
    try:
        hash(axis_name)
    except TypeError:
        raise BatchingError(f"{name}: axis_name must be hashable (a string), got {axis_name!r}"
                            ) from None
    return axis_size(axis_name)


def _check_kind(name: str, x: AbstractArray, kinds: str) -> None:
    if x.dtype.kind not in kinds:
        allowed = {"iufc": "numbers", "fc": "inexact numbers", "iuf": "real numbers"}[kinds]
        raise DtypeError(f"{name}: defined for {allowed}, not {x.dtype.name} operands",
                         "convert the operand first, e.g. x.astype(np.float64)")


def _reduction_aval(name: str, kinds: str) -> Callable:
    def abstract_eval(x: AbstractArray, *, axis_name: Hashable) -> AbstractArray:
        _size(name, axis_name)
        _check_kind(name, x, kinds)
        return x.strong()

    return abstract_eval


def _eager(name: str) -> Callable:
    """The eager implementation: a collective has no meaning outside its vmap."""

    def impl(xp, *args, axis_name, **params):
        _size(name, axis_name)  # no such axis: the clear error
        raise BatchingError(f"{name} over axis {axis_name!r} runs only inside its vmap, as part "
                            "of the batched computation, not on arrays directly")

    return impl


# The reductions over the members, and the dtype kinds each accepts.
REDUCTIONS = {"psum": "iufc", "pmean": "fc", "pmax": "iuf", "pmin": "iuf"}
psum, pmean, pmax, pmin = (Primitive(name, _reduction_aval(name, kinds), _eager(name))
                           for name, kinds in REDUCTIONS.items())


def _all_gather_aval(x: AbstractArray, *, axis_name: Hashable, axis: int) -> AbstractArray:
    size = _size("all_gather", axis_name)
    if not 0 <= axis <= x.ndim:
        raise AxisError(f"all_gather: axis {axis} is out of range for a new axis of {x!r}")
    return AbstractArray((*x.shape[:axis], size, *x.shape[axis:]), x.dtype, x.weak_type)


all_gather = primitive("all_gather", _all_gather_aval)(_eager("all_gather"))


def _psum_scatter_aval(x: AbstractArray, *, axis_name: Hashable, scatter_dimension: int
                       ) -> AbstractArray:
    size = _size("psum_scatter", axis_name)
    _check_kind("psum_scatter", x, "iufc")
    if not 0 <= scatter_dimension < x.ndim:
        raise AxisError(f"psum_scatter: scatter_dimension {scatter_dimension} is out of range "
                        f"for {x!r}")
    if x.shape[scatter_dimension] != size:
        raise ShapeError(f"psum_scatter: axis {scatter_dimension} of {x!r} must have one entry "
                         f"per member of axis {axis_name!r} (size {size})")
    return AbstractArray(x.shape[:scatter_dimension] + x.shape[scatter_dimension + 1:], x.dtype)


psum_scatter = primitive("psum_scatter", _psum_scatter_aval)(_eager("psum_scatter"))


def _axis_index_aval(*, axis_name: Hashable) -> AbstractArray:
    _size("axis_index", axis_name)
    return AbstractArray((), np.dtype(np.int32))


axis_index = primitive("axis_index", _axis_index_aval)(_eager("axis_index"))

COLLECTIVES = (psum, pmean, pmax, pmin, all_gather, psum_scatter, axis_index)
for _collective in COLLECTIVES:
    _collective.collective = True

# ---------------------------------------------------------------- batching rules
#
# Over their own axis (``ctx.name == axis_name``) the members are the batch:
# reduce over the batch axis (an unbatched operand is the same for every
# member).  Over an outer vmap's axis, apply the collective to the batched
# operand: the inner batch axis is one more axis of each outer member's value.


def _strong(x: Any) -> Any:
    aval = abstractify(x)
    return convert_element_type.bind(x, new_dtype=aval.dtype) if aval.weak_type else x


def _full(value: Any, aval: AbstractArray) -> Any:
    return broadcast_in_dim.bind(Literal(np.asarray(value, aval.dtype)[()], AbstractArray((), aval.dtype)),
                                 shape=aval.shape, broadcast_dimensions=())


def _sum(x: Any, dim: int | None, size: int) -> Any:
    """The sum over the members (``x`` batched at ``dim``, or shared when None)."""
    if dim is None:
        x = _strong(x)
        return ELEMENTWISE["mul"].bind(x, _full(size, abstractify(x)))
    return reduce_sum.bind(x, axes=(dim,))


def _reduction_batch(prim: Primitive, over_batch: Callable) -> Callable:
    def batch(ctx, args, dims, *, axis_name):
        (x,), (dim,) = args, dims
        if ctx.name != axis_name:
            return prim.bind(x, axis_name=axis_name), dim
        return over_batch(x, dim, ctx.size), None

    return batch


def _mean(x: Any, dim: int | None, size: int) -> Any:
    if dim is None:
        return _strong(x)
    total = reduce_sum.bind(x, axes=(dim,))
    return ELEMENTWISE["div"].bind(total, _full(size, abstractify(total)))


def _extremum(reduce: Primitive) -> Callable:
    """The max or min over the members: a value shared by all is its own."""
    return lambda x, dim, size: _strong(x) if dim is None else reduce.bind(x, axes=(dim,))


for _prim, _over_batch in [(psum, _sum), (pmean, _mean), (pmax, _extremum(reduce_max)),
                           (pmin, _extremum(reduce_min))]:
    _prim.batch = _reduction_batch(_prim, _over_batch)


def _all_gather_batch(ctx, args, dims, *, axis_name, axis):
    (x,), (dim,) = args, dims
    if ctx.name != axis_name:
        if dim is None:
            return all_gather.bind(x, axis_name=axis_name, axis=axis), None
        return all_gather.bind(moveaxis_to(x, dim, 0), axis_name=axis_name, axis=axis + 1), 0
    if dim is not None:  # the batch axis is the gathered axis
        return moveaxis_to(x, dim, axis), None
    shape = abstractify(x).shape
    return broadcast_in_dim.bind(x, shape=(*shape[:axis], ctx.size, *shape[axis:]),
                                 broadcast_dimensions=tuple(d + (d >= axis) for d in range(len(shape)))
                                 ), None


def _psum_scatter_batch(ctx, args, dims, *, axis_name, scatter_dimension):
    (x,), (dim,) = args, dims
    if ctx.name != axis_name:
        if dim is None:
            return psum_scatter.bind(x, axis_name=axis_name, scatter_dimension=scatter_dimension), None
        return psum_scatter.bind(moveaxis_to(x, dim, 0), axis_name=axis_name,
                                 scatter_dimension=scatter_dimension + 1), 0
    # After the sum, entry i of the scatter axis is member i's: that axis is the batch axis.
    return _sum(x, dim, ctx.size), scatter_dimension


def _axis_index_batch(ctx, args, dims, *, axis_name):
    if ctx.name != axis_name:
        return axis_index.bind(axis_name=axis_name), None
    return iota.bind(dtype=np.dtype(np.int32), shape=(ctx.size,), dimension=0), 0


all_gather.batch = _all_gather_batch
psum_scatter.batch = _psum_scatter_batch
axis_index.batch = _axis_index_batch

# ---------------------------------------------------------------- derivative rules


def _extremum_jvp(prim: Primitive) -> Callable:
    """The tangent of the member(s) holding the extremum, shared evenly among ties."""

    def jvp(primals, tangents, *, axis_name):
        (x,), (t,) = primals, tangents
        out = prim.bind(x, axis_name=axis_name)
        if isinstance(t, Zero):
            return out, Zero(tangent_aval(abstractify(out)))
        holds = convert_element_type.bind(ELEMENTWISE["eq"].bind(x, out), new_dtype=abstractify(out).dtype)
        share = psum.bind(ELEMENTWISE["mul"].bind(t, holds), axis_name=axis_name)
        return out, ELEMENTWISE["div"].bind(share, psum.bind(holds, axis_name=axis_name))

    return jvp


def _axis_index_jvp(primals, tangents, *, axis_name):
    out = axis_index.bind(axis_name=axis_name)
    return out, Zero(tangent_aval(abstractify(out)))


for _linear in (psum, pmean, all_gather, psum_scatter):
    _linear.jvp = linear_jvp(_linear)
pmax.jvp = _extremum_jvp(pmax)
pmin.jvp = _extremum_jvp(pmin)
axis_index.jvp = _axis_index_jvp
psum.transpose = lambda ct, x, *, axis_name: [psum.bind(ct, axis_name=axis_name)]
pmean.transpose = lambda ct, x, *, axis_name: [pmean.bind(ct, axis_name=axis_name)]
all_gather.transpose = lambda ct, x, *, axis_name, axis: [
    psum_scatter.bind(ct, axis_name=axis_name, scatter_dimension=axis)]
psum_scatter.transpose = lambda ct, x, *, axis_name, scatter_dimension: [
    all_gather.bind(ct, axis_name=axis_name, axis=scatter_dimension)]
