"""The linear-algebra primitives: ``dot_general`` against ``np.einsum`` over
drawn dimension numbers, the decompositions' abstract eval against their
eager results and their defining identities, ``triangular_solve`` against a
solve on the explicit triangle; bad operands raise errors that name the
primitive and the shapes."""

import string

import numpy as np
import pytest
from fnp_harness import assert_same, through_trace
from hypothesis import given
from hypothesis import strategies as st

from funcgrad import errors
from funcgrad.ir import AbstractArray, abstractify
from funcgrad.primitives import linalg as prims
from funcgrad.trace import trace_to_ir

rng = np.random.default_rng(0)


def aval(shape, dtype=np.float64):
    return AbstractArray(tuple(shape), np.dtype(dtype))


def spd(*batch, n=3, dtype=np.float64):
    """Well-conditioned symmetric positive definite matrices."""
    a = rng.standard_normal((*batch, n, n))
    return (a @ np.swapaxes(a, -1, -2) + n * np.eye(n)).astype(dtype)


# ---------------------------------------------------------------- dot_general


@st.composite
def dot_general_cases(draw):
    """Operands with drawn batch, contracting and free dimensions, in shuffled order."""
    n_batch, n_contract, n_lhs, n_rhs = (draw(st.integers(0, 2)) for _ in range(4))
    sizes = [draw(st.integers(0 if k == 0 else 1, 3)) for k in range(n_batch + n_contract + n_lhs + n_rhs)]
    labels = string.ascii_letters[:len(sizes)]
    batch = labels[:n_batch]
    contract = labels[n_batch:n_batch + n_contract]
    lhs_free = labels[n_batch + n_contract:n_batch + n_contract + n_lhs]
    rhs_free = labels[n_batch + n_contract + n_lhs:]
    lhs_labels = draw(st.permutations(batch + contract + lhs_free))
    rhs_labels = draw(st.permutations(batch + contract + rhs_free))
    size = dict(zip(labels, sizes))
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int32, np.bool_]))
    lhs = np.asarray(rng.standard_normal([size[c] for c in lhs_labels]) * 3).astype(dtype)
    rhs = np.asarray(rng.standard_normal([size[c] for c in rhs_labels]) * 3).astype(dtype)
    numbers = ((tuple(lhs_labels.index(c) for c in contract), tuple(rhs_labels.index(c) for c in contract)),
               (tuple(lhs_labels.index(c) for c in batch), tuple(rhs_labels.index(c) for c in batch)))
    free = [c for c in lhs_labels if c in lhs_free] + [c for c in rhs_labels if c in rhs_free]
    spec = f"{''.join(lhs_labels)},{''.join(rhs_labels)}->{batch}{''.join(free)}"
    return lhs, rhs, numbers, spec


@given(dot_general_cases())
def test_dot_general_matches_einsum(case):
    lhs, rhs, numbers, spec = case
    expected = np.einsum(spec, lhs, rhs)
    assert_same(prims.dot_general.impl(np, lhs, rhs, dimension_numbers=numbers), expected, rtol=1e-5)
    assert_same(through_trace(prims.dot_general, lhs, rhs, dimension_numbers=numbers), expected, rtol=1e-5)


@pytest.mark.parametrize("lhs, rhs, numbers, shape", [
    ((3,), (3, 2), (((0,), (0,)), ((), ())), (2,)),
    ((2, 3), (3, 4), (((1,), (0,)), ((), ())), (2, 4)),
    ((5, 2, 3), (5, 3, 4), (((2,), (1,)), ((0,), (0,))), (5, 2, 4)),
    ((2, 5, 3), (3, 4, 5), (((2,), (0,)), ((1,), (2,))), (5, 2, 4)),
    ((2,), (3,), (((), ()), ((), ())), (2, 3)),
    ((), (), (((), ()), ((), ())), ()),
])
def test_dot_general_abstract_eval(lhs, rhs, numbers, shape):
    out = prims.dot_general.abstract_eval(aval(lhs, np.float32), aval(rhs, np.float32),
                                          dimension_numbers=numbers)
    assert out == aval(shape, np.float32)


