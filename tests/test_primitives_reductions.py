"""The reduction, cumulative, arg-reduction and sort primitives: eager
implementation against NumPy, abstract evaluation, and bad-input errors."""

import numpy as np
import pytest
from fnp_harness import DTYPES, arrays, shapes
from hypothesis import given
from hypothesis import strategies as st

import funcgrad as fg
from funcgrad.errors import AxisError, DtypeError, ShapeError
from funcgrad.ir import AbstractArray
from funcgrad.primitives import PRIMITIVES
from funcgrad.primitives.reductions import CUMULATIVE_TABLE, PRIMITIVE_OF_ROW, REDUCTION_TABLE
from funcgrad.primitives.sorting import sort

F32 = np.dtype(np.float32)
I64 = np.dtype(np.int64)
# The dtypes each row's ufunc maps to themselves (logical_and/or: bool only).
ROW_DTYPES = {"reduce_and": [np.bool_], "reduce_or": [np.bool_]}


def _aval(shape, dtype=F32):
    return AbstractArray(tuple(shape), np.dtype(dtype))


@st.composite
def array_and_axes(draw, dtypes=DTYPES, min_dims=0):
    dtype = draw(st.sampled_from(dtypes))
    x = draw(arrays(dtype, shapes(min_dims=min_dims)))
    axes = tuple(sorted(draw(st.sets(st.integers(0, max(x.ndim - 1, 0)), max_size=x.ndim))))
    return x, axes


@pytest.mark.parametrize("row", REDUCTION_TABLE, ids=lambda r: r.name)
@given(data=st.data())
def test_reduction_matches_ufunc_reduce_and_keeps_dtype(row, data):
    x, axes = data.draw(array_and_axes(ROW_DTYPES.get(row.name, DTYPES)))
    prim = PRIMITIVE_OF_ROW[row.name]
    with np.errstate(all="ignore"):
        expected = row.ufunc.reduce(x, axis=axes, dtype=x.dtype)
        actual = prim.impl(np, x, axes=axes)
    np.testing.assert_array_equal(actual, expected)
    aval = prim.abstract_eval(_aval(x.shape, x.dtype), axes=axes)
    assert aval == AbstractArray(np.shape(expected), x.dtype)
    assert np.asarray(actual).dtype == x.dtype


@pytest.mark.parametrize("row", CUMULATIVE_TABLE, ids=lambda r: r.name)
@pytest.mark.parametrize("reverse", [False, True])
@given(data=st.data())
def test_cumulative_matches_ufunc_accumulate(row, reverse, data):
    x, _ = data.draw(array_and_axes(DTYPES, min_dims=1))
    axis = data.draw(st.integers(0, x.ndim - 1))
    prim = PRIMITIVE_OF_ROW[row.name]
    with np.errstate(all="ignore"):
        if reverse:
            expected = np.flip(row.ufunc.accumulate(np.flip(x, axis), axis=axis, dtype=x.dtype), axis)
        else:
            expected = row.ufunc.accumulate(x, axis=axis, dtype=x.dtype)
        actual = prim.impl(np, x, axis=axis, reverse=reverse)
    np.testing.assert_array_equal(actual, expected)
    assert actual.dtype == x.dtype
    assert prim.abstract_eval(_aval(x.shape, x.dtype), axis=axis, reverse=reverse) == _aval(
        x.shape, x.dtype)


def test_reductions_drop_the_weak_type():
    weak = AbstractArray((3,), F32, weak_type=True)
    assert not PRIMITIVES["reduce_sum"].abstract_eval(weak, axes=(0,)).weak_type
    assert not PRIMITIVES["cumsum"].abstract_eval(weak, axis=0, reverse=False).weak_type


@pytest.mark.parametrize("name, x, params, error, match", [
    ("reduce_sum", _aval((2, 3)), {"axes": (2,)}, AxisError, "reduce_sum: axis 2"),
    ("reduce_sum", _aval((2, 3)), {"axes": (1, 0)}, AxisError, "sorted and distinct"),
    ("reduce_max", _aval((2, 3)), {"axes": (0, 0)}, AxisError, "reduce_max"),
    ("reduce_prod", _aval((2,)), {"axes": (-1,)}, AxisError, "reduce_prod"),
    ("reduce_and", _aval((2,)), {"axes": (0,)}, DtypeError, "reduce_and: not defined for float32"),
    ("reduce_sum", _aval((2,), np.dtype("U3")), {"axes": (0,)}, DtypeError, "reduce_sum"),
    ("reduce_max", _aval((2, 0)), {"axes": (1,)}, ShapeError, "zero-size array to reduction "
                                                             "operation maximum"),
    ("reduce_min", _aval((0, 2)), {"axes": (0, 1)}, ShapeError, "reduce_min"),
    ("cumsum", _aval((2,)), {"axis": 1, "reverse": False}, AxisError, "cumsum: axis 1"),
    ("cummax", _aval(()), {"axis": 0, "reverse": False}, AxisError, "cummax"),
    ("cumprod", _aval((2,), np.bool_), {"axis": 0, "reverse": True}, None, None),
    ("argmax", _aval((2, 3)), {"axis": 2, "index_dtype": I64}, AxisError, "argmax: axis 2"),
    ("argmin", _aval((2, 0)), {"axis": 1, "index_dtype": I64}, ShapeError,
     "argmin: attempt to get argmin of an empty sequence"),
    ("argmax", _aval((2,)), {"axis": 0, "index_dtype": F32}, DtypeError, "integer dtype"),
])
def test_bad_operands_raise_naming_the_primitive(name, x, params, error, match):
    if error is None:  # a valid call: the counterpart of the errors around it
        PRIMITIVES[name].abstract_eval(x, **params)
        return
    with pytest.raises(error, match=match):
        PRIMITIVES[name].abstract_eval(x, **params)


