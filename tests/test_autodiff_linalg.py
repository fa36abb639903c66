"""Derivative rules of the linear-algebra, convolution and random-bits
primitives, beyond the one sample each of test_autodiff_rules.py:

- ``dot_general`` over drawn dimension numbers, ``conv_general_dilated``
  over drawn and tabled strides / padding (negative too) / dilations /
  feature groups / empty outputs: JVP against finite differences, reverse
  against forward, second order;
- the decompositions on stacks of matrices, in every mode (``triangular_solve``
  in its 16 variants, tall / wide / square ``qr`` and ``svd``, ``eigh`` of
  either triangle), float64 and float32;
- the conventions: ``cholesky`` and ``eigh`` read one triangle, so the other
  has no derivative; closed forms (d log|det a| = a^-T, d nuclear norm = u vh);
  the cases without a derivative raise ``MissingRuleError``.
"""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funcgrad as fg
from funcgrad.ir import abstractify
from funcgrad.primitives import PRIMITIVES, convolution, linalg, random_bits
from funcgrad.transforms.autodiff import MissingRuleError
from funcgrad.transforms.tangents import Zero, has_tangent, tangent_aval

rng = np.random.default_rng(0)
EPS = 1e-6


# ---------------------------------------------------------------- checkers


def as_function(primitive, operands, params):
    """The primitive as a function of all its operands, to a list of its float outputs."""

    def f(*xs):
        out = primitive.bind(*xs, **params)
        outs = list(out) if primitive.multiple_results else [out]
        return [o for o in outs if has_tangent(abstractify(o))]

    return f


def central_difference(f, xs, vs):
    plus = f(*[x + EPS * v for x, v in zip(xs, vs)])
    minus = f(*[x - EPS * v for x, v in zip(xs, vs)])
    return [(p - m) / (2 * EPS) for p, m in zip(plus, minus)]


def random_like(xs):
    return [rng.standard_normal(np.shape(x)) for x in xs]


def check_first_order(f, xs, rtol=1e-5, atol=1e-6):
    """The JVP against finite differences, and <u, J v> == <J^T u, v>."""
    vs = random_like(xs)
    outs, tangents = fg.jvp(f, xs, vs)
    for t, e in zip(tangents, central_difference(f, xs, vs)):
        np.testing.assert_allclose(t, e, rtol=rtol, atol=atol)
    us = random_like(outs)
    cotangents = fg.vjp(f, *xs)[1](us)
    forward = sum(np.vdot(u, t) for u, t in zip(us, tangents))
    reverse = sum(np.vdot(c, v) for c, v in zip(cotangents, vs))
    np.testing.assert_allclose(forward, reverse, rtol=1e-9, atol=1e-9)


def check_second_order(f, xs):
    """Forward-over-forward and forward-over-reverse against finite differences."""
    vs, ws = random_like(xs), random_like(xs)
    us = random_like(f(*xs))

    def first_forward(*ys):
        return fg.jvp(f, ys, vs)[1]

    def first_reverse(*ys):
        return list(fg.vjp(f, *ys)[1](us))

    for first in (first_forward, first_reverse):
        _, second = fg.jvp(first, xs, ws)
        for s, e in zip(second, central_difference(first, xs, ws)):
            np.testing.assert_allclose(s, e, rtol=1e-4, atol=1e-5)


def check(primitive, operands, params, second_order=True):
    f = as_function(primitive, operands, params)
    check_first_order(f, operands)
    if second_order:
        check_second_order(f, operands)


# ---------------------------------------------------------------- dot_general


@st.composite
def dot_general_cases(draw):
    """Operands with drawn batch, contracting and free dimensions, in shuffled order."""
    counts = [draw(st.integers(0, 2)) for _ in range(4)]  # batch, contracting, lhs free, rhs free
    labels = iter("abcdefgh")
    batch, contract, lhs_free, rhs_free = ([next(labels) for _ in range(k)] for k in counts)
    size = {c: draw(st.integers(1, 3)) for c in batch + contract + lhs_free + rhs_free}
    lhs_labels = draw(st.permutations(batch + contract + lhs_free))
    rhs_labels = draw(st.permutations(batch + contract + rhs_free))
    numbers = ((tuple(lhs_labels.index(c) for c in contract), tuple(rhs_labels.index(c) for c in contract)),
               (tuple(lhs_labels.index(c) for c in batch), tuple(rhs_labels.index(c) for c in batch)))
    lhs = rng.standard_normal([size[c] for c in lhs_labels])
    rhs = rng.standard_normal([size[c] for c in rhs_labels])
    return [lhs, rhs], dict(dimension_numbers=numbers)


