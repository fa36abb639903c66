"""funcgrad.numpy's contractions (``matmul``, ``dot``, ``einsum``, ...) and
``funcgrad.numpy.linalg`` against NumPy: values, dtypes, shapes and result
types, eager, traced and through NumPy's own functions on tracers; and the
errors for shapes NumPy refuses."""

import numpy as np
import pytest
from fnp_harness import DTYPES, NUMERIC_DTYPES, arrays, check
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import errors
from funcgrad.numpy import linalg as fla

rng = np.random.default_rng(0)


def gufunc_operands(signature, dtypes=DTYPES):
    """Two arrays whose shapes fit ``signature`` with broadcast loop dims (some empty)."""
    @st.composite
    def draw(data):
        shapes = data(hnp.mutually_broadcastable_shapes(signature=signature, max_dims=4, min_side=0,
                                                        max_side=3)).input_shapes
        return [data(arrays(data(st.sampled_from(dtypes)), shape)) for shape in shapes]

    return draw()


# ---------------------------------------------------------------- gufuncs


@given(gufunc_operands(np.matmul.signature))
def test_matmul(operands):
    check(fnp.matmul, np.matmul, *operands)


@given(gufunc_operands(np.matmul.signature, NUMERIC_DTYPES))
def test_matmul_operator_and_linalg_matmul(operands):
    check(lambda a, b: a @ b, None, *operands, protocol=False)
    check(fla.matmul, np.linalg.matmul, *operands)


@pytest.mark.parametrize("dtypes, dtype", [((np.int32, np.int32), np.float32), ((np.float32, np.int8), None),
                                           ((np.float32, np.float32), np.float64)])
def test_matmul_dtype_picks_the_loop(dtypes, dtype):
    a, b = (np.arange(6).reshape(2, 3).astype(dtypes[0]), np.arange(6).reshape(3, 2).astype(dtypes[1]))
    check(fnp.matmul, np.matmul, a, b, dtype=dtype)


@pytest.mark.parametrize("name", ["vecdot", "matvec", "vecmat"])
@given(data=st.data())
def test_vector_gufuncs(name, data):
    operands = data.draw(gufunc_operands(getattr(np, name).signature, NUMERIC_DTYPES))
    check(getattr(fnp, name), getattr(np, name), *operands)


@pytest.mark.parametrize("shapes, axis", [(((3, 2), (4, 3, 2)), -2), (((2, 3), (3,)), -1),
                                         (((3, 4), (3, 1)), 0)])
def test_vecdot_axis(shapes, axis):
    a, b = (rng.standard_normal(s) for s in shapes)
    check(fnp.vecdot, np.vecdot, a, b, axis=axis)
    check(fla.vecdot, np.linalg.vecdot, a, b, axis=axis)


def test_matmul_of_a_vector_is_one_dot_general():
    ir = fg.make_ir(lambda x, w: x @ w)(np.ones(3), np.ones((3, 2)))
    assert [e.primitive.name for e in ir.eqns] == ["dot_general"]
    assert "dot_general[dimension_numbers=(((0,), (0,)), ((), ()))] a b" in str(ir)


# ---------------------------------------------------------------- dot and friends


@st.composite
def aligned_pair(draw, b_axis):
    """Arrays whose last axis of ``a`` matches axis ``b_axis(b.ndim)`` of ``b`` (or a 0-d one)."""
    a_shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
    b_shape = list(draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)))
    if a_shape and b_shape:
        b_shape[b_axis(len(b_shape))] = a_shape[-1]
    dtypes = st.sampled_from(DTYPES)
    return draw(arrays(draw(dtypes), a_shape)), draw(arrays(draw(dtypes), tuple(b_shape)))


@given(aligned_pair(lambda ndim: max(ndim - 2, 0)))
def test_dot(pair):
    check(fnp.dot, np.dot, *pair)


@given(aligned_pair(lambda ndim: -1))
def test_inner(pair):
    check(fnp.inner, np.inner, *pair)


