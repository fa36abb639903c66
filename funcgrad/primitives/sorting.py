"""Sorting: one variadic, stable ``sort`` primitive.

``sort(*operands, dimension, num_keys)`` sorts all operands along
``dimension`` by the first ``num_keys`` of them, lexicographically (the first
key most significant), stably, with NumPy's order: NaNs last.  ``argsort`` is
``sort(x, iota)``'s second result; ``lexsort`` is several keys.

Example:
    >>> import numpy as np
    >>> keys = np.array([2.0, np.nan, 1.0, 2.0])
    >>> sort.impl(np, keys, np.arange(4), dimension=0, num_keys=1)
    (array([ 1.,  2.,  2., nan]), array([2, 0, 3, 1]))
"""

from __future__ import annotations

from funcgrad.errors import AxisError, ShapeError
from funcgrad.ir import AbstractArray
from funcgrad.primitives.registry import primitive


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
