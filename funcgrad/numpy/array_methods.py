"""Tracers as NumPy arrays: operators, methods, indexing and the protocols.

Everything here forwards to a ``funcgrad.numpy`` function, so a tracer does
exactly what an ``ndarray`` would.  ``__array_ufunc__`` and
``__array_function__`` route unmodified NumPy calls (``np.sin(t)``,
``np.sum(t)``) to the traced implementations; a NumPy function funcgrad
lacks raises an error that names it.

Example:
    >>> import funcgrad as fg, numpy as np
    >>> print(fg.make_ir(lambda x: np.sum(x * x))(np.ones(3)))
    { lambda a:f64[3] .
      b:f64[3] = mul a a
      c:f64[] = reduce_sum[axes=(0,)] b
      in (c) }
"""

from __future__ import annotations

from typing import Any

import numpy as np

from funcgrad.errors import UnsupportedNumpyFunctionError
from funcgrad.numpy._core import FUNCTIONS, TRACED_IMPLEMENTATIONS
from funcgrad.trace import Tracer

# Binary operators: (name, fnp function). The reflected form swaps operands.
_BINARY = {
    "add": "add", "sub": "subtract", "mul": "multiply", "truediv": "divide",
    "floordiv": "floor_divide", "mod": "remainder", "pow": "power", "matmul": "matmul",
    "and": "bitwise_and", "or": "bitwise_or", "xor": "bitwise_xor",
    "lshift": "left_shift", "rshift": "right_shift",
}
_COMPARISONS = {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal",
                "gt": "greater", "ge": "greater_equal"}
_UNARY = {"neg": "negative", "pos": "positive", "abs": "absolute", "invert": "invert"}

# Methods with NumPy's signature ``x.name(*args, **kwargs) == np.name(x, *args, **kwargs)``.
METHODS = [
    "sum", "prod", "mean", "var", "std", "max", "min", "argmax", "argmin",
    "cumsum", "cumprod", "all", "any", "clip", "round", "dot", "repeat", "take",
    "argsort", "diagonal", "trace", "swapaxes", "squeeze", "ravel", "nonzero", "conj",
]

# ufunc.reduce / ufunc.accumulate as the fnp reductions that do the same.
_UFUNC_METHODS = {
    ("reduce", np.add): "sum", ("reduce", np.multiply): "prod",
    ("reduce", np.maximum): "max", ("reduce", np.minimum): "min",
    ("reduce", np.logical_and): "all", ("reduce", np.logical_or): "any",
    ("accumulate", np.add): "cumsum", ("accumulate", np.multiply): "cumprod",
}


def _forward(fnp_name: str):
    def method(self, *args, **kwargs):
        return FUNCTIONS[fnp_name](self, *args, **kwargs)

    method.__name__ = fnp_name
    return method


def _reflected(fnp_name: str):
    def method(self, other):
        return FUNCTIONS[fnp_name](other, self)

    return method


def _operator(fnp_name: str):
    def method(self, other):
        return FUNCTIONS[fnp_name](self, other)

    return method


def _shape_args(args: tuple) -> Any:
    """``x.reshape(2, 3)`` and ``x.reshape((2, 3))`` both mean shape (2, 3)."""
    return args[0] if len(args) == 1 else args


def _reshape(self, *shape, order="C"):
    return FUNCTIONS["reshape"](self, _shape_args(shape), order=order)


def _transpose(self, *axes):
    return FUNCTIONS["transpose"](self, _shape_args(axes) if axes else None)


def _astype(self, dtype, copy=True):
    return FUNCTIONS["asarray"](self, dtype=dtype)


def _copy(self):
    return self  # traced arrays are immutable: a copy is the same value


def _flatten(self, order="C"):
    return FUNCTIONS["ravel"](self, order=order)


def _pow(self, exponent):
    # NumPy computes ``x ** 2`` as ``square(x)`` when that keeps x's dtype; so do we
    # (the same values, a shorter IR and a simpler derivative).
    if (type(exponent) in (int, float) and exponent == 2
            and FUNCTIONS["result_type"](self, exponent) == self.dtype):
        return FUNCTIONS["square"](self)
    return FUNCTIONS["power"](self, exponent)


def _sort(self, *args, **kwargs):
    raise TypeError("x.sort() sorts in place, which traced arrays cannot do; "
                    "write x = fnp.sort(x) instead")


def _iter(self):
    if not self.shape:
        raise TypeError("iteration over a 0-d traced array")
    return (self[i] for i in range(self.shape[0]))


def _getitem(self, index):
    return FUNCTIONS["_getitem"](self, index)


def _at(self):
    return FUNCTIONS["_at"](self)


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    if method == "__call__":
        impl = TRACED_IMPLEMENTATIONS.get(ufunc)
    else:
        name = _UFUNC_METHODS.get((method, ufunc))
        impl = FUNCTIONS.get(name) if name else None
        kwargs.setdefault("axis", 0)  # ufunc.reduce/accumulate default to axis 0
    if impl is None:
        suffix = "" if method == "__call__" else f".{method}"
        raise _unsupported(f"numpy.{ufunc.__name__}{suffix}")
    return impl(*inputs, **kwargs)


def _array_function(self, func, types, args, kwargs):
    impl = TRACED_IMPLEMENTATIONS.get(func)
    if impl is None:
        module = func.__module__ or "numpy"
        module = "numpy" if module.startswith("numpy._core") or module == "numpy.core" else module
        raise _unsupported(f"{module}.{func.__name__}")
    return impl(*args, **kwargs)


def _unsupported(name: str) -> UnsupportedNumpyFunctionError:
    return UnsupportedNumpyFunctionError(
        f"{name} is not supported on traced arrays: funcgrad has no traceable version of it",
        "write it with funcgrad.numpy functions (import funcgrad.numpy as fnp), "
        "or apply it outside the transformed function",
    )


def install() -> None:
    """Give ``Tracer`` the operators and methods of ``numpy.ndarray``."""
    for op, name in _BINARY.items():
        setattr(Tracer, f"__{op}__", _operator(name))
        setattr(Tracer, f"__r{op}__", _reflected(name))
    for op, name in _COMPARISONS.items():
        setattr(Tracer, f"__{op}__", _operator(name))
    for op, name in _UNARY.items():
        setattr(Tracer, f"__{op}__", _forward(name))
    for name in METHODS:
        setattr(Tracer, name, _forward(name))
    Tracer.__divmod__ = lambda self, other: (self // other, self % other)
    Tracer.__rdivmod__ = lambda self, other: (other // self, other % self)
    Tracer.__pow__ = _pow
    Tracer.reshape = _reshape
    Tracer.transpose = _transpose
    Tracer.astype = _astype
    Tracer.copy = _copy
    Tracer.flatten = _flatten
    Tracer.sort = _sort
    Tracer.__iter__ = _iter
    Tracer.__getitem__ = _getitem
    Tracer.at = property(_at)
    Tracer.T = property(lambda self: FUNCTIONS["transpose"](self))
    Tracer.mT = property(lambda self: FUNCTIONS["swapaxes"](self, -1, -2))
    Tracer.__array_ufunc__ = _array_ufunc
    Tracer.__array_function__ = _array_function
