"""Helpers the generated code calls, compiled by Numba and inlined into it.

Generated modules import what they use from here (and from
``funcgrad.backends.numba_math``), so Numba's disk cache can find them again
in a new process.

Example:
    >>> fmax(1.0, float("nan")), fmin(2, 3)
    (nan, 2)
"""

from __future__ import annotations

from numba import njit


@njit(inline="always")
def fmax(a, b):
    """NumPy's ``maximum`` on scalars: a NaN operand wins."""
    return a if (a >= b or a != a) else b


@njit(inline="always")
def fmin(a, b):
    """NumPy's ``minimum`` on scalars: a NaN operand wins."""
    return a if (a <= b or a != a) else b


@njit(cache=True)
def matmul_loops(a, b, out):
    """``out = a @ b`` for 2-D integer or boolean arrays, which BLAS lacks
    (``out`` is zero-filled, of the result dtype)."""
    for i in range(a.shape[0]):
        for k in range(a.shape[1]):
            aik = a[i, k]
            for j in range(b.shape[1]):
                out[i, j] += aik * b[k, j]
    return out

