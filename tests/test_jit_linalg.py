"""jit of the matrix decompositions and of ``conv_general_dilated``: the
compiled code (``funcgrad.backends.numba_cpu.rules_linalg``) agrees with the
eager implementations, conventions included (signs of the ``qr`` / ``svd`` /
``eigh`` vectors, the triangle read, NaNs for non-finite input), on single and
stacked matrices, and runs with no host call.

Numba compiles each lowered equation in about a second, so the grids of
params run on float64 stacks (one matrix runs the same code as a stack of
them), and float32 and single matrices on the params that change the code.
"""

from itertools import product

import numpy as np
import pytest

import funcgrad as fg
from funcgrad.backends.numba_cpu.program import Segment
from funcgrad.primitives import linalg
from funcgrad.primitives.convolution import conv_general_dilated

RNG = np.random.default_rng(0)
RTOL = {np.float32: 1e-5, np.float64: 1e-10, np.complex128: 1e-10, np.int32: 0}
DTYPES = (np.float32, np.float64)


def _normal(*shape, dtype=np.float64):
    a = RNG.normal(size=shape)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * RNG.normal(size=shape)
    return a.astype(dtype)


def _spd(*shape, dtype=np.float64):
    a = _normal(*shape, dtype=dtype)
    return a @ np.swapaxes(a, -1, -2).conj() + shape[-1] * np.eye(shape[-1], dtype=dtype)


def _check(fun, *args, rtol, lowered=True):
    """``fun`` under jit equals ``fun`` run eagerly (dtype, shape and values),
    and, if ``lowered``, compiles to one function with no host call."""
    jitted = fg.jit(fun)
    got = fg.tree_leaves(jitted(*args))
    with fg.disable_jit():
        want = fg.tree_leaves(fun(*args))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        w = np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, w.dtype, g.shape, w.shape)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * np.abs(w).max(initial=1.0))
    steps = jitted.lower(*args).program.steps
    assert all(isinstance(s, Segment) for s in steps) == lowered


