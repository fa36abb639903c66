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

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from funcgrad.errors import DtypeError, ShapeError
from funcgrad.ir import AbstractArray, abstractify
from funcgrad.primitives.registry import Primitive, fnp
from funcgrad.transforms.batch_dims import elementwise_batch
from funcgrad.transforms.tangents import Zero, has_tangent, is_linear, tangent_aval


def _logistic(xp, x):
    # exp of a non-positive number never overflows: stable for both signs.
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


@dataclass(frozen=True)
class Elementwise:
    """A row of the table: primitive name, NumPy ufunc, derivative.

    ``derivative(ans, *operands)`` returns the partial derivative with respect
    to each operand (``None`` where there is none; the Python ints 1 and -1
    are applied without a multiply; a thunk is called only if that operand
    has a tangent).  ``NONDIFF`` marks a piecewise-constant
    function: its tangent is zero.

    ``numpy_impl`` marks a primitive NumPy has no ufunc for: it computes the
    value, and ``ufunc`` only lends its dtype rule (``funcgrad.numpy`` then has
    no function of that name).
    """

    name: str
    ufunc: np.ufunc
    derivative: Callable | None
    numpy_impl: object = None  # (xp, *args) -> array

    @property
    def arity(self) -> int:
        return self.ufunc.nin


NONDIFF = None
LN2, LN10 = math.log(2.0), math.log(10.0)


def _balanced(x, y, chosen):
    """JAX's convention for max/min: ties split the derivative evenly.  A thunk,
    since often only one operand has a tangent (``maximum(h, 0.0)``)."""
    one, half = x.dtype.type(1.0), x.dtype.type(0.5)
    # Masks times constants: a select on a random mask is several times slower.
    return lambda: (x == chosen) * (one - half * (y == chosen))


def _pow_partials(ans, x, y):
    # Thunks: x ** 3 has a constant exponent, whose partial (a log) is never computed.
    return (lambda: fnp.where(y == 0, 0.0, y * fnp.power(x, y - 1)).astype(x.dtype),
            lambda: fnp.where(x == 0, 0.0, fnp.log(fnp.where(x == 0, 1.0, x)) * ans).astype(x.dtype))


