"""fnp's composite elementwise functions and dtype queries against NumPy."""

import numpy as np
import pytest
from fnp_harness import DTYPES, FLOAT_DTYPES, NUMERIC_DTYPES, arrays, broadcastable_pair, check, shapes
from hypothesis import given
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp

EDGES = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -2.5, 0.5, 2.5, 1e300])


@given(data=st.data())
def test_where_three_arguments(data):
    a, b = data.draw(broadcastable_pair(DTYPES))
    cond = data.draw(arrays(data.draw(st.sampled_from(DTYPES)), a.shape))
    check(fnp.where, np.where, cond, a, b)
    check(lambda c, x: fnp.where(c, x, 0.5), lambda c, x: np.where(c, x, 0.5), cond, a,
          protocol=False)


@pytest.mark.parametrize("kwargs", [dict(a_min=-1.0, a_max=2.0), dict(a_min=None, a_max=1),
                                    dict(a_min=0, a_max=None), dict(min=-1, max=1)])
@given(x=arrays(st.sampled_from(NUMERIC_DTYPES), shapes()))
def test_clip(x, kwargs):
    check(fnp.clip, np.clip, x, **kwargs)


def test_clip_with_array_bounds_and_no_bounds():
    x = np.linspace(-3, 3, 7)
    check(fnp.clip, np.clip, x, np.full(7, -1.0), np.full(7, 1.0))
    with pytest.raises(ValueError):
        fg.make_ir(lambda v: fnp.clip(v))(x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
@pytest.mark.parametrize("kwargs", [{}, dict(nan=-1.0, posinf=9.0, neginf=-9.0)])
def test_nan_to_num(dtype, kwargs):
    with np.errstate(all="ignore"):
        x = EDGES.astype(dtype) if dtype != np.int32 else np.arange(4, dtype=dtype)
        check(fnp.nan_to_num, np.nan_to_num, x, **kwargs)


@pytest.mark.parametrize("equal_nan", [False, True])
def test_isclose_and_allclose(equal_nan):
    a = EDGES
    b = EDGES * (1 + 1e-9)
    check(fnp.isclose, np.isclose, a[:, None], b[None, :], equal_nan=equal_nan)
    check(fnp.isclose, np.isclose, a, b, rtol=1e-12, atol=0.0)
    check(fnp.isclose, np.isclose, np.arange(4, dtype=np.int32), np.arange(4) + 1e-9)
    # allclose: a Python bool from NumPy, a traced 0-d bool from a trace
    assert fnp.allclose(a[3:], b[3:]) is np.allclose(a[3:], b[3:])
    (traced,) = fg.eval_ir(fg.make_ir(lambda x, y: fnp.allclose(x, y))(a[3:], b[3:]), a[3:], b[3:])
    assert bool(traced) == np.allclose(a[3:], b[3:])


@pytest.mark.parametrize("decimals", [-2, -1, 0, 1, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_round(decimals, dtype):
    x = (np.array([-251.0, -15.5, -0.5, 0.5, 1.5, 2.5, 125.0, 3.14159, 1234.5678]) * 1).astype(dtype)
    check(fnp.round, np.round, x, decimals)
    check(fnp.around, np.around, x, decimals=decimals)
    check(lambda v: v.round(decimals), lambda v: v.round(decimals), x, protocol=False)


UNARY = ["fix", "positive", "deg2rad", "radians", "rad2deg", "degrees", "sinc", "real", "imag",
         "conj", "conjugate", "isreal", "iscomplex"]


@pytest.mark.parametrize("name", UNARY)
@given(x=arrays(st.sampled_from(DTYPES), shapes()))
def test_unary_composites(name, x):
    check(getattr(fnp, name), getattr(np, name), x)


@pytest.mark.parametrize("name", ["fmax", "fmin", "heaviside", "float_power", "divmod"])
def test_binary_composites_on_edges(name):
    with np.errstate(all="ignore"):
        check(getattr(fnp, name), getattr(np, name), EDGES[:, None], EDGES[None, :])


@pytest.mark.parametrize("name", ["fmax", "fmin", "float_power", "divmod"])
@given(pair=broadcastable_pair(NUMERIC_DTYPES, low=1, high=5))
def test_binary_composites(name, pair):
    check(getattr(fnp, name), getattr(np, name), *pair)


@pytest.mark.parametrize("kwargs", [{}, dict(n=2), dict(axis=0), dict(n=0),
                                    dict(prepend=0.0), dict(append=np.ones((3, 1)))])
@given(x=arrays(st.sampled_from([np.bool_, np.int32, np.float32, np.float64]), (3, 4)))
def test_diff(kwargs, x):
    check(fnp.diff, np.diff, x, **kwargs)


@given(x=arrays(st.sampled_from(DTYPES), shapes()))
def test_shape_queries(x):
    for fn in ("ndim", "shape", "size", "iscomplexobj", "isrealobj"):
        check(getattr(fnp, fn), getattr(np, fn), x)
    if x.ndim:
        check(lambda v: fnp.size(v, axis=-1), lambda v: np.size(v, axis=-1), x)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + [np.int32])
@pytest.mark.parametrize("other", [1, 1.5, np.float64(1.5), np.int8(1), True])
def test_result_type_sees_weak_scalars(dtype, other):
    x = np.ones(2, dtype)
    seen = []
    fg.make_ir(lambda v: seen.append(fnp.result_type(v, other)) or v)(x)
    assert seen == [np.result_type(x, other)]


def test_dtype_names_are_numpys():
    assert fnp.float32 is np.float32 and fnp.int64 is np.int64 and fnp.pi == np.pi
    assert fnp.finfo(fnp.float32).eps == np.finfo(np.float32).eps
    assert fnp.newaxis is None and np.isnan(fnp.nan)
