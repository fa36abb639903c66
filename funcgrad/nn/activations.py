"""Activation functions and the numerically stable softmax family.

Each is a plain function of arrays built from ``funcgrad.numpy``, so it
works eagerly on NumPy arrays and traces under ``grad``, ``vmap`` and ``jit``.
Where a formula overflows for large inputs (``sigmoid``, ``softplus``,
``softmax``, ``logsumexp``), a stable form is used, as in ``jax.nn``.

Example:
    >>> import numpy as np
    >>> softmax(np.array([1000.0, 1000.0]))
    array([0.5, 0.5])
    >>> logsumexp(np.array([1000.0, 1000.0]))  # 1000 + log 2
    np.float64(1000.6931471805599)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import funcgrad.numpy as fnp
from funcgrad.numpy._core import normalize_axis, result_dtype, shape_of
from funcgrad.numpy.ufuncs import apply_ufunc
from funcgrad.primitives.elementwise import PRIMITIVE_OF_ROW
from funcgrad.special import erf
from funcgrad.transforms.custom_derivatives import stop_gradient

__all__ = [
    "relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh", "softplus",
    "softmax", "log_softmax", "logsumexp", "one_hot",
]

Array = Any
Axis = int | tuple[int, ...] | None


def relu(x: Array) -> Array:
    """``max(x, 0)``, with derivative 0 at 0 (as ``jax.nn.relu``).

    Example:
        >>> relu(np.array([-1.0, 0.0, 2.0]))
        array([0., 0., 2.])
    """
    return fnp.where(x > 0, x, 0)


def leaky_relu(x: Array, negative_slope: float = 0.01) -> Array:
    """``x`` where ``x >= 0``, else ``negative_slope * x``.

    Example:
        >>> leaky_relu(np.array([-2.0, 3.0]), 0.5)
        array([-1.,  3.])
    """
    return fnp.where(x >= 0, x, negative_slope * x)


def elu(x: Array, alpha: float = 1.0) -> Array:
    """``x`` where ``x > 0``, else ``alpha * (exp(x) - 1)``.

    Example:
        >>> elu(np.array([-1.0, 2.0]))
        array([-0.63212056,  2.        ])
    """
    positive = x > 0
    # expm1 only sees the non-positive side: no overflow, no inf * 0 in the gradient.
    return fnp.where(positive, x, alpha * fnp.expm1(fnp.where(positive, 0, x)))


def _as_inexact(x: Array) -> Array:
    """``x`` as a float array: integers become float64, as NumPy's ``tanh`` does."""
    return fnp.asarray(x, dtype=result_dtype(x, 1.0))


def gelu(x: Array, approximate: bool = True) -> Array:
    """The Gaussian error linear unit ``x * Phi(x)`` (``Phi``: the standard
    normal CDF).

    ``approximate=True`` (the default, as ``jax.nn.gelu``) uses the tanh form
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``; ``approximate=False``
    the exact ``0.5 x (1 + erf(x / sqrt(2)))``.

    Example:
        >>> gelu(np.array([-1.0, 0.0, 1.0]), approximate=False)
        array([-0.15865525,  0.        ,  0.84134475])
    """
    x = _as_inexact(x)
    if approximate:
        cdf = 0.5 * (1 + fnp.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    else:
        cdf = 0.5 * (1 + erf(x / math.sqrt(2)))
    return x * cdf


def sigmoid(x: Array) -> Array:
    """The logistic function ``1 / (1 + exp(-x))``, one stable primitive.

    Example:
        >>> sigmoid(np.array([-1000.0, 0.0, 1000.0]))
        array([0. , 0.5, 1. ])
    """
    return apply_ufunc(np.tanh, PRIMITIVE_OF_ROW["logistic"], x)


def silu(x: Array) -> Array:
    """``x * sigmoid(x)`` (also called swish).

    Example:
        >>> silu(np.array([0.0, 1.0]))
        array([0.        , 0.73105858])
    """
    return x * sigmoid(x)


def tanh(x: Array) -> Array:
    """The hyperbolic tangent (``funcgrad.numpy.tanh``), for a uniform set.

    Example:
        >>> tanh(np.array([0.0]))
        array([0.])
    """
    return fnp.tanh(x)


def softplus(x: Array) -> Array:
    """``log(1 + exp(x))``, as ``logaddexp(x, 0)``: no overflow for large ``x``.

    Example:
        >>> softplus(np.array([-1000.0, 1000.0]))
        array([   0., 1000.])
    """
    return fnp.logaddexp(x, 0.0)


def _stable_max(x: Array, axis: Axis) -> Array:
    """The max over ``axis`` (kept), or 0 where it is infinite: subtracting it
    makes ``exp`` safe, and it has no effect on the result, so no derivative."""
    peak = fnp.max(x, axis=axis, keepdims=True)
    return stop_gradient(fnp.where(fnp.isfinite(peak), peak, 0))


def logsumexp(x: Array, axis: Axis = None, keepdims: bool = False) -> Array:
    """``log(sum(exp(x), axis))``, computed without overflow.

    Example:
        >>> logsumexp(np.log(np.array([[1.0, 3.0], [2.0, 2.0]])), axis=1)
        array([1.38629436, 1.38629436])
    """
    peak = _stable_max(x, axis)
    total = fnp.sum(fnp.exp(x - peak), axis=axis, keepdims=keepdims)
    if not keepdims:
        peak = fnp.squeeze(peak, axis=tuple(range(len(shape_of(x)))) if axis is None else axis)
    return fnp.log(total) + peak


def log_softmax(x: Array, axis: Axis = -1) -> Array:
    """``x - logsumexp(x, axis, keepdims=True)``: log-probabilities.

    Example:
        >>> np.exp(log_softmax(np.array([0.0, 0.0])))
        array([0.5, 0.5])
    """
    shifted = x - _stable_max(x, axis)
    return shifted - fnp.log(fnp.sum(fnp.exp(shifted), axis=axis, keepdims=True))


def softmax(x: Array, axis: Axis = -1) -> Array:
    """``exp(x) / sum(exp(x), axis)``, shifted by the max: no overflow.

    Example:
        >>> softmax(np.array([0.0, np.log(3.0)]))
        array([0.25, 0.75])
    """
    unnormalized = fnp.exp(x - _stable_max(x, axis))
    return unnormalized / fnp.sum(unnormalized, axis=axis, keepdims=True)


def one_hot(x: Array, num_classes: int, dtype: Any = np.float32, axis: int = -1) -> Array:
    """``x`` (integer class indices) as one-hot vectors along a new ``axis``.

    An index outside ``[0, num_classes)`` gives a row of zeros.  The dtype is
    float32 by default, like the rest of ``funcgrad.nn`` (and ``jax.nn``).

    Example:
        >>> one_hot(np.array([2, 0]), 3)
        array([[0., 0., 1.],
               [1., 0., 0.]], dtype=float32)
    """
    rank = len(shape_of(x)) + 1
    axis = normalize_axis(axis, rank, "one_hot")
    classes = np.arange(num_classes).reshape([num_classes if d == axis else 1 for d in range(rank)])
    return (fnp.expand_dims(x, axis) == classes).astype(dtype)
