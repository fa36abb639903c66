"""``funcgrad.numpy.linalg``: ``numpy.linalg``, traceable.

Each function converts its operands as NumPy does (integers and booleans to
float64, float32 stays float32, float16 is refused), checks shapes with
NumPy's ``LinAlgError``, then binds the decomposition primitives of
``funcgrad.primitives.linalg``.  Results are NumPy's own named tuples
(``SlogdetResult``, ``QRResult``, ``SVDResult``, ``EighResult``).

Example:
    >>> import funcgrad as fg, funcgrad.numpy as fnp
    >>> print(fg.make_ir(lambda a: fnp.linalg.slogdet(a).logabsdet)(np.eye(2, dtype=np.float32)))
    { lambda a:f32[2,2] .
      b:f32[] c:f32[] = slogdet a
      in (c) }
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.linalg._linalg import EighResult, QRResult, SlogdetResult, SVDResult

from funcgrad.errors import DtypeError, ShapeError, UnsupportedNumpyFunctionError
from funcgrad.numpy import contractions, ufuncs
from funcgrad.numpy._core import (
    aval_of,
    broadcast_shapes,
    broadcast_to,
    convert,
    implements,
    ndim_of,
    normalize_axis,
    reshape,
    shape_of,
)
from funcgrad.numpy.contractions import as_array, conj_if_complex, reject_out
from funcgrad.primitives import linalg as primitives
from funcgrad.primitives import structural

__all__ = ["cholesky", "det", "diagonal", "eigh", "eigvalsh", "inv", "matmul", "matrix_norm",
           "matrix_power", "matrix_rank", "matrix_transpose", "multi_dot", "norm", "outer", "pinv",
           "qr", "slogdet", "solve", "svd", "svdvals", "tensordot", "trace", "vecdot", "vector_norm"]


class LinAlgError(ShapeError, np.linalg.LinAlgError):
    """A shape ``numpy.linalg`` refuses: ``except np.linalg.LinAlgError`` catches it."""


def _implements(numpy_function: Callable):
    """``implements`` under a ``linalg.`` key, so ``linalg.matmul`` is not ``fnp.matmul``."""

    def declare(traced: Callable) -> Callable:
        fn = implements(numpy_function, name=f"linalg.{traced.__name__}")(traced)
        fn.__name__ = fn.__qualname__ = traced.__name__
        fn.__module__ = __name__
        return fn

    return declare


def _fnp():
    import funcgrad.numpy as fnp  # the reductions and manipulations, at call time

    return fnp


# ---------------------------------------------------------------- dtypes and shapes


def _result_type(name: str, *values: Any) -> np.dtype:
    """NumPy's ``_commonType``: float32/complex64 stay, everything else is double."""
    dtypes = [aval_of(v).dtype for v in values]
    for dtype in dtypes:
        if dtype.kind in "fc" and dtype not in primitives.LINALG_DTYPES:
            raise DtypeError(f"{name}: array type {dtype.name} is unsupported in linalg",
                             "convert to float32 or float64 first")
    single = all(d in (np.float32, np.complex64) for d in dtypes)
    complex_ = any(d.kind == "c" for d in dtypes)
    return np.dtype({(True, False): np.float32, (False, False): np.float64,
                     (True, True): np.complex64, (False, True): np.complex128}[single, complex_])


def _as_float(name: str, *values: Any) -> list[Any]:
    dtype = _result_type(name, *values)
    return [convert(as_array(v), dtype) for v in values]


def _stacked(name: str, x: Any, square: bool = True) -> None:
    shape = shape_of(x)
    if len(shape) < 2:
        raise LinAlgError(f"{name}: {len(shape)}-dimensional array given. Array must be at least "
                          "two-dimensional")
    if square and shape[-1] != shape[-2]:
        raise LinAlgError(f"{name}: Last 2 dimensions of the array must be square, got shape {shape}")


def _swap_last(x: Any) -> Any:
    n = ndim_of(x)
    return contractions.permute(x, (*range(n - 2), n - 1, n - 2))


def _moveaxes_last(x: Any, axes: Sequence[int]) -> Any:
    rest = [d for d in range(ndim_of(x)) if d not in axes]
    return contractions.permute(x, (*rest, *axes))


def _unary(name: str, primitive, a: Any) -> Any:
    (a,) = _as_float(name, a)
    _stacked(name, a)
    return primitive.bind(a)


def _check_uplo(uplo: str) -> bool:
    """True for the lower triangle."""
    uplo = uplo.upper()
    if uplo not in ("L", "U"):
        raise ValueError("UPLO argument must be 'L' or 'U'")
    return uplo == "L"


