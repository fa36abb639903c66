"""Derivatives of the indexing primitives and of fnp indexing.

The linear primitives (gather, scatter, scatter_add, the dynamic slices)
against element-by-element references of their transposes, with duplicate
and out-of-range indices: a gather's cotangent goes to the clamped position
it read, a dropped (out-of-range) update gets none, and of duplicates in a
``scatter`` only the last (the one written) gets one.  scatter_mul with zero
updates and scatter_min/max with ties.  Then gradients through ``x[index]``,
``take``, ``take_along_axis``, ``x.at[index]`` and boolean masks against
central finite differences.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.numpy.indexing import _at
from funcgrad.primitives import indexing as prims

EPS = 1e-6
FLOATS = st.floats(-2, 2, allow_nan=False, allow_subnormal=False)


def numerical_grad(f, *args):
    """Central differences of the scalar ``f`` for each element of each argument."""
    grads = []
    for k, x in enumerate(args):
        g = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            step = np.zeros_like(x)
            step[i] = EPS
            plus = f(*args[:k], x + step, *args[k + 1:])
            minus = f(*args[:k], x - step, *args[k + 1:])
            g[i] = (plus - minus) / (2 * EPS)
        grads.append(g)
    return grads


def assert_grad_matches_finite_differences(f, *args):
    grads = fg.grad(f, argnums=tuple(range(len(args))))(*args)
    for g, expected in zip(grads, numerical_grad(f, *args)):
        np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-6)
    return grads


def vjp_of(primitive, operands, positions, ct, **params):
    """The cotangents of ``operands[positions]`` for the output cotangent ``ct``."""

    def f(*xs):
        args = list(operands)
        for p, x in zip(positions, xs):
            args[p] = x
        return primitive.bind(*args, **params)

    _, vjp_fun = fg.vjp(f, *(operands[p] for p in positions))
    return vjp_fun(ct)


def assert_adjoint(primitive, operands, positions, **params):
    """``<u, J v> == <J^T u, v>`` and the JVP equals central differences."""
    rng = np.random.default_rng(0)

    def f(*xs):
        args = list(operands)
        for p, x in zip(positions, xs):
            args[p] = x
        return primitive.bind(*args, **params)

    xs = [operands[p] for p in positions]
    vs = [rng.normal(size=np.shape(x)) for x in xs]
    out, jv = fg.jvp(f, xs, vs)
    expected = (f(*[x + EPS * v for x, v in zip(xs, vs)])
                - f(*[x - EPS * v for x, v in zip(xs, vs)])) / (2 * EPS)
    np.testing.assert_allclose(jv, expected, rtol=1e-6, atol=1e-6)
    u = rng.normal(size=np.shape(out))
    jtu = fg.vjp(f, *xs)[1](u)
    np.testing.assert_allclose(np.vdot(u, jv), sum(np.vdot(g, v) for g, v in zip(jtu, vs)),
                               rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------- primitives


@st.composite
def index_cases(draw):
    """A float operand, sorted axes, indices (duplicates, some out of range)
    and updates of the matching shape."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
    operand = draw(hnp.arrays(np.float64, shape, elements=FLOATS))
    axes = tuple(sorted(draw(st.sets(st.integers(0, len(shape) - 1), max_size=len(shape)))
                        if shape else ()))
    batch = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4))
    high = max((shape[a] for a in axes), default=0) + 1
    indices = draw(hnp.arrays(np.int32, batch + (len(axes),), elements=st.integers(-2, high)))
    rest = tuple(n for d, n in enumerate(shape) if d not in axes)
    updates = draw(hnp.arrays(np.float64, batch + rest, elements=FLOATS))
    return operand, indices, updates, axes


def batch_positions(operand, indices, axes):
    """For each batch position (in C order, the order a scatter writes in):
    its index into ``operand`` (whole rest axes), clamped, and whether it is in range."""
    for b in np.ndindex(indices.shape[:-1]):
        index, clamped = [slice(None)] * operand.ndim, [slice(None)] * operand.ndim
        for k, axis in enumerate(axes):
            i = int(indices[b + (k,)])
            index[axis] = i
            clamped[axis] = min(max(i, 0), operand.shape[axis] - 1)
        inside = all(0 <= index[a] < operand.shape[a] for a in axes)
        yield b, tuple(clamped), inside


@given(index_cases())
def test_gather_cotangent_goes_to_the_clamped_positions(case):
    operand, indices, _, axes = case
    ct = np.random.default_rng(0).normal(size=prims.gather.bind(operand, indices,
                                                                 axes=axes).shape)
    expected = np.zeros_like(operand)
    if operand.size:
        for b, clamped, _ in batch_positions(operand, indices, axes):
            expected[clamped] += ct[b]
    (actual,) = vjp_of(prims.gather, [operand, indices], [0], ct, axes=axes)
    np.testing.assert_allclose(actual, expected, atol=1e-12)
    assert_adjoint(prims.gather, [operand, indices], [0], axes=axes)


