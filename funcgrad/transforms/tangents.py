"""The values derivative rules work with: symbolic zeros and linear inputs.

``Zero(aval)`` is a tangent or cotangent known to be zero, so rules skip the
work (the tangent of an integer value is always a ``Zero``).
``UndefinedPrimal(aval)`` marks, in a transpose rule, the operand the
primitive is linear in: the one whose cotangent the rule returns.

Example:
    >>> from funcgrad.ir import AbstractArray
    >>> t = Zero(AbstractArray((2,), np.dtype("float32")))
    >>> instantiate(t)
    array([0., 0.], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from funcgrad.ir import AbstractArray, Literal, abstractify


class Zero:
    """A tangent (or cotangent) that is zero, of abstract value ``aval``."""

    __slots__ = ("aval",)

    def __init__(self, aval: AbstractArray):
        self.aval = aval

    def __repr__(self) -> str:
        return f"Zero({self.aval!r})"


class UndefinedPrimal:
    """The linear operand of a transpose rule (its value is not needed)."""

    __slots__ = ("aval",)

    def __init__(self, aval: AbstractArray):
        self.aval = aval

    def __repr__(self) -> str:
        return f"UndefinedPrimal({self.aval!r})"


def is_linear(x: Any) -> bool:
    return isinstance(x, UndefinedPrimal)


def has_tangent(aval: AbstractArray) -> bool:
    """Only inexact values have tangents; integers and booleans do not."""
    return aval.dtype.kind in "fc"


def tangent_aval(aval: AbstractArray) -> AbstractArray:
    return AbstractArray(aval.shape, aval.dtype)


def zeros(aval: AbstractArray) -> Any:
    """An array of zeros of ``aval`` (recorded as a broadcast scalar when tracing)."""
    from funcgrad.primitives.structural import broadcast_in_dim

    zero = Literal(np.zeros((), aval.dtype)[()], AbstractArray((), aval.dtype))
    return broadcast_in_dim.bind(zero, shape=aval.shape, broadcast_dimensions=())


def instantiate(t: Any) -> Any:
    """``t`` as an array: a ``Zero`` becomes actual zeros."""
    return zeros(t.aval) if isinstance(t, Zero) else t


def add_tangents(a: Any, b: Any) -> Any:
    """``a + b`` for tangents of the same type, skipping zeros."""
    from funcgrad.primitives.elementwise import PRIMITIVE_OF_ROW

    if isinstance(a, Zero):
        return b
    if isinstance(b, Zero):
        return a
    return PRIMITIVE_OF_ROW["add"].bind(a, b)


def aval_of(x: Any) -> AbstractArray:
    return x.aval if isinstance(x, (Zero, UndefinedPrimal)) else abstractify(x)


def linear_jvp(primitive) -> Callable:
    """The JVP rule of a primitive linear in all its operands: apply it to the tangents."""

    def jvp(primals, tangents, **params):
        out = primitive.bind(*primals, **params)
        if all(isinstance(t, Zero) for t in tangents):
            zero_outs = [Zero(tangent_aval(abstractify(o))) for o in (out if primitive.multiple_results
                                                                       else [out])]
            return out, zero_outs if primitive.multiple_results else zero_outs[0]
        return out, primitive.bind(*map(instantiate, tangents), **params)

    return jvp
