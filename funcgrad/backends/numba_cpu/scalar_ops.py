"""Elementwise primitives as scalar expressions inside a Numba loop: one row each.

By default a row is the NumPy ufunc applied to scalars (Numba implements
NumPy's scalar semantics); operators are spelled out where they are plain
arithmetic, and transcendental functions use ``numba_math``'s vectorizable
versions where one exists for the dtype.  Every result is cast to the
primitive's output dtype, since Numba widens (``int32 + int32`` is int64).

Example:
    >>> import numpy as np
    >>> scalar_expression("add", ["a", "b"], np.dtype("float32"), np.dtype("float32"))
    'np.float32(a + b)'
"""

from __future__ import annotations

import numpy as np

from funcgrad.backends.numba_cpu.emitter import dtype_expr
from funcgrad.primitives.elementwise import ELEMENTWISE

OPERATORS = {
    "add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "{0} / {1}",
    "neg": "-{0}", "square": "{0} * {0}", "reciprocal": "1 / {0}",
    "eq": "{0} == {1}", "ne": "{0} != {1}", "lt": "{0} < {1}", "le": "{0} <= {1}",
    "gt": "{0} > {1}", "ge": "{0} >= {1}",
    "and": "{0} & {1}", "or": "{0} | {1}", "xor": "{0} ^ {1}",
    "max": "fmax({0}, {1})", "min": "fmin({0}, {1})",
    "select": "{1} if {0} else {2}",
}
BOOL_OPERATORS = {"not": "not {0}", "add": "{0} or {1}", "mul": "{0} and {1}",
                  "max": "{0} or {1}", "min": "{0} and {1}"}
RUNTIME_HELPERS = {"fmax", "fmin"}


def scalar_expression(name: str, args: list[str], in_dtype: np.dtype, out_dtype: np.dtype,
                      math_available: frozenset[str] = frozenset()) -> str:
    """Source computing primitive ``name`` on scalar expressions ``args``."""
    if name == "convert_element_type":
        if out_dtype == np.bool_:
            return f"({args[0]} != 0)"
        return f"{dtype_expr(out_dtype)}({args[0]})"
    suffix = {"float32": "_f32", "float64": "_f64"}.get(np.dtype(in_dtype).name)
    if suffix and name + suffix in math_available:
        expr = f"{name}{suffix}({args[0]})"
    elif in_dtype == np.bool_ and name in BOOL_OPERATORS:
        expr = BOOL_OPERATORS[name].format(*args)
    elif name == "not":
        expr = f"~{args[0]}"
    elif name in OPERATORS:
        expr = OPERATORS[name].format(*args)
    elif name == "logistic":
        expr = f"1 / (1 + np.exp(-{args[0]}))"
    else:
        expr = f"np.{ELEMENTWISE[name].ufunc.__name__}({', '.join(args)})"
    return f"{dtype_expr(out_dtype)}({expr})"


def helpers_used(expression: str) -> set[str]:
    """Runtime helpers an expression calls, to import them into the module."""
    return {h for h in RUNTIME_HELPERS if h + "(" in expression}