@pytest.mark.parametrize("name", ["dot", "inner", "outer", "kron", "vdot"])
@pytest.mark.parametrize("scalar", [2, 2.5, True])
def test_python_scalars_are_strong(name, scalar):
    """Unlike ufuncs, these turn Python scalars into arrays: ``np.dot(2, x32)`` is float64."""
    x = np.arange(3, dtype=np.float32)
    other = np.float32(1) if name == "vdot" else scalar
    fn = getattr(fnp, name)
    check(lambda a: fn(a, other), lambda a: getattr(np, name)(a, other), x if name != "vdot" else x[:1],
          protocol=False)


@given(data=st.data())
def test_vdot_outer_kron(data):
    any_shape = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)
    a = data.draw(arrays(data.draw(st.sampled_from(DTYPES)), any_shape))
    b = data.draw(arrays(data.draw(st.sampled_from(DTYPES)), any_shape))
    check(fnp.outer, np.outer, a, b)
    check(fnp.kron, np.kron, a, b)
    check(fnp.vdot, np.vdot, a, a.astype(b.dtype))


@pytest.mark.parametrize("shapes, axes", [
    (((3, 2, 4), (2, 4, 3)), 2), (((3, 2, 4), (4, 3)), 1), (((3, 2), (4,)), 0), (((), (2,)), 0),
    (((3, 2, 4), (2, 3, 4)), ([1, 0], [0, 1])), (((3, 2, 4), (2, 3, 4)), (-1, 2)),
    (((3, 2), (2, 3)), ([1], [0])), (((0, 2), (2, 0)), 1),
])
@pytest.mark.parametrize("dtypes", [(np.float64, np.float64), (np.float32, np.int32), (np.int32, np.int32)])
def test_tensordot(shapes, axes, dtypes):
    a, b = ((rng.standard_normal(s) * 3).astype(d) for s, d in zip(shapes, dtypes))
    check(fnp.tensordot, np.tensordot, a, b, axes=axes)
    check(fla.tensordot, np.linalg.tensordot, a, b, axes=axes)