def _square(*batch, dtype):
    """SPD matrices with garbage above the diagonal, which cholesky and eigh must not read."""
    return _spd(*batch, 4, 4, dtype=dtype) + np.triu(_normal(*batch, 4, 4, dtype=dtype), 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_square(dtype):
    def fun(a, b):
        return [linalg.cholesky.bind(a), linalg.inv.bind(a), linalg.det.bind(a), linalg.slogdet.bind(a),
                linalg.eigh.bind(a, lower=True), linalg.solve.bind(a, b)]

    stacks = _square(3, dtype=dtype), _normal(3, 4, 2, dtype=dtype)
    if dtype == np.float32:
        _check(fun, *stacks, rtol=RTOL[dtype])
    else:
        _check(lambda *args: [fun(*args[:2]), fun(*args[2:])], _square(dtype=dtype),
               _normal(4, 2, dtype=dtype), *stacks, rtol=RTOL[dtype])


def test_eigh_upper_is_a_host_call():
    # syevd on the upper triangle gives other signs than on the transposed lower one,
    # and Numba's eigh reads the lower one only.
    a = np.swapaxes(_square(3, dtype=np.float64), -1, -2).copy()
    _check(lambda a: linalg.eigh.bind(a, lower=False), a, rtol=1e-10, lowered=False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rectangular(dtype):
    """qr and svd with every param on float64 stacks, tall and wide; the
    cases Numba has no function for (complete qr, svd values only) otherwise."""
    grid = [(linalg.qr, dict(full_matrices=full)) for full in (True, False)] + [
        (linalg.svd, dict(full_matrices=full, compute_uv=uv)) for full, uv in product((True, False), repeat=2)
    ]
    few = [grid[0], grid[3]]

    def fun(tall, wide, tall3, wide3):
        stacks = [p.bind(a, **params) for p, params in (grid if dtype == np.float64 else few)
                  for a in (tall3, wide3)]
        return stacks + [p.bind(tall, **params) for p, params in few]

    shapes = ((5, 3), (3, 5), (2, 5, 3), (2, 3, 5))
    _check(fun, *[_normal(*shape, dtype=dtype) for shape in shapes], rtol=RTOL[dtype])


# Every pair of values of any two params in five combinations of (left_side, lower, transpose_a,
# unit_diagonal).
PAIRWISE = [(False, False, False, False), (False, True, True, True), (True, False, True, True),
            (True, True, False, True), (True, True, True, False)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_triangular_solve(dtype):
    """Pairwise param combinations on float64 stacks; both sides otherwise."""
    # Garbage in the triangle not read, and on the diagonal for unit_diagonal.
    a, a3 = _square(dtype=dtype) + 3 * _normal(4, 4, dtype=dtype), _square(3, dtype=dtype)
    a3 = a3 + 3 * np.triu(_normal(3, 4, 4, dtype=dtype), 1)
    # b is (n, k) on the left, (k, n) on the right.
    rhs = {True: (_normal(4, 2, dtype=dtype), _normal(3, 4, 2, dtype=dtype)),
           False: (_normal(2, 4, dtype=dtype), _normal(3, 2, 4, dtype=dtype))}
    grid = [dict(zip(("left_side", "lower", "transpose_a", "unit_diagonal"), values)) for values in PAIRWISE]
    few = grid[:1] + grid[-1:]

    def fun(a, a3, rhs):
        return ([linalg.triangular_solve.bind(a3, rhs[p["left_side"]][1], **p)
                 for p in (grid if dtype == np.float64 else few)]
                + [linalg.triangular_solve.bind(a, rhs[p["left_side"]][0], **p) for p in few])

    _check(fun, a, a3, rhs, rtol=RTOL[dtype] * 10)


def test_complex():
    """The decompositions whose vectors have a phase convention, on complex matrices."""
    dtype = np.complex128
    a, rect = _spd(3, 3, dtype=dtype), _normal(2, 4, 3, dtype=dtype)
    _check(lambda a, rect: [linalg.eigh.bind(a, lower=True), linalg.qr.bind(rect, full_matrices=True),
                            linalg.svd.bind(rect, full_matrices=False, compute_uv=True)],
           a, rect, rtol=RTOL[dtype])


def test_non_finite_matrices_give_nans():
    """NumPy's LAPACK returns NaNs for a matrix with a NaN, where Numba's np.linalg
    raises: the jitted code gives NaNs, and ignores a NaN in a triangle it does not read."""
    a = np.stack([[[1.0, np.nan], [0.5, 2.0]], [[2.0, 0.5], [0.5, 1.0]]])
    b = np.ones((2, 2, 1))
    read_lower = {"eigh", "triangular_solve"}

    def fun(a, b):
        solve = dict(left_side=True, transpose_a=False, unit_diagonal=False)
        return dict(inv=linalg.inv.bind(a), slogdet=linalg.slogdet.bind(a),
                    qr=linalg.qr.bind(a, full_matrices=False), eigh=linalg.eigh.bind(a, lower=True),
                    upper=linalg.triangular_solve.bind(a, b, lower=False, **solve),
                    triangular_solve=linalg.triangular_solve.bind(a, b, lower=True, **solve))

    got = fg.jit(fun)(a, b)
    with np.errstate(invalid="ignore"):
        want = fun(a, b)
    for name in got:
        pairs = list(zip(fg.tree_leaves(got[name]), fg.tree_leaves(want[name])))
        for g, w in pairs:
            np.testing.assert_allclose(g[1], w[1], rtol=1e-12)  # the finite matrix
            if name in read_lower:
                np.testing.assert_allclose(g[0], w[0], rtol=1e-12)
            else:
                assert np.isnan(g[0]).all(), name
        # Eager's NaNs come in LAPACK's pattern (qr's q may stay finite), jit's everywhere.
        assert name in read_lower or any(np.isnan(w[0]).any() for _, w in pairs), name


def test_errors_as_eager():
    with pytest.raises(np.linalg.LinAlgError):
        fg.jit(linalg.cholesky.bind)(-np.eye(3))  # not positive definite
    with pytest.raises(np.linalg.LinAlgError):
        fg.jit(linalg.inv.bind)(np.ones((3, 3)))  # singular
    with pytest.raises(np.linalg.LinAlgError):
        fg.jit(lambda a: linalg.svd.bind(a, full_matrices=False, compute_uv=False))(np.full((2, 2), np.nan))


# ---------------------------------------------------------------- convolution


def _conv_params(strides=(1,), padding=((0, 0),), lhs=(1,), rhs=(1,), groups=1, spatial=1):
    widen = lambda t: tuple(t) * (spatial // len(t))  # noqa: E731
    return dict(window_strides=widen(strides), padding=widen(padding), lhs_dilation=widen(lhs),
                rhs_dilation=widen(rhs), feature_group_count=groups)


# (lhs shape, rhs shape, params): strides, padding (negative crops), dilations, groups
# (depthwise too), 1 to 3 spatial dimensions, a 1x1 kernel, an empty output.
CONV_CASES = [
    ((2, 4, 7, 6), (6, 2, 3, 2), _conv_params((2, 1), ((1, 2), (-1, 1)), (2, 1), (1, 2), groups=2,
                                              spatial=2)),
    ((2, 3, 9), (4, 3, 3), _conv_params()),
    ((1, 4, 6, 6), (4, 1, 3, 3), _conv_params((2,), ((1, 1),), groups=4, spatial=2)),
    ((3, 2, 5, 5), (5, 2, 1, 1), _conv_params(spatial=2)),
    ((2, 2, 4, 5, 3), (3, 2, 2, 3, 2), _conv_params((1, 2, 1), ((1, 0), (0, 2), (1, 1)), (1, 1, 2),
                                                    (2, 1, 1), spatial=3)),
    ((2, 1, 3), (1, 1, 5), _conv_params()),  # the window is longer than the input
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_conv(dtype):
    """Every case on float64; the first, which has every param, on float32 and int32."""
    cases = CONV_CASES if dtype == np.float64 else CONV_CASES[:1]
    args = [RNG.integers(-3, 4, size=s).astype(dtype) if dtype == np.int32 else _normal(*s, dtype=dtype)
            for lhs, rhs, _ in cases for s in (lhs, rhs)]

    def fun(*operands):
        return [conv_general_dilated.bind(operands[2 * k], operands[2 * k + 1], **params)
                for k, (_, _, params) in enumerate(cases)]

    _check(fun, *args, rtol=RTOL[dtype])


def test_conv_layer_grad():
    """The gradient of a strided, padded, dilated, grouped nn.Conv layer: the
    transposed convolutions of its backward pass are lowered too."""
    init, apply = fg.nn.Conv(4, (3, 2), strides=(2, 1), padding=((1, 1), (0, 2)), dilation=(1, 2),
                             feature_group_count=2)
    _, params = init(fg.random.key(0), (2, 9, 7, 6))
    x = _normal(2, 9, 7, 6, dtype=np.float32)
    _check(fg.grad(lambda params, x: (apply(params, x) ** 2).sum(), argnums=(0, 1)), params, x, rtol=1e-5)
