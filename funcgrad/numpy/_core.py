"""What every ``funcgrad.numpy`` function is built on.

``implements(np.f)`` makes an fnp function that is NumPy's own ``np.f`` on
concrete values (NumPy's semantics are the spec, and eager use costs what
NumPy costs) and the decorated traced implementation when any argument is a
tracer.  The traced implementation is also what the NumPy protocols
(``__array_function__`` / ``__array_ufunc__``) call on tracers.

The helpers here turn NumPy's implicit rules into explicit primitives:
NEP 50 promotion (``result_dtype``), ``convert`` and broadcasting.

Example:
    >>> import funcgrad.numpy as fnp
    >>> fnp.sin(np.zeros(2))          # concrete: NumPy itself
    array([0., 0.])
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from funcgrad.config import config
from funcgrad.errors import AxisError, ShapeError, check_nans
from funcgrad.ir import AbstractArray, Literal, abstractify
from funcgrad.primitives import structural
from funcgrad.trace import Tracer

# NumPy function (or ufunc) -> traced implementation, for the NumPy protocols.
TRACED_IMPLEMENTATIONS: dict[Any, Callable] = {}
# fnp name -> fnp function, for the registry tests.
FUNCTIONS: dict[str, Callable] = {}

_PY_SCALARS = (bool, int, float, complex)
_KIND_ORDER = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def _contains_tracer(values) -> bool:
    for value in values:
        if isinstance(value, Tracer):
            return True
        if type(value) in (list, tuple):
            for item in value:
                if isinstance(item, Tracer) or (type(item) in (list, tuple) and _contains_tracer(item)):
                    return True
    return False


def implements(numpy_function: Callable | None, *, name: str | None = None):
    """Declare an fnp function: ``numpy_function`` on concrete values, the
    decorated traced implementation when an argument is a tracer.

    With ``numpy_function=None`` the function has no NumPy twin and always
    runs the decorated implementation (which must then handle arrays too).

    Example:
        >>> @implements(np.fabs, name="fabs_example")
        ... def fabs_example(x):
        ...     raise AssertionError("only reached with a tracer")
        >>> fabs_example(np.array([-1.0]))
        array([1.])
        >>> del FUNCTIONS["fabs_example"], TRACED_IMPLEMENTATIONS[np.fabs]
    """

    def declare(traced: Callable) -> Callable:
        fn_name = name or traced.__name__
        if numpy_function is None:
            fn = traced
        else:
            @functools.wraps(traced)
            def fn(*args, **kwargs):
                if _contains_tracer(args) or (kwargs and _contains_tracer(kwargs.values())):
                    return traced(*args, **kwargs)
                result = numpy_function(*args, **kwargs)
                if config.debug_nans:
                    check_nans(fn_name, result if isinstance(result, tuple) else [result])
                return result

            TRACED_IMPLEMENTATIONS[numpy_function] = traced
            if not fn.__doc__:
                fn.__doc__ = _borrowed_doc(numpy_function, fn_name)
        fn.__name__ = fn.__qualname__ = fn_name
        fn.__module__ = "funcgrad.numpy"
        FUNCTIONS[fn_name] = fn
        return fn

    return declare


def _borrowed_doc(numpy_function: Callable, name: str) -> str:
    module = getattr(numpy_function, "__module__", None) or "numpy"
    module = "numpy.linalg" if module == "numpy.linalg" else "numpy"
    return (f"``{module}.{getattr(numpy_function, '__name__', name)}``, traceable: the same "
            "arguments and the same result (value, dtype and shape) as NumPy's.\n")


# ---------------------------------------------------------------- avals


def aval_of(x: Any) -> AbstractArray:
    """The abstract value of a tracer, Literal, array, Python scalar or list."""
    if isinstance(x, (list, tuple)):
        return abstractify(np.asarray(x))
    return abstractify(x)


def is_tracer(x: Any) -> bool:
    return isinstance(x, Tracer)


def shape_of(x: Any) -> tuple[int, ...]:
    if isinstance(x, Tracer):
        return x.shape
    return () if type(x) in _PY_SCALARS else np.shape(x)


def ndim_of(x: Any) -> int:
    return len(shape_of(x))


# ---------------------------------------------------------------- promotion


def _dtype_or_weak(aval: AbstractArray):
    """What NumPy's resolvers take: a dtype, or a Python type for a weak value."""
    if not aval.weak_type:
        return aval.dtype
    kind = aval.dtype.kind
    return {"b": np.dtype(bool), "i": int, "u": int, "f": float, "c": complex}[kind]


@functools.lru_cache(maxsize=4096)
def _result_type(*keys) -> np.dtype:
    return np.result_type(*(k(0) if isinstance(k, type) else k for k in keys))


def result_dtype(*values: Any) -> np.dtype:
    """``np.result_type`` under NEP 50, with weak (Python-scalar) values.

    Example:
        >>> result_dtype(np.ones(2, np.float32), 2.0)
        dtype('float32')
    """
    return _result_type(*(_dtype_or_weak(aval_of(v)) for v in values))


@functools.lru_cache(maxsize=4096)
def ufunc_dtypes(ufunc: np.ufunc, *keys) -> tuple[np.dtype, ...]:
    """The loop NumPy picks for ``ufunc`` on these (dtype or weak) operands."""
    return ufunc.resolve_dtypes(keys + (None,) * ufunc.nout)


