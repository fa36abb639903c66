"""NumPy's dtype names, constants and type queries, so ``fnp.float32`` and
``fnp.pi`` work as ``np.float32`` and ``np.pi`` do.  They are NumPy's own
objects: a funcgrad dtype *is* a NumPy dtype.

Example:
    >>> import funcgrad.numpy as fnp, numpy as np
    >>> fnp.float32 is np.float32, fnp.result_type(fnp.ones(2, fnp.int32), 1.5)
    (True, dtype('float64'))
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from funcgrad.numpy._core import aval_of, implements, is_tracer, normalize_axes, shape_of

_NAMES = [
    "bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128", "intp", "uintp", "int_",
    "float_", "double", "single", "half", "complex_", "dtype", "finfo", "iinfo", "generic",
    "number", "integer", "signedinteger", "unsignedinteger", "floating", "complexfloating",
    "inexact", "bool", "pi", "e", "inf", "nan", "euler_gamma", "newaxis", "promote_types",
    "can_cast", "issubdtype", "isdtype", "ndarray",
]
for _name in _NAMES:
    if hasattr(np, _name):
        globals()[_name] = getattr(np, _name)
float_ = np.float64  # removed in NumPy 2; kept as JAX and older code spell it
complex_ = np.complex128


_WEAK_STAND_IN = {"b": False, "i": 0, "u": 0, "f": 0.0, "c": 0j}


def _stand_in(value: Any) -> Any:
    """What ``np.result_type`` should see for a tracer: its dtype, or a Python
    scalar of its kind if it is weakly typed."""
    if not is_tracer(value):
        return value
    aval = aval_of(value)
    return _WEAK_STAND_IN[aval.dtype.kind] if aval.weak_type else aval.dtype


@implements(np.result_type)
def result_type(*arrays_and_dtypes: Any) -> np.dtype:
    """``numpy.result_type`` (NEP 50), also for tracers and weak scalars."""
    return np.result_type(*map(_stand_in, arrays_and_dtypes))


def _shape(a: Any) -> tuple[int, ...]:
    from funcgrad.numpy.manipulation import as_operand  # a list may hold tracers

    return tuple(shape_of(as_operand(a)))


@implements(np.ndim)
def ndim(a: Any) -> int:
    return len(_shape(a))


@implements(np.shape)
def shape(a: Any) -> tuple[int, ...]:
    return _shape(a)


@implements(np.size)
def size(a: Any, axis: int | tuple[int, ...] | None = None) -> int:
    dims = _shape(a)
    return math.prod(dims[i] for i in normalize_axes(axis, len(dims), "size"))


@implements(np.iscomplexobj)
def iscomplexobj(x: Any) -> bool:
    return aval_of(x).dtype.kind == "c"


@implements(np.isrealobj)
def isrealobj(x: Any) -> bool:
    return aval_of(x).dtype.kind != "c"


__all__ = [n for n in _NAMES if hasattr(np, n)] + [
    "float_", "complex_", "result_type", "ndim", "shape", "size", "iscomplexobj", "isrealobj"]
