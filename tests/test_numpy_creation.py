"""funcgrad.numpy array creation against NumPy: eager, traced and through
NumPy's own functions on tracers (``fnp_harness.check``)."""

import numpy as np
import pytest
from fnp_harness import DTYPES, FLOAT_DTYPES, NUMERIC_DTYPES, arrays, check, shapes
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.errors import AxisError, ConcretizationError, ShapeError
from funcgrad.numpy import _core
from funcgrad.trace import eval_ir, trace_to_ir


def _array(draw, min_dims=0, max_dims=3, min_side=0, dtypes=DTYPES):
    return draw(arrays(draw(st.sampled_from(dtypes)), shapes(min_dims, max_dims, min_side)))


def trace(fn, *args):
    return fg.make_ir(fn)(*args)


# ---------------------------------------------------------------- array, asarray


@given(data=st.data())
def test_array_and_asarray_of_a_traced_array(data):
    x = _array(data.draw)
    dtype = data.draw(st.sampled_from([None, *DTYPES]))
    ndmin = data.draw(st.integers(0, 4))
    check(lambda x: fnp.array(x, dtype, ndmin=ndmin), lambda x: np.array(x, dtype, ndmin=ndmin), x,
          protocol=False)  # np.array converts its argument itself: no dispatch
    check(lambda x: fnp.asarray(x, dtype), lambda x: np.asarray(x, dtype), x, protocol=False)
    check(fnp.copy, np.copy, x)


@given(data=st.data())
def test_array_of_nested_lists_mixing_tracers_scalars_and_arrays(data):
    shape = data.draw(shapes(0, 2, min_side=0))
    a, b = (data.draw(arrays(data.draw(st.sampled_from(DTYPES)), shape)) for _ in range(2))
    constant = np.full(shape, 3, data.draw(st.sampled_from(DTYPES)))
    scalar = data.draw(st.sampled_from([1, 2.5, True])) if not shape else constant
    dtype = data.draw(st.sampled_from([None, np.float32, np.int64]))

    def nested(module):
        return lambda a, b: module.array([[a, scalar], [constant, b]], dtype=dtype)

    check(nested(fnp), nested(np), a, b, protocol=False)
    check(lambda a, b: fnp.array([a, b, scalar]), lambda a, b: np.array([a, b, scalar]), a, b,
          protocol=False)


def test_array_of_nested_lists_checks_shapes():
    with pytest.raises(ShapeError, match=r"array: .*inhomogeneous shapes \[\(2,\), \(3,\)\]"):
        trace(lambda x: fnp.array([x, np.ones(3)]), np.ones(2))


def test_array_copy_false_refuses_a_copy():
    check(lambda x: fnp.asarray(x, copy=False), lambda x: np.asarray(x, copy=False), np.ones(2),
          protocol=False)
    with pytest.raises(ValueError, match="copy"):
        trace(lambda x: fnp.array([x, x], copy=False), np.ones(2))


@pytest.mark.parametrize("dtype", DTYPES)
def test_astype_on_tracers(dtype):
    check(lambda x: x.astype(dtype), lambda x: x.astype(dtype), np.linspace(-3, 3, 7))


def test_array_and_asarray_make_weak_values_strong():
    def f(x):
        weak = _core.broadcast_to(_core.constant(2.0), x.shape)  # as from a Python scalar
        return weak, fnp.asarray(weak), fnp.array(weak)

    assert [a.weak_type for a in trace(f, np.ones(2)).out_avals] == [True, False, False]


# ---------------------------------------------------------------- filled arrays

STATIC_CALLS = [
    ("zeros", (3,), {}), ("zeros", ((2, 0),), {"dtype": np.int32}), ("ones", ((),), {}),
    ("ones", (4,), {"dtype": bool}), ("full", ((2, 3), 1.5), {}), ("full", (2, 7), {"dtype": np.float32}),
    ("arange", (5,), {}), ("arange", (0.0, 1.0, 0.1), {}), ("arange", (2, 11, 3), {"dtype": np.float32}),
    ("arange", (np.int32(5),), {}), ("eye", (3,), {}), ("eye", (2, 4, 1), {"dtype": int}),
    ("eye", (3, 2, -1), {}), ("identity", (3,), {"dtype": np.float32}), ("tri", (3,), {}),
    ("tri", (3, 4, -1), {"dtype": np.int64}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), STATIC_CALLS)
def test_creation_from_static_arguments(name, args, kwargs):
    check(getattr(fnp, name), getattr(np, name), *args, protocol=False, **kwargs)


def test_empty_has_numpys_shape_and_dtype():
    assert fnp.empty((2, 3), np.int32).shape == (2, 3)
    x = fg.eval_ir(trace(lambda x: fnp.empty_like(x, shape=(3, 1)), np.ones(2, np.float32)),
                   np.ones(2, np.float32))[0]
    assert (x.shape, x.dtype) == ((3, 1), np.float32)


@pytest.mark.parametrize("name", ["arange", "zeros", "eye"])
def test_traced_static_arguments_need_concrete_values(name):
    fn = getattr(fnp, name)
    ir, _ = trace_to_ir(lambda n: [fn(n)], [np.int64(4)], concrete=True)  # a concrete trace knows n
    np.testing.assert_array_equal(eval_ir(ir, np.int64(4))[0], getattr(np, name)(4))
    with pytest.raises(ConcretizationError, match=f"{name}\\(\\) of a traced argument"):
        trace(fn, np.int64(4))