def resolve_ufunc(ufunc: np.ufunc, *values: Any) -> tuple[np.dtype, ...]:
    """Input and output dtypes of ``ufunc`` applied to ``values`` (NEP 50)."""
    avals = [aval_of(v) for v in values]
    if all(a.weak_type for a in avals):
        # Only weak values: those of the highest kind (bool < int < float < complex)
        # decide the width, the others adapt, as JAX does (a weak f32 / 2 stays f32;
        # all-Python ints compare as int64, not in NumPy's object loop).
        top = max(_KIND_ORDER[a.dtype.kind] for a in avals)
        return ufunc_dtypes(ufunc, *(a.dtype if _KIND_ORDER[a.dtype.kind] == top
                                     else _dtype_or_weak(a) for a in avals))
    return ufunc_dtypes(ufunc, *map(_dtype_or_weak, avals))


# ---------------------------------------------------------------- operands


def constant(value: Any, dtype: Any = None, weak_type: bool | None = None) -> Any:
    """A non-traced value as an operand of the given dtype.

    Python scalars become Literals that keep their weak type; arrays are
    converted by NumPy right away (constant folding).
    """
    if isinstance(value, (Tracer, Literal)):
        return value
    if type(value) in _PY_SCALARS:  # exact: np.float64 subclasses float but is strong
        weak = True if weak_type is None else weak_type
        dtype = aval_of(value).dtype if dtype is None else np.dtype(dtype)
        return Literal(np.array(value, dtype)[()], AbstractArray((), dtype, weak))
    array = np.asarray(value)
    if dtype is not None and array.dtype != dtype:
        array = array.astype(dtype)
    return array


def convert(x: Any, dtype: Any, weak_type: bool | None = None) -> Any:
    """``x`` as ``dtype``: a ``convert_element_type`` equation for tracers."""
    dtype = np.dtype(dtype)
    aval = aval_of(x)
    weak = aval.weak_type if weak_type is None else weak_type
    if not isinstance(x, (Tracer, Literal)):
        return constant(x, dtype, weak if type(x) in _PY_SCALARS else None)
    if aval.dtype == dtype and aval.weak_type == weak:
        return x
    if isinstance(x, Literal):
        return Literal(np.asarray(x.value).astype(dtype)[()], AbstractArray(aval.shape, dtype, weak))
    return structural.convert_element_type.bind(x, new_dtype=dtype, weak_type=weak)


def broadcast_shapes(op_name: str, *shapes: Sequence[int]) -> tuple[int, ...]:
    """NumPy's broadcasting rule, with an error that names the operation."""
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        listed = " ".join(str(tuple(s)) for s in shapes)
        raise ShapeError(f"{op_name}: operands could not be broadcast together with shapes {listed}",
                         "make the trailing dimensions equal or 1 (reshape, or index with None)"
                         ) from None


def broadcast_to(x: Any, shape: Sequence[int]) -> Any:
    """``x`` broadcast to ``shape`` (NumPy's rule) as a ``broadcast_in_dim``."""
    shape = tuple(shape)
    x_shape = shape_of(x)
    if tuple(x_shape) == shape:
        return x
    lead = len(shape) - len(x_shape)
    dims = tuple(range(lead, len(shape)))
    if lead < 0 or any(s not in (1, shape[d]) for s, d in zip(x_shape, dims)):
        raise ShapeError(f"broadcast_to: cannot broadcast shape {tuple(x_shape)} to {shape}")
    if not isinstance(x, (Tracer, Literal)):
        x = constant(x)
    return structural.broadcast_in_dim.bind(x, shape=shape, broadcast_dimensions=dims)


def reshape(x: Any, shape: Sequence[int]) -> Any:
    """``x`` reshaped to ``shape`` (no -1), skipping a no-op."""
    shape = tuple(int(s) for s in shape)
    if tuple(shape_of(x)) == shape:
        return x
    return structural.reshape.bind(x, new_sizes=shape)


def operands(op_name: str, values: Sequence[Any], dtype: Any) -> list[Any]:
    """``values`` converted to ``dtype`` and broadcast to their common shape."""
    shapes = [tuple(shape_of(v)) for v in values]
    shape = shapes[0] if all(s == shapes[0] for s in shapes) else broadcast_shapes(op_name, *shapes)
    return [broadcast_to(convert(v, dtype), shape) for v in values]


def normalize_axis(axis: int, ndim: int, op_name: str = "axis") -> int:
    """A non-negative axis, or NumPy's AxisError with the operation named."""
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise AxisError(f"{op_name}: axis {axis} is out of bounds for an array of dimension {ndim}")
    return axis % ndim if ndim else 0


def normalize_axes(axis: Any, ndim: int, op_name: str = "axis") -> tuple[int, ...]:
    """``axis`` (None, an int or a tuple) as a sorted tuple of distinct axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if not isinstance(axis, (tuple, list)) else tuple(axis)
    normalized = tuple(normalize_axis(a, ndim, op_name) for a in axes)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{op_name}: repeated axis in {axis}")
    return tuple(sorted(normalized))
