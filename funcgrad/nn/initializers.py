"""Parameter initializers, as ``jax.nn.initializers``.

An initializer is a function ``init(key, shape, dtype=float32) -> array``
(``key``: a ``funcgrad.random`` key).  ``zeros`` and ``ones`` are
initializers themselves; every other name here is a factory that takes the
distribution's settings and returns one.  The dtype is float32 by default,
as in JAX: neural-network parameters rarely need float64.

The variance-scaling family draws with variance ``scale / fan``, where the
fans count a kernel's inputs and outputs (``in_axis`` and ``out_axis``, times
the receptive field: every other axis, e.g. a convolution's window):

=================  =====  ========  ================
initializer        scale  fan       distribution
=================  =====  ========  ================
``glorot_normal``  1      fan_avg   truncated normal
``glorot_uniform`` 1      fan_avg   uniform
``he_normal``      2      fan_in    truncated normal
``he_uniform``     2      fan_in    uniform
``lecun_normal``   1      fan_in    truncated normal
``lecun_uniform``  1      fan_in    uniform
=================  =====  ========  ================

Example:
    >>> import funcgrad.random as random
    >>> w = glorot_uniform()(random.key(0), (3, 4))
    >>> w.shape, w.dtype, bool(abs(w).max() <= (6 / 7) ** 0.5)
    ((3, 4), dtype('float32'), True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import funcgrad.numpy as fnp
from funcgrad.errors import ShapeError
from funcgrad.numpy._core import normalize_axis

__all__ = [
    "zeros", "ones", "constant", "normal", "uniform", "truncated_normal", "variance_scaling",
    "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "lecun_normal", "lecun_uniform",
    "orthogonal",
]

Initializer = Callable[..., Any]  # (key, shape, dtype=float32) -> array
Shape = Sequence[int]

# The standard deviation of a standard normal truncated to [-2, 2]: dividing by
# it gives the truncated draws the variance asked for.
_TRUNCATED_STDDEV = 0.87962566103423978


def _random():
    import funcgrad.random as random  # written alongside nn; imported when first needed

    return random


def zeros(key: Any, shape: Shape, dtype: Any = np.float32) -> Any:
    """An initializer: zeros (the key is unused).

    Example:
        >>> zeros(None, (2,))
        array([0., 0.], dtype=float32)
    """
    return np.zeros(tuple(shape), dtype)


def ones(key: Any, shape: Shape, dtype: Any = np.float32) -> Any:
    """An initializer: ones (the key is unused).

    Example:
        >>> ones(None, (2,))
        array([1., 1.], dtype=float32)
    """
    return np.ones(tuple(shape), dtype)


def constant(value: Any) -> Initializer:
    """An initializer that fills with ``value``.

    Example:
        >>> constant(0.5)(None, (2,))
        array([0.5, 0.5], dtype=float32)
    """
    def init(key: Any, shape: Shape, dtype: Any = np.float32) -> Any:
        return np.full(tuple(shape), value, dtype)

    return init


def normal(stddev: float = 1e-2) -> Initializer:
    """An initializer drawing from ``N(0, stddev**2)``.

    Example:
        >>> import funcgrad.random as random
        >>> normal(1.0)(random.key(0), (2, 3)).shape
        (2, 3)
    """
    def init(key: Any, shape: Shape, dtype: Any = np.float32) -> Any:
        return _random().normal(key, tuple(shape), dtype) * np.asarray(stddev, dtype)

    return init


def uniform(scale: float = 1e-2) -> Initializer:
    """An initializer drawing uniformly from ``[0, scale)`` (as JAX's).

    Example:
        >>> import funcgrad.random as random
        >>> bool((uniform(1.0)(random.key(0), (100,)) < 1.0).all())
        True
    """
    def init(key: Any, shape: Shape, dtype: Any = np.float32) -> Any:
        return _random().uniform(key, tuple(shape), dtype, 0.0, scale)

    return init


def truncated_normal(stddev: float = 1e-2, lower: float = -2.0, upper: float = 2.0) -> Initializer:
    """An initializer drawing from a normal of scale ``stddev`` truncated to
    ``[lower * stddev, upper * stddev]``.

    Example:
        >>> import funcgrad.random as random
        >>> bool((abs(truncated_normal(1.0)(random.key(0), (100,))) <= 2.0).all())
        True
    """
    def init(key: Any, shape: Shape, dtype: Any = np.float32) -> Any:
        draws = _random().truncated_normal(key, lower, upper, tuple(shape), dtype)
        return draws * np.asarray(stddev, dtype)

    return init


def _fans(shape: tuple[int, ...], in_axis: int, out_axis: int, name: str) -> tuple[int, int]:
    if len(shape) < 2:
        raise ShapeError(f"{name}: a shape needs at least 2 dimensions (inputs and outputs) to have "
                         f"fans, got {shape}", "use normal(), zeros or constant() for vectors")
    in_axis = normalize_axis(in_axis, len(shape), name)
    out_axis = normalize_axis(out_axis, len(shape), name)
    receptive = math.prod(d for i, d in enumerate(shape) if i not in (in_axis, out_axis))
    return shape[in_axis] * receptive, shape[out_axis] * receptive


_MODES = {
    "fan_in": lambda fan_in, fan_out: fan_in,
    "fan_out": lambda fan_in, fan_out: fan_out,
    "fan_avg": lambda fan_in, fan_out: (fan_in + fan_out) / 2,
}
_DISTRIBUTIONS = ("truncated_normal", "normal", "uniform")


def variance_scaling(scale: float, mode: str, distribution: str, in_axis: int = -2,
                     out_axis: int = -1) -> Initializer:
    """An initializer drawing with variance ``scale / fan``.

    ``mode`` picks the fan (``"fan_in"``, ``"fan_out"``, ``"fan_avg"``);
    ``distribution`` is ``"truncated_normal"`` (within two standard
    deviations, rescaled to the variance), ``"normal"`` or ``"uniform"``
    (on ``[-limit, limit]``, ``limit = sqrt(3 * variance)``).

    Example:
        >>> import funcgrad.random as random
        >>> w = variance_scaling(2.0, "fan_in", "normal")(random.key(0), (400, 300))
        >>> bool(abs(w.std() - (2 / 400) ** 0.5) < 1e-3)
        True
    """
    if mode not in _MODES:
        raise ValueError(f"variance_scaling: mode must be one of {sorted(_MODES)}, got {mode!r}")
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(f"variance_scaling: distribution must be one of {_DISTRIBUTIONS}, "
                         f"got {distribution!r}")

    def init(key: Any, shape: Shape, dtype: Any = np.float32) -> Any:
        shape = tuple(shape)
        fan = _MODES[mode](*_fans(shape, in_axis, out_axis, "variance_scaling"))
        variance = scale / max(1.0, fan)
        if distribution == "uniform":
            limit = math.sqrt(3 * variance)
            return _random().uniform(key, shape, dtype, -limit, limit)
        if distribution == "normal":
            return normal(math.sqrt(variance))(key, shape, dtype)
        return truncated_normal(math.sqrt(variance) / _TRUNCATED_STDDEV)(key, shape, dtype)

    return init


def glorot_normal(in_axis: int = -2, out_axis: int = -1) -> Initializer:
    """Glorot (Xavier) normal: ``variance_scaling(1, "fan_avg", "truncated_normal")``.

    Example:
        >>> import funcgrad.random as random
        >>> glorot_normal()(random.key(0), (3, 3, 2, 8)).shape   # a conv kernel (HWIO)
        (3, 3, 2, 8)
    """
    return variance_scaling(1.0, "fan_avg", "truncated_normal", in_axis, out_axis)


def glorot_uniform(in_axis: int = -2, out_axis: int = -1) -> Initializer:
    """Glorot (Xavier) uniform: ``variance_scaling(1, "fan_avg", "uniform")``.

    Example:
        >>> import funcgrad.random as random
        >>> glorot_uniform()(random.key(0), (2, 5)).dtype
        dtype('float32')
    """
    return variance_scaling(1.0, "fan_avg", "uniform", in_axis, out_axis)


def he_normal(in_axis: int = -2, out_axis: int = -1) -> Initializer:
    """He (Kaiming) normal, for ReLU networks: ``variance_scaling(2, "fan_in", "truncated_normal")``.

    Example:
        >>> import funcgrad.random as random
        >>> he_normal()(random.key(0), (2, 5), np.float64).dtype
        dtype('float64')
    """
    return variance_scaling(2.0, "fan_in", "truncated_normal", in_axis, out_axis)


def he_uniform(in_axis: int = -2, out_axis: int = -1) -> Initializer:
    """He (Kaiming) uniform: ``variance_scaling(2, "fan_in", "uniform")``.

    Example:
        >>> import funcgrad.random as random
        >>> bool(abs(he_uniform()(random.key(0), (6, 5))).max() <= 1.0)   # limit sqrt(6 / 6)
        True
    """
    return variance_scaling(2.0, "fan_in", "uniform", in_axis, out_axis)


def lecun_normal(in_axis: int = -2, out_axis: int = -1) -> Initializer:
    """LeCun normal, for SELU networks: ``variance_scaling(1, "fan_in", "truncated_normal")``.

    Example:
        >>> import funcgrad.random as random
        >>> lecun_normal()(random.key(0), (4, 2)).shape
        (4, 2)
    """
    return variance_scaling(1.0, "fan_in", "truncated_normal", in_axis, out_axis)


def lecun_uniform(in_axis: int = -2, out_axis: int = -1) -> Initializer:
    """LeCun uniform: ``variance_scaling(1, "fan_in", "uniform")``.

    Example:
        >>> import funcgrad.random as random
        >>> lecun_uniform()(random.key(0), (4, 2)).shape
        (4, 2)
    """
    return variance_scaling(1.0, "fan_in", "uniform", in_axis, out_axis)


def orthogonal(scale: float = 1.0, column_axis: int = -1) -> Initializer:
    """An initializer of (semi-)orthogonal matrices times ``scale``: the
    columns (along ``column_axis``) against all other axes flattened are
    orthonormal, or the rows where there are fewer rows than columns.

    Example:
        >>> import funcgrad.random as random
        >>> q = orthogonal()(random.key(0), (4, 3), np.float64)
        >>> np.allclose(q.T @ q, np.eye(3))
        True
    """
    def init(key: Any, shape: Shape, dtype: Any = np.float32) -> Any:
        shape = tuple(shape)
        if len(shape) < 2:
            raise ShapeError(f"orthogonal: needs a shape of at least 2 dimensions, got {shape}")
        axis = normalize_axis(column_axis, len(shape), "orthogonal")
        n_cols = shape[axis]
        n_rows = math.prod(shape) // max(1, n_cols)
        tall = (max(n_rows, n_cols), min(n_rows, n_cols))
        q, r = fnp.linalg.qr(_random().normal(key, tall, dtype))
        q = q * fnp.sign(fnp.diagonal(r))  # makes the decomposition unique: uniformly distributed
        if n_rows < n_cols:
            q = q.T
        rows_shape = shape[:axis] + shape[axis + 1:]
        return fnp.moveaxis(fnp.reshape(q, (*rows_shape, n_cols)), -1, axis) * np.asarray(scale, dtype)

    return init
