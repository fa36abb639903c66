"""Sorting and searching of funcgrad.numpy against NumPy: values, dtypes and
shapes, eager, traced and through NumPy's own functions, with ties and NaNs."""

import numpy as np
import pytest
from fnp_harness import DTYPES, NUMERIC_DTYPES, arrays, check, elements, shapes
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.errors import AxisError


@st.composite
def array_and_axis(draw, dtypes=DTYPES, min_dims=1, with_none=True):
    """Arrays with many ties (few distinct values) and NaNs, and an axis."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    shape = draw(shapes(min_dims=min_dims, min_side=0))
    values = elements(dtype, low=-2, high=2)
    if dtype.kind == "f":
        values = st.one_of(values, st.just(np.nan))
    x = draw(hnp.arrays(dtype, shape, elements=values))
    choices = ([st.none()] if with_none else []) + (
        [st.integers(-x.ndim, x.ndim - 1)] if x.ndim else [])
    return x, draw(st.one_of(choices))


@given(data=st.data())
def test_sort(data):
    x, axis = data.draw(array_and_axis())
    check(fnp.sort, np.sort, x, axis=axis)
    check(fnp.sort, np.sort, x, axis=axis, kind="stable")


@given(data=st.data())
def test_argsort_is_stable(data):
    x, axis = data.draw(array_and_axis(min_dims=0))
    check(fnp.argsort, np.argsort, x, axis=axis, kind="stable")
    check(fnp.argsort, np.argsort, x, axis=axis, stable=True)


@given(data=st.data())
def test_argsort_default_kind_without_ties(data):
    # NumPy's default (quicksort) may order ties differently; distinct values have one order.
    shape = data.draw(shapes(min_dims=1))
    order = np.array(data.draw(st.permutations(range(int(np.prod(shape))))))
    x = order.reshape(shape).astype(data.draw(st.sampled_from(NUMERIC_DTYPES)))
    check(fnp.argsort, np.argsort, x, axis=data.draw(st.integers(-x.ndim, x.ndim - 1)))


def test_sort_0d_like_numpy():
    x = np.array(1.5)
    check(fnp.sort, np.sort, x, axis=None)
    check(fnp.argsort, np.argsort, x)
    with pytest.raises(AxisError, match="sort: axis -1"):
        fg.make_ir(fnp.sort)(x)


@given(data=st.data())
def test_lexsort(data):
    x, axis = data.draw(array_and_axis(with_none=False))
    keys = [x] + [data.draw(arrays(dtype, x.shape, low=0, high=2))
                  for dtype in data.draw(st.lists(st.sampled_from(DTYPES), max_size=2))]
    check(fnp.lexsort, np.lexsort, keys, axis=axis)


@pytest.mark.parametrize("keys", [
    np.array([[1, 0, 1, 0], [2, 2, 1, 1]]),                  # an array: its rows are the keys
    np.array([3, 1, 2]),                                     # 1-d: 0-d keys
])
def test_lexsort_of_an_array(keys):
    check(fnp.lexsort, np.lexsort, keys)


def test_lexsort_keys_must_agree():
    with pytest.raises(ValueError, match="same shape"):
        fg.make_ir(lambda a, b: fnp.lexsort([a, b]))(np.ones(3), np.ones(4))


@pytest.mark.parametrize("side", ["left", "right"])
@given(data=st.data())
def test_searchsorted(side, data):
    x, _ = data.draw(array_and_axis(NUMERIC_DTYPES, with_none=False))
    a = np.sort(x.ravel())  # NaNs last, as NumPy wants them
    # v: a weak Python scalar, an int32 array, or float64 values with NaNs.
    v = data.draw(st.one_of(
        st.sampled_from([0, 1.5, -7, float("nan")]),
        arrays(np.int32, shapes(), low=-3, high=3),
        hnp.arrays(np.float64, shapes(), elements=st.one_of(
            elements(np.float64, low=-3, high=3), st.just(np.nan)))))
    check(fnp.searchsorted, np.searchsorted, a, v, side=side)


def test_searchsorted_with_sorter():
    a = np.array([3.0, 1.0, 2.0, np.nan])
    check(fnp.searchsorted, np.searchsorted, a, np.array([0.5, 2.0, np.nan]),
          sorter=np.argsort(a, kind="stable"))


def test_searchsorted_bad_arguments():
    with pytest.raises(ValueError, match="search side"):
        fg.make_ir(lambda a: fnp.searchsorted(a, 1.0, side="middle"))(np.ones(3))
    with pytest.raises(ValueError, match="1-d"):
        fg.make_ir(lambda a: fnp.searchsorted(a, 1.0))(np.ones((2, 2)))


def test_order_and_in_place_sort_are_refused_on_tracers():
    with pytest.raises(TypeError, match="order="):
        fg.make_ir(lambda a: fnp.sort(a, order="x"))(np.ones(3))
    with pytest.raises(TypeError, match="in place"):
        fg.make_ir(lambda a: a.sort())(np.ones(3))


def test_argsort_method_and_ir():
    x = np.array([[3.0, 1.0], [0.0, 2.0]])
    check(lambda a: a.argsort(axis=0), lambda a: a.argsort(axis=0, kind="stable"), x,
          protocol=False)
    ir = str(fg.make_ir(lambda a: fnp.argsort(a, axis=0))(x))
    assert "iota[dimension=0 dtype=i64 shape=(2, 2)]" in ir
    assert "sort[dimension=0 num_keys=1] a b" in ir