@pytest.mark.parametrize("shape", [(3, 3), (2, 4), (4, 2, 3), (0, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.bool_])
@pytest.mark.parametrize("offset, axis1, axis2", [(0, 0, 1), (1, 0, 1), (-1, 1, 0), (0, -1, 0)])
def test_trace(shape, dtype, offset, axis1, axis2):
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    check(fnp.trace, np.trace, x, offset, axis1, axis2)
    check(fnp.trace, np.trace, x, offset, axis1, axis2, np.float64)
    check(fla.trace, np.linalg.trace, x, offset=offset)
    check(fla.diagonal, np.linalg.diagonal, x, offset=offset)


# ---------------------------------------------------------------- einsum

EINSUM_CASES = [  # subscripts, operand shapes
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("ba", [(2, 3)]),                         # implicit output: alphabetical
    ("Ab,bc", [(2, 3), (3, 2)]),
    ("i,i", [(3,), (3,)]),
    ("i,i->i", [(3,), (1,)]),                  # size-1 dims broadcast
    ("i,j->ij", [(3,), (2,)]),
    ("ii->i", [(3, 3)]),                       # diagonal
    ("ii", [(3, 3)]),                          # trace
    ("iij->j", [(3, 3, 2)]),
    ("iii->i", [(2, 2, 2)]),
    ("ij,ii->j", [(3, 2), (3, 3)]),
    ("...ij,...jk", [(5, 2, 3), (3, 4)]),       # ellipsis broadcasting
    ("...i,...i->...", [(2, 1, 3), (4, 3)]),
    ("i...->...", [(2, 3, 4)]),
    ("ij...,jk...", [(2, 3, 5), (3, 4, 5)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("abc,cd,ab->d", [(2, 3, 4), (4, 5), (2, 3)]),
    ("ij,ij,ij->i", [(2, 3)] * 3),
    ("a b, b c", [(2, 3), (3, 4)]),            # spaces
    ("", [()]),
    (",i", [(), (3,)]),
    ("ij,jk->ik", [(0, 3), (3, 2)]),
    ("ij,jk->ik", [(2, 0), (0, 2)]),
]


@pytest.mark.parametrize("subscripts, shapes", EINSUM_CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int8, np.bool_])
def test_einsum(subscripts, shapes, dtype):
    operands = [(rng.standard_normal(s) * 3).astype(dtype) for s in shapes]
    check(fnp.einsum, np.einsum, subscripts, *operands)


@pytest.mark.parametrize("subscripts, shapes", EINSUM_CASES[:8])
def test_einsum_dtype_and_mixed_operands(subscripts, shapes):
    operands = [(rng.standard_normal(s) * 3).astype(d) for s, d in zip(shapes, [np.float32, np.int32])]
    check(fnp.einsum, np.einsum, subscripts, *operands)
    check(fnp.einsum, np.einsum, subscripts, *operands, dtype=np.float64)


def test_einsum_with_python_scalars():
    x = np.arange(3, dtype=np.float32)
    check(lambda a: fnp.einsum("i,", a, 2.0), lambda a: np.einsum("i,", a, 2.0), x, protocol=False)


def test_einsum_matmul_is_one_dot_general():
    ir = fg.make_ir(lambda a, b: fnp.einsum("ij,jk->ik", a, b))(np.ones((2, 3)), np.ones((3, 4)))
    assert [e.primitive.name for e in ir.eqns] == ["dot_general"]


# ---------------------------------------------------------------- linalg

FLOAT_OR_INT = [np.float64, np.float32, np.int64]
BATCHES = [(), (2,), (2, 1), (0,)]


def spd(batch, n=3, dtype=np.float64):
    """Well-conditioned symmetric positive definite matrices."""
    a = rng.standard_normal((*batch, n, n))
    spd = a @ np.swapaxes(a, -1, -2) + n * np.eye(n)
    return (np.round(spd) if np.dtype(dtype).kind == "i" else spd).astype(dtype)


@pytest.mark.parametrize("name, kwargs", [
    ("inv", {}), ("det", {}), ("slogdet", {}), ("cholesky", {}), ("cholesky", {"upper": True}),
    ("eigh", {}), ("eigh", {"UPLO": "U"}), ("eigvalsh", {}), ("eigvalsh", {"UPLO": "u"}),
    ("svdvals", {}), ("matrix_rank", {}), ("pinv", {}), ("pinv", {"hermitian": True}),
    ("svd", {"hermitian": True}), ("svd", {"hermitian": True, "compute_uv": False}),
])
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("dtype", FLOAT_OR_INT)
def test_square_matrix_functions(name, kwargs, batch, dtype):
    check(getattr(fla, name), getattr(np.linalg, name), spd(batch, dtype=dtype), **kwargs)


@pytest.mark.parametrize("name, kwargs", [
    ("qr", {}), ("qr", {"mode": "complete"}), ("qr", {"mode": "r"}),
    ("svd", {}), ("svd", {"full_matrices": False}), ("svd", {"compute_uv": False}),
    ("svdvals", {}), ("pinv", {}), ("pinv", {"rtol": None}), ("pinv", {"rcond": 0.5}),
    ("matrix_rank", {}), ("matrix_rank", {"tol": 0.5}), ("matrix_rank", {"rtol": 0.5}),
    ("matrix_transpose", {}),
])
@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (2, 4, 3), (0, 2), (3, 0)])
@pytest.mark.parametrize("dtype", FLOAT_OR_INT)
def test_rectangular_matrix_functions(name, kwargs, shape, dtype):
    if name == "pinv" and 0 in shape:  # NumPy returns np.empty: no values to compare
        return
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    check(getattr(fla, name), getattr(np.linalg, name), x, **kwargs)


def test_rank_deficient_matrices():
    low_rank = rng.standard_normal((2, 4, 2)) @ rng.standard_normal((2, 2, 4))
    check(fla.matrix_rank, np.linalg.matrix_rank, low_rank)
    check(fla.pinv, np.linalg.pinv, low_rank)
    check(fla.matrix_rank, np.linalg.matrix_rank, np.zeros(3))
    check(fla.matrix_rank, np.linalg.matrix_rank, np.ones(3))


@pytest.mark.parametrize("b_shape", [(3,), (3, 2), (4, 1, 3, 2), (2, 3, 1)])
@pytest.mark.parametrize("batch", [(), (2,)])
@pytest.mark.parametrize("dtypes", [(np.float64, np.float64), (np.float32, np.float32),
                                    (np.float32, np.int32)])