# ---------------------------------------------------------------- decompositions


@_implements(np.linalg.inv)
def inv(a: Any) -> Any:
    return _unary("inv", primitives.inv, a)


@_implements(np.linalg.det)
def det(a: Any) -> Any:
    return _unary("det", primitives.det, a)


@_implements(np.linalg.slogdet)
def slogdet(a: Any) -> SlogdetResult:
    return SlogdetResult(*_unary("slogdet", primitives.slogdet, a))


@_implements(np.linalg.cholesky)
def cholesky(a: Any, /, *, upper: bool = False) -> Any:
    lower = _unary("cholesky", primitives.cholesky, a)
    return conj_if_complex(_swap_last(lower)) if upper else lower


@_implements(np.linalg.solve)
def solve(a: Any, b: Any) -> Any:
    a, b = _as_float("solve", a, b)
    _stacked("solve", a)
    n = shape_of(a)[-1]
    b_shape = shape_of(b)
    vector = len(b_shape) == 1  # NumPy 2: only a 1-d b is a vector
    b_rows = b_shape[0] if vector else (b_shape[-2] if len(b_shape) >= 2 else None)
    if b_rows != n:
        raise ShapeError(f"solve: b of shape {b_shape} does not fit a of shape {shape_of(a)}: needs "
                         f"(..., {n}, k) or ({n},)")
    if vector:
        b = reshape(b, (n, 1))
    batch = broadcast_shapes("solve", shape_of(a)[:-2], shape_of(b)[:-2])
    a = broadcast_to(a, batch + (n, n))
    b = broadcast_to(b, batch + tuple(shape_of(b)[-2:]))
    x = primitives.solve.bind(a, b)
    return reshape(x, batch + (n,)) if vector else x


_QR_MODES = {"reduced": False, "complete": True, "r": False}


@_implements(np.linalg.qr)
def qr(a: Any, mode: str = "reduced") -> Any:
    if mode not in _QR_MODES:
        if mode in ("raw", "economic", "e", "f", "full"):
            raise UnsupportedNumpyFunctionError(f"qr: mode={mode!r} is not supported on traced arrays",
                                                "use mode='reduced', 'complete' or 'r'")
        raise ValueError(f"Unrecognized mode '{mode}'")
    (a,) = _as_float("qr", a)
    _stacked("qr", a, square=False)
    q, r = primitives.qr.bind(a, full_matrices=_QR_MODES[mode])
    return r if mode == "r" else QRResult(q, r)


@_implements(np.linalg.svd)
def svd(a: Any, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False) -> Any:
    if hermitian:
        return _hermitian_svd(a, compute_uv)
    (a,) = _as_float("svd", a)
    _stacked("svd", a, square=False)
    # Without u and vh, full_matrices means nothing: one param set for one computation.
    results = primitives.svd.bind(a, full_matrices=bool(full_matrices and compute_uv),
                                  compute_uv=bool(compute_uv))
    return SVDResult(*results) if compute_uv else results[0]


def _hermitian_svd(a: Any, compute_uv: bool) -> Any:
    """NumPy's ``svd(hermitian=True)``: from ``eigh``, by decreasing ``|eigenvalue|``."""
    fnp = _fnp()
    if not compute_uv:
        s = ufuncs.absolute(eigvalsh(a))
        return structural.rev.bind(fnp.sort(s, axis=-1), dimensions=(ndim_of(s) - 1,))
    s, u = eigh(a)
    sign = ufuncs.copysign(1.0, s)  # never zero
    s = ufuncs.absolute(s)
    order = structural.rev.bind(fnp.argsort(s, axis=-1), dimensions=(ndim_of(s) - 1,))
    sign = fnp.take_along_axis(sign, order, axis=-1)
    s = fnp.take_along_axis(s, order, axis=-1)
    u = fnp.take_along_axis(u, fnp.expand_dims(order, -2), axis=-1)
    vh = conj_if_complex(_swap_last(ufuncs.multiply(u, fnp.expand_dims(sign, -2))))
    return SVDResult(u, s, vh)


@_implements(np.linalg.svdvals)
def svdvals(x: Any, /) -> Any:
    return svd(x, compute_uv=False)


@_implements(np.linalg.eigh)
def eigh(a: Any, UPLO: str = "L") -> EighResult:
    lower = _check_uplo(UPLO)
    (a,) = _as_float("eigh", a)
    _stacked("eigh", a)
    return EighResult(*primitives.eigh.bind(a, lower=lower))


