"""Collectives over a named vmap axis: ``psum``, ``pmean``, ``pmax``,
``pmin``, ``all_gather``, ``psum_scatter`` and ``axis_index``.

Inside ``fg.vmap(f, axis_name="i")``, ``f`` sees one member of the batch;
a collective over ``"i"`` combines the values of all members (every member
gets the result), as the same call would across devices.  Each function
takes a pytree and applies the primitive of
``funcgrad.primitives.collectives`` to every leaf.

Example:
    >>> import funcgrad as fg, numpy as np
    >>> normalize = fg.vmap(lambda x: x / psum(x, "i"), axis_name="i")
    >>> normalize(np.array([1.0, 3.0]))
    array([0.25, 0.75])
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np

from funcgrad.numpy._core import aval_of, convert, normalize_axis
from funcgrad.primitives import collectives as primitives
from funcgrad.tree import tree_map

__all__ = ["psum", "pmean", "pmax", "pmin", "all_gather", "psum_scatter", "axis_index"]


def _reduce(primitive, x: Any, axis_name: Hashable) -> Any:
    return tree_map(lambda leaf: primitive.bind(leaf, axis_name=axis_name), x)


def psum(x: Any, axis_name: Hashable) -> Any:
    """The sum of ``x`` over the members of the vmap axis ``axis_name`` (each
    leaf keeps its dtype); ``psum(1, name)`` is the axis size.

    Example:
        >>> import funcgrad as fg, numpy as np
        >>> fg.vmap(lambda x: psum(x, "i"), axis_name="i")(np.arange(3.0))
        array([3., 3., 3.])
    """
    return _reduce(primitives.psum, x, axis_name)


def pmean(x: Any, axis_name: Hashable) -> Any:
    """The mean of ``x`` over the members of the vmap axis ``axis_name``
    (integers are averaged in float64, as ``np.mean`` does).

    Example:
        >>> import funcgrad as fg, numpy as np
        >>> fg.vmap(lambda x: x - pmean(x, "i"), axis_name="i")(np.array([1, 2, 6]))
        array([-2., -1.,  3.])
    """
    def mean(leaf):
        if aval_of(leaf).dtype.kind not in "fc":
            leaf = convert(leaf, np.float64, weak_type=False)
        return primitives.pmean.bind(leaf, axis_name=axis_name)

    return tree_map(mean, x)


def pmax(x: Any, axis_name: Hashable) -> Any:
    """The elementwise maximum of ``x`` over the members of the vmap axis ``axis_name``.

    Example:
        >>> import funcgrad as fg, numpy as np
        >>> fg.vmap(lambda x: pmax(x, "i"), axis_name="i")(np.array([[1, 5], [4, 2]]))
        array([[4, 5],
               [4, 5]])
    """
    return _reduce(primitives.pmax, x, axis_name)


def pmin(x: Any, axis_name: Hashable) -> Any:
    """The elementwise minimum of ``x`` over the members of the vmap axis ``axis_name``.

    Example:
        >>> import funcgrad as fg, numpy as np
        >>> fg.vmap(lambda x: pmin(x, "i"), axis_name="i")(np.array([3.0, -1.0, 2.0]))
        array([-1., -1., -1.])
    """
    return _reduce(primitives.pmin, x, axis_name)


def all_gather(x: Any, axis_name: Hashable, *, axis: int = 0) -> Any:
    """The members' ``x`` stacked along a new axis ``axis`` (negative counts
    from the end of the result); every member gets the stack.

    Example:
        >>> import funcgrad as fg, numpy as np
        >>> fg.vmap(lambda x: all_gather(x, "i", axis=1), axis_name="i")(np.arange(4.0).reshape(2, 2))[0]
        array([[0., 2.],
               [1., 3.]])
    """
    def gather(leaf):
        new_axis = normalize_axis(axis, aval_of(leaf).ndim + 1, "all_gather")
        return primitives.all_gather.bind(leaf, axis_name=axis_name, axis=new_axis)

    return tree_map(gather, x)


def psum_scatter(x: Any, axis_name: Hashable, *, scatter_dimension: int = 0) -> Any:
    """The ``psum`` of ``x``, of which member ``i`` gets entry ``i`` along
    ``scatter_dimension`` (an axis with one entry per member): the transpose
    of ``all_gather``, a reduce-scatter.

    Example:
        >>> import funcgrad as fg, numpy as np
        >>> fg.vmap(lambda x: psum_scatter(x, "i"), axis_name="i")(np.array([[1.0, 2.0], [10.0, 20.0]]))
        array([11., 22.])
    """
    def scatter(leaf):
        dim = normalize_axis(scatter_dimension, aval_of(leaf).ndim, "psum_scatter")
        return primitives.psum_scatter.bind(leaf, axis_name=axis_name, scatter_dimension=dim)

    return tree_map(scatter, x)


def axis_index(axis_name: Hashable) -> Any:
    """The position of this member along the vmap axis ``axis_name`` (an int32 scalar).

    Example:
        >>> import funcgrad as fg, numpy as np
        >>> fg.vmap(lambda x: x * axis_index("i"), axis_name="i")(np.ones(3))
        array([0., 1., 2.])
    """
    return primitives.axis_index.bind(axis_name=axis_name)
