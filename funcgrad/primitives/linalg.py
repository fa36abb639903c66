"""Linear-algebra primitives: ``dot_general`` and the matrix decompositions.

``dot_general`` is every contraction (``matmul``, ``dot``, ``tensordot``,
``einsum``): it sums over pairs of *contracting* dimensions and maps over
pairs of *batch* dimensions; the output has the batch dimensions, then the
free dimensions of ``lhs``, then those of ``rhs`` (``jax.lax.dot_general``).

The decompositions (``cholesky``, ``qr``, ``svd``, ``eigh``,
``triangular_solve``, ``solve``, ``inv``, ``det``, ``slogdet``) work on
stacks of matrices (leading batch dimensions) of float32, float64, complex64
or complex128; their eager implementations are ``xp.linalg``'s, so eager
results are NumPy's to the bit.

Example:
    >>> x, w = np.arange(3.0), np.ones((3, 2))
    >>> dot_general.impl(np, x, w, dimension_numbers=(((0,), (0,)), ((), ())))
    array([3., 3.])
    >>> lhs, rhs = np.ones((2, 3, 4)), np.ones((2, 4, 5))
    >>> dot_general.impl(np, lhs, rhs, dimension_numbers=(((2,), (1,)), ((0,), (0,)))).shape
    (2, 3, 5)
    >>> cholesky.impl(np, np.array([[4.0, 2.0], [2.0, 5.0]]))
    array([[2., 0.],
           [1., 2.]])
    >>> w, v = eigh.impl(np, np.array([[2.0, 9.0], [0.0, 1.0]]), lower=True)   # the 9 is ignored
    >>> w
    array([1., 2.])
    >>> [r.shape for r in qr.impl(np, np.ones((3, 2)), full_matrices=False)]
    [(3, 2), (2, 2)]
    >>> svd.impl(np, np.diag([1.0, 3.0]), full_matrices=False, compute_uv=False)
    (array([3., 1.]),)
    >>> a = np.array([[2.0, 7.0], [1.0, 1.0]])   # the 7 is above the diagonal: ignored
    >>> triangular_solve.impl(np, a, np.array([[2.0], [2.0]]), left_side=True, lower=True,
    ...                       transpose_a=False, unit_diagonal=False)
    array([[1.],
           [1.]])
"""

from __future__ import annotations

import math

import numpy as np

from funcgrad.errors import AxisError, DtypeError, ShapeError
from funcgrad.ir import AbstractArray
from funcgrad.primitives import elementwise as ew
from funcgrad.primitives import structural
from funcgrad.primitives.registry import fnp, primitive
from funcgrad.transforms.batch_dims import leading_batch, moveaxis_to
from funcgrad.transforms.tangents import Zero, add_tangents, aval_of, is_linear, tangent_aval

# ---------------------------------------------------------------- dot_general


def _free_dims(ndim: int, *used: tuple[int, ...]) -> tuple[int, ...]:
    taken = set().union(*used)
    return tuple(d for d in range(ndim) if d not in taken)