@_implements(np.linalg.eigvalsh)
def eigvalsh(a: Any, UPLO: str = "L") -> Any:
    return eigh(a, UPLO).eigenvalues


# ---------------------------------------------------------------- products


@_implements(np.linalg.matrix_power)
def matrix_power(a: Any, n: int) -> Any:
    a = as_array(a)
    _stacked("matrix_power", a)
    try:
        n = operator.index(n)
    except TypeError as e:
        raise TypeError("exponent must be an integer") from e
    if n == 0:
        return broadcast_to(_identity(shape_of(a)[-1], aval_of(a).dtype), shape_of(a))
    if n < 0:
        a, n = inv(a), -n
    # NumPy's order of products, so float results agree to the last bit.
    if n <= 3:
        return functools.reduce(contractions.matmul, [a] * n)
    power = result = None
    while n > 0:
        power = a if power is None else contractions.matmul(power, power)
        n, bit = divmod(n, 2)
        if bit:
            result = power if result is None else contractions.matmul(result, power)
    return result


def _identity(n: int, dtype: np.dtype) -> Any:
    rows = structural.iota.bind(dtype=np.dtype(np.int64), shape=(n, n), dimension=0)
    cols = structural.iota.bind(dtype=np.dtype(np.int64), shape=(n, n), dimension=1)
    return convert(ufuncs.equal(rows, cols), dtype)


@_implements(np.linalg.multi_dot)
def multi_dot(arrays: Sequence[Any], *, out: Any = None) -> Any:
    reject_out("multi_dot", out)
    arrays = [as_array(x) for x in arrays]
    if len(arrays) < 2:
        raise ValueError("Expecting at least two arrays.")
    if len(arrays) == 2:
        return contractions.dot(*arrays)
    first_ndim, last_ndim = ndim_of(arrays[0]), ndim_of(arrays[-1])
    if first_ndim == 1:
        arrays[0] = reshape(arrays[0], (1, *shape_of(arrays[0])))
    if last_ndim == 1:
        arrays[-1] = reshape(arrays[-1], (*shape_of(arrays[-1]), 1))
    for x in arrays:
        if ndim_of(x) != 2:
            raise LinAlgError(f"multi_dot: {ndim_of(x)}-dimensional array given. Array must be "
                              "two-dimensional")
    result = _chain_product(arrays, _chain_order(arrays), 0, len(arrays) - 1)
    if first_ndim == 1 or last_ndim == 1:
        return reshape(result, [s for s, keep in zip(shape_of(result), (first_ndim > 1, last_ndim > 1))
                                if keep])
    return result


def _chain_order(arrays: list[Any]) -> dict[tuple[int, int], int]:
    """The cheapest parenthesization (Cormen's matrix-chain order): split point per (i, j)."""
    dims = [shape_of(x)[0] for x in arrays] + [shape_of(arrays[-1])[1]]
    n = len(arrays)
    cost = {(i, i): 0 for i in range(n)}
    split = {}
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i, j] = math.inf
            for k in range(i, j):
                c = cost[i, k] + cost[k + 1, j] + dims[i] * dims[k + 1] * dims[j + 1]
                if c < cost[i, j]:
                    cost[i, j], split[i, j] = c, k
    return split


def _chain_product(arrays: list[Any], split: dict, i: int, j: int) -> Any:
    if i == j:
        return arrays[i]
    k = split[i, j]
    return contractions.dot(_chain_product(arrays, split, i, k), _chain_product(arrays, split, k + 1, j))


@_implements(np.linalg.matmul)
def matmul(x1: Any, x2: Any, /) -> Any:
    return contractions.matmul(x1, x2)


@_implements(np.linalg.outer)
def outer(x1: Any, x2: Any, /) -> Any:
    if ndim_of(x1) != 1 or ndim_of(x2) != 1:
        raise ValueError(f"Input arrays must be one-dimensional, but they are x1.ndim={ndim_of(x1)} "
                         f"and x2.ndim={ndim_of(x2)}.")
    return contractions.outer(x1, x2)


@_implements(np.linalg.tensordot)
def tensordot(x1: Any, x2: Any, /, *, axes: Any = 2) -> Any:
    return contractions.tensordot(x1, x2, axes)


@_implements(np.linalg.vecdot)
def vecdot(x1: Any, x2: Any, /, *, axis: int = -1) -> Any:
    return contractions.vecdot(x1, x2, axis=axis)


@_implements(np.linalg.matrix_transpose)
def matrix_transpose(x: Any, /) -> Any:
    if ndim_of(x) < 2:
        raise ValueError("Input array must be at least 2-dimensional")
    return _swap_last(as_array(x))


