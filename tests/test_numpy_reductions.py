"""Reductions, statistics and cumulative ops of funcgrad.numpy against NumPy:
values, dtypes and shapes, eager, traced and through NumPy's own functions,
over drawn arrays, axes (None, int, negative, tuple), keepdims, dtype=, ddof,
where= / initial=, and NaNs."""

import numpy as np
import pytest
from fnp_harness import DTYPES, FLOAT_DTYPES, NUMERIC_DTYPES, arrays, check, elements, shapes
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.errors import AxisError

# NumPy itself warns on empty slices and all-NaN slices; the values are what is checked.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def nan_arrays(dtype, shape):
    """Arrays whose float entries are NaN now and then."""
    if np.dtype(dtype).kind != "f":
        return arrays(dtype, shape)
    return hnp.arrays(dtype, shape, elements=st.one_of(elements(dtype), st.just(np.nan)))


@st.composite
def axes(draw, ndim, tuples=True):
    """None, an int (maybe negative) or a tuple of distinct axes in any order."""
    choices = [st.none()]
    if ndim:
        choices.append(st.integers(-ndim, ndim - 1))
    if tuples:
        choices.append(st.permutations(range(ndim)).flatmap(
            lambda order: st.integers(0, ndim).map(lambda k: order[:k])))
    axis = draw(st.one_of(choices))
    if isinstance(axis, list):
        axis = tuple(a - ndim if draw(st.booleans()) else a for a in axis)
    return axis


@st.composite
def array_and_axis(draw, dtypes=DTYPES, min_side=1, nans=False, tuples=True, min_dims=0):
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(shapes(min_dims=min_dims, min_side=min_side))
    x = draw(nan_arrays(dtype, shape) if nans else arrays(dtype, shape))
    return x, draw(axes(x.ndim, tuples))


def fns(*names):
    return [pytest.param(getattr(fnp, n), getattr(np, n), id=n) for n in names]


# ---------------------------------------------------------------- ufunc reductions


@pytest.mark.parametrize("fnp_fn, np_fn", fns("sum", "prod", "all", "any", "count_nonzero",
                                              "nansum", "nanprod"))
@given(data=st.data())
def test_reductions_with_an_identity(fnp_fn, np_fn, data):
    x, axis = data.draw(array_and_axis(min_side=0, nans=True))
    check(fnp_fn, np_fn, x, axis=axis, keepdims=data.draw(st.booleans()))


@pytest.mark.parametrize("fnp_fn, np_fn", fns("max", "min", "amax", "amin", "nanmax", "nanmin",
                                              "ptp"))
@given(data=st.data())
def test_extrema(fnp_fn, np_fn, data):
    dtypes = NUMERIC_DTYPES if np_fn is np.ptp else DTYPES  # NumPy cannot subtract booleans
    x, axis = data.draw(array_and_axis(dtypes, nans=True))
    check(fnp_fn, np_fn, x, axis=axis, keepdims=data.draw(st.booleans()))


@pytest.mark.parametrize("fnp_fn, np_fn", fns("sum", "prod", "nansum"))
@given(data=st.data())
def test_sum_and_prod_accumulate_in_numpys_dtype(fnp_fn, np_fn, data):
    x, axis = data.draw(array_and_axis())
    dtype = data.draw(st.sampled_from([None, np.int32, np.int64, np.float32, np.float64]))
    check(fnp_fn, np_fn, x, axis=axis, dtype=dtype)


@pytest.mark.parametrize("fnp_fn, np_fn", fns("sum", "prod", "max", "min", "all", "any",
                                              "nansum", "nanmax", "mean", "var", "std"))
@given(data=st.data())
def test_where_and_initial(fnp_fn, np_fn, data):
    x, axis = data.draw(array_and_axis(min_side=0, min_dims=1))
    if np_fn in (np.var, np.std, np.mean) and x.dtype == np.bool_:
        x = x.astype(np.int32)
    # A mask of x's shape, or of its last axes (it broadcasts); traced when an array.
    mask_shape = x.shape[data.draw(st.integers(0, x.ndim)):]
    where = data.draw(arrays(np.bool_, mask_shape))
    kwargs = {"axis": axis, "where": where}
    if np_fn not in (np.all, np.any, np.mean, np.var, np.std):
        kwargs["initial"] = data.draw(st.integers(-3, 3))
    check(fnp_fn, np_fn, x, **kwargs)


