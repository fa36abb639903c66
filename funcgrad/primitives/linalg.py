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
from funcgrad.primitives.registry import primitive

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