@given(index_cases())
def test_scatter_add_cotangent_skips_dropped_updates(case):
    operand, indices, updates, axes = case
    ct = np.random.default_rng(0).normal(size=operand.shape)
    expected = np.zeros_like(updates)
    for b, clamped, inside in batch_positions(operand, indices, axes):
        if inside:
            expected[b] = ct[clamped]
    t_operand, t_updates = vjp_of(prims.scatter_add, [operand, indices, updates], [0, 2], ct,
                                  axes=axes)
    np.testing.assert_array_equal(t_operand, ct)
    np.testing.assert_array_equal(t_updates, expected)
    assert_adjoint(prims.scatter_add, [operand, indices, updates], [0, 2], axes=axes)


@given(index_cases())
def test_scatter_cotangent_goes_to_the_last_duplicate(case):
    operand, indices, updates, axes = case
    ct = np.random.default_rng(0).normal(size=operand.shape)
    winner = {}  # written position -> (its index, the batch position written last)
    for b, clamped, inside in batch_positions(operand, indices, axes):
        if inside:
            winner[tuple(clamped[a] for a in axes)] = clamped, b
    expected_operand, expected_updates = ct.copy(), np.zeros_like(updates)
    for position, b in winner.values():
        expected_operand[position] = 0
        expected_updates[b] = ct[position]
    t_operand, t_updates = vjp_of(prims.scatter, [operand, indices, updates], [0, 2], ct,
                                  axes=axes)
    np.testing.assert_array_equal(t_operand, expected_operand)
    np.testing.assert_array_equal(t_updates, expected_updates)
    assert_adjoint(prims.scatter, [operand, indices, updates], [0, 2], axes=axes)


def test_scatter_with_duplicates_by_hand():
    x, indices, updates = np.zeros(3), np.array([[1], [1], [0], [1], [5]]), np.arange(5.0)
    t_x, t_updates = vjp_of(prims.scatter, [x, indices, updates], [0, 2],
                            np.array([10.0, 20.0, 30.0]), axes=(0,))
    np.testing.assert_array_equal(t_x, [0.0, 0.0, 30.0])
    np.testing.assert_array_equal(t_updates, [0.0, 0.0, 10.0, 20.0, 0.0])


@given(case=index_cases(), zeros=st.lists(st.booleans(), min_size=12, max_size=12))
def test_scatter_mul_jvp_matches_finite_differences_with_zero_updates(case, zeros):
    operand, indices, updates, axes = case
    # Zeros among duplicates: the product of the others is not the product over the update.
    updates = np.where(np.resize(zeros, updates.shape), 0.0, updates)
    assert_adjoint(prims.scatter_mul, [operand, indices, updates], [0, 2], axes=axes)


@pytest.mark.parametrize("updates, expected", [
    ([2.0, 3.0, 4.0], [12.0, 8.0, 6.0]),   # no zero: the product of the others
    ([0.0, 3.0, 4.0], [12.0, 0.0, 0.0]),   # one zero: only its own derivative lives
    ([0.0, 0.0, 4.0], [0.0, 0.0, 0.0]),    # two zeros: every derivative is zero
])
def test_scatter_mul_update_gradient_by_hand(updates, expected):
    def f(u):
        return prims.scatter_mul.bind(np.ones(2), np.array([[0], [0], [0]]), u, axes=(0,))[0]

    np.testing.assert_allclose(fg.grad(f)(np.array(updates)), expected)


@pytest.mark.parametrize("primitive", [prims.scatter_min, prims.scatter_max])
@given(case=index_cases())
def test_scatter_extremum_jvp_matches_finite_differences(primitive, case):
    operand, indices, updates, axes = case
    # Distinct values: no ties, where the derivative is a convention.
    values = np.arange(operand.size + updates.size, dtype=np.float64)
    np.random.default_rng(0).shuffle(values)
    operand, updates = values[:operand.size].reshape(operand.shape), \
        values[operand.size:].reshape(updates.shape)
    assert_adjoint(primitive, [operand, indices, updates], [0, 2], axes=axes)