@pytest.mark.parametrize("initial", [-2, 0.5, 7])
@pytest.mark.parametrize("name", ["sum", "prod", "max", "min"])
def test_initial_is_cast_to_the_result_dtype(name, initial):
    x = np.array([[1, 5, 3], [2, -1, 0]], np.int32)
    check(getattr(fnp, name), getattr(np, name), x, axis=1, initial=initial)
    check(getattr(fnp, name), getattr(np, name), np.zeros((0, 2)), axis=0, initial=initial)


def test_zero_d_arrays_accept_axis_0_and_minus_1_like_numpy():
    x = np.array(2.5)
    for axis in [0, -1]:
        check(fnp.sum, np.sum, x, axis=axis, keepdims=True)
        check(fnp.max, np.max, x, axis=axis)
        check(fnp.count_nonzero, np.count_nonzero, x, axis=axis)
        check(fnp.argmax, np.argmax, x, axis=axis, keepdims=True)
        check(fnp.cumsum, np.cumsum, x, axis=axis)
    with pytest.raises(AxisError, match="mean: axis 0"):
        fg.make_ir(lambda a: fnp.mean(a, axis=0))(x)


# ---------------------------------------------------------------- statistics


@pytest.mark.parametrize("fnp_fn, np_fn", fns("mean", "nanmean"))
@given(data=st.data())
def test_means(fnp_fn, np_fn, data):
    x, axis = data.draw(array_and_axis(DTYPES + [np.float16], nans=True))
    check(fnp_fn, np_fn, x, axis=axis, keepdims=data.draw(st.booleans()))


@pytest.mark.parametrize("fnp_fn, np_fn", fns("var", "std", "nanvar", "nanstd"))
@given(data=st.data())
def test_variances(fnp_fn, np_fn, data):
    x, axis = data.draw(array_and_axis(DTYPES + [np.float16], nans=True))
    ddof = data.draw(st.sampled_from([0, 1, 2, 0.5]))
    check(fnp_fn, np_fn, x, axis=axis, ddof=ddof, keepdims=data.draw(st.booleans()))


@pytest.mark.parametrize("fnp_fn, np_fn", fns("mean", "var", "std", "nanmean", "nanvar"))
@given(data=st.data())
def test_statistics_with_dtype(fnp_fn, np_fn, data):
    x, axis = data.draw(array_and_axis(FLOAT_DTYPES if np_fn in (np.nanmean, np.nanvar)
                                       else DTYPES))
    check(fnp_fn, np_fn, x, axis=axis, dtype=data.draw(st.sampled_from(FLOAT_DTYPES)))


def test_integer_dtype_means_truncate_like_numpy():
    x = np.array([[1, 2], [4, 4]], np.int32)
    check(fnp.mean, np.mean, x, axis=0, dtype=np.int32)
    check(fnp.var, np.var, x, axis=1, dtype=np.int64)
    check(fnp.std, np.std, x, dtype=np.float32)


def test_empty_slices_give_nan_like_numpy():
    x = np.zeros((2, 0), np.float32)
    for name in ["mean", "var", "std", "nanmean", "nanvar", "median"]:
        check(getattr(fnp, name), getattr(np, name), x, axis=1)


@pytest.mark.parametrize("name", ["var", "std", "nanvar", "nanstd"])
def test_correction_and_a_given_mean(name):
    x = np.array([[1.0, 2.0, 4.0], [0.5, np.nan, 3.0]])
    check(getattr(fnp, name), getattr(np, name), x, axis=1, correction=1)
    center = np.nanmean(x, axis=1, keepdims=True)
    check(getattr(fnp, name), getattr(np, name), x, axis=1, mean=center)
    with pytest.raises(ValueError, match="ddof and correction"):
        fg.make_ir(lambda a: getattr(fnp, name)(a, ddof=1, correction=1))(x)


@given(data=st.data())
def test_average(data):
    x, axis = data.draw(array_and_axis(NUMERIC_DTYPES))
    weights_dtype = data.draw(st.sampled_from(NUMERIC_DTYPES))
    weights = data.draw(st.one_of(st.none(), arrays(weights_dtype, x.shape, low=1, high=5)))
    check(fnp.average, np.average, x, axis=axis, weights=weights,
          returned=data.draw(st.booleans()), keepdims=data.draw(st.booleans()))