TABLE = [
    # arithmetic
    Elementwise("add", np.add, lambda ans, x, y: (1, 1)),
    Elementwise("sub", np.subtract, lambda ans, x, y: (1, -1)),
    Elementwise("mul", np.multiply, lambda ans, x, y: (y, x)),
    Elementwise("div", np.true_divide, lambda ans, x, y: (1 / y, -ans / y)),
    Elementwise("floor_div", np.floor_divide, NONDIFF),
    Elementwise("rem", np.remainder, lambda ans, x, y: (1, -fnp.floor(x / y))),
    Elementwise("pow", np.power, _pow_partials),
    Elementwise("max", np.maximum, lambda ans, x, y: (_balanced(x, y, ans), _balanced(y, x, ans))),
    Elementwise("min", np.minimum, lambda ans, x, y: (_balanced(x, y, ans), _balanced(y, x, ans))),
    Elementwise("neg", np.negative, lambda ans, x: (-1,)),
    Elementwise("abs", np.absolute, lambda ans, x: (x.dtype.type(1) - x.dtype.type(2) * (x < 0),)),
    Elementwise("sign", np.sign, NONDIFF),
    Elementwise("square", np.square, lambda ans, x: (2 * x,)),
    Elementwise("reciprocal", np.reciprocal, lambda ans, x: (-ans * ans,)),
    Elementwise("sqrt", np.sqrt, lambda ans, x: (0.5 / ans,)),
    Elementwise("cbrt", np.cbrt, lambda ans, x: (1 / (3 * ans * ans),)),
    # exponentials and logarithms
    Elementwise("exp", np.exp, lambda ans, x: (ans,)),
    Elementwise("exp2", np.exp2, lambda ans, x: (ans * LN2,)),
    Elementwise("expm1", np.expm1, lambda ans, x: (ans + 1,)),
    Elementwise("log", np.log, lambda ans, x: (1 / x,)),
    Elementwise("log2", np.log2, lambda ans, x: (1 / (x * LN2),)),
    Elementwise("log10", np.log10, lambda ans, x: (1 / (x * LN10),)),
    Elementwise("log1p", np.log1p, lambda ans, x: (1 / (1 + x),)),
    Elementwise("logaddexp", np.logaddexp, lambda ans, x, y: (fnp.exp(x - ans), fnp.exp(y - ans))),
    Elementwise("logaddexp2", np.logaddexp2,
                lambda ans, x, y: (fnp.exp2(x - ans), fnp.exp2(y - ans))),
    # tanh lends its float loops to logistic, which NumPy lacks
    Elementwise("logistic", np.tanh, lambda ans, x: (ans * (1 - ans),), numpy_impl=_logistic),
    # trigonometric and hyperbolic
    Elementwise("sin", np.sin, lambda ans, x: (fnp.cos(x),)),
    Elementwise("cos", np.cos, lambda ans, x: (-fnp.sin(x),)),
    Elementwise("tan", np.tan, lambda ans, x: (1 + ans * ans,)),
    Elementwise("asin", np.arcsin, lambda ans, x: (1 / fnp.sqrt(1 - x * x),)),
    Elementwise("acos", np.arccos, lambda ans, x: (-1 / fnp.sqrt(1 - x * x),)),
    Elementwise("atan", np.arctan, lambda ans, x: (1 / (1 + x * x),)),
    Elementwise("atan2", np.arctan2,
                lambda ans, x, y: (y / (x * x + y * y), -x / (x * x + y * y))),
    Elementwise("hypot", np.hypot, lambda ans, x, y: (x / ans, y / ans)),
    Elementwise("sinh", np.sinh, lambda ans, x: (fnp.cosh(x),)),
    Elementwise("cosh", np.cosh, lambda ans, x: (fnp.sinh(x),)),
    Elementwise("tanh", np.tanh, lambda ans, x: (1 - ans * ans,)),
    Elementwise("asinh", np.arcsinh, lambda ans, x: (1 / fnp.sqrt(x * x + 1),)),
    Elementwise("acosh", np.arccosh, lambda ans, x: (1 / (fnp.sqrt(x - 1) * fnp.sqrt(x + 1)),)),
    Elementwise("atanh", np.arctanh, lambda ans, x: (1 / ((1 + x) * (1 - x)),)),
    # rounding
    Elementwise("floor", np.floor, NONDIFF),
    Elementwise("ceil", np.ceil, NONDIFF),
    Elementwise("round", np.rint, NONDIFF),  # half to even, as np.round
    Elementwise("trunc", np.trunc, NONDIFF),
    # floating-point classes
    Elementwise("is_nan", np.isnan, NONDIFF),
    Elementwise("is_inf", np.isinf, NONDIFF),
    Elementwise("is_finite", np.isfinite, NONDIFF),
    Elementwise("sign_bit", np.signbit, NONDIFF),
    Elementwise("copysign", np.copysign,
                lambda ans, x, y: (fnp.copysign(1.0, x) * fnp.copysign(1.0, y), None)),
    Elementwise("nextafter", np.nextafter, lambda ans, x, y: (1, None)),  # one ulp away from x
    # comparisons
    Elementwise("eq", np.equal, NONDIFF),
    Elementwise("ne", np.not_equal, NONDIFF),
    Elementwise("lt", np.less, NONDIFF),
    Elementwise("le", np.less_equal, NONDIFF),
    Elementwise("gt", np.greater, NONDIFF),
    Elementwise("ge", np.greater_equal, NONDIFF),
    # bitwise on integers, logical on booleans
    Elementwise("and", np.bitwise_and, NONDIFF),
    Elementwise("or", np.bitwise_or, NONDIFF),
    Elementwise("xor", np.bitwise_xor, NONDIFF),
    Elementwise("not", np.invert, NONDIFF),
    Elementwise("shift_left", np.left_shift, NONDIFF),
    Elementwise("shift_right", np.right_shift, NONDIFF),
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


def _jvp(row: Elementwise, primitive: Primitive):
    def jvp(primals, tangents):
        ans = primitive.bind(*primals)
        if row.derivative is NONDIFF or not has_tangent(abstractify(ans)):
            return ans, Zero(tangent_aval(abstractify(ans)))
        out = None
        for tangent, partial in zip(tangents, row.derivative(ans, *primals)):
            if partial is None or isinstance(tangent, Zero):
                continue
            if callable(partial):
                partial = partial()
            if type(partial) is int:  # the constants 1 and -1 of linear rows
                term = tangent if partial == 1 else PRIMITIVE_OF_ROW["neg"].bind(tangent)
            else:
                term = PRIMITIVE_OF_ROW["mul"].bind(tangent, partial)
            out = term if out is None else PRIMITIVE_OF_ROW["add"].bind(out, term)
        return ans, Zero(tangent_aval(abstractify(ans))) if out is None else out

    return jvp


PRIMITIVE_OF_ROW: dict[str, Primitive] = {
    row.name: Primitive(row.name, _abstract_eval(row), _impl(row)) for row in TABLE
}
for _row in TABLE:
    PRIMITIVE_OF_ROW[_row.name].jvp = _jvp(_row, PRIMITIVE_OF_ROW[_row.name])
    PRIMITIVE_OF_ROW[_row.name].batch = elementwise_batch(PRIMITIVE_OF_ROW[_row.name])


def _only_linear(*cts_and_args):
    """Cotangents for the linear operands only (None for the known ones)."""
    return [ct if is_linear(arg) else None for ct, arg in cts_and_args]


# The linear elementwise primitives, and where they are linear: their transposes.
TRANSPOSES = {
    "add": lambda ct, x, y: _only_linear((ct, x), (ct, y)),
    "sub": lambda ct, x, y: _only_linear((ct, x), (_neg(ct), y)),
    "neg": lambda ct, x: [_neg(ct)],
    "mul": lambda ct, x, y: [PRIMITIVE_OF_ROW["mul"].bind(ct, y) if is_linear(x) else None,
                             PRIMITIVE_OF_ROW["mul"].bind(x, ct) if is_linear(y) else None],
    "div": lambda ct, x, y: [PRIMITIVE_OF_ROW["div"].bind(ct, y), None],
}


def _neg(ct):
    return PRIMITIVE_OF_ROW["neg"].bind(ct)


for _name, _transpose in TRANSPOSES.items():
    PRIMITIVE_OF_ROW[_name].transpose = _transpose