def test_solve_broadcasts_as_numpy_2(b_shape, batch, dtypes):
    a = spd(batch, dtype=dtypes[0])
    b = (rng.standard_normal(b_shape) * 3).astype(dtypes[1])
    check(fla.solve, np.linalg.solve, a, b)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 8, -1, -2, -3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_matrix_power(n, dtype):
    a = spd((2,), dtype=dtype) / (1 if dtype == np.int64 else 4)
    if n < 0 and dtype == np.int64:
        a = a.astype(np.float64)
    check(fla.matrix_power, np.linalg.matrix_power, a, n, rtol=1e-4 if dtype == np.float32 else 1e-9)


@pytest.mark.parametrize("shapes", [[(3, 4), (4, 2)], [(3,), (3, 4), (4, 2), (2,)],
                                    [(5, 3), (3, 40), (40, 2), (2, 7)], [(10, 100), (100, 5), (5, 50)],
                                    [(3,), (3, 4), (4,)]])
def test_multi_dot(shapes):
    arrays_ = [rng.standard_normal(s) for s in shapes]
    check(lambda *xs: fla.multi_dot(list(xs)), lambda *xs: np.linalg.multi_dot(list(xs)), *arrays_)


def test_linalg_outer():
    check(fla.outer, np.linalg.outer, np.arange(3.0), np.arange(2, dtype=np.int32))
    with pytest.raises(ValueError, match="one-dimensional"):
        fg.make_ir(fla.outer)(np.ones((2, 2)), np.ones(2))


NORM_ORDERS = [None, "fro", "nuc", np.inf, -np.inf, 0, 1, -1, 2, -2, 3, 0.5]


@pytest.mark.parametrize("shape, axis", [
    ((4,), None), ((4,), 0), ((3, 4), None), ((3, 4), 1), ((3, 4), (1, 0)),
    ((2, 3, 4), -1), ((2, 3, 4), (0, 2)), ((2, 3, 4), (-1, -2)), ((0, 3), 1),
])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32])
@pytest.mark.parametrize("keepdims", [False, True])
def test_norm(shape, axis, dtype, keepdims):
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    for ord_ in NORM_ORDERS:
        try:
            with np.errstate(all="ignore"):
                np.linalg.norm(x, ord_, axis, keepdims)
        except ValueError:
            continue  # an order NumPy refuses for this shape
        check(fla.norm, np.linalg.norm, x, ord=ord_, axis=axis, keepdims=keepdims)


@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 3, 4)])
@pytest.mark.parametrize("axis", [None, 0, -1, (0,), (0, -1)])
@pytest.mark.parametrize("ord_", [2, 1, np.inf, 3])
def test_vector_norm(shape, axis, ord_):
    if axis == (0, -1) and len(shape) == 1:
        return
    x = rng.standard_normal(shape).astype(np.float32)
    check(fla.vector_norm, np.linalg.vector_norm, x, axis=axis, ord=ord_)
    check(fla.vector_norm, np.linalg.vector_norm, x, axis=axis, ord=ord_, keepdims=True)