@_implements(np.linalg.diagonal)
def diagonal(x: Any, /, *, offset: int = 0) -> Any:
    return _fnp().diagonal(as_array(x), offset, -2, -1)


@_implements(np.linalg.trace)
def trace(x: Any, /, *, offset: int = 0, dtype: Any = None) -> Any:
    return contractions.trace(x, offset, -2, -1, dtype)


# ---------------------------------------------------------------- pinv and rank


def _where(condition: Any, x: Any, otherwise: float) -> Any:
    return structural.select.bind(condition, x, broadcast_to(convert(otherwise, aval_of(x).dtype),
                                                                  shape_of(x)))


def _expand_last(x: Any) -> Any:
    x = as_array(x)
    return reshape(x, (*shape_of(x), 1))


@_implements(np.linalg.pinv)
def pinv(a: Any, rcond: Any = None, hermitian: bool = False, *, rtol: Any = np._NoValue) -> Any:
    a = as_array(a)
    if rcond is None:
        if rtol is np._NoValue:
            rcond = 1e-15
        elif rtol is None:
            rcond = max(shape_of(a)[-2:]) * np.finfo(aval_of(a).dtype).eps
        else:
            rcond = rtol
    elif rtol is not np._NoValue:
        raise ValueError("`rtol` and `rcond` can't be both set.")
    *batch, m, n = shape_of(a)
    if m * n == 0:
        return broadcast_to(convert(0, aval_of(a).dtype, weak_type=False), (*batch, n, m))
    u, s, vh = svd(conj_if_complex(a), full_matrices=False, hermitian=hermitian)
    cutoff = ufuncs.multiply(_expand_last(rcond), _fnp().max(s, axis=-1, keepdims=True))
    large = ufuncs.greater(s, cutoff)
    # 1 / s where s is large, else 0 (1 / 1 keeps the masked lanes free of division by zero).
    s_inverse = _where(large, ufuncs.divide(1, _where(large, s, 1)), 0)
    return contractions.matmul(_swap_last(vh), ufuncs.multiply(_expand_last(s_inverse), _swap_last(u)))


@_implements(np.linalg.matrix_rank)
def matrix_rank(A: Any, tol: Any = None, hermitian: bool = False, *, rtol: Any = None) -> Any:
    fnp = _fnp()
    if rtol is not None and tol is not None:
        raise ValueError("`tol` and `rtol` can't be both set.")
    A = as_array(A)
    if ndim_of(A) < 2:
        return convert(fnp.any(ufuncs.not_equal(A, 0)), np.int64)
    s = svd(A, compute_uv=False, hermitian=hermitian)
    if tol is None:
        if rtol is None:
            rtol = max(shape_of(A)[-2:]) * np.finfo(aval_of(s).dtype).eps
        else:
            rtol = _expand_last(rtol)
        tol = ufuncs.multiply(fnp.max(s, axis=-1, keepdims=True, initial=0), rtol)
    else:
        tol = _expand_last(tol)
    return fnp.count_nonzero(ufuncs.greater(s, tol), axis=-1)


# ---------------------------------------------------------------- norms


def _real_dtype(dtype: np.dtype) -> np.dtype:
    return np.finfo(dtype).dtype if dtype.kind == "c" else dtype


def _abs_squared(x: Any) -> Any:
    """``(x.conj() * x).real``."""
    if aval_of(x).dtype.kind != "c":
        return ufuncs.multiply(x, x)
    fnp = _fnp()
    return fnp.real(ufuncs.multiply(fnp.conjugate(x), x))


@_implements(np.linalg.norm)
def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    fnp = _fnp()
    x = as_array(x)
    if aval_of(x).dtype.kind not in "fc":
        x = convert(x, np.float64)
    nd = ndim_of(x)
    # NumPy's fast path: the 2-norm of everything as one dot product.
    if axis is None and (ord is None or (ord in ("f", "fro") and nd == 2) or (ord == 2 and nd == 1)):
        flat = reshape(x, (math.prod(shape_of(x)),))
        if aval_of(flat).dtype.kind == "c":
            parts = fnp.real(flat), fnp.imag(flat)
            squared = ufuncs.add(*(contractions.dot(p, p) for p in parts))
        else:
            squared = contractions.dot(flat, flat)
        result = ufuncs.sqrt(squared)
        return reshape(result, (1,) * nd) if keepdims else result
    if axis is None:
        axis = tuple(range(nd))
    elif not isinstance(axis, tuple):
        try:
            axis = int(axis)
        except Exception as e:
            raise TypeError("'axis' must be None, an integer or a tuple of integers") from e
        axis = (axis,)
    if len(axis) == 1:
        return _vector_norm(x, ord, axis, keepdims)
    if len(axis) == 2:
        return _matrix_norm(x, ord, axis, keepdims)
    raise ValueError("Improper number of dimensions to norm.")


