"""Checks an fnp function against NumPy three ways.

1. eager: ``fnp.f(*args)`` on concrete arrays;
2. traced: the same call traced by ``make_ir`` and run by ``eval_ir``;
3. protocol: NumPy's own ``np.f`` called on tracers (``__array_function__``);

each must give NumPy's value, dtype and shape.  Array arguments (ndarrays)
are the traced ones; everything else (axes, shapes, Python scalars) is static.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcgrad.numpy as fnp
from funcgrad import tree
from funcgrad.ir import abstractify, typecheck
from funcgrad.trace import eval_ir, trace_pytree, trace_to_ir

DTYPES = [np.bool_, np.int32, np.int64, np.float32, np.float64]
FLOAT_DTYPES = [np.float32, np.float64]
NUMERIC_DTYPES = [np.int32, np.int64, np.float32, np.float64]

TOLERANCE = {np.dtype(np.float16): 2e-3, np.dtype(np.float32): 2e-5,
             np.dtype(np.float64): 1e-12, np.dtype(np.complex64): 2e-5,
             np.dtype(np.complex128): 1e-12}


def assert_same(actual: Any, expected: Any, rtol: float | None = None, where: str = "") -> None:
    """Same tree structure, and leafwise the same shape, dtype and values."""
    actual_leaves, actual_def = tree.tree_flatten(_plain(actual))
    expected_leaves, expected_def = tree.tree_flatten(_plain(expected))
    assert actual_def == expected_def, f"{where}: structure {actual_def} != {expected_def}"
    for a, e in zip(actual_leaves, expected_leaves):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape, f"{where}: shape {a.shape} != {e.shape}"
        assert a.dtype == e.dtype, f"{where}: dtype {a.dtype} != {e.dtype}"
        tol = TOLERANCE.get(e.dtype, 0) if rtol is None else rtol
        if tol == 0:
            np.testing.assert_array_equal(a, e, err_msg=where)
        else:
            np.testing.assert_allclose(a, e, rtol=tol, atol=tol, equal_nan=True, err_msg=where)


def _plain(value: Any) -> Any:
    """NumPy's result types (namedtuples of results, lists) as plain pytrees."""
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def check(fnp_fn: Callable, np_fn: Callable | None, *args: Any, rtol: float | None = None,
          protocol: bool = True, **kwargs: Any) -> None:
    """``fnp_fn(*args, **kwargs)`` equals ``np_fn(*args, **kwargs)`` eager,
    traced, and (with ``protocol``) through NumPy's dispatch on tracers."""
    np_fn = np_fn or fnp_fn
    with np.errstate(all="ignore"):
        try:
            expected = np_fn(*args, **kwargs)
        except Exception as error:  # NumPy refuses: so must funcgrad, with the same kind of error
            for run in (lambda: fnp_fn(*args, **kwargs), lambda: run_traced(fnp_fn, args, kwargs)):
                with pytest.raises(type(error)):
                    run()
            return
        assert_same(fnp_fn(*args, **kwargs), expected, rtol, "eager")
        assert_same(run_traced(fnp_fn, args, kwargs), expected, rtol, "traced")
        if protocol:
            assert_same(run_traced(np_fn, args, kwargs), expected, rtol, "protocol")


def run_traced(fn: Callable, args: tuple, kwargs: dict) -> Any:
    """Trace ``fn`` with its ndarray arguments as inputs, then evaluate the IR."""
    traced = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]
    static = [i for i in range(len(args)) if i not in traced]
    ir, captured, _, out_tree = trace_pytree(lambda *a: fn(*a, **kwargs), args,
                                             static_argnums=static)
    assert not captured
    typecheck(ir)
    arrays = [args[i] for i in traced]
    return tree.tree_unflatten(out_tree, eval_ir(ir, *arrays))


def through_trace(primitive, *args, **params):
    """Bind ``primitive`` under a trace, check the recorded avals against the
    values, then evaluate the IR: what a primitive test wants."""
    multiple = primitive.multiple_results
    ir, _ = trace_to_ir(lambda *a: list(primitive.bind(*a, **params)) if multiple
                        else [primitive.bind(*a, **params)], list(args))
    typecheck(ir)
    results = eval_ir(ir, *args)
    assert ir.out_avals == [abstractify(np.asarray(r)) for r in results], ir
    return results if multiple else results[0]


def numerical_grad(f: Callable, x: Any, eps: float = 1e-6) -> np.ndarray:
    """Central differences of a scalar function of one float64 array."""
    x = np.asarray(x, np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


# ---------------------------------------------------------------- strategies

def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def elements(dtype: Any, *, low: float = -10, high: float = 10) -> st.SearchStrategy:
    """Edge-free elements by default: finite, moderate, so every path is comparable."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return st.booleans()
    if dtype.kind in "iu":
        return st.integers(int(low), int(high))
    return st.floats(low, high, width=dtype.itemsize * 8, allow_nan=False, allow_infinity=False)


def arrays(dtype: Any, shape: Any, **element_kwargs: Any) -> st.SearchStrategy:
    """Arrays of ``dtype`` (or of a dtype drawn from a strategy) with a fixed
    shape or a shape strategy."""
    if isinstance(dtype, st.SearchStrategy):
        return dtype.flatmap(lambda d: arrays(d, shape, **element_kwargs))
    return hnp.arrays(dtype, shape, elements=elements(dtype, **element_kwargs))


def broadcastable_pair(dtypes=NUMERIC_DTYPES, **element_kwargs: Any) -> st.SearchStrategy:
    """Two arrays whose shapes broadcast together, with dtypes drawn independently."""
    @st.composite
    def draw(data):
        a_shape, b_shape = data(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3,
                                                                  max_side=4)).input_shapes
        a = data(arrays(data(st.sampled_from(dtypes)), a_shape, **element_kwargs))
        b = data(arrays(data(st.sampled_from(dtypes)), b_shape, **element_kwargs))
        return a, b

    return draw()


def fnp_names() -> set[str]:
    """Every public function of funcgrad.numpy."""
    return {name for name in dir(fnp) if not name.startswith("_") and callable(getattr(fnp, name))
            and getattr(getattr(fnp, name), "__module__", "") == "funcgrad.numpy"}