@pytest.mark.parametrize("axis", [1, (2, 0), (0, 2), -1])
def test_average_with_weights_along_the_axes(axis):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    ax = axis if isinstance(axis, tuple) else (axis,)
    weights = np.arange(1, 1 + np.prod([x.shape[a] for a in ax])).reshape([x.shape[a] for a in ax])
    check(fnp.average, np.average, x, axis=axis, weights=weights.astype(np.float64), returned=True)


def test_average_weights_of_another_shape_need_an_axis():
    x = np.ones((2, 3))
    with pytest.raises(TypeError, match="Axis must be specified"):
        fg.make_ir(lambda a, w: fnp.average(a, weights=w))(x, np.ones(3))
    with pytest.raises(ValueError, match="Shape of weights"):
        fg.make_ir(lambda a, w: fnp.average(a, axis=0, weights=w))(x, np.ones(3))


# ---------------------------------------------------------------- arg-reductions


@pytest.mark.parametrize("fnp_fn, np_fn", fns("argmax", "argmin"))
@given(data=st.data())
def test_argreductions(fnp_fn, np_fn, data):
    x, axis = data.draw(array_and_axis(nans=True, tuples=False))
    check(fnp_fn, np_fn, x, axis=axis, keepdims=data.draw(st.booleans()))


# ---------------------------------------------------------------- cumulative


@pytest.mark.parametrize("fnp_fn, np_fn", fns("cumsum", "cumprod", "nancumsum", "nancumprod"))
@given(data=st.data())
def test_cumulative(fnp_fn, np_fn, data):
    x, axis = data.draw(array_and_axis(min_side=0, nans=True, tuples=False))
    dtype = data.draw(st.sampled_from([None, np.int64, np.float32]))
    check(fnp_fn, np_fn, x, axis=axis, dtype=dtype)


@pytest.mark.parametrize("fnp_fn, np_fn", fns("cumulative_sum", "cumulative_prod"))
@given(data=st.data())
def test_cumulative_sum_and_prod(fnp_fn, np_fn, data):
    x, axis = data.draw(array_and_axis(min_side=0, tuples=False))
    if x.ndim > 1 and axis is None:
        axis = -1
    check(fnp_fn, np_fn, x, axis=axis, include_initial=data.draw(st.booleans()))


def test_cumulative_sum_needs_an_axis_for_nd_arrays():
    with pytest.raises(ValueError, match="axis"):
        fg.make_ir(fnp.cumulative_sum)(np.ones((2, 2)))


# ---------------------------------------------------------------- order statistics


@given(data=st.data())
def test_median(data):
    x, axis = data.draw(array_and_axis(NUMERIC_DTYPES + [np.bool_], nans=True))
    check(fnp.median, np.median, x, axis=axis, keepdims=data.draw(st.booleans()))


METHODS = ["linear", "lower", "higher", "nearest", "midpoint", "inverted_cdf",
           "averaged_inverted_cdf", "closest_observation", "interpolated_inverted_cdf", "hazen",
           "weibull", "median_unbiased", "normal_unbiased"]
# q as NumPy sees it: a weak Python float or int, a list (float64), a float32 scalar.
QS = [0.3, 0, 1, 0.5, [0.0, 0.25, 1.0], [[0.1], [0.9]], np.float32(0.7), [0, 1]]


@pytest.mark.parametrize("method", METHODS)
@given(data=st.data())
def test_quantile_and_percentile(method, data):
    x, axis = data.draw(array_and_axis(NUMERIC_DTYPES, nans=True))
    q = data.draw(st.sampled_from(QS))
    keepdims = data.draw(st.booleans())
    check(fnp.quantile, np.quantile, x, q, axis=axis, method=method, keepdims=keepdims)
    percent = [np.multiply(v, 100).tolist() for v in q] if isinstance(q, list) else q * 100
    check(fnp.percentile, np.percentile, x, percent, axis=axis, method=method, keepdims=keepdims)


def test_quantile_bad_arguments():
    x = np.ones(4)
    with pytest.raises(TypeError, match="q must be a concrete value"):
        fg.make_ir(fnp.quantile)(x, np.array(0.5))
    with pytest.raises(ValueError, match="range"):
        fg.make_ir(lambda a: fnp.quantile(a, 1.5))(x)
    with pytest.raises(ValueError, match="not a valid method"):
        fg.make_ir(lambda a: fnp.quantile(a, 0.5, method="cubic"))(x)
    with pytest.raises(TypeError, match="real numbers"):
        fg.make_ir(lambda a: fnp.median(a) + fnp.quantile(a * 1j, 0.5))(x)


