"""What batching rules work with: batch dimensions and moving them.

A batched value is an array (or tracer) with one extra axis, its *batch
dimension* ``dim``; ``dim is None`` means the value is the same for every
member of the batch.  A rule ``primitive.batch(ctx, args, dims, **params)``
returns ``(out, out_dim)`` (lists for multiple results); ``ctx.size`` is the
batch size and ``ctx.name`` the vmap's axis name.

Example:
    >>> import numpy as np
    >>> x = np.zeros((3, 5))
    >>> moveaxis_to(x, 1, 0).shape
    (5, 3)
    >>> at_front(np.ones(2), None, 4).shape
    (4, 2)
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from funcgrad.ir import abstractify


@dataclass(frozen=True)
class BatchContext:
    """The vmap being applied: its size and axis name."""

    size: int
    name: Hashable | None = None


def ndim(x: Any) -> int:
    return len(abstractify(x).shape)


def moveaxis_to(x: Any, source: int, destination: int) -> Any:
    """``x`` with axis ``source`` moved to ``destination`` (a ``transpose``)."""
    from funcgrad.primitives.structural import transpose

    if source == destination:
        return x
    order = [d for d in range(ndim(x)) if d != source]
    order.insert(destination, source)
    return transpose.bind(x, permutation=tuple(order))


def at_front(x: Any, dim: int | None, size: int) -> Any:
    """``x`` with its batch dimension first; an unbatched ``x`` is broadcast."""
    from funcgrad.primitives.structural import broadcast_in_dim

    if dim is None:
        shape = abstractify(x).shape
        return broadcast_in_dim.bind(x, shape=(size, *shape),
                                     broadcast_dimensions=tuple(range(1, len(shape) + 1)))
    return moveaxis_to(x, dim, 0)


def all_at_front(args: Sequence[Any], dims: Sequence[int | None], size: int) -> list[Any]:
    return [at_front(x, d, size) for x, d in zip(args, dims)]


def shift_axes(axes: Sequence[int]) -> tuple[int, ...]:
    """Axes of an unbatched operand, once its batch dimension is in front."""
    return tuple(a + 1 for a in axes)


def elementwise_batch(primitive) -> Callable:
    """The rule of a primitive applied to operands of equal shapes: put every
    batch dimension in front (broadcasting unbatched operands), apply it once."""

    def batch(ctx: BatchContext, args, dims, **params):
        batched = [d for d in dims if d is not None]
        if all(d == batched[0] for d in batched) and all(d is not None for d in dims):
            out = primitive.bind(*args, **params)
            return out, _dims(out, batched[0])
        out = primitive.bind(*all_at_front(args, dims, ctx.size), **params)
        return out, _dims(out, 0)

    return batch


def leading_batch(primitive) -> Callable:
    """The rule of a primitive that already maps over leading dimensions
    (the linear-algebra decompositions): batch dimension first, apply once."""

    def batch(ctx: BatchContext, args, dims, **params):
        out = primitive.bind(*all_at_front(args, dims, ctx.size), **params)
        return out, _dims(out, 0)

    return batch


def _dims(out: Any, dim: int) -> Any:
    """``dim`` for each result of a primitive (a list for multiple results)."""
    return [dim] * len(out) if isinstance(out, (list, tuple)) else dim


