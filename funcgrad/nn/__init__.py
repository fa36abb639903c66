"""``funcgrad.nn``: stateless neural-network helpers, as in ``jax.nn`` and
``jax.example_libraries.stax``.

- ``activations``: ``relu``, ``gelu``, ``softmax``, ``logsumexp``, ``one_hot``, ...
- ``initializers``: ``glorot_normal()``, ``he_uniform()``, ``orthogonal()``, ...
- ``losses``: ``softmax_cross_entropy``, ``mse``, ``l2_penalty``, ...
- ``layers``: ``(init, apply)`` pairs (``Dense``, ``Conv``, ``BatchNorm``,
  ``MultiHeadAttention``, ...) composed with ``serial``, ``parallel`` and
  ``residual``; ``count_params`` and ``summary``.
- ``optim``: optimizers as ``(init, update)`` pairs (``adam``, ``sgd``, ...),
  schedules, clipping, ``chain``, ``apply_updates``.
- ``checkpoint``: ``save`` / ``load`` any pytree of arrays to ``.npz``.

Every function is pure: parameters and random keys go in, arrays come out,
so ``grad``, ``vmap`` and ``jit`` apply to all of them.

Example:
    >>> import numpy as np, funcgrad as fg, funcgrad.random as random
    >>> from funcgrad import nn
    >>> init, apply = nn.serial(nn.Dense(4), nn.Relu, nn.Dense(3))
    >>> _, params = init(random.key(0), (2, 5))
    >>> loss = lambda p, x, y: nn.softmax_cross_entropy(apply(p, x), y).mean()
    >>> grads = fg.grad(loss)(params, np.ones((2, 5)), np.array([0, 2]))
    >>> grads[0]["w"].shape
    (5, 4)
"""

from funcgrad.nn import activations, checkpoint, initializers, layers, losses, optim
from funcgrad.nn.activations import *  # noqa: F403
from funcgrad.nn.checkpoint import load, save
from funcgrad.nn.layers import *  # noqa: F403
from funcgrad.nn.losses import *  # noqa: F403

__all__ = ["activations", "checkpoint", "initializers", "layers", "load", "losses", "optim", "save",
           *activations.__all__, *layers.__all__, *losses.__all__]