# ---------------------------------------------------------------- errors, methods, IR


@pytest.mark.parametrize("fn, match", [
    (lambda a: fnp.sum(a, axis=2), "sum: axis 2 is out of bounds"),
    (lambda a: fnp.mean(a, axis=(0, -2)), "mean: repeated axis"),
    (lambda a: fnp.argmax(a, axis=-3), "argmax: axis -3"),
    (lambda a: fnp.cumsum(a, axis=5), "cumsum: axis 5"),
    (lambda a: fnp.median(a, axis=3), "median: axis 3"),
])
def test_bad_axes_raise_naming_the_function(fn, match):
    with pytest.raises((AxisError, ValueError), match=match):
        fg.make_ir(fn)(np.ones((2, 3)))


@pytest.mark.parametrize("fn, error, match", [
    (lambda a: fnp.max(a, axis=1), ValueError, "zero-size array to reduction operation maximum"),
    (lambda a: fnp.argmin(a), ValueError, "empty sequence"),
    (lambda a: fnp.min(a, where=a > 0), ValueError, "to use a where mask one has to specify 'initial'"),
    (lambda a: fnp.nanmean(a, dtype=np.int32), TypeError, "must be inexact"),
])
def test_bad_arguments_raise_like_numpy(fn, error, match):
    x = np.ones((2, 0))
    with pytest.raises(error):
        fn(x)  # NumPy's own error, on concrete arrays
    with pytest.raises(error, match=match):
        fg.make_ir(fn)(x)


@pytest.mark.parametrize("name", ["sum", "mean", "var", "max", "argmax", "cumsum", "median",
                                  "nanmean"])
def test_out_is_refused_on_tracers(name):
    with pytest.raises(TypeError, match=f"{name}: out= writes in place"):
        fg.make_ir(lambda a: getattr(fnp, name)(a, out=np.empty(())))(np.ones(3))


def test_lists_holding_tracers_are_stacked():
    def f(a):
        return fnp.sum([a, a * 2], axis=0)
    x = np.arange(3.0)
    np.testing.assert_array_equal(fg.trace.eval_ir(fg.make_ir(f)(x), x)[0], 3 * x)


@pytest.mark.parametrize("fn", [
    lambda x: x.sum(axis=0),
    lambda x: x.sum(),
    lambda x: x.mean(),
    lambda x: x.var(ddof=1, axis=1),
    lambda x: x.std(keepdims=True),
    lambda x: x.max(axis=-1),
    lambda x: x.min(initial=-1.0),
    lambda x: x.argmax(),
    lambda x: x.argmin(axis=0),
    lambda x: x.cumsum(axis=1),
    lambda x: x.cumprod(),
    lambda x: x.prod(axis=(0, 1)),
    lambda x: x.all(axis=0),
    lambda x: x.any(),
    lambda x: np.add.reduce(x, axis=0),
    lambda x: np.add.reduce(x, axis=None),
    lambda x: np.maximum.reduce(x, axis=1, keepdims=True),
    lambda x: np.multiply.reduce(x, axis=(0, 1)),
    lambda x: np.logical_or.reduce(x > 0.5, axis=0),
])
def test_methods_and_ufunc_reduce_on_tracers(fn):
    x = np.random.default_rng(0).random((3, 4)).astype(np.float32)
    check(fn, None, x, protocol=False)


def test_ir_shows_numpys_implicit_conversions():
    ir = str(fg.make_ir(lambda a: fnp.sum(a, axis=1))(np.ones((2, 3), np.int32)))
    assert "convert_element_type[new_dtype=i64 weak_type=False] a" in ir
    assert "reduce_sum[axes=(1,)] b" in ir
    ir = str(fg.make_ir(fnp.mean)(np.ones(3, np.float16)))
    assert "new_dtype=f32" in ir and "new_dtype=f16" in ir


def test_ufunc_reduce_and_accumulate_default_to_axis_0():
    from fnp_harness import assert_same, run_traced

    x = np.arange(6.0).reshape(2, 3)
    assert_same(run_traced(np.add.reduce, (x,), {}), np.add.reduce(x))
    assert_same(run_traced(np.multiply.accumulate, (x,), {}), np.multiply.accumulate(x))
    assert_same(run_traced(lambda a: np.maximum.reduce(a, axis=None), (x,), {}),
                np.maximum.reduce(x, axis=None))