@pytest.mark.parametrize("lhs, rhs, numbers, error, words", [
    (aval((2, 3)), aval((4, 2)), (((1,), (0,)), ((), ())), errors.ShapeError,
     ["dot_general", "contracting", "f64[2,3]", "f64[4,2]", "(3,) and (4,)"]),
    (aval((2, 3)), aval((3, 3)), (((1,), (0,)), ((0,), (1,))), errors.ShapeError, ["batch", "(2,) and (3,)"]),
    (aval((2, 3)), aval((3, 2), np.float32), (((1,), (0,)), ((), ())), errors.DtypeError, ["equal dtypes"]),
    (aval((2, 3)), aval((3, 2)), (((2,), (0,)), ((), ())), errors.AxisError, ["lhs"]),
    (aval((2, 3)), aval((3, 3)), (((1,), (0,)), ((), (0,))), errors.AxisError, ["rhs"]),
])
def test_dot_general_bad_operands(lhs, rhs, numbers, error, words):
    with pytest.raises(error) as info:
        prims.dot_general.abstract_eval(lhs, rhs, dimension_numbers=numbers)
    for word in words:
        assert word in str(info.value)


def test_dot_general_prints_its_dimension_numbers():
    numbers = (((0,), (0,)), ((), ()))
    ir, _ = trace_to_ir(lambda x, w: [prims.dot_general.bind(x, w, dimension_numbers=numbers)],
                        [np.ones(3), np.ones((3, 2))])
    assert "dot_general[dimension_numbers=(((0,), (0,)), ((), ()))] a b" in str(ir)


# ---------------------------------------------------------------- decompositions

DECOMPOSITION_AVALS = [  # primitive, params, operand shapes, expected result shapes (dtype of a / real)
    ("cholesky", {}, [(2, 3, 3)], [(2, 3, 3)]),
    ("inv", {}, [(3, 3)], [(3, 3)]),
    ("det", {}, [(4, 2, 2)], [(4,)]),
    ("slogdet", {}, [(2, 2)], [(), ()]),
    ("qr", {"full_matrices": False}, [(2, 5, 3)], [(2, 5, 3), (2, 3, 3)]),
    ("qr", {"full_matrices": True}, [(5, 3)], [(5, 5), (5, 3)]),
    ("qr", {"full_matrices": False}, [(3, 5)], [(3, 3), (3, 5)]),
    ("svd", {"full_matrices": True, "compute_uv": True}, [(4, 2)], [(4, 4), (2,), (2, 2)]),
    ("svd", {"full_matrices": False, "compute_uv": True}, [(3, 4, 2)], [(3, 4, 2), (3, 2), (3, 2, 2)]),
    ("svd", {"full_matrices": False, "compute_uv": False}, [(2, 5)], [(2,)]),
    ("eigh", {"lower": True}, [(2, 3, 3)], [(2, 3), (2, 3, 3)]),
    ("solve", {}, [(2, 3, 3), (2, 3, 4)], [(2, 3, 4)]),
    ("triangular_solve", {"left_side": True, "lower": True, "transpose_a": False, "unit_diagonal": False},
     [(3, 3), (3, 2)], [(3, 2)]),
    ("triangular_solve", {"left_side": False, "lower": False, "transpose_a": True, "unit_diagonal": True},
     [(2, 3, 3), (2, 4, 3)], [(2, 4, 3)]),
]
# Results that are real for complex operands: slogdet's logabsdet, svd's s, eigh's w.
REAL_RESULTS = {("slogdet", 1), ("svd", 1), ("eigh", 0)}


def operand(shape, dtype):
    if shape[-1] == shape[-2]:
        base = spd(*shape[:-2], n=shape[-1])
    else:
        base = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        base = base + 0.1j * rng.standard_normal(shape)
        base = (base + np.conj(np.swapaxes(base, -1, -2))) / 2 if shape[-1] == shape[-2] else base
    return base.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
@pytest.mark.parametrize("name, params, shapes, out_shapes", DECOMPOSITION_AVALS)
def test_decomposition_abstract_eval_matches_eager(name, params, shapes, out_shapes, dtype):
    primitive = getattr(prims, name)
    operands = [operand(s, dtype) for s in shapes]
    result = through_trace(primitive, *operands, **params)
    results = result if primitive.multiple_results else [result]
    real = np.finfo(dtype).dtype
    if name == "svd" and not params["compute_uv"]:
        expected = [aval(out_shapes[0], real)]
    else:
        expected = [aval(s, real if (name, k) in REAL_RESULTS else dtype) for k, s in enumerate(out_shapes)]
    assert [abstractify(np.asarray(r)) for r in results] == expected