@given(dot_general_cases())
def test_dot_general_derivatives(case):
    operands, params = case
    check(linalg.dot_general, operands, params)


# ---------------------------------------------------------------- convolution


def conv_operands(n, c, spatial, o, window, groups):
    return [rng.standard_normal((n, c, *spatial)), rng.standard_normal((o, c // groups, *window))]


CONV_CASES = [
    # (N, C, spatial), (O, window), strides, padding, lhs_dilation, rhs_dilation, groups
    ((2, 3, (7,)), (4, (3,)), (1,), ((0, 0),), (1,), (1,), 1),
    ((1, 2, (8,)), (2, (3,)), (3,), ((2, 1),), (1,), (1,), 1),  # the stride leaves a remainder
    ((1, 2, (6,)), (3, (2,)), (2,), ((-1, 2),), (2,), (1,), 1),  # cropping, spread input
    ((2, 4, (6, 5)), (6, (2, 3)), (2, 1), ((1, 0), (0, 2)), (1, 1), (2, 1), 2),
    ((1, 6, (5, 5)), (3, (3, 2)), (1, 2), ((1, 1), (1, 1)), (2, 1), (1, 2), 3),
    ((1, 2, (3, 4, 3)), (2, (2, 2, 2)), (1, 2, 1), ((0, 1), (1, 0), (0, 0)), (1, 1, 2), (2, 1, 1), 2),
    ((2, 2, (4,)), (2, (5,)), (1,), ((0, 0),), (1,), (1,), 1),  # window wider than the input: empty
    ((0, 2, (4,)), (2, (2,)), (1,), ((0, 0),), (1,), (1,), 1),  # no examples
]


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv_derivatives_table(case):
    (n, c, spatial), (o, window), strides, padding, lhs_dilation, rhs_dilation, groups = case
    params = dict(window_strides=strides, padding=padding, lhs_dilation=lhs_dilation,
                  rhs_dilation=rhs_dilation, feature_group_count=groups)
    check(convolution.conv_general_dilated, conv_operands(n, c, spatial, o, window, groups), params)


@st.composite
def conv_cases(draw):
    n_spatial = draw(st.integers(1, 2))
    groups = draw(st.integers(1, 2))
    spatial = [draw(st.integers(1, 5)) for _ in range(n_spatial)]
    window = [draw(st.integers(1, 3)) for _ in range(n_spatial)]
    per_dim = [draw(st.tuples(st.integers(1, 3), st.integers(-1, 2), st.integers(-1, 2),
                              st.integers(1, 2), st.integers(1, 2))) for _ in range(n_spatial)]
    strides, lows, highs, lhs_dilation, rhs_dilation = (tuple(x) for x in zip(*per_dim))
    operands = conv_operands(draw(st.integers(1, 2)), groups * draw(st.integers(1, 2)), spatial,
                             groups * draw(st.integers(1, 2)), window, groups)
    params = dict(window_strides=strides, padding=tuple(zip(lows, highs)), lhs_dilation=lhs_dilation,
                  rhs_dilation=rhs_dilation, feature_group_count=groups)
    return operands, params


@given(conv_cases())
def test_conv_derivatives_drawn(case):
    operands, params = case
    check(convolution.conv_general_dilated, operands, params, second_order=False)


# ---------------------------------------------------------------- decompositions


def spd(*batch, n=3):
    """Well-conditioned symmetric positive definite matrices."""
    a = rng.standard_normal((*batch, n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def general(*shape):
    """Matrices with well-separated singular values (square ones well-conditioned)."""
    a = rng.standard_normal(shape)
    return a + 3 * np.eye(*shape[-2:]) if shape[-1] == shape[-2] else a


TRIANGULAR_SOLVE_CASES = [
    dict(left_side=left, lower=lower, transpose_a=trans, unit_diagonal=unit)
    for left, lower, trans, unit in itertools.product([True, False], repeat=4)
]


@pytest.mark.parametrize("params", TRIANGULAR_SOLVE_CASES, ids=str)
def test_triangular_solve_derivatives(params):
    # a is a full matrix: the perturbations outside the triangle have no effect.
    b = rng.standard_normal((2, 3, 2) if params["left_side"] else (2, 2, 3))
    check(linalg.triangular_solve, [general(2, 3, 3), b], params)


DECOMPOSITIONS = [
    ("cholesky", [spd(2)], {}),
    ("inv", [general(2, 3, 3)], {}),
    ("det", [general(2, 3, 3)], {}),
    ("slogdet", [-general(3, 3)], {}),
    ("solve", [general(2, 3, 3), rng.standard_normal((2, 3, 2))], {}),
    ("qr", [general(2, 4, 3)], dict(full_matrices=False)),
    ("qr", [general(3, 5)], dict(full_matrices=False)),
    ("qr", [general(2, 3, 3)], dict(full_matrices=True)),
    ("qr", [general(2, 4)], dict(full_matrices=True)),
    ("svd", [general(2, 5, 3)], dict(full_matrices=False, compute_uv=True)),
    ("svd", [general(3, 5)], dict(full_matrices=False, compute_uv=True)),
    ("svd", [general(2, 3, 3)], dict(full_matrices=True, compute_uv=True)),
    ("svd", [general(2, 4, 3)], dict(full_matrices=True, compute_uv=False)),
    ("eigh", [spd(2)], dict(lower=True)),
    ("eigh", [spd(2)], dict(lower=False)),
]


def decomposition_id(case):
    name, operands, params = case
    return f"{name}{np.shape(operands[0])}{sorted(params.items())}"


@pytest.mark.parametrize("case", DECOMPOSITIONS, ids=map(decomposition_id, DECOMPOSITIONS))
def test_decomposition_derivatives(case):
    name, operands, params = case
    check(PRIMITIVES[name], operands, params)


BILINEAR = [
    ("triangular_solve", [general(3, 3), general(3, 2)], TRIANGULAR_SOLVE_CASES[0]),
    ("dot_general", [general(2, 3), general(3, 4)], dict(dimension_numbers=(((1,), (0,)), ((), ())))),
    ("conv_general_dilated", conv_operands(1, 4, (5, 4), 2, (2, 3), 2),
     dict(window_strides=(2, 1), padding=((1, 0), (0, 1)), lhs_dilation=(1, 2), rhs_dilation=(2, 1),
          feature_group_count=2)),
]


@pytest.mark.parametrize("case", DECOMPOSITIONS + BILINEAR, ids=decomposition_id)
def test_float32_tangents_keep_float32(case):
    name, operands, params = case
    operands = [x.astype(np.float32) for x in operands]
    f = as_function(PRIMITIVES[name], operands, params)
    outs, tangents = fg.jvp(f, operands, [np.ones_like(x) for x in operands])
    cotangents = fg.vjp(f, *operands)[1]([np.ones_like(o) for o in outs])
    assert [t.dtype for t in tangents] == [o.dtype for o in outs]
    assert [c.dtype for c in cotangents] == [np.float32] * len(operands)


@pytest.mark.parametrize("name, params", [("cholesky", {}), ("eigh", dict(lower=True)),
                                          ("eigh", dict(lower=False))])
def test_one_triangle_is_read(name, params):
    """Like the eager result, the derivative ignores the triangle that is not
    read; on symmetric perturbations it is the derivative in the symmetric
    matrices (JAX's convention)."""
    a = spd()
    unread = np.triu(np.ones((3, 3)), 1) if params.get("lower", True) else np.tril(np.ones((3, 3)), -1)
    f = as_function(PRIMITIVES[name], [a], params)
    for tangent in fg.jvp(f, [a], [unread])[1]:
        np.testing.assert_array_equal(tangent, 0.0)
    v = rng.standard_normal((3, 3))
    symmetric = v + v.T
    for t, e in zip(fg.jvp(f, [a], [symmetric])[1], central_difference(f, [a], [symmetric])):
        np.testing.assert_allclose(t, e, rtol=1e-5, atol=1e-6)


def test_closed_forms():
    a = general(3, 3)
    a_inv = np.linalg.inv(a)
    np.testing.assert_allclose(fg.grad(lambda x: linalg.slogdet.bind(x)[1])(a), a_inv.T, rtol=1e-10)
    np.testing.assert_allclose(fg.grad(linalg.det.bind)(a), np.linalg.det(a) * a_inv.T, rtol=1e-10)
    v = rng.standard_normal((3, 3))
    np.testing.assert_allclose(fg.jvp(linalg.inv.bind, (a,), (v,))[1], -a_inv @ v @ a_inv, rtol=1e-10)
    # The nuclear norm's gradient is u vh.
    b = general(4, 3)
    u, _, vh = np.linalg.svd(b, full_matrices=False)
    _, vjp_fun = fg.vjp(lambda x: linalg.svd.bind(x, full_matrices=False, compute_uv=False)[0], b)
    np.testing.assert_allclose(vjp_fun(np.ones(3))[0], u @ vh, rtol=1e-10)


@pytest.mark.parametrize("name, shape, params", [
    ("qr", (4, 3), dict(full_matrices=True)),
    ("svd", (4, 3), dict(full_matrices=True, compute_uv=True)),
    ("svd", (3, 4), dict(full_matrices=True, compute_uv=True)),
])
def test_undetermined_factors_have_no_derivative(name, shape, params):
    with pytest.raises(MissingRuleError, match="full_matrices=True"):
        fg.jvp(lambda x: PRIMITIVES[name].bind(x, **params), (general(*shape),),
               (np.ones(shape),))


def test_threefry_has_zero_tangents():
    key = [np.arange(3, dtype=np.uint32) for _ in range(4)]
    outs, tangents = random_bits.threefry2x32.jvp(key, [Zero(tangent_aval(abstractify(k))) for k in key])
    np.testing.assert_array_equal(outs, random_bits.threefry2x32.impl(np, *key))
    assert all(isinstance(t, Zero) and t.aval.dtype == np.uint32 for t in tangents)


@pytest.mark.parametrize("name, params", [("cholesky", {}), ("slogdet", {}),
                                          ("qr", dict(full_matrices=False)),
                                          ("svd", dict(full_matrices=False, compute_uv=False)),
                                          ("eigh", dict(lower=True))])
def test_complex_decompositions_have_no_derivative_yet(name, params):
    a = spd().astype(np.complex128)
    with pytest.raises(MissingRuleError, match="complex"):
        fg.jvp(lambda x: PRIMITIVES[name].bind(x, **params), (a,), (np.ones_like(a),))


def test_holomorphic_rules_take_complex_matrices():
    a, v = general(3, 3) + 1j * general(3, 3), rng.standard_normal((3, 3)) + 0j
    f = as_function(linalg.inv, [a], {})
    (tangent,) = fg.jvp(f, [a], [v])[1]
    np.testing.assert_allclose(tangent, central_difference(f, [a], [v])[0], rtol=1e-5, atol=1e-6)


def test_grad_through_fnp_linalg():
    """log det s = 2 sum(log(diag(cholesky(s)))): its gradient is s^-1 read from the
    lower triangle (the strict lower part counts twice, the upper part not at all)."""
    import funcgrad.numpy as fnp

    s = spd()
    grad = fg.grad(lambda x: 2 * fnp.sum(fnp.log(fnp.diagonal(fnp.linalg.cholesky(x)))))(s)
    lower_weights = np.tril(np.ones((3, 3)), -1) * 2 + np.eye(3)
    np.testing.assert_allclose(grad, lower_weights * np.linalg.inv(s), rtol=1e-10)
    np.testing.assert_allclose(fg.grad(lambda x: fnp.sum(fnp.linalg.eigvalsh(x)))(s), np.eye(3),
                               atol=1e-12)