def test_empty_reductions_with_an_identity_are_defined():
    assert PRIMITIVES["reduce_sum"].abstract_eval(_aval((0, 2)), axes=(0,)) == _aval((2,))
    assert PRIMITIVES["reduce_max"].abstract_eval(_aval((0, 2)), axes=(1,)) == _aval((0,))
    assert PRIMITIVES["argmax"].abstract_eval(_aval((0, 2)), axis=1, index_dtype=I64) == _aval(
        (0,), I64)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@given(data=st.data())
def test_argreductions_match_numpy(name, data):
    dtype = data.draw(st.sampled_from(DTYPES))
    x = data.draw(arrays(dtype, shapes(min_dims=1)))
    axis = data.draw(st.integers(0, x.ndim - 1))
    actual = PRIMITIVES[name].impl(np, x, axis=axis, index_dtype=np.dtype(np.int32))
    np.testing.assert_array_equal(actual, getattr(np, name)(x, axis=axis))
    assert actual.dtype == np.int32
    aval = PRIMITIVES[name].abstract_eval(_aval(x.shape, dtype), axis=axis, index_dtype=I64)
    assert aval == _aval(np.shape(actual), I64)


def test_argreductions_take_the_first_nan():
    x = np.array([1.0, np.nan, 3.0, np.nan])
    assert PRIMITIVES["argmax"].impl(np, x, axis=0, index_dtype=I64) == 1
    assert PRIMITIVES["argmin"].impl(np, x, axis=0, index_dtype=I64) == 1


# ---------------------------------------------------------------- sort


@given(data=st.data())
def test_sort_orders_lexicographically_and_stably(data):
    shape = data.draw(shapes(min_dims=1))
    dimension = data.draw(st.integers(0, len(shape) - 1))
    num_keys = data.draw(st.integers(1, 3))
    # Few distinct values, so ties are common and stability matters.
    keys = [data.draw(arrays(dtype, shape, low=0, high=2))
            for dtype in data.draw(st.lists(st.sampled_from(DTYPES), min_size=num_keys,
                                            max_size=num_keys))]
    positions = np.broadcast_to(np.arange(shape[dimension]).reshape(
        [-1 if i == dimension else 1 for i in range(len(shape))]), shape)
    results = sort.impl(np, *keys, positions, dimension=dimension, num_keys=num_keys)
    expected = _lexsort_along(keys, dimension)
    np.testing.assert_array_equal(results[-1], expected)
    for key, result in zip(keys, results):
        np.testing.assert_array_equal(result, np.take_along_axis(key, expected, dimension))


def _lexsort_along(keys, dimension):
    """np.lexsort (last key most significant) applied along ``dimension``."""
    moved = [np.moveaxis(k, dimension, -1) for k in keys]
    out = np.empty(moved[0].shape, np.intp)
    for index in np.ndindex(moved[0].shape[:-1]):
        out[index] = np.lexsort([k[index] for k in reversed(moved)])
    return np.moveaxis(out, -1, dimension)


def test_sort_puts_nans_last():
    x = np.array([[np.nan, 2.0, -np.inf, 1.0], [3.0, np.nan, np.nan, 0.0]], np.float32)
    (values,) = sort.impl(np, x, dimension=1, num_keys=1)
    np.testing.assert_array_equal(values, [[-np.inf, 1, 2, np.nan], [0, 3, np.nan, np.nan]])
    values, positions = sort.impl(np, x, np.arange(4) + np.zeros((2, 1), int), dimension=1,
                                  num_keys=1)
    np.testing.assert_array_equal(positions, [[2, 3, 1, 0], [3, 0, 1, 2]])


def test_sort_abstract_eval_keeps_each_operand():
    avals = sort.abstract_eval(_aval((2, 3)), _aval((2, 3), I64), dimension=1, num_keys=1)
    assert avals == [_aval((2, 3)), _aval((2, 3), I64)]


@pytest.mark.parametrize("operands, params, error, match", [
    ([], {"dimension": 0, "num_keys": 1}, ShapeError, "at least one operand"),
    ([_aval((2,)), _aval((3,))], {"dimension": 0, "num_keys": 1}, ShapeError, r"\(2,\) \(3,\)"),
    ([_aval((2, 3))], {"dimension": 2, "num_keys": 1}, AxisError, "sort: dimension 2"),
    ([_aval(())], {"dimension": 0, "num_keys": 1}, AxisError, "sort: dimension 0"),
    ([_aval((2,))], {"dimension": 0, "num_keys": 2}, ValueError, "num_keys"),
    ([_aval((2,))], {"dimension": 0, "num_keys": 0}, ValueError, "num_keys"),
])
def test_sort_bad_operands(operands, params, error, match):
    with pytest.raises(error, match=match):
        sort.abstract_eval(*operands, **params)


def test_primitives_print_their_params_in_the_ir():
    x = np.ones((2, 3), np.float32)
    ir = fg.make_ir(lambda a: PRIMITIVES["reduce_sum"].bind(a, axes=(0, 1)))(x)
    assert "reduce_sum[axes=(0, 1)] a" in str(ir)
    ir = fg.make_ir(lambda a: sort.bind(a, a, dimension=1, num_keys=2))(x)
    assert "sort[dimension=1 num_keys=2] a a" in str(ir)
    assert ir.out_avals == [_aval((2, 3)), _aval((2, 3))]
