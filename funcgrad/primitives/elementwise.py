"""Elementwise primitives: one table row each.

Each row names the primitive and the NumPy ufunc that defines it (its eager
implementation and its dtype rule).  Elementwise primitives are strict: all
operands have the same shape and dtype, and the dtype must be one the ufunc
has a loop for, so nothing is broadcast or promoted behind the IR's back.
``funcgrad.numpy`` inserts the ``broadcast_in_dim`` and
``convert_element_type`` that NumPy would do implicitly.

Example:
    >>> from funcgrad.primitives.elementwise import ELEMENTWISE
    >>> ELEMENTWISE["mul"].ufunc
    <ufunc 'multiply'>
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from funcgrad.errors import DtypeError, ShapeError
from funcgrad.ir import AbstractArray
from funcgrad.primitives.registry import Primitive


def _logistic(xp, x):
    # exp of a non-positive number never overflows: stable for both signs.
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


@dataclass(frozen=True)
class Elementwise:
    """A row of the table: primitive name and NumPy ufunc.

    ``numpy_impl`` marks a primitive NumPy has no ufunc for: it computes the
    value, and ``ufunc`` only lends its dtype rule (``funcgrad.numpy`` then has
    no function of that name).
    """

    name: str
    ufunc: np.ufunc
    numpy_impl: object = None  # (xp, *args) -> array

    @property
    def arity(self) -> int:
        return self.ufunc.nin


TABLE = [
    # arithmetic
    Elementwise("add", np.add),
    Elementwise("sub", np.subtract),
    Elementwise("mul", np.multiply),
    Elementwise("div", np.true_divide),
    Elementwise("floor_div", np.floor_divide),
    Elementwise("rem", np.remainder),
    Elementwise("pow", np.power),
    Elementwise("max", np.maximum),
    Elementwise("min", np.minimum),
    Elementwise("neg", np.negative),
    Elementwise("abs", np.absolute),
    Elementwise("sign", np.sign),
    Elementwise("square", np.square),
    Elementwise("reciprocal", np.reciprocal),
    Elementwise("sqrt", np.sqrt),
    Elementwise("cbrt", np.cbrt),
    # exponentials and logarithms
    Elementwise("exp", np.exp),
    Elementwise("exp2", np.exp2),
    Elementwise("expm1", np.expm1),
    Elementwise("log", np.log),
    Elementwise("log2", np.log2),
    Elementwise("log10", np.log10),
    Elementwise("log1p", np.log1p),
    Elementwise("logaddexp", np.logaddexp),
    Elementwise("logaddexp2", np.logaddexp2),
    Elementwise("logistic", np.tanh, numpy_impl=_logistic),  # tanh has the same float loops
    # trigonometric and hyperbolic
    Elementwise("sin", np.sin),
    Elementwise("cos", np.cos),
    Elementwise("tan", np.tan),
    Elementwise("asin", np.arcsin),
    Elementwise("acos", np.arccos),
    Elementwise("atan", np.arctan),
    Elementwise("atan2", np.arctan2),
    Elementwise("hypot", np.hypot),
    Elementwise("sinh", np.sinh),
    Elementwise("cosh", np.cosh),
    Elementwise("tanh", np.tanh),
    Elementwise("asinh", np.arcsinh),
    Elementwise("acosh", np.arccosh),
    Elementwise("atanh", np.arctanh),
    # rounding
    Elementwise("floor", np.floor),
    Elementwise("ceil", np.ceil),
    Elementwise("round", np.rint),  # half to even, as np.round
    Elementwise("trunc", np.trunc),
    # floating-point classes
    Elementwise("is_nan", np.isnan),
    Elementwise("is_inf", np.isinf),
    Elementwise("is_finite", np.isfinite),
    Elementwise("sign_bit", np.signbit),
    Elementwise("copysign", np.copysign),
    Elementwise("nextafter", np.nextafter),
    # comparisons
    Elementwise("eq", np.equal),
    Elementwise("ne", np.not_equal),
    Elementwise("lt", np.less),
    Elementwise("le", np.less_equal),
    Elementwise("gt", np.greater),
    Elementwise("ge", np.greater_equal),
    # bitwise on integers, logical on booleans
    Elementwise("and", np.bitwise_and),
    Elementwise("or", np.bitwise_or),
    Elementwise("xor", np.bitwise_xor),
    Elementwise("not", np.invert),
    Elementwise("shift_left", np.left_shift),
    Elementwise("shift_right", np.right_shift),
]

ELEMENTWISE: dict[str, Elementwise] = {row.name: row for row in TABLE}


@cache
def _loop_out_dtype(ufunc: np.ufunc, dtype: np.dtype) -> np.dtype | None:
    """The ufunc's output dtype for inputs of ``dtype``, or None if NumPy
    would have to cast the inputs first (strict primitives do not)."""
    try:
        resolved = ufunc.resolve_dtypes((dtype,) * ufunc.nin + (None,))
    except TypeError:
        return None
    if any(d != dtype for d in resolved[: ufunc.nin]):
        return None
    return resolved[-1]


def _abstract_eval(row: Elementwise):
    def abstract_eval(*avals: AbstractArray) -> AbstractArray:
        first = avals[0]
        if any(a.shape != first.shape for a in avals):
            shapes = " ".join(str(a.shape) for a in avals)
            raise ShapeError(f"{row.name}: operands must have equal shapes, got {shapes}",
                             "use funcgrad.numpy functions, which broadcast as NumPy does")
        if any(a.dtype != first.dtype for a in avals):
            dtypes = " ".join(a.dtype.name for a in avals)
            raise DtypeError(f"{row.name}: operands must have equal dtypes, got {dtypes}",
                             "use funcgrad.numpy functions, which promote as NumPy does")
        out = _loop_out_dtype(row.ufunc, first.dtype)
        if out is None:
            raise DtypeError(f"{row.name}: not defined for {first.dtype.name} operands")
        weak = out == first.dtype and all(a.weak_type for a in avals)
        return AbstractArray(first.shape, out, weak)

    return abstract_eval


def _impl(row: Elementwise):
    name = row.ufunc.__name__

    def impl(xp, *args):
        if row.numpy_impl is not None:
            return row.numpy_impl(xp, *args)
        return getattr(xp, name)(*args)

    return impl


PRIMITIVE_OF_ROW: dict[str, Primitive] = {
    row.name: Primitive(row.name, _abstract_eval(row), _impl(row)) for row in TABLE
}