@pytest.mark.parametrize("ord_", ["fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf])
def test_matrix_norm(ord_):
    x = rng.standard_normal((2, 3, 4))
    check(fla.matrix_norm, np.linalg.matrix_norm, x, ord=ord_)
    check(fla.matrix_norm, np.linalg.matrix_norm, x, ord=ord_, keepdims=True)


@pytest.mark.parametrize("name", ["slogdet", "qr", "svd", "eigh"])
def test_results_are_numpys_named_tuples(name):
    a = spd(())
    seen = []

    def traced(x):
        result = getattr(fla, name)(x)
        seen.append(type(result))
        return result

    fg.make_ir(traced)(a)
    assert seen == [type(getattr(np.linalg, name)(a))]


def test_linalg_dispatch_from_numpy():
    """``np.linalg.X`` on a tracer reaches ``fnp.linalg.X``."""
    ir = fg.make_ir(lambda x: np.linalg.inv(x) @ np.linalg.cholesky(x))(spd(()))
    assert [e.primitive.name for e in ir.eqns] == ["inv", "cholesky", "dot_general"]


# ---------------------------------------------------------------- errors


def error_message(error, fn, *args):
    with pytest.raises(error) as info:
        fg.make_ir(fn)(*args)
    message = str(info.value)
    assert "test_numpy_linalg.py" in message  # the user's line
    return message


@pytest.mark.parametrize("fn, shapes, words", [
    (fnp.matmul, [(2, 3), (4, 2)], ["matmul: Input operand 1 has a mismatch", "size 4 is different from 3"]),
    (fnp.matmul, [(2, 2, 3), (3, 3, 2)], ["matmul", "broadcast", "(2,)", "(3,)"]),
    (lambda x: fnp.matmul(x, 2.0), [(2, 3)], ["matmul: Input operand 1 does not have enough dimensions"]),
    (fnp.dot, [(2, 3), (4, 5)], ["dot: shapes (2, 3) and (4, 5) not aligned: 3 (dim 1) != 4 (dim 0)"]),
    (fnp.inner, [(2, 3), (2,)], ["inner", "not aligned"]),
    (fnp.vdot, [(2, 3), (5,)], ["vdot", "6 and 5"]),
    (lambda a, b: fnp.tensordot(a, b, 1), [(2, 3), (2, 3)], ["tensordot: shape-mismatch for sum"]),
    (lambda a, b: fnp.einsum("ij,jk", a, b), [(2, 3), (2, 3)], ["einsum", "'j'", "3", "2"]),
    (lambda a: fnp.einsum("ii", a), [(2, 3)], ["einsum", "'i'", "2 != 3"]),
    (fnp.vecdot, [(3,), (4,)], ["vecdot: Input operand 1 has a mismatch"]),
])
def test_contraction_shape_errors(fn, shapes, words):
    message = error_message(errors.ShapeError, fn, *(np.ones(s) for s in shapes))
    for word in words:
        assert word in message


@pytest.mark.parametrize("subscripts, shapes, words", [
    ("i1", [(3,)], "invalid subscript '1'"),
    ("i.j", [(3, 3)], "'.'"),
    ("...i...", [(3, 3)], "'.'"),
    ("ij", [(3,)], "has 1 dimensions"),
    ("i,j", [(3,)], "name 2 operands, but 1 were given"),
    ("i->ii", [(3,)], "more than once"),
    ("i->j", [(3,)], "'j' does not appear"),
    ("...i->i", [(2, 3)], "no '...'"),
])
def test_einsum_subscript_errors(subscripts, shapes, words):
    with pytest.raises(ValueError, match=words):
        fg.make_ir(lambda *xs: fnp.einsum(subscripts, *xs))(*(np.ones(s) for s in shapes))


def test_einsum_dtype_cast_is_checked():
    with pytest.raises(TypeError, match="safe"):
        fg.make_ir(lambda a: fnp.einsum("ij,jk", a, a, dtype=np.float32))(np.ones((2, 2)))


@pytest.mark.parametrize("fn, shape, error, words", [
    (fla.inv, (2, 3), np.linalg.LinAlgError, "Last 2 dimensions of the array must be square"),
    (fla.det, (3,), np.linalg.LinAlgError, "1-dimensional array given"),
    (fla.qr, (3,), np.linalg.LinAlgError, "1-dimensional array given"),
    (fla.cholesky, (2, 2, 3), np.linalg.LinAlgError, "square"),
    (lambda a: fla.solve(a, a[0, :2]), (3, 3), errors.ShapeError, "solve: b of shape (2,)"),
])
def test_linalg_shape_errors(fn, shape, error, words):
    message = error_message(error, fn, np.ones(shape))
    assert words in message


def test_linalg_refuses_float16_and_bad_options():
    with pytest.raises(errors.DtypeError, match="float16 is unsupported in linalg"):
        fg.make_ir(fla.inv)(np.eye(2, dtype=np.float16))
    with pytest.raises(ValueError, match="Unrecognized mode"):
        fg.make_ir(lambda a: fla.qr(a, mode="bogus"))(np.eye(2))
    with pytest.raises(errors.UnsupportedNumpyFunctionError, match="raw"):
        fg.make_ir(lambda a: fla.qr(a, mode="raw"))(np.eye(2))
    with pytest.raises(ValueError, match="UPLO"):
        fg.make_ir(lambda a: fla.eigh(a, UPLO="X"))(np.eye(2))
    with pytest.raises(ValueError, match="Invalid norm order"):
        fg.make_ir(lambda a: fla.norm(a, ord="fro", axis=0))(np.eye(2))
    with pytest.raises(TypeError, match="exponent must be an integer"):
        fg.make_ir(lambda a: fla.matrix_power(a, 1.5))(np.eye(2))