def _vector_norm(x: Any, ord: Any, axis: tuple[int], keepdims: bool) -> Any:
    fnp = _fnp()
    if ord == np.inf:
        return fnp.max(ufuncs.absolute(x), axis=axis, keepdims=keepdims, initial=0)
    if ord == -np.inf:
        return fnp.min(ufuncs.absolute(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        nonzero = convert(ufuncs.not_equal(x, 0), _real_dtype(aval_of(x).dtype))
        return fnp.sum(nonzero, axis=axis, keepdims=keepdims)
    if ord == 1:
        return fnp.sum(ufuncs.absolute(x), axis=axis, keepdims=keepdims)
    if ord is None or ord == 2:
        return ufuncs.sqrt(fnp.sum(_abs_squared(x), axis=axis, keepdims=keepdims))
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")
    absx = ufuncs.absolute(x)
    # NumPy raises in place (absx **= ord), so each power keeps the operand's dtype.
    absx = convert(ufuncs.power(absx, ord), aval_of(absx).dtype)
    total = fnp.sum(absx, axis=axis, keepdims=keepdims)
    dtype = aval_of(total).dtype
    return convert(ufuncs.power(total, np.reciprocal(ord, dtype=dtype)), dtype)


def _matrix_norm(x: Any, ord: Any, axis: tuple[int, int], keepdims: bool) -> Any:
    fnp = _fnp()
    nd = ndim_of(x)
    row_axis, col_axis = (normalize_axis(a, nd, "norm") for a in axis)
    if row_axis == col_axis:
        raise ValueError("Duplicate axes given.")

    def singular_values():
        return svd(_moveaxes_last(x, (row_axis, col_axis)), compute_uv=False)

    def summed(over: int, reduce: Callable, other: int, **kw: Any) -> Any:
        # reduce(sum(|x|, over), other) with `other` counted after `over` is removed
        return reduce(fnp.sum(ufuncs.absolute(x), axis=over), axis=other - (other > over), **kw)

    if ord == 2:
        result = fnp.max(singular_values(), axis=-1, initial=0)
    elif ord == -2:
        result = fnp.min(singular_values(), axis=-1)
    elif ord == 1:
        result = summed(row_axis, fnp.max, col_axis, initial=0)
    elif ord == np.inf:
        result = summed(col_axis, fnp.max, row_axis, initial=0)
    elif ord == -1:
        result = summed(row_axis, fnp.min, col_axis)
    elif ord == -np.inf:
        result = summed(col_axis, fnp.min, row_axis)
    elif ord in (None, "fro", "f"):
        result = ufuncs.sqrt(fnp.sum(_abs_squared(x), axis=(row_axis, col_axis)))
    elif ord == "nuc":
        result = fnp.sum(singular_values(), axis=-1, initial=0)
    else:
        raise ValueError("Invalid norm order for matrices.")
    if keepdims:
        shape = list(shape_of(x))
        shape[axis[0]] = shape[axis[1]] = 1
        result = reshape(result, shape)
    return result


@_implements(np.linalg.matrix_norm)
def matrix_norm(x: Any, /, *, keepdims: bool = False, ord: Any = "fro") -> Any:
    return norm(x, axis=(-2, -1), keepdims=keepdims, ord=ord)


@_implements(np.linalg.vector_norm)
def vector_norm(x: Any, /, *, axis: Any = None, keepdims: bool = False, ord: Any = 2) -> Any:
    x = as_array(x)
    shape = shape_of(x)
    nd = len(shape)
    if axis is None:
        x, vector_axis = reshape(x, (math.prod(shape),)), 0
    elif isinstance(axis, tuple):
        # Any number of axes: move them first and flatten them into one.
        axes = tuple(normalize_axis(a, nd, "vector_norm") for a in axis)
        rest = [d for d in range(nd) if d not in axes]
        moved = contractions.permute(x, (*axes, *rest))
        x = reshape(moved, (math.prod(shape[a] for a in axes), *(shape[d] for d in rest)))
        vector_axis = 0
    else:
        vector_axis = axis
    result = norm(x, axis=vector_axis, ord=ord)
    if keepdims:
        kept = range(nd) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
        dropped = {normalize_axis(a, nd, "vector_norm") for a in kept}
        result = reshape(result, [1 if d in dropped else s for d, s in enumerate(shape)])
    return result
