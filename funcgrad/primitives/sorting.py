"""Sorting: one variadic, stable ``sort`` primitive.

``sort(*operands, dimension, num_keys)`` sorts all operands along
``dimension`` by the first ``num_keys`` of them, lexicographically (the first
key most significant), stably, with NumPy's order: NaNs last.  ``argsort`` is
``sort(x, iota)``'s second result; ``lexsort`` is several keys.

Derivative: each output element gets the tangent of the element that landed
there (ties keep their stable order), as in JAX.

Example:
    >>> import numpy as np
    >>> keys = np.array([2.0, np.nan, 1.0, 2.0])
    >>> sort.impl(np, keys, np.arange(4), dimension=0, num_keys=1)
    (array([ 1.,  2.,  2., nan]), array([2, 0, 3, 1]))
"""

from __future__ import annotations

import numpy as np

from funcgrad.errors import AxisError, ShapeError
from funcgrad.ir import AbstractArray, abstractify
from funcgrad.primitives.registry import primitive
from funcgrad.primitives.structural import iota
from funcgrad.transforms.batch_dims import all_at_front
from funcgrad.transforms.tangents import Zero, is_linear, tangent_aval


def _sort_aval(*operands: AbstractArray, dimension: int, num_keys: int) -> list[AbstractArray]:
    if not operands:
        raise ShapeError("sort: needs at least one operand")
    first = operands[0]
    if any(op.shape != first.shape for op in operands):
        shapes = " ".join(str(op.shape) for op in operands)
        raise ShapeError(f"sort: operands must have equal shapes, got {shapes}")
    if not 0 <= dimension < first.ndim:
        raise AxisError(f"sort: dimension {dimension} is out of bounds for {first!r}")
    if not 1 <= num_keys <= len(operands):
        raise ValueError(f"sort: num_keys must be between 1 and the number of operands "
                         f"({len(operands)}), got {num_keys}")
    return list(operands)


@primitive("sort", _sort_aval, multiple_results=True)
def sort(xp, *operands, dimension, num_keys):
    if len(operands) == 1:
        return (xp.sort(operands[0], axis=dimension, kind="stable"),)
    # Least significant key first: each stable pass keeps the order of the
    # previous passes among equal keys (an LSD sort of permutations).
    order = None
    for key in reversed(operands[:num_keys]):
        if order is not None:
            key = xp.take_along_axis(key, order, axis=dimension)
        step = xp.argsort(key, axis=dimension, kind="stable")
        order = step if order is None else xp.take_along_axis(order, step, axis=dimension)
    return tuple(xp.take_along_axis(op, order, axis=dimension) for op in operands)


# ---------------------------------------------------------------- derivative rules
# For fixed keys, sort permutes its operands: linear in the non-key ones.  So
# the tangents are sorted along with the keys (ties keep the stable order, so
# each output gets the tangent of the element that landed there), and the
# transpose sorts the cotangents by the permutation, which undoes it.


def _sort_jvp(primals, tangents, *, dimension, num_keys):
    out = sort.bind(*primals, dimension=dimension, num_keys=num_keys)
    out_tangents = [Zero(tangent_aval(abstractify(o))) for o in out]
    moving = [i for i, t in enumerate(tangents) if not isinstance(t, Zero)]
    if moving:
        permuted = sort.bind(*primals[:num_keys], *(tangents[i] for i in moving),
                             dimension=dimension, num_keys=num_keys)[num_keys:]
        for i, t in zip(moving, permuted):
            out_tangents[i] = t
    return out, out_tangents


def _sort_transpose(cts, *operands, dimension, num_keys):
    keys = operands[:num_keys]
    if any(is_linear(k) for k in keys):
        raise NotImplementedError("sort is linear in its non-key operands only")
    positions = iota.bind(dtype=np.dtype(np.intp), shape=abstractify(keys[0]).shape,
                          dimension=dimension)
    order = sort.bind(*keys, positions, dimension=dimension, num_keys=num_keys)[-1]
    back = [i for i, (x, ct) in enumerate(zip(operands, cts))
            if is_linear(x) and not isinstance(ct, Zero)]
    if not back:
        return [None] * len(operands)
    unsorted = sort.bind(order, *(cts[i] for i in back), dimension=dimension, num_keys=1)[1:]
    result: list = [None] * len(operands)
    for i, ct in zip(back, unsorted):
        result[i] = ct
    return result


sort.jvp = _sort_jvp
sort.transpose = _sort_transpose


# ---------------------------------------------------------------- batching rule
# Operands batched along one common axis sort as they are, along ``dimension``
# shifted past it; otherwise every batch dimension goes first (unbatched
# operands are broadcast, since sort needs equal shapes).


def _sort_batch(ctx, args, dims, *, dimension, num_keys):
    d = dims[0]
    if d is not None and all(other == d for other in dims):
        out = sort.bind(*args, dimension=dimension + (dimension >= d), num_keys=num_keys)
        return out, [d] * len(out)
    out = sort.bind(*all_at_front(args, dims, ctx.size), dimension=dimension + 1,
                    num_keys=num_keys)
    return out, [0] * len(out)


sort.batch = _sort_batch
