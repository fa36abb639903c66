"""Loss functions, numerically stable, differentiable in every float input.

The classification losses reduce over the class axis only and return one
loss per example (take the ``mean`` yourself, as in optax); the regression
losses ``mse`` and ``huber`` return the mean over ``axis`` (all axes by
default).

Example:
    >>> import numpy as np
    >>> logits = np.array([[2.0, 0.0], [0.0, 2.0]])
    >>> softmax_cross_entropy(logits, np.array([0, 0]))
    array([0.12692801, 2.12692801])
"""

from __future__ import annotations

from typing import Any

import funcgrad.numpy as fnp
from funcgrad.errors import ShapeError
from funcgrad.nn.activations import log_softmax, one_hot
from funcgrad.numpy._core import aval_of, normalize_axis, shape_of
from funcgrad.tree import tree_leaves

__all__ = ["softmax_cross_entropy", "binary_cross_entropy_with_logits", "mse", "huber", "l2_penalty"]

Array = Any


def softmax_cross_entropy(logits: Array, labels: Array, axis: int = -1) -> Array:
    """``-sum(labels * log_softmax(logits), axis)``: one loss per example.

    ``labels`` are either integer class indices (the shape of ``logits``
    without ``axis``) or probabilities over the classes, one-hot or soft (the
    shape of ``logits``).

    Example:
        >>> import numpy as np
        >>> softmax_cross_entropy(np.zeros((1, 4)), np.array([[0.5, 0.5, 0.0, 0.0]]))
        array([1.38629436])
    """
    logits_shape = tuple(shape_of(logits))
    axis = normalize_axis(axis, len(logits_shape), "softmax_cross_entropy")
    labels_shape = tuple(shape_of(labels))
    if aval_of(labels).dtype.kind in "iub":
        expected = logits_shape[:axis] + logits_shape[axis + 1:]
        if labels_shape != expected:
            raise ShapeError(f"softmax_cross_entropy: integer labels of shape {labels_shape} do not fit "
                             f"logits of shape {logits_shape}: expected labels of shape {expected}")
        labels = one_hot(labels, logits_shape[axis], dtype=aval_of(logits).dtype, axis=axis)
    elif labels_shape != logits_shape:
        raise ShapeError(f"softmax_cross_entropy: probability labels of shape {labels_shape} must "
                         f"have the shape of the logits {logits_shape}",
                         "pass integer class indices, or one-hot labels of the logits' shape")
    return -fnp.sum(labels * log_softmax(logits, axis=axis), axis=axis)


def binary_cross_entropy_with_logits(logits: Array, labels: Array) -> Array:
    """``-(y log sigmoid(x) + (1 - y) log sigmoid(-x))``, elementwise, in the
    stable form ``max(x, 0) - x y + log(1 + exp(-|x|))``.

    Example:
        >>> import numpy as np
        >>> binary_cross_entropy_with_logits(np.array([0.0, 1000.0]), np.array([1.0, 1.0]))
        array([0.69314718, 0.        ])
    """
    return fnp.maximum(logits, 0) - logits * labels + fnp.log1p(fnp.exp(-fnp.abs(logits)))


def mse(predictions: Array, targets: Array, axis: int | tuple[int, ...] | None = None) -> Array:
    """The mean squared error over ``axis`` (all axes by default).

    Example:
        >>> import numpy as np
        >>> mse(np.array([1.0, 2.0]), np.array([1.0, 4.0]))
        np.float64(2.0)
    """
    return fnp.mean((predictions - targets) ** 2, axis=axis)


def huber(predictions: Array, targets: Array, delta: float = 1.0,
          axis: int | tuple[int, ...] | None = None) -> Array:
    """The mean Huber loss over ``axis`` (all axes by default): per element,
    ``e**2 / 2`` for ``|e| <= delta``, else ``delta * (|e| - delta / 2)``, where
    ``e = predictions - targets``: quadratic near 0, linear (robust) far out.

    Example:
        >>> import numpy as np
        >>> huber(np.array([0.5, 3.0]), np.zeros(2), axis=None)
        np.float64(1.3125)
    """
    error = fnp.abs(predictions - targets)
    quadratic = fnp.minimum(error, delta)
    # 0.5 q^2 + delta (|e| - q) is the Huber loss on both sides, with no select.
    return fnp.mean(0.5 * quadratic ** 2 + delta * (error - quadratic), axis=axis)


def l2_penalty(params: Any) -> Array:
    """``0.5 * sum(p ** 2)`` over every leaf of a parameter pytree: its gradient
    is the parameters themselves (weight decay); scale it as you need.

    Example:
        >>> import numpy as np
        >>> l2_penalty({"w": np.array([3.0, 4.0]), "b": np.array([1.0])})
        np.float64(13.0)
    """
    return 0.5 * sum(fnp.sum(leaf ** 2) for leaf in tree_leaves(params))
