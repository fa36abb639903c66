"""NumPy's ufuncs, traceable: one fnp function per elementwise primitive,
generated from the table, plus the logical ufuncs built from them.

A traced call resolves dtypes exactly as NumPy would (NEP 50, through the
ufunc's own resolver), converts and broadcasts its operands explicitly, then
binds the strict primitive.

Example:
    >>> import funcgrad as fg, funcgrad.numpy as fnp
    >>> print(fg.make_ir(lambda x: fnp.add(x, 1))(np.ones(2, np.int32)))
    { lambda a:i32[2] .
      b:i32[2]~ = broadcast_in_dim[broadcast_dimensions=() shape=(2,)] 1:i32[]~
      c:i32[2] = add a b
      in (c) }
"""

from __future__ import annotations

from typing import Any

import numpy as np

from funcgrad.numpy._core import (
    TRACED_IMPLEMENTATIONS,
    aval_of,
    implements,
    operands,
    resolve_ufunc,
)
from funcgrad.primitives.elementwise import PRIMITIVE_OF_ROW, TABLE
from funcgrad.primitives.registry import Primitive


def apply_ufunc(ufunc: np.ufunc, primitive: Primitive, *args: Any, dtype: Any = None) -> Any:
    """Bind ``primitive`` on ``args`` promoted and broadcast as ``ufunc`` would."""
    loop = resolve_ufunc(ufunc, *args)
    if dtype is not None:  # dtype= picks the loop, as NumPy's signature does
        signature = (None,) * ufunc.nin + (np.dtype(dtype),) * ufunc.nout
        loop = ufunc.resolve_dtypes((*loop[: ufunc.nin], None), signature=signature)
    return primitive.bind(*operands(ufunc.__name__, args, loop[0]))


def _check_ufunc_kwargs(name: str, out: Any, where: Any, kwargs: dict) -> None:
    if out is not None:
        raise TypeError(f"{name}: out= writes in place, which traced arrays cannot do; "
                        "use the returned value instead")
    if where is not True:
        raise TypeError(f"{name}: where= is not supported on traced arrays; use fnp.where")
    if kwargs:
        raise TypeError(f"{name}: unsupported keyword arguments {sorted(kwargs)}")


def _declare_ufunc(ufunc: np.ufunc, primitive: Primitive) -> None:
    def traced(*args, out=None, where=True, dtype=None, **kwargs):
        _check_ufunc_kwargs(ufunc.__name__, out, where, kwargs)
        if len(args) != ufunc.nin:
            raise TypeError(f"{ufunc.__name__}() takes {ufunc.nin} arguments, got {len(args)}")
        return apply_ufunc(ufunc, primitive, *args, dtype=dtype)

    globals()[ufunc.__name__] = implements(ufunc, name=ufunc.__name__)(traced)


for _row in TABLE:
    if _row.numpy_impl is None:
        _declare_ufunc(_row.ufunc, PRIMITIVE_OF_ROW[_row.name])

# Logical ufuncs: operands become booleans (x != 0), then the bitwise primitive.
_LOGICAL = {np.logical_and: "and", np.logical_or: "or", np.logical_xor: "xor", np.logical_not: "not"}


def _as_bool(x: Any) -> Any:
    return x if aval_of(x).dtype == np.bool_ else globals()["not_equal"](x, 0)


def _declare_logical(ufunc: np.ufunc, primitive: Primitive) -> None:
    def traced(*args, out=None, where=True, **kwargs):
        _check_ufunc_kwargs(ufunc.__name__, out, where, kwargs)
        bools = [_as_bool(a) for a in args]
        return primitive.bind(*operands(ufunc.__name__, bools, np.bool_))

    globals()[ufunc.__name__] = implements(ufunc, name=ufunc.__name__)(traced)


for _ufunc, _name in _LOGICAL.items():
    _declare_logical(_ufunc, PRIMITIVE_OF_ROW[_name])

# NumPy's other names for the same ufuncs.
ALIASES = {"abs": "absolute", "true_divide": "divide", "mod": "remainder",
           "bitwise_not": "invert", "bitwise_invert": "invert", "pow": "power",
           "acos": "arccos", "asin": "arcsin", "atan": "arctan", "atan2": "arctan2",
           "acosh": "arccosh", "asinh": "arcsinh", "atanh": "arctanh",
           "bitwise_left_shift": "left_shift", "bitwise_right_shift": "right_shift"}
for _alias, _target in ALIASES.items():
    globals()[_alias] = globals()[_target]

UFUNC_NAMES = sorted({u.__name__ for u in TRACED_IMPLEMENTATIONS if isinstance(u, np.ufunc)}
                     | set(ALIASES))
__all__ = UFUNC_NAMES