def test_decompositions_satisfy_their_identities():
    a = spd(2, n=4)
    m = rng.standard_normal((2, 5, 3))
    lower = prims.cholesky.impl(np, a)
    np.testing.assert_allclose(lower @ np.swapaxes(lower, -1, -2), a, atol=1e-12)
    assert np.allclose(np.triu(lower, 1), 0)
    q, r = prims.qr.impl(np, m, full_matrices=False)
    np.testing.assert_allclose(q @ r, m, atol=1e-12)
    u, s, vh = prims.svd.impl(np, m, full_matrices=False, compute_uv=True)
    np.testing.assert_allclose((u * s[..., None, :]) @ vh, m, atol=1e-12)
    w, v = prims.eigh.impl(np, a, lower=True)
    np.testing.assert_allclose(a @ v, v * w[..., None, :], atol=1e-12)
    assert np.all(np.diff(w, axis=-1) >= 0)
    np.testing.assert_allclose(prims.inv.impl(np, a) @ a, np.broadcast_to(np.eye(4), a.shape), atol=1e-12)
    sign, logabsdet = prims.slogdet.impl(np, a)
    np.testing.assert_allclose(sign * np.exp(logabsdet), prims.det.impl(np, a))


@pytest.mark.parametrize("left_side", [True, False])
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("transpose_a", [True, False])
@pytest.mark.parametrize("unit_diagonal", [True, False])
def test_triangular_solve_matches_solve_on_the_triangle(left_side, lower, transpose_a, unit_diagonal):
    a = rng.standard_normal((2, 3, 3)) + 4 * np.eye(3)
    b = rng.standard_normal((2, 3, 4) if left_side else (2, 4, 3))
    triangle = np.tril(a) if lower else np.triu(a)
    if unit_diagonal:
        triangle[..., range(3), range(3)] = 1
    op = np.swapaxes(triangle, -1, -2) if transpose_a else triangle
    params = dict(left_side=left_side, lower=lower, transpose_a=transpose_a, unit_diagonal=unit_diagonal)
    x = through_trace(prims.triangular_solve, a, b, **params)
    np.testing.assert_allclose(op @ x if left_side else x @ op, b, atol=1e-12)


@pytest.mark.parametrize("name, params, avals, error, words", [
    ("inv", {}, [aval((2, 3))], errors.ShapeError, ["inv", "square", "f64[2,3]"]),
    ("cholesky", {}, [aval((3,))], errors.ShapeError, ["cholesky", "f64[3]"]),
    ("det", {}, [aval((2, 2), np.int32)], errors.DtypeError, ["det", "float32", "i32[2,2]"]),
    ("eigh", {"lower": True}, [aval((2, 2), np.float16)], errors.DtypeError, ["eigh"]),
    ("svd", {"full_matrices": True, "compute_uv": True}, [aval((3,))], errors.ShapeError, ["svd"]),
    ("solve", {}, [aval((3, 3)), aval((3, 2), np.float32)], errors.DtypeError, ["solve", "equal dtypes"]),
    ("solve", {}, [aval((2, 3, 3)), aval((3, 3, 1))], errors.ShapeError, ["solve", "batch"]),
    ("solve", {}, [aval((3, 3)), aval((2, 1))], errors.ShapeError, ["solve", "f64[2,1]"]),
    ("triangular_solve", {"left_side": False, "lower": True, "transpose_a": False, "unit_diagonal": False},
     [aval((3, 3)), aval((3, 2))], errors.ShapeError, ["triangular_solve", "(..., k, n)"]),
])
def test_decomposition_bad_operands(name, params, avals, error, words):
    with pytest.raises(error) as info:
        getattr(prims, name).abstract_eval(*avals, **params)
    for word in words:
        assert word in str(info.value)


def test_decompositions_accept_empty_matrices():
    empty = np.zeros((2, 0, 0))
    assert_same(through_trace(prims.inv, empty), np.zeros((2, 0, 0)))
    assert_same(through_trace(prims.det, empty), np.ones(2))