@given(data=st.data())
def test_full_and_like_functions(data):
    x = _array(data.draw)
    dtype = data.draw(st.sampled_from([None, *DTYPES]))
    shape = data.draw(st.none() | shapes(0, 3, min_side=0))
    value = data.draw(st.sampled_from([2, -1.5, True]))
    for name in ["zeros_like", "ones_like"]:
        check(getattr(fnp, name), getattr(np, name), x, dtype, shape=shape)
    check(fnp.full_like, np.full_like, x, value, dtype, shape=shape)
    fill = data.draw(arrays(data.draw(st.sampled_from(DTYPES)), shapes(0, 2, min_side=1)))
    out_shape = (*data.draw(shapes(0, 2)), *fill.shape)
    check(lambda x, v: fnp.full_like(x, v, shape=out_shape),
          lambda x, v: np.full_like(x, v, shape=out_shape), x, fill)
    check(lambda v: fnp.full(out_shape, v, dtype), lambda v: np.full(out_shape, v, dtype), fill,
          protocol=False)  # np.full converts its fill value itself: no dispatch


# ---------------------------------------------------------------- ranges


@given(data=st.data())
def test_linspace(data):
    start_shape, stop_shape = data.draw(hnp.mutually_broadcastable_shapes(
        num_shapes=2, max_dims=2, max_side=3)).input_shapes
    start = data.draw(arrays(data.draw(st.sampled_from(NUMERIC_DTYPES)), start_shape))
    stop = data.draw(arrays(data.draw(st.sampled_from(NUMERIC_DTYPES)), stop_shape))
    num = data.draw(st.integers(0, 6))
    kwargs = {"endpoint": data.draw(st.booleans()),
              "dtype": data.draw(st.sampled_from([None, np.float32, np.int64])),
              "axis": data.draw(st.integers(-start.ndim - 1, 0) | st.integers(0, max(start.ndim,
                                                                                    stop.ndim)))}
    check(fnp.linspace, np.linspace, start, stop, num, **kwargs)
    check(lambda a: fnp.linspace(a, 2.5, num, retstep=True), lambda a: np.linspace(a, 2.5, num, retstep=True),
          start)
    for first in [-1, np.float64(-1)]:  # a Python scalar is weak, a NumPy scalar is not
        check(fnp.linspace, np.linspace, first, stop, num)


def test_linspace_with_a_denormal_step():
    stop = np.array([1e-320, 1.0])
    check(lambda b: fnp.linspace(0.0, b, 5), lambda b: np.linspace(0.0, b, 5), stop)


@given(data=st.data())
def test_logspace(data):
    start = data.draw(arrays(data.draw(st.sampled_from(FLOAT_DTYPES)), shapes(0, 2), low=-2, high=2))
    num = data.draw(st.integers(0, 5))
    base = data.draw(st.sampled_from([10.0, 2, np.float64(3.0), np.array([2.0, 3.0])]))
    dtype = data.draw(st.sampled_from([None, np.float32]))
    check(lambda a: fnp.logspace(a, 1.0, num, base=base, dtype=dtype),
          lambda a: np.logspace(a, 1.0, num, base=base, dtype=dtype), start)


@given(data=st.data())
def test_meshgrid(data):
    xs = [_array(data.draw, max_dims=2) for _ in range(data.draw(st.integers(1, 3)))]
    kwargs = {"indexing": data.draw(st.sampled_from(["xy", "ij"])), "sparse": data.draw(st.booleans())}
    check(lambda *xs: fnp.meshgrid(*xs, **kwargs), lambda *xs: np.meshgrid(*xs, **kwargs), *xs)


# ---------------------------------------------------------------- triangles and diagonals


@pytest.mark.parametrize("name", ["tril", "triu"])
@given(data=st.data())
def test_triangles(name, data):
    x = _array(data.draw, min_dims=1, max_dims=4)
    check(getattr(fnp, name), getattr(np, name), x, k=data.draw(st.integers(-4, 4)))


@given(data=st.data())
def test_diag(data):
    x = _array(data.draw, min_dims=1, max_dims=2, min_side=0)
    check(fnp.diag, np.diag, x, k=data.draw(st.integers(-5, 5)))


@given(data=st.data())
def test_diagonal(data):
    x = _array(data.draw, min_dims=2, max_dims=4)
    axis1, axis2 = data.draw(st.permutations(range(x.ndim)))[:2]
    check(fnp.diagonal, np.diagonal, x, data.draw(st.integers(-5, 5)), axis1, axis2 - x.ndim)


def test_diag_and_tril_record_no_gather():
    ir = trace(lambda v: (fnp.diag(v, 1), fnp.diagonal(fnp.diag(v)), fnp.tril(fnp.diag(v))), np.ones(3))
    assert {e.primitive.name for e in ir.eqns} <= {"pad", "reshape", "slice", "transpose", "iota",
                                                   "le", "ge", "select", "broadcast_in_dim"}


ERRORS = [
    (lambda x: fnp.diagonal(x[0]), ValueError, "at least two dimensions"),
    (lambda x: fnp.diagonal(x, 0, 1, -1), ValueError, "axis1 and axis2 cannot be the same"),
    (lambda x: fnp.diagonal(x, 0, 0, 2), AxisError, "diagonal: axis 2"),
    (lambda x: fnp.diag(x[None]), ValueError, "1- or 2-d"),
    (lambda x: fnp.tril(x[0, 0]), TypeError, "at least 1 dimension"),
    (lambda x: fnp.linspace(x, 1.0, -1), ValueError, "must be non-negative"),
    (lambda x: fnp.linspace(x, 1.0, 3, axis=3), AxisError, "moveaxis"),
    (lambda x: fnp.meshgrid(x, indexing="yx"), ValueError, "indexing"),
    (lambda x: fnp.full((2, 2), x), ShapeError, "broadcast_to"),
]


@pytest.mark.parametrize(("fn", "error", "match"), ERRORS)
def test_errors_on_traced_arrays(fn, error, match):
    with pytest.raises(error, match=match):
        trace(fn, np.ones((2, 3)))
