"""Derivatives of the reductions, cumulative ops, arg-reductions and sort,
beyond the generic rule table (tests/test_autodiff_rules.py):

- gradients of funcgrad.numpy functions built on them (sum, mean, var, max,
  prod, cumprod, sort, median, quantile, ...) against central finite
  differences, on inputs without ties;
- exact derivatives where finite differences cannot go: products holding
  zeros (first and second order), ties in max/min, cummax/cummin and sort
  (max/min ties share the derivative evenly, as in JAX; sort gives each
  output the tangent of the element that landed there, stably);
- the transposes of the linear reduce_sum and cumsum.
"""

import numpy as np
import pytest
from fnp_harness import numerical_grad
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.primitives.reductions import cummax, cummin, cumprod, cumsum, reduce_sum
from funcgrad.primitives.sorting import sort

EPS = 1e-6
SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
SEEDS = st.integers(0, 2**16)


def _distinct(shape, seed):
    """Values in [-1, 1] at least 0.4 / size apart: no ties within a finite-difference step."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    values = rng.permutation(n) + rng.uniform(-0.3, 0.3, n)
    return (2 * values / max(n, 1) - 1).reshape(shape)


def _tied(shape, seed):
    """Small integers as floats: many ties."""
    return np.random.default_rng(seed).integers(0, 3, shape).astype(np.float64)


def _weights(shape):
    """Fixed, uneven weights that turn an array result into a scalar."""
    return np.cos(np.arange(int(np.prod(shape))) + 1.0).reshape(shape)


def _weighted(fun):
    def scalar(x):
        y = fun(x)
        return fnp.sum(y * _weights(y.shape))

    return scalar




FNP_CASES = {
    "sum": fnp.sum,
    "sum_last_axis": lambda x: fnp.sum(x, axis=-1),
    "sum_keepdims": lambda x: fnp.sum(x, axis=0, keepdims=True),
    "mean": lambda x: fnp.mean(x, axis=0),
    "var": fnp.var,
    "std_ddof": lambda x: fnp.std(x, axis=-1, ddof=1),  # size-1 rows: NaN, as NumPy
    "max": fnp.max,
    "max_axis": lambda x: fnp.max(x, axis=0),
    "min_keepdims": lambda x: fnp.min(x, axis=-1, keepdims=True),
    "ptp": lambda x: fnp.ptp(x, axis=0),
    "prod": fnp.prod,
    "prod_axis": lambda x: fnp.prod(x, axis=-1),
    "cumsum": lambda x: fnp.cumsum(x, axis=0),
    "cumsum_flat": fnp.cumsum,
    "cumprod": lambda x: fnp.cumprod(x, axis=-1),
    "cumprod_flat": fnp.cumprod,
    "sort": lambda x: fnp.sort(x, axis=0),
    "sort_last": fnp.sort,
    "take_argsort": lambda x: fnp.take_along_axis(x, fnp.argsort(x, axis=-1), axis=-1),
    "sort_times_argsort": lambda x: fnp.sort(x) * fnp.argsort(x),
    "max_times_argmax": lambda x: fnp.max(x, axis=0) * fnp.argmax(x, axis=0),
    "median": fnp.median,
    "median_axis": lambda x: fnp.median(x, axis=0),
    "quantile": lambda x: fnp.quantile(x, [0.25, 0.7], axis=-1),
    "percentile": lambda x: fnp.percentile(x, 40.0),
    "nanmax": lambda x: fnp.nanmax(x, axis=-1),
}


@pytest.mark.parametrize("name", sorted(FNP_CASES))
@given(shape=SHAPES, seed=SEEDS)
def test_fnp_gradient_matches_finite_differences(name, shape, seed):
    assume(name != "std_ddof" or shape[-1] > 1)  # std is not differentiable at 0
    f = _weighted(FNP_CASES[name])
    x = _distinct(shape, seed)
    expected = numerical_grad(f, x)
    np.testing.assert_allclose(fg.grad(f)(x), expected, rtol=1e-6, atol=1e-6)
    v = np.random.default_rng(seed).normal(size=shape)
    _, forward = fg.jvp(f, (x,), (v,))
    np.testing.assert_allclose(forward, np.vdot(expected, v), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("fun", [fnp.sum, fnp.mean, fnp.max, fnp.min, fnp.prod, fnp.median],
                         ids=lambda f: f.__name__)
def test_fnp_gradient_of_0d_array(fun):
    x = np.array(0.7)
    np.testing.assert_allclose(fg.grad(fun)(x), 1.0)


@pytest.mark.parametrize("fun", [fnp.sum, fnp.prod, fnp.cumsum, fnp.cumprod], ids=lambda f: f.__name__)
def test_gradient_over_an_empty_axis_is_empty(fun):
    x = np.ones((0, 3))
    grad = fg.grad(lambda x: fnp.sum(fun(x, axis=0)))(x)
    assert grad.shape == (0, 3) and grad.dtype == np.float64


# ---------------------------------------------------------------- products with zeros


def _others(v):
    """For each element of a 1-D ``v``, the product of the others."""
    return np.array([np.prod(np.delete(v, i)) for i in range(len(v))])


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
@given(seed=SEEDS, zeros=st.integers(0, 3))
def test_prod_gradient_with_zeros_is_exact(axis, seed, zeros):
    x = _distinct((3, 2, 4), seed)
    x.flat[np.random.default_rng(seed).choice(x.size, zeros, replace=False)] = 0.0
    grad = fg.grad(lambda x: fnp.sum(fnp.prod(x, axis=axis) * 2.0))(x)
    if axis is None:
        expected = _others(x.ravel()).reshape(x.shape)
    elif isinstance(axis, tuple):  # the rows of the reduced axes, moved last and flattened
        rows = np.moveaxis(x, axis, (-2, -1)).reshape(x.shape[1], -1)
        expected = np.moveaxis(np.stack([_others(r) for r in rows]).reshape(2, 3, 4), 0, 1)
    else:
        expected = np.apply_along_axis(_others, axis, x)
    np.testing.assert_allclose(grad, 2.0 * expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("zeros", [0, 1, 2, 3])
def test_prod_hessian_with_zeros_is_exact(zeros):
    x = _distinct((5,), zeros)
    x[:zeros] = 0.0
    expected = np.array([[0.0 if i == j else np.prod(np.delete(x, [i, j])) for j in range(5)]
                         for i in range(5)])
    np.testing.assert_allclose(fg.hessian(fnp.prod)(x), expected, atol=1e-15)


def _cumprod_jacobian(v, reverse):
    """d cumprod(v)[i] / d v[j]: the product of v[k] for k up to i (from i on if reverse) but j."""
    n = len(v)
    covered = (lambda i, k: k >= i) if reverse else (lambda i, k: k <= i)
    return np.array([[np.prod([v[k] for k in range(n) if covered(i, k) and k != j])
                      if covered(i, j) else 0.0 for j in range(n)] for i in range(n)])


@pytest.mark.parametrize("reverse", [False, True])
@given(seed=SEEDS, zeros=st.integers(0, 3), n=st.integers(1, 9))
def test_cumprod_jacobian_with_zeros_is_exact(reverse, seed, zeros, n):
    x = _distinct((n,), seed)
    x[np.random.default_rng(seed).choice(n, min(zeros, n), replace=False)] = 0.0

    def f(x):
        return cumprod.bind(x, axis=0, reverse=reverse)

    expected = _cumprod_jacobian(x, reverse)
    np.testing.assert_allclose(fg.jacfwd(f)(x), expected, atol=1e-15)
    np.testing.assert_allclose(fg.jacrev(f)(x), expected, atol=1e-15)


def test_complex_prod_and_cumprod_are_holomorphic():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4)) + 1j * rng.normal(size=(2, 4))
    v = rng.normal(size=(2, 4)) + 1j * rng.normal(size=(2, 4))
    for f in (lambda x: fnp.prod(x, axis=1), lambda x: fnp.cumprod(x, axis=1)):
        _, tangent = fg.jvp(f, (x,), (v,))
        expected = (f(x + EPS * v) - f(x - EPS * v)) / (2 * EPS)
        np.testing.assert_allclose(tangent, expected, rtol=1e-6)


# ---------------------------------------------------------------- ties


@pytest.mark.parametrize("fun", [fnp.max, fnp.min], ids=lambda f: f.__name__)
@given(shape=SHAPES, seed=SEEDS, data=st.data())
def test_max_min_ties_share_the_gradient_evenly(fun, shape, seed, data):
    axis = data.draw(st.sampled_from([None, 0, -1]))
    x = _tied(shape, seed)
    ans = fun(x, axis=axis, keepdims=True)
    weights = _weights(ans.shape)
    chosen = x == ans
    expected = chosen * weights / np.sum(chosen, axis=axis, keepdims=True)
    grad = fg.grad(lambda x: fnp.sum(fun(x, axis=axis, keepdims=True) * weights))(x)
    np.testing.assert_allclose(grad, expected, rtol=1e-12)


def test_max_tie_example():
    np.testing.assert_array_equal(fg.grad(fnp.max)(np.array([1.0, 3.0, 3.0, 2.0])),
                                  [0.0, 0.5, 0.5, 0.0])


def _running_jacobian(v, ans, reverse):
    """d ans[i] / d v[j]: shared evenly among the elements so far equal to ans[i]."""
    n = len(v)
    so_far = (lambda i, j: j >= i) if reverse else (lambda i, j: j <= i)
    chosen = np.array([[so_far(i, j) and v[j] == ans[i] for j in range(n)] for i in range(n)])
    return chosen / chosen.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("primitive", [cummax, cummin], ids=lambda p: p.name)
@pytest.mark.parametrize("reverse", [False, True])
@given(seed=SEEDS, n=st.integers(1, 9), tied=st.booleans())
def test_cummax_cummin_jacobian(primitive, reverse, seed, n, tied):
    x = _tied((n,), seed) if tied else _distinct((n,), seed)

    def f(x):
        return primitive.bind(x, axis=0, reverse=reverse)

    expected = _running_jacobian(x, f(x), reverse)
    np.testing.assert_allclose(fg.jacfwd(f)(x), expected, rtol=1e-12)
    np.testing.assert_allclose(fg.jacrev(f)(x), expected, rtol=1e-12)


@pytest.mark.parametrize("primitive", [cummax, cummin], ids=lambda p: p.name)
@given(shape=SHAPES, seed=SEEDS, data=st.data())
def test_cummax_cummin_along_an_axis(primitive, shape, seed, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    x = _tied(shape, seed)
    weights = _weights(shape)
    grad = fg.grad(lambda x: fnp.sum(primitive.bind(x, axis=axis, reverse=False) * weights))(x)
    # Row by row along the axis, against the 1-D Jacobian.
    moved_x, moved_w = np.moveaxis(x, axis, -1), np.moveaxis(weights, axis, -1)
    expected = np.empty_like(moved_x)
    for i in np.ndindex(moved_x.shape[:-1]):
        row = moved_x[i]
        expected[i] = moved_w[i] @ _running_jacobian(row, primitive.impl(np, row, axis=0,
                                                                          reverse=False), False)
    np.testing.assert_allclose(grad, np.moveaxis(expected, -1, axis), rtol=1e-12)


@given(shape=SHAPES, seed=SEEDS, data=st.data())
def test_sort_with_ties_moves_tangents_stably(shape, seed, data):
    axis = data.draw(st.integers(-1, len(shape) - 1))
    x = _tied(shape, seed)
    weights = _weights(shape)
    grad = fg.grad(lambda x: fnp.sum(fnp.sort(x, axis=axis) * weights))(x)
    order = np.argsort(x, axis=axis, kind="stable")
    expected = np.zeros_like(x)
    np.put_along_axis(expected, order, weights, axis=axis)
    np.testing.assert_array_equal(grad, expected)


@given(seed=SEEDS, n=st.integers(1, 6))
def test_sort_by_two_keys_permutes_every_operand(seed, n):
    rng = np.random.default_rng(seed)
    keys = [_tied((2, n), seed), _tied((2, n), seed + 1)]
    values, labels = rng.normal(size=(2, n)), rng.integers(0, 9, (2, n))

    def f(k0, k1, v):
        return sort.bind(k0, k1, v, labels, dimension=1, num_keys=2)[:3]

    order = np.lexsort([keys[1], keys[0]], axis=1)
    expected = np.zeros((2, n, 2, n))  # d out[r, i] / d in[r, order[r, i]] = 1
    for r, i in np.ndindex(2, n):
        expected[r, i, r, order[r, i]] = 1.0
    for jac in (fg.jacfwd, fg.jacrev):
        blocks = jac(f, argnums=(0, 1, 2))(*keys, values)
        for out in range(3):
            for arg in range(3):
                np.testing.assert_array_equal(blocks[out][arg], expected if out == arg else 0.0)


def test_sort_of_integers_and_arg_reductions_have_no_tangent():
    x = np.array([[0.3, -1.0, 2.0], [1.5, 0.2, 0.1]])

    def f(x):
        ranks = sort.bind(fnp.argsort(x, axis=1), dimension=1, num_keys=1)[0]
        counts = fnp.any(x > 0, axis=1) * 1.0 + fnp.all(x > 0, axis=1) * 1.0
        return fnp.sum(x * ranks) + fnp.sum(x * fnp.argmin(x, axis=0)) + fnp.sum(counts * x.T)

    expected = np.array([[0, 1, 2]] * 2) + np.argmin(x, axis=0) + np.array([[1, 1, 1], [2, 2, 2]])
    np.testing.assert_allclose(fg.grad(f)(x), expected)


# ---------------------------------------------------------------- linear transposes


@pytest.mark.parametrize("params", [dict(axes=()), dict(axes=(0,)), dict(axes=(1, 2)),
                                    dict(axes=(0, 1, 2))], ids=str)
def test_reduce_sum_transpose_is_the_adjoint(params):
    _check_adjoint(lambda x: reduce_sum.bind(x, **params), (2, 3, 4))


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumsum_transpose_is_the_adjoint(axis, reverse):
    _check_adjoint(lambda x: cumsum.bind(x, axis=axis, reverse=reverse), (2, 3, 4))


def _check_adjoint(f, shape):
    """<u, f(v)> == <f^T(u), v>, with f^T from the transpose rules."""
    rng = np.random.default_rng(0)
    v = rng.normal(size=shape)
    u = rng.normal(size=np.shape(f(v)))
    (transposed,) = fg.linear_transpose(f, v)(u)
    assert transposed.shape == shape
    np.testing.assert_allclose(np.vdot(u, f(v)), np.vdot(transposed, v), rtol=1e-12)


@pytest.mark.parametrize("fun", [fnp.sum, fnp.max, fnp.prod, fnp.cumprod, fnp.sort, fnp.median],
                         ids=lambda f: f.__name__)
def test_float32_gradients_stay_float32(fun):
    x = _distinct((2, 3), 0).astype(np.float32)
    grad = fg.grad(lambda x: fnp.sum(fun(x)))(x)
    assert grad.dtype == np.float32