def _dot_general_aval(lhs, rhs, *, dimension_numbers):
    (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dimension_numbers
    if lhs.dtype != rhs.dtype:
        raise DtypeError(f"dot_general: operands must have equal dtypes, got {lhs!r} and {rhs!r}",
                         "use funcgrad.numpy functions (fnp.matmul, fnp.dot), which promote as NumPy does")
    for side, aval, dims in (("lhs", lhs, lhs_contract + lhs_batch), ("rhs", rhs, rhs_contract + rhs_batch)):
        if len(set(dims)) != len(dims) or not all(0 <= d < aval.ndim for d in dims):
            raise AxisError(f"dot_general: contracting and batch dimensions {dims} of {side} {aval!r} "
                            "must be distinct axes in range")
    for kind, lhs_dims, rhs_dims in (("contracting", lhs_contract, rhs_contract),
                                     ("batch", lhs_batch, rhs_batch)):
        lhs_sizes = tuple(lhs.shape[d] for d in lhs_dims)
        rhs_sizes = tuple(rhs.shape[d] for d in rhs_dims)
        if lhs_sizes != rhs_sizes:
            raise ShapeError(f"dot_general: {kind} dimensions {lhs_dims} of {lhs!r} and {rhs_dims} of "
                             f"{rhs!r} have different sizes {lhs_sizes} and {rhs_sizes}")
    shape = (tuple(lhs.shape[d] for d in lhs_batch)
             + tuple(lhs.shape[d] for d in _free_dims(lhs.ndim, lhs_contract, lhs_batch))
             + tuple(rhs.shape[d] for d in _free_dims(rhs.ndim, rhs_contract, rhs_batch)))
    return AbstractArray(shape, lhs.dtype, lhs.weak_type and rhs.weak_type)


@primitive("dot_general", _dot_general_aval)
def dot_general(xp, lhs, rhs, *, dimension_numbers):
    """Contract ``lhs`` and ``rhs``: one batched ``matmul`` (BLAS for floats)."""
    (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dimension_numbers
    lhs, rhs = xp.asarray(lhs), xp.asarray(rhs)
    if not lhs_batch and len(lhs_contract) == 1 and lhs.ndim <= 2 and rhs.ndim <= 2:
        # Matrices and vectors: one np.dot on transposed views (the common, small case).
        lhs2 = lhs if lhs_contract[0] == lhs.ndim - 1 else lhs.T
        rhs2 = rhs if rhs_contract[0] == 0 else rhs.T
        return xp.dot(lhs2, rhs2)
    lhs_free = _free_dims(lhs.ndim, lhs_contract, lhs_batch)
    rhs_free = _free_dims(rhs.ndim, rhs_contract, rhs_batch)
    batch = [lhs.shape[d] for d in lhs_batch]
    lhs_free_shape = [lhs.shape[d] for d in lhs_free]
    rhs_free_shape = [rhs.shape[d] for d in rhs_free]
    size = math.prod([lhs.shape[d] for d in lhs_contract])
    # As (B, M, K) @ (B, K, N): transposes are views, reshapes copy only when they must.
    lhs3 = xp.transpose(lhs, lhs_batch + lhs_free + lhs_contract).reshape(
        math.prod(batch), math.prod(lhs_free_shape), size)
    rhs3 = xp.transpose(rhs, rhs_batch + rhs_contract + rhs_free).reshape(
        math.prod(batch), size, math.prod(rhs_free_shape))
    return xp.matmul(lhs3, rhs3).reshape(batch + lhs_free_shape + rhs_free_shape)


# ---------------------------------------------------------------- decompositions

LINALG_DTYPES = tuple(map(np.dtype, (np.float32, np.float64, np.complex64, np.complex128)))


def _real(dtype: np.dtype) -> np.dtype:
    return np.finfo(dtype).dtype  # float32 for complex64, float64 for complex128


def _check_matrices(name: str, *avals: AbstractArray, square: bool = True) -> None:
    """Operands are stacks of (square) matrices with one supported dtype."""
    for aval in avals:
        if aval.dtype not in LINALG_DTYPES:
            raise DtypeError(f"{name}: needs float32, float64, complex64 or complex128 operands, "
                             f"got {aval!r}", "use funcgrad.numpy.linalg, which converts as NumPy does")
        if aval.dtype != avals[0].dtype:
            raise DtypeError(f"{name}: operands must have equal dtypes, got "
                             + " ".join(repr(a) for a in avals))
        if aval.ndim < 2 or (square and aval.shape[-1] != aval.shape[-2]):
            kind = "square matrices (..., n, n)" if square else "matrices (..., m, n)"
            raise ShapeError(f"{name}: needs a stack of {kind}, got {aval!r}")


def _same_aval(name: str):
    def abstract_eval(a):
        _check_matrices(name, a)
        return a.strong()

    return abstract_eval


@primitive("cholesky", _same_aval("cholesky"))
def cholesky(xp, a):
    """The lower Cholesky factor ``l`` of each matrix: ``a = l @ l.conj().T``."""
    return xp.linalg.cholesky(a)


@primitive("inv", _same_aval("inv"))
def inv(xp, a):
    """The inverse of each matrix."""
    return xp.linalg.inv(a)


def _det_aval(a):
    _check_matrices("det", a)
    return AbstractArray(a.shape[:-2], a.dtype)


@primitive("det", _det_aval)
def det(xp, a):
    """The determinant of each matrix."""
    return xp.linalg.det(a)


def _slogdet_aval(a):
    _check_matrices("slogdet", a)
    batch = a.shape[:-2]
    return [AbstractArray(batch, a.dtype), AbstractArray(batch, _real(a.dtype))]


@primitive("slogdet", _slogdet_aval, multiple_results=True)
def slogdet(xp, a):
    """The sign and the log of the absolute value of each determinant."""
    sign, logabsdet = xp.linalg.slogdet(a)
    return sign, logabsdet


def _qr_aval(a, *, full_matrices):
    _check_matrices("qr", a, square=False)
    *batch, m, n = a.shape
    k = m if full_matrices else min(m, n)
    return [AbstractArray((*batch, m, k), a.dtype), AbstractArray((*batch, k, n), a.dtype)]


@primitive("qr", _qr_aval, multiple_results=True)
def qr(xp, a, *, full_matrices):
    """``q, r`` with ``a = q @ r``, ``q`` orthonormal columns, ``r`` upper triangular;
    ``full_matrices`` makes ``q`` square (NumPy's ``mode='complete'``)."""
    q, r = xp.linalg.qr(a, mode="complete" if full_matrices else "reduced")
    return q, r


def _svd_aval(a, *, full_matrices, compute_uv):
    _check_matrices("svd", a, square=False)
    *batch, m, n = a.shape
    k = min(m, n)
    s = AbstractArray((*batch, k), _real(a.dtype))
    if not compute_uv:
        return [s]
    u_cols, vh_rows = (m, n) if full_matrices else (k, k)
    return [AbstractArray((*batch, m, u_cols), a.dtype), s, AbstractArray((*batch, vh_rows, n), a.dtype)]


@primitive("svd", _svd_aval, multiple_results=True)
def svd(xp, a, *, full_matrices, compute_uv):
    """Singular values ``s`` (descending), with ``compute_uv`` also ``u`` and ``vh``
    (results ``u, s, vh``, with ``a = u @ diag(s) @ vh``)."""
    if not compute_uv:
        return (xp.linalg.svd(a, compute_uv=False),)
    u, s, vh = xp.linalg.svd(a, full_matrices=full_matrices)
    return u, s, vh


def _eigh_aval(a, *, lower):
    _check_matrices("eigh", a)
    return [AbstractArray(a.shape[:-1], _real(a.dtype)), a.strong()]


@primitive("eigh", _eigh_aval, multiple_results=True)
def eigh(xp, a, *, lower):
    """Eigenvalues (ascending) and eigenvectors (columns) of each Hermitian matrix,
    read from its ``lower`` (or upper) triangle."""
    w, v = xp.linalg.eigh(a, UPLO="L" if lower else "U")
    return w, v


def _solve_aval(name: str, a, b, left_side: bool = True):
    _check_matrices(name, a)
    _check_matrices(name, a, b, square=False)  # and equal dtypes
    n = a.shape[-1]
    if a.shape[:-2] != b.shape[:-2] or b.shape[-2 if left_side else -1] != n:
        side = "(..., n, k)" if left_side else "(..., k, n)"
        raise ShapeError(f"{name}: needs a of shape (..., n, n) and b of shape {side} with the same "
                         f"batch dimensions, got {a!r} and {b!r}")
    return b.strong()


@primitive("solve", lambda a, b: _solve_aval("solve", a, b))
def solve(xp, a, b):
    """``x`` with ``a @ x = b`` for each matrix ``a`` and matrix ``b``."""
    return xp.linalg.solve(a, b)


def _triangular_solve_aval(a, b, *, left_side, lower, transpose_a, unit_diagonal):
    return _solve_aval("triangular_solve", a, b, left_side)


@primitive("triangular_solve", _triangular_solve_aval)
def triangular_solve(xp, a, b, *, left_side, lower, transpose_a, unit_diagonal):
    """``x`` with ``op(a) @ x = b`` (``left_side``) or ``x @ op(a) = b``, where
    ``op(a)`` is the ``lower`` (or upper) triangle of ``a``, with ones on the
    diagonal if ``unit_diagonal``, transposed if ``transpose_a``."""
    n = a.shape[-1]
    # NumPy has no triangular solver: a general solve on the masked triangle.
    triangle = xp.tril(a) if lower else xp.triu(a)
    if unit_diagonal:
        triangle = xp.where(xp.eye(n, dtype=bool), xp.ones((), a.dtype), triangle)
    if transpose_a:
        triangle = xp.swapaxes(triangle, -1, -2)
    if left_side:
        return xp.linalg.solve(triangle, b)
    # x @ t = b  <=>  t.T @ x.T = b.T
    return xp.swapaxes(xp.linalg.solve(xp.swapaxes(triangle, -1, -2), xp.swapaxes(b, -1, -2)), -1, -2)


# ---------------------------------------------------------------- derivative rules
# Tangents only meet linear operations: contractions with primal-derived
# matrices, triangular_solve / solve with the tangent as right-hand side,
# products with constant or primal-derived masks.  The rules of the
# decompositions that are not holomorphic (cholesky, qr, svd, eigh, slogdet)
# take real matrices only: complex ones need conjugate transposes.


def bilinear_jvp(primitive):
    """The JVP rule of a primitive linear in each of its two operands:
    ``p(t_x, y) + p(x, t_y)``.

    Example:
        >>> x, y = np.ones((1, 2)), np.ones((2, 1))
        >>> bilinear_jvp(dot_general)([x, y], [x, 2 * y], dimension_numbers=(((1,), (0,)), ((), ())))
        (array([[2.]]), array([[6.]]))
    """

    def jvp(primals, tangents, **params):
        (x, y), (t_x, t_y) = primals, tangents
        out = primitive.bind(x, y, **params)
        t_out = Zero(tangent_aval(aval_of(out)))
        if not isinstance(t_x, Zero):
            t_out = add_tangents(t_out, primitive.bind(t_x, y, **params))
        if not isinstance(t_y, Zero):
            t_out = add_tangents(t_out, primitive.bind(x, t_y, **params))
        return out, t_out

    return jvp


def _permute(x, permutation: tuple[int, ...]):
    if permutation == tuple(range(len(permutation))):
        return x
    return structural.transpose.bind(x, permutation=permutation)


def _dot_cotangent(ct, x_aval, other, x_dims, other_dims, x_first: bool):
    """The cotangent of one operand ``x`` of ``dot_general``: ``ct`` contracted
    with the other operand over the other's free dimensions, then permuted
    back to ``x``'s layout.  ``*_dims`` are (contracting, batch) pairs."""
    (x_contract, x_batch), (o_contract, o_batch) = x_dims, other_dims
    x_free = _free_dims(x_aval.ndim, x_contract, x_batch)
    o_free = _free_dims(aval_of(other).ndim, o_contract, o_batch)
    n_batch = len(x_batch)
    # ct is (batch, lhs free, rhs free): where the other operand's free dims sit.
    start = n_batch + len(x_free) if x_first else n_batch
    ct_o_free = tuple(range(start, start + len(o_free)))
    y = dot_general.bind(ct, other, dimension_numbers=((ct_o_free, o_free),
                                                       (tuple(range(n_batch)), o_batch)))
    # y is (batch, x free, the other's contracting dims in order): x's dims in that order.
    source = x_batch + x_free + tuple(x_contract[o_contract.index(d)] for d in sorted(o_contract))
    return _permute(y, tuple(np.argsort(source)))


def _dot_general_transpose(ct, lhs, rhs, *, dimension_numbers):
    (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dimension_numbers
    lhs_dims, rhs_dims = (lhs_contract, lhs_batch), (rhs_contract, rhs_batch)
    if is_linear(lhs):
        return [_dot_cotangent(ct, lhs.aval, rhs, lhs_dims, rhs_dims, x_first=True), None]
    return [None, _dot_cotangent(ct, rhs.aval, lhs, rhs_dims, lhs_dims, x_first=False)]


# Helpers over stacks of matrices (..., m, n).


def _mT(x):
    """Swap the last two axes."""
    nd = aval_of(x).ndim
    return _permute(x, (*range(nd - 2), nd - 1, nd - 2))


def _matmul(a, b):
    """Batched matrix product (equal batch dimensions)."""
    nd = aval_of(a).ndim
    batch = tuple(range(nd - 2))
    return dot_general.bind(a, b, dimension_numbers=(((nd - 1,), (nd - 2,)), (batch, batch)))


def _spread(v, shape: tuple[int, ...], dims: tuple[int, ...]):
    """``v`` broadcast to ``shape`` along ``dims`` (nothing to do if it has that shape)."""
    if aval_of(v).shape == shape:
        return v
    return structural.broadcast_in_dim.bind(v, shape=shape, broadcast_dimensions=dims)


def _scale(x, weights):
    """``x * weights``, ``weights`` an ``(m, n)`` constant applied to every matrix."""
    aval = aval_of(x)
    return _mul(x, _spread(np.asarray(weights, aval.dtype), aval.shape, (aval.ndim - 2, aval.ndim - 1)))


def _scale_columns(x, v):
    """``x * v[..., None, :]``: column ``j`` times ``v[..., j]``."""
    aval = aval_of(x)
    return _mul(x, _spread_vector(v, aval, aval.ndim - 1))


def _scale_rows(x, v):
    """``x * v[..., :, None]``: row ``i`` times ``v[..., i]``."""
    aval = aval_of(x)
    return _mul(x, _spread_vector(v, aval, aval.ndim - 2))


def _spread_vector(v, aval: AbstractArray, axis: int):
    return structural.broadcast_in_dim.bind(v, shape=aval.shape,
                                            broadcast_dimensions=(*range(aval.ndim - 2), axis))


def _diagonal(x):
    """The diagonals ``(..., n)``: a contraction of each row with the identity's."""
    aval = aval_of(x)
    nd = aval.ndim
    eye = _spread(np.eye(aval.shape[-1], dtype=aval.dtype), aval.shape, (nd - 2, nd - 1))
    rows = tuple(range(nd - 1))
    return dot_general.bind(x, eye, dimension_numbers=(((nd - 1,), (nd - 1,)), (rows, rows)))


def _inner(x, y):
    """``sum(x * y)`` over the last two axes (``trace(x.T @ y)``)."""
    nd = aval_of(x).ndim
    matrix, batch = (nd - 2, nd - 1), tuple(range(nd - 2))
    return dot_general.bind(x, y, dimension_numbers=((matrix, matrix), (batch, batch)))


def _triangle_weights(n: int, lower: bool, diagonal: float) -> np.ndarray:
    """Ones strictly below (``lower``) or above the diagonal, ``diagonal`` on it."""
    w = np.tril(np.ones((n, n)), -1) + diagonal * np.eye(n)
    return w if lower else w.T


def _symmetric_from_triangle(t, lower: bool):
    """The symmetric matrix that a routine reading only the ``lower`` (or upper)
    triangle of ``t`` sees: equal to ``t`` for symmetric ``t``."""
    half = _scale(t, _triangle_weights(aval_of(t).shape[-1], lower, 0.5))
    return _add(half, _mT(half))


def _inverse_gaps(x):
    """``1 / (x[..., j] - x[..., i])`` off the diagonal, 0 on it (from primal values)."""
    eye = np.eye(aval_of(x).shape[-1], dtype=bool)
    gaps = fnp.expand_dims(x, -2) - fnp.expand_dims(x, -1)
    return fnp.where(eye, 0, 1 / fnp.where(eye, 1, gaps))


def _add(x, y):
    return ew.PRIMITIVE_OF_ROW["add"].bind(x, y)


def _neg(x):
    return ew.PRIMITIVE_OF_ROW["neg"].bind(x)


def _sub(x, y):
    return ew.PRIMITIVE_OF_ROW["sub"].bind(x, y)


def _mul(x, y):
    return ew.PRIMITIVE_OF_ROW["mul"].bind(x, y)


def _unsupported(message: str, hint: str = "differentiate the reduced form (full_matrices=False)"):
    from funcgrad.transforms.autodiff import MissingRuleError

    return MissingRuleError(message, hint)


def _check_real(name: str, a) -> None:
    if aval_of(a).dtype.kind == "c":
        raise _unsupported(f"{name}: no derivative for complex matrices yet (it needs conjugate "
                           "transposes)", "differentiate with real and imaginary parts as separate "
                           "real matrices, or open an issue")


def _triangular_solve_jvp(primals, tangents, **params):
    (a, b), (t_a, t_b) = primals, tangents
    x = triangular_solve.bind(a, b, **params)
    t_x = Zero(tangent_aval(aval_of(x)))
    if not isinstance(t_b, Zero):
        t_x = triangular_solve.bind(a, t_b, **params)
    if not isinstance(t_a, Zero):
        # op(a) x = b  =>  d x = -op(a)^-1 d op(a) x, with d op(a) the part of t_a that is read.
        diagonal = 0.0 if params["unit_diagonal"] else 1.0
        t_op = _scale(t_a, _triangle_weights(aval_of(a).shape[-1], params["lower"], diagonal))
        t_op = _mT(t_op) if params["transpose_a"] else t_op
        product = _matmul(t_op, x) if params["left_side"] else _matmul(x, t_op)
        t_x = add_tangents(t_x, _neg(triangular_solve.bind(a, product, **params)))
    return x, t_x


def _triangular_solve_transpose(ct, a, b, *, left_side, lower, transpose_a, unit_diagonal):
    return [None, triangular_solve.bind(a, ct, left_side=left_side, lower=lower,
                                        transpose_a=not transpose_a, unit_diagonal=unit_diagonal)]


def _solve_jvp(primals, tangents):
    (a, b), (t_a, t_b) = primals, tangents
    x = solve.bind(a, b)
    if isinstance(t_a, Zero):  # then t_b is not
        return x, solve.bind(a, t_b)
    rhs = _neg(_matmul(t_a, x)) if isinstance(t_b, Zero) else _sub(t_b, _matmul(t_a, x))
    return x, solve.bind(a, rhs)  # d x = a^-1 (d b - d a x)


def _solve_transpose(ct, a, b):
    return [None, solve.bind(_mT(a), ct)]


def _cholesky_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    _check_real("cholesky", a)
    lower = cholesky.bind(a)
    solve_params = dict(lower=True, unit_diagonal=False)
    # L^-1 dA L^-T, then L times its lower triangle with the diagonal halved.
    s = triangular_solve.bind(lower, _symmetric_from_triangle(t, lower=True), left_side=True,
                              transpose_a=False, **solve_params)
    s = triangular_solve.bind(lower, s, left_side=False, transpose_a=True, **solve_params)
    return lower, _matmul(lower, _scale(s, _triangle_weights(aval_of(a).shape[-1], True, 0.5)))


def _inv_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    a_inv = inv.bind(a)
    return a_inv, _neg(_matmul(_matmul(a_inv, t), a_inv))


def _det_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    d = det.bind(a)
    return d, _mul(d, _inner(_mT(inv.bind(a)), t))  # det(a) trace(a^-1 da)


def _slogdet_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    _check_real("slogdet", a)
    sign, logabsdet = slogdet.bind(a)
    return [sign, logabsdet], [Zero(tangent_aval(aval_of(sign))), _inner(_mT(inv.bind(a)), t)]


def _qr_square_jvp(q, r, t):
    """The tangents of ``q, r`` for ``a = q r`` with ``r`` square (``m >= n``):
    ``q^T dq`` is skew-symmetric and ``dr r^-1`` upper triangular, which
    splits ``q^T da r^-1`` in two (J. Townsend, "Differentiating the QR
    decomposition", 2018)."""
    da_rinv = triangular_solve.bind(r, t, left_side=False, lower=False, transpose_a=False,
                                    unit_diagonal=False)
    qt_da_rinv = _matmul(_mT(q), da_rinv)
    below = _scale(qt_da_rinv, _triangle_weights(aval_of(r).shape[-1], True, 0.0))
    skew = _sub(below, _mT(below))
    dq = _add(_matmul(q, _sub(skew, qt_da_rinv)), da_rinv)
    return dq, _matmul(_sub(qt_da_rinv, skew), r)


def _columns(x, start: int, stop: int):
    """Columns ``start:stop`` of each matrix."""
    shape = aval_of(x).shape
    nd = len(shape)
    return structural.slice_.bind(x, start_indices=(0,) * (nd - 1) + (start,),
                                  limit_indices=(*shape[:-1], stop), strides=(1,) * nd)


def _qr_jvp(primals, tangents, *, full_matrices):
    (a,), (t,) = primals, tangents
    _check_real("qr", a)
    q, r = qr.bind(a, full_matrices=full_matrices)
    *_, m, n = aval_of(a).shape
    if full_matrices and m > n:
        raise _unsupported(f"qr: no derivative for full_matrices=True with more rows than columns "
                           f"({m} > {n}): the extra columns of q are not determined by a")
    if m >= n:
        return [q, r], list(_qr_square_jvp(q, r, t))
    # Wide: a = q [r1 r2] with q r1 the QR of the first m columns, and r2 = q^T a2.
    dq, dr1 = _qr_square_jvp(q, _columns(r, 0, m), _columns(t, 0, m))
    dr2 = _sub(_matmul(_mT(q), _columns(t, m, n)), _matmul(_matmul(_mT(q), dq), _columns(r, m, n)))
    return [q, r], [dq, structural.concatenate.bind(dr1, dr2, dimension=aval_of(a).ndim - 1)]


def _svd_jvp(primals, tangents, *, full_matrices, compute_uv):
    (a,), (t,) = primals, tangents
    _check_real("svd", a)
    *_, m, n = aval_of(a).shape
    if compute_uv and full_matrices and m != n:
        raise _unsupported(f"svd: no derivative for full_matrices=True on a non-square matrix "
                           f"({m}x{n}): the extra singular vectors are not determined by a")
    out = svd.bind(a, full_matrices=full_matrices, compute_uv=compute_uv)
    u, s, vh = out if compute_uv else svd.bind(a, full_matrices=False, compute_uv=True)
    v = _mT(vh)
    ds_matrix = _matmul(_matmul(_mT(u), t), v)  # u^T da v
    ds = _diagonal(ds_matrix)
    if not compute_uv:
        return out, [ds]
    # The off-diagonal parts of u^T du and v^T dv (skew-symmetric), from u^T da v.
    gaps = _inverse_gaps(s * s)
    ds_s, s_ds = _scale_columns(ds_matrix, s), _scale_rows(ds_matrix, s)
    du = _matmul(u, _mul(gaps, _add(ds_s, _mT(ds_s))))
    dv = _matmul(v, _mul(gaps, _add(s_ds, _mT(s_ds))))
    # The parts outside the span of u (tall) or v (wide).
    if m > n:
        da_v = _matmul(t, v)
        du = _add(du, _scale_columns(_sub(da_v, _matmul(u, _matmul(_mT(u), da_v))), 1 / s))
    elif n > m:
        dat_u = _matmul(_mT(t), u)
        dv = _add(dv, _scale_columns(_sub(dat_u, _matmul(v, _matmul(vh, dat_u))), 1 / s))
    return out, [du, ds, _mT(dv)]


def _eigh_jvp(primals, tangents, *, lower):
    (a,), (t,) = primals, tangents
    _check_real("eigh", a)
    w, v = eigh.bind(a, lower=lower)
    vt_da_v = _matmul(_mT(v), _matmul(_symmetric_from_triangle(t, lower), v))
    return [w, v], [_diagonal(vt_da_v), _matmul(v, _mul(_inverse_gaps(w), vt_da_v))]


dot_general.jvp = bilinear_jvp(dot_general)
dot_general.transpose = _dot_general_transpose
triangular_solve.jvp = _triangular_solve_jvp
triangular_solve.transpose = _triangular_solve_transpose
solve.jvp = _solve_jvp
solve.transpose = _solve_transpose
for _primitive, _jvp in [(cholesky, _cholesky_jvp), (inv, _inv_jvp), (det, _det_jvp),
                         (slogdet, _slogdet_jvp), (qr, _qr_jvp), (svd, _svd_jvp), (eigh, _eigh_jvp)]:
    _primitive.jvp = _jvp


# ---------------------------------------------------------------- batching rules
# dot_general maps over its own batch dimensions: the vmap's axis becomes one
# when both operands vary, and a free dimension when one does.  The
# decompositions already map over leading dimensions; a solver whose matrix is
# shared solves every member's right-hand side at once, as extra columns.


def _past(axes: tuple[int, ...], dim: int | None) -> tuple[int, ...]:
    """Axes of an unbatched operand once its batch dimension ``dim`` is inserted."""
    return axes if dim is None else tuple(a + (a >= dim) for a in axes)


def _dot_general_batch(ctx, args, dims, *, dimension_numbers):
    (lhs, rhs), (lhs_dim, rhs_dim) = args, dims
    (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dimension_numbers
    lhs_contract, lhs_batch = _past(lhs_contract, lhs_dim), _past(lhs_batch, lhs_dim)
    rhs_contract, rhs_batch = _past(rhs_contract, rhs_dim), _past(rhs_batch, rhs_dim)
    if lhs_dim is not None and rhs_dim is not None:
        numbers = ((lhs_contract, rhs_contract), ((lhs_dim, *lhs_batch), (rhs_dim, *rhs_batch)))
        return dot_general.bind(lhs, rhs, dimension_numbers=numbers), 0
    out = dot_general.bind(lhs, rhs, dimension_numbers=((lhs_contract, rhs_contract),
                                                        (lhs_batch, rhs_batch)))
    # The output is (batch, lhs free, rhs free): find the vmap's axis among the free ones.
    lhs_free = _free_dims(aval_of(lhs).ndim, lhs_contract, lhs_batch)
    if lhs_dim is not None:
        return out, len(lhs_batch) + lhs_free.index(lhs_dim)
    rhs_free = _free_dims(aval_of(rhs).ndim, rhs_contract, rhs_batch)
    return out, len(lhs_batch) + len(lhs_free) + rhs_free.index(rhs_dim)


def _merge_pair(x, axis: int):
    """``x`` with axes ``axis`` and ``axis + 1`` merged into one."""
    shape = aval_of(x).shape
    return structural.reshape.bind(
        x, new_sizes=(*shape[:axis], shape[axis] * shape[axis + 1], *shape[axis + 2:]))


def _solver_batch(primitive):
    """The rule of ``solve`` / ``triangular_solve``: with ``a`` shared, the
    members' ``b`` are more columns (rows for ``left_side=False``) of one
    right-hand side, so ``a`` is factored once; otherwise map over leading dims."""
    mapped = leading_batch(primitive)

    def batch(ctx, args, dims, **params):
        (a, b), (a_dim, b_dim) = args, dims
        if a_dim is not None:
            return mapped(ctx, args, dims, **params)
        # (..., n, B, k) -> (..., n, B*k) on the left; (..., B, k, n) -> (..., B*k, n) on the right.
        axis = aval_of(a).ndim - (1 if params.get("left_side", True) else 2)
        b = moveaxis_to(b, b_dim, axis)
        x = primitive.bind(a, _merge_pair(b, axis), **params)
        return structural.reshape.bind(x, new_sizes=aval_of(b).shape), axis

    return batch


dot_general.batch = _dot_general_batch
for _primitive in (solve, triangular_solve):
    _primitive.batch = _solver_batch(_primitive)
for _primitive in (cholesky, inv, det, slogdet, qr, svd, eigh):
    _primitive.batch = leading_batch(_primitive)