@pytest.mark.parametrize("primitive", [prims.scatter_min, prims.scatter_max])
def test_scatter_extremum_ties_split_evenly(primitive):
    # Position 0: the operand and two updates tie (a third each); position 1:
    # update 2 wins; position 2: untouched; update 3 is dropped.
    x = np.array([1.0, 5.0 if primitive is prims.scatter_min else -5.0, 7.0])
    indices, updates = np.array([[0], [0], [1], [9]]), np.array([1.0, 1.0, 2.0, 1.0])
    jac_x, jac_u = fg.jacfwd(
        lambda x, u: primitive.bind(x, indices, u, axes=(0,)), argnums=(0, 1))(x, updates)
    np.testing.assert_allclose(jac_x, np.diag([1 / 3, 0.0, 1.0]))
    np.testing.assert_allclose(jac_u, [[1 / 3, 1 / 3, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]])


@st.composite
def dynamic_cases(draw):
    """An operand, an update that fits, starts (some out of range)."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4))
    sizes = tuple(draw(st.integers(0, n)) for n in shape)
    starts = tuple(np.int32(draw(st.integers(-3, n + 2))) for n in shape)
    operand = draw(hnp.arrays(np.float64, shape, elements=FLOATS))
    update = draw(hnp.arrays(np.float64, sizes, elements=FLOATS))
    return operand, update, starts


def window(shape, sizes, starts):
    starts = [min(max(int(s), 0), n - k) for s, n, k in zip(starts, shape, sizes)]
    return tuple(slice(s, s + k) for s, k in zip(starts, sizes))


@given(dynamic_cases())
def test_dynamic_slice_cotangent_fills_the_clamped_window(case):
    operand, update, starts = case
    ct = np.random.default_rng(0).normal(size=update.shape)
    expected = np.zeros_like(operand)
    expected[window(operand.shape, update.shape, starts)] = ct
    (actual,) = vjp_of(prims.dynamic_slice, [operand, *starts], [0], ct,
                       slice_sizes=update.shape)
    np.testing.assert_array_equal(actual, expected)
    assert_adjoint(prims.dynamic_slice, [operand, *starts], [0], slice_sizes=update.shape)


@given(dynamic_cases())
def test_dynamic_update_slice_cotangents_split_at_the_window(case):
    operand, update, starts = case
    ct = np.random.default_rng(0).normal(size=operand.shape)
    where = window(operand.shape, update.shape, starts)
    expected_operand = ct.copy()
    expected_operand[where] = 0
    t_operand, t_update = vjp_of(prims.dynamic_update_slice, [operand, update, *starts], [0, 1],
                                 ct)
    np.testing.assert_array_equal(t_operand, expected_operand)
    np.testing.assert_array_equal(t_update, ct[where])
    assert_adjoint(prims.dynamic_update_slice, [operand, update, *starts], [0, 1])


# ---------------------------------------------------------------- fnp indexing

X = np.random.default_rng(1).normal(size=(3, 4))
X3 = np.random.default_rng(2).normal(size=(2, 3, 4))

GETITEM_CASES = [  # (array, index)
    (X, (1,)), (X, (slice(1, 3), slice(None, None, -1))), (X, (Ellipsis, -1)),
    (X, (None, 0, slice(None, None, 2))), (X, ([0, 0, 2],)), (X, ([0, 0, -1], [1, 1, 3])),
    (X, (slice(None), [2, 2, 0])), (X, (np.array([[1, 1], [0, 2]]),)),
    (X3, ([1, 1], slice(None), [0, 0])), (X3, (Ellipsis, [3, 3, 3])),
    (X3, (0, [[0, 2], [2, 2]], slice(1, None))),
]


@pytest.mark.parametrize("x, index", GETITEM_CASES)
def test_grad_of_getitem(x, index):
    weights = np.random.default_rng(0).normal(size=np.shape(x[index]))
    assert_grad_matches_finite_differences(lambda x: fnp.sum(x[index] * weights), x)


def test_duplicate_indices_accumulate():
    grad = fg.grad(lambda x: fnp.sum(x[[0, 0, 2, 0]]))(np.ones(4))
    np.testing.assert_array_equal(grad, [3.0, 0.0, 1.0, 0.0])


def test_grad_through_traced_indices():
    # The index is computed from x (argmax): a gather with traced indices.
    def f(x):
        return fnp.sum(x[fnp.argmax(x, axis=0), fnp.arange(4)] ** 2)

    assert_grad_matches_finite_differences(f, X)


def test_traced_out_of_range_index_reads_and_differentiates_the_clamped_element():
    x = np.array([1.0, 2.0, 3.0])
    grad = fg.grad(lambda x: x[fnp.argmax(x) + 5] * 2.0)(x)  # clamps to x[2]
    np.testing.assert_array_equal(grad, [0.0, 0.0, 2.0])


@pytest.mark.parametrize("kwargs", [{}, dict(axis=1), dict(axis=-2), dict(axis=1, mode="wrap"),
                                    dict(axis=1, mode="clip")])
def test_grad_of_take(kwargs):
    indices = np.array([[2, 2], [0, 7 if kwargs.get("mode") else 1]])
    assert_grad_matches_finite_differences(
        lambda x: fnp.sum(fnp.take(x, indices, **kwargs) ** 2), X)


@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_grad_of_take_along_axis(axis):
    indices = np.array([[2, 2, 0, 1]]) if axis == 0 else np.array([[3, 3], [0, 0], [1, 3]])
    if axis is None:
        indices = np.array([11, 11, 0])
    assert_grad_matches_finite_differences(
        lambda x: fnp.sum(fnp.sin(fnp.take_along_axis(x, indices, axis))), X)


def test_numpy_code_differentiates_through_the_protocol():
    indices = np.array([1, 1, 2])
    assert_grad_matches_finite_differences(lambda x: np.sum(np.take(x, indices, axis=0) ** 2), X)


AT_INDICES = [(1, slice(None, None, 2)), ([0, 0, 2],), ([2, 0, 2], [1, 1, 1]), (Ellipsis, [3, 3])]


@pytest.mark.parametrize("method", ["set", "add", "multiply", "min", "max"])
@pytest.mark.parametrize("index", AT_INDICES)
def test_grad_of_at_updates(method, index):
    rng = np.random.default_rng(3)
    values = rng.normal(size=np.shape(X[index]))

    def f(x, v):
        return fnp.sum(getattr(_at(x)[index], method)(v) ** 2)

    assert_grad_matches_finite_differences(f, X, values)


@pytest.mark.parametrize("method", ["set", "add", "multiply", "min", "max"])
def test_grad_of_at_updates_at_traced_indices(method):
    values = np.random.default_rng(4).normal(size=(4, 4))

    def f(x, v):  # 4 rows of 3 chosen by argmax: traced indices, with duplicates
        return fnp.sum(getattr(_at(x)[fnp.argmax(x, axis=0)], method)(v) ** 2)

    assert_grad_matches_finite_differences(f, X, values)


def test_traced_out_of_range_update_is_dropped_and_gets_no_gradient():
    weights = np.array([1.0, 2.0, 3.0])
    grad_x, grad_v = fg.grad(lambda x, v: fnp.sum(x.at[fnp.argmax(x) + 5].set(v) * weights),
                             argnums=(0, 1))(np.array([1.0, 2.0, 3.0]), np.float64(4.0))
    np.testing.assert_array_equal(grad_x, weights)
    assert grad_v == 0.0


def test_at_set_duplicates_give_the_last_value_the_gradient():
    _, grad_v = fg.grad(lambda x, v: fnp.sum(x.at[[1, 1, 1]].set(v) * 2.0), argnums=(0, 1))(
        np.ones(3), np.array([5.0, 6.0, 7.0]))
    np.testing.assert_array_equal(grad_v, [0.0, 0.0, 2.0])


def test_at_multiply_with_zero_values_among_duplicates():
    v = np.array([0.0, 3.0, 2.0])
    assert_grad_matches_finite_differences(
        lambda x, v: fnp.sum(_at(x)[[1, 1, 0]].multiply(v) * np.arange(1.0, 4.0)), np.ones(3), v)


def test_second_derivative_of_at_multiply():
    x, v = np.array([2.0, 3.0]), np.array([0.0, 3.0, 2.0])

    def f(v):
        return fnp.sum(_at(x)[[0, 0, 1]].multiply(v) ** 2)

    hessian = fg.hessian(f)(v)
    numerical = np.stack([numerical_grad(lambda v, k=k: fg.grad(f)(v)[k], v)[0] for k in range(3)])
    np.testing.assert_allclose(hessian, numerical, rtol=1e-5, atol=1e-5)


def test_grad_of_boolean_mask_indexing():
    x = np.array([[1.5, -2.0, 0.5], [-0.1, 3.0, -1.0]])
    grad = fg.grad(lambda x: fnp.sum(x[x > 0] ** 2))(x)
    np.testing.assert_allclose(grad, np.where(x > 0, 2 * x, 0.0))
    assert_grad_matches_finite_differences(lambda x: fnp.sum(x[x > 0] ** 2), x)


@pytest.mark.parametrize("transform", [fg.jacfwd, fg.jacrev])
def test_jacobians_of_scatter_and_gather_agree(transform):
    def f(x):
        return x.at[[0, 0, 2]].set(x[[1, 1, 3]] * 2.0)

    expected = np.zeros((4, 4))
    expected[[1, 3], [1, 3]] = 1.0  # out[0] and out[2] are overwritten
    expected[0, 1] = expected[2, 3] = 2.0
    np.testing.assert_array_equal(transform(f)(np.arange(4.0)), expected)
