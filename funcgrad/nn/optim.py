"""Optimizers as pure ``(init, update)`` pairs over pytrees, as in optax.

An optimizer is a ``GradientTransformation``: ``init(params)`` makes its
state, ``update(grads, state, params)`` turns gradients into updates and the
next state, and ``apply_updates`` adds the updates to the parameters.
Nothing is mutated, and the state is a pytree of arrays (step counts are
int32 arrays), so a training step is an ordinary pure function.

Optimizers are chains of small transformations (``chain``): ``adam`` is
``scale_by_adam`` then ``scale_by_learning_rate``, and gradient clipping is
one more link in front.  A learning rate is a number or a schedule: a
function from the step count (0 for the first update) to the rate.

All arithmetic goes through ``funcgrad.numpy``, so updates can be traced and
differentiated, and each parameter keeps its dtype: a float32 model trains
in float32.

Example:
    >>> import numpy as np
    >>> opt = chain(clip_by_global_norm(1.0), adam(learning_rate=0.1))
    >>> params = {"w": np.array([1.0, -2.0], np.float32)}
    >>> state = opt.init(params)
    >>> grads = {"w": np.array([3.0, -4.0], np.float32)}
    >>> updates, state = opt.update(grads, state, params)
    >>> apply_updates(params, updates)
    {'w': array([ 0.9, -1.9], dtype=float32)}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

import funcgrad.numpy as fnp
from funcgrad.tree import tree_leaves, tree_map

PyTree = Any
Schedule = Callable[[Any], Any]  # step count (an int32 array) -> learning rate


class GradientTransformation(NamedTuple):
    """An optimizer, or one step of one: ``init(params) -> state`` and
    ``update(updates, state, params=None) -> (updates, state)``, both pure.

    Example:
        >>> double = GradientTransformation(lambda params: (),
        ...                                 lambda u, state, params=None: (2 * u, state))
        >>> double.update(np.ones(2), double.init(np.ones(2)))
        (array([2., 2.]), ())
    """

    init: Callable[[PyTree], PyTree]
    update: Callable[..., tuple[PyTree, PyTree]]


class EmptyState(NamedTuple):
    """The state of a transformation that keeps none."""


class CountState(NamedTuple):
    """The number of updates made so far (for a schedule)."""

    count: Any


class TraceState(NamedTuple):
    """The momentum: a decaying sum of past updates, one per parameter."""

    trace: PyTree


class SecondMomentState(NamedTuple):
    """Accumulated squared gradients, one per parameter (RMSProp, Adagrad)."""

    nu: PyTree


class AdamState(NamedTuple):
    """Adam's step count and moving averages of the gradients and their squares."""

    count: Any
    mu: PyTree
    nu: PyTree


# ---------------------------------------------------------------- helpers


def _weak(value: Any) -> Any:
    """A NumPy scalar as the same Python number.  NumPy scalars are strong
    (NEP 50) and would promote float32 parameters to float64; a Python
    number adopts the parameter's dtype."""
    if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0:
        return value.item()
    return value


def _like(scalar: Any, x: Any) -> Any:
    """``scalar`` (computed from a step count, so float64) in ``x``'s dtype."""
    return fnp.asarray(scalar, dtype=fnp.result_type(x))


def _zero_count() -> np.ndarray:
    return np.zeros((), np.int32)


def _stateless(transform: Callable[[PyTree, PyTree], PyTree]) -> GradientTransformation:
    """A transformation without state from ``transform(updates, params)``."""

    def update(updates, state, params=None):
        return transform(updates, params), state

    return GradientTransformation(lambda params: EmptyState(), update)


def _positive(name: str, value: Any) -> None:
    if isinstance(value, (int, float)) and not value > 0:
        raise ValueError(f"{name} must be positive, got {value}")


# ---------------------------------------------------------------- building blocks


def chain(*transformations: GradientTransformation) -> GradientTransformation:
    """Apply ``transformations`` in order; the state is the tuple of their states.

    Example:
        >>> opt = chain(clip_by_global_norm(1.0), sgd(learning_rate=0.5))
        >>> updates, _ = opt.update(np.array([3.0, 4.0]), opt.init(np.zeros(2)))
        >>> updates
        array([-0.3, -0.4])
    """

    def init(params):
        return tuple(t.init(params) for t in transformations)

    def update(updates, state, params=None):
        new_state = []
        for transformation, inner in zip(transformations, state, strict=True):
            updates, inner = transformation.update(updates, inner, params)
            new_state.append(inner)
        return updates, tuple(new_state)

    return GradientTransformation(init, update)


def apply_updates(params: PyTree, updates: PyTree) -> PyTree:
    """``params + updates`` leafwise, each result in its parameter's dtype.

    Example:
        >>> apply_updates({"w": np.ones(2, np.float32)}, {"w": np.array([0.5, -0.5])})
        {'w': array([1.5, 0.5], dtype=float32)}
    """
    return tree_map(lambda p, u: fnp.asarray(p + u, dtype=fnp.result_type(p)), params, updates)


def global_norm(tree: PyTree) -> Any:
    """The 2-norm of all the leaves of ``tree`` taken together.

    Example:
        >>> float(global_norm({"a": np.array([3.0]), "b": np.array([[4.0]])}))
        5.0
    """
    return fnp.sqrt(sum(fnp.sum(x * x) for x in tree_leaves(tree)))


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    """Scale the updates down so their ``global_norm`` is at most ``max_norm``
    (unchanged when it already is).

    Example:
        >>> clip = clip_by_global_norm(1.0)
        >>> clip.update({"a": np.array([3.0]), "b": np.array([4.0])}, clip.init(None))[0]
        {'a': array([0.6]), 'b': array([0.8])}
    """
    max_norm = _weak(max_norm)
    _positive("clip_by_global_norm: max_norm", max_norm)

    def transform(updates, params):
        # 1 below the threshold, max_norm / norm above it: never divides by 0.
        scale = max_norm / fnp.maximum(global_norm(updates), max_norm)
        return tree_map(lambda u: u * _like(scale, u), updates)

    return _stateless(transform)


def scale_by_learning_rate(learning_rate: float | Schedule) -> GradientTransformation:
    """Multiply the updates by ``-learning_rate`` (a number or a schedule of
    the step count), so that adding them descends.

    Example:
        >>> step = scale_by_learning_rate(exponential_decay(1.0, 1, 0.5))
        >>> state = step.init(None)
        >>> for _ in range(3):
        ...     updates, state = step.update(np.ones(1), state)
        ...     print(updates)
        [-1.]
        [-0.5]
        [-0.25]
    """
    if not callable(learning_rate):
        rate = _weak(learning_rate)
        return _stateless(lambda updates, params: tree_map(lambda u: -rate * u, updates))

    def init(params):
        return CountState(_zero_count())

    def update(updates, state, params=None):
        rate = learning_rate(state.count)
        return tree_map(lambda u: -_like(rate, u) * u, updates), CountState(state.count + 1)

    return GradientTransformation(init, update)


def trace(decay: float, nesterov: bool = False) -> GradientTransformation:
    """Momentum: ``t = g + decay * t``, and the update is ``t``, or
    ``g + decay * t`` with Nesterov's variant (PyTorch's formulation).

    Example:
        >>> momentum_step = trace(0.5)
        >>> state = momentum_step.init(np.zeros(1))
        >>> for _ in range(3):
        ...     updates, state = momentum_step.update(np.ones(1), state)
        >>> updates
        array([1.75])
    """
    decay = _weak(decay)

    def init(params):
        return TraceState(tree_map(fnp.zeros_like, params))

    def update(updates, state, params=None):
        new_trace = tree_map(lambda g, t: g + decay * t, updates, state.trace)
        if nesterov:
            updates = tree_map(lambda g, t: g + decay * t, updates, new_trace)
        else:
            updates = new_trace
        return updates, TraceState(new_trace)

    return GradientTransformation(init, update)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    """Adam's direction: ``m_hat / (sqrt(v_hat) + eps)``, where ``m`` and ``v``
    are moving averages of the gradients and their squares and ``m_hat``,
    ``v_hat`` correct their bias toward 0 (Kingma and Ba, 2015).

    Example:
        >>> adam_step = scale_by_adam(eps=0.0)
        >>> adam_step.update(np.array([2.0, -0.5]), adam_step.init(np.zeros(2)))[0]
        array([ 1., -1.])
    """
    b1, b2, eps = _weak(b1), _weak(b2), _weak(eps)

    def init(params):
        zeros = tree_map(fnp.zeros_like, params)
        return AdamState(_zero_count(), zeros, zeros)

    def update(updates, state, params=None):
        mu = tree_map(lambda g, m: b1 * m + (1 - b1) * g, updates, state.mu)
        nu = tree_map(lambda g, v: b2 * v + (1 - b2) * g * g, updates, state.nu)
        count = state.count + 1
        correction1, correction2 = 1 - b1 ** count, 1 - b2 ** count
        updates = tree_map(
            lambda m, v: (m / _like(correction1, m)) / (fnp.sqrt(v / _like(correction2, v)) + eps),
            mu, nu)
        return updates, AdamState(count, mu, nu)

    return GradientTransformation(init, update)


def _scale_by_second_moment(keep: float, add: float, eps: float, initial: float
                            ) -> GradientTransformation:
    """``v = keep * v + add * g**2``, update ``g / (sqrt(v) + eps)``, ``v``
    starting at ``initial``: RMSProp and Adagrad."""
    keep, add, eps, initial = _weak(keep), _weak(add), _weak(eps), _weak(initial)

    def init(params):
        return SecondMomentState(tree_map(lambda p: fnp.full_like(p, initial), params))

    def update(updates, state, params=None):
        nu = tree_map(lambda g, v: keep * v + add * g * g, updates, state.nu)
        updates = tree_map(lambda g, v: g / (fnp.sqrt(v) + eps), updates, nu)
        return updates, SecondMomentState(nu)

    return GradientTransformation(init, update)


def scale_by_rms(decay: float = 0.9, eps: float = 1e-8) -> GradientTransformation:
    """RMSProp's direction: ``v = decay * v + (1 - decay) * g**2``, update
    ``g / (sqrt(v) + eps)``.

    Example:
        >>> rms = scale_by_rms(decay=0.75, eps=0.0)
        >>> rms.update(np.array([2.0]), rms.init(np.zeros(1)))[0]
        array([2.])
    """
    return _scale_by_second_moment(decay, 1 - _weak(decay), eps, 0.0)


def scale_by_adagrad(initial_accumulator_value: float = 0.1, eps: float = 1e-7
                     ) -> GradientTransformation:
    """Adagrad's direction: ``v = v + g**2`` (from ``initial_accumulator_value``),
    update ``g / (sqrt(v) + eps)``.

    Example:
        >>> ada = scale_by_adagrad(initial_accumulator_value=0.0, eps=0.0)
        >>> ada.update(np.array([3.0, -4.0]), ada.init(np.zeros(2)))[0]
        array([ 1., -1.])
    """
    return _scale_by_second_moment(1.0, 1.0, eps, initial_accumulator_value)


def add_decayed_weights(weight_decay: float, mask: PyTree | Callable | None = None
                        ) -> GradientTransformation:
    """Add ``weight_decay * params`` to the updates (decoupled weight decay).
    ``mask``, a pytree of bools like the parameters or a function of the
    parameters returning one, limits the decay to the leaves marked True.

    Example:
        >>> decay = add_decayed_weights(0.1, mask={"w": True, "b": False})
        >>> params = {"w": np.array([10.0]), "b": np.array([10.0])}
        >>> decay.update({"w": np.zeros(1), "b": np.zeros(1)}, decay.init(params), params)[0]
        {'b': array([0.]), 'w': array([1.])}
    """
    weight_decay = _weak(weight_decay)

    def transform(updates, params):
        if params is None:
            raise ValueError("add_decayed_weights needs the parameters: "
                             "call update(grads, state, params)")
        decayed = mask(params) if callable(mask) else mask
        if decayed is None:
            decayed = tree_map(lambda p: True, params)
        return tree_map(lambda u, p, m: u + weight_decay * p if m else u, updates, params, decayed)

    return _stateless(transform)


# ---------------------------------------------------------------- optimizers


def sgd(learning_rate: float | Schedule, momentum: float | None = None,
        nesterov: bool = False) -> GradientTransformation:
    """Stochastic gradient descent: ``p -= lr * g``, with heavy-ball or
    Nesterov momentum when ``momentum`` is given (see ``trace``).

    Example:
        >>> opt = sgd(0.1)
        >>> params = np.array([1.0, 2.0])
        >>> updates, _ = opt.update(np.array([1.0, -1.0]), opt.init(params))
        >>> apply_updates(params, updates)
        array([0.9, 2.1])
    """
    links = [] if momentum is None else [trace(momentum, nesterov)]
    return chain(*links, scale_by_learning_rate(learning_rate))


def momentum(learning_rate: float | Schedule, beta: float = 0.9,
             nesterov: bool = False) -> GradientTransformation:
    """SGD with momentum ``beta``: ``sgd(learning_rate, momentum=beta, nesterov=nesterov)``.

    Example:
        >>> opt = momentum(0.1, beta=0.5)
        >>> params, state = np.array([1.0]), opt.init(np.array([1.0]))
        >>> for _ in range(2):
        ...     updates, state = opt.update(np.array([1.0]), state)
        ...     params = apply_updates(params, updates)
        >>> params   # steps of 0.1 then 0.1 * (1 + 0.5)
        array([0.75])
    """
    return sgd(learning_rate, momentum=beta, nesterov=nesterov)


def adam(learning_rate: float | Schedule, b1: float = 0.9, b2: float = 0.999,
         eps: float = 1e-8) -> GradientTransformation:
    """Adam: ``p -= lr * m_hat / (sqrt(v_hat) + eps)`` (see ``scale_by_adam``).

    Example:
        >>> opt = adam(0.1)
        >>> params = np.array([1.0, -2.0])
        >>> updates, _ = opt.update(np.array([0.5, -0.5]), opt.init(params))
        >>> apply_updates(params, updates)   # Adam's first step is lr * sign(g)
        array([ 0.9, -1.9])
    """
    return chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(learning_rate))


def adamw(learning_rate: float | Schedule, b1: float = 0.9, b2: float = 0.999,
          eps: float = 1e-8, weight_decay: float = 1e-4,
          mask: PyTree | Callable | None = None) -> GradientTransformation:
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019):
    ``p -= lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * p)``; the
    decay does not pass through Adam's scaling.  ``mask`` as in
    ``add_decayed_weights``.  ``update`` needs ``params``.

    Example:
        >>> opt = adamw(0.1, weight_decay=0.5)
        >>> params = np.array([2.0])
        >>> updates, _ = opt.update(np.array([1.0]), opt.init(params), params)
        >>> apply_updates(params, updates)   # 2 - 0.1 * (1 + 0.5 * 2)
        array([1.8])
    """
    return chain(scale_by_adam(b1, b2, eps), add_decayed_weights(weight_decay, mask),
                 scale_by_learning_rate(learning_rate))


def rmsprop(learning_rate: float | Schedule, decay: float = 0.9, eps: float = 1e-8,
            momentum: float | None = None, nesterov: bool = False) -> GradientTransformation:
    """RMSProp: ``p -= lr * g / (sqrt(v) + eps)`` with ``v`` a moving average
    of ``g**2`` (see ``scale_by_rms``), optionally with momentum on the
    scaled gradients.

    Example:
        >>> opt = rmsprop(0.1, decay=0.75)
        >>> updates, _ = opt.update(np.array([4.0]), opt.init(np.zeros(1)))
        >>> updates   # -0.1 * 4 / sqrt(0.25 * 16)
        array([-0.2])
    """
    links = [scale_by_rms(decay, eps)]
    if momentum is not None:
        links.append(trace(momentum, nesterov))
    return chain(*links, scale_by_learning_rate(learning_rate))


def adagrad(learning_rate: float | Schedule, initial_accumulator_value: float = 0.1,
            eps: float = 1e-7) -> GradientTransformation:
    """Adagrad: ``p -= lr * g / (sqrt(v) + eps)`` with ``v`` the sum of all
    ``g**2`` so far (see ``scale_by_adagrad``).

    Example:
        >>> opt = adagrad(1.0, initial_accumulator_value=0.0, eps=0.0)
        >>> state = opt.init(np.zeros(1))
        >>> for g in (3.0, 4.0):
        ...     updates, state = opt.update(np.array([g]), state)
        >>> updates   # -4 / sqrt(3**2 + 4**2)
        array([-0.8])
    """
    return chain(scale_by_adagrad(initial_accumulator_value, eps),
                 scale_by_learning_rate(learning_rate))


# ---------------------------------------------------------------- schedules


def _progress(count: Any, steps: int) -> Any:
    """How far ``count`` is through ``steps`` steps, from 0 to 1."""
    return fnp.clip(count, 0, steps) / steps


def constant(value: float) -> Schedule:
    """The same learning rate at every step.

    Example:
        >>> constant(0.1)(1000)
        0.1
    """
    value = _weak(value)
    return lambda count: value


def exponential_decay(init_value: float, transition_steps: int, decay_rate: float,
                      transition_begin: int = 0, staircase: bool = False,
                      end_value: float | None = None) -> Schedule:
    """``init_value * decay_rate ** ((count - transition_begin) / transition_steps)``,
    constant before ``transition_begin``; with ``staircase`` the exponent is
    rounded down; ``end_value`` bounds the result.

    Example:
        >>> schedule = exponential_decay(1.0, transition_steps=10, decay_rate=0.5)
        >>> [float(schedule(count)) for count in (0, 10, 20, 15)]
        [1.0, 0.5, 0.25, 0.3535533905932738]
        >>> float(exponential_decay(1.0, 10, 0.5, staircase=True, end_value=0.3)(25))
        0.3
    """
    _positive("exponential_decay: transition_steps", transition_steps)
    init_value, decay_rate, end_value = _weak(init_value), _weak(decay_rate), _weak(end_value)

    def schedule(count):
        exponent = fnp.maximum(count - transition_begin, 0) / transition_steps
        if staircase:
            exponent = fnp.floor(exponent)
        value = init_value * decay_rate ** exponent
        if end_value is not None:
            value = (fnp.maximum if decay_rate < 1 else fnp.minimum)(value, end_value)
        return value

    return schedule


def cosine_decay(init_value: float, decay_steps: int, alpha: float = 0.0) -> Schedule:
    """From ``init_value`` down to ``alpha * init_value`` along half a cosine
    over ``decay_steps`` steps, then constant (Loshchilov and Hutter, 2017).

    Example:
        >>> schedule = cosine_decay(1.0, decay_steps=100, alpha=0.1)
        >>> [round(float(schedule(count)), 6) for count in (0, 50, 100, 200)]
        [1.0, 0.55, 0.1, 0.1]
    """
    _positive("cosine_decay: decay_steps", decay_steps)
    init_value, alpha = _weak(init_value), _weak(alpha)

    def schedule(count):
        cosine = 0.5 * (1 + fnp.cos(math.pi * _progress(count, decay_steps)))
        return init_value * ((1 - alpha) * cosine + alpha)

    return schedule


def linear_warmup(peak_value: float, warmup_steps: int, init_value: float = 0.0) -> Schedule:
    """From ``init_value`` up to ``peak_value`` in a straight line over
    ``warmup_steps`` steps, then constant.  Join a decay after it with
    ``join_schedules``.

    Example:
        >>> schedule = linear_warmup(1.0, warmup_steps=4)
        >>> [float(schedule(count)) for count in (0, 1, 4, 10)]
        [0.0, 0.25, 1.0, 1.0]
    """
    _positive("linear_warmup: warmup_steps", warmup_steps)
    peak_value, init_value = _weak(peak_value), _weak(init_value)
    return lambda count: init_value + _progress(count, warmup_steps) * (peak_value - init_value)


def join_schedules(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """``schedules[0]`` until step ``boundaries[0]``, then ``schedules[1]``,
    and so on; each schedule counts its steps from its own start.

    Example:
        >>> warmup_then_cosine = join_schedules(
        ...     [linear_warmup(1.0, warmup_steps=10), cosine_decay(1.0, decay_steps=90)],
        ...     boundaries=[10])
        >>> [round(float(warmup_then_cosine(count)), 6) for count in (0, 5, 10, 55, 100)]
        [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(f"join_schedules: {len(schedules)} schedules need "
                         f"{len(schedules) - 1} boundaries, got {len(boundaries)}")

    def schedule(count):
        value = schedules[0](count)
        for boundary, later in zip(boundaries, schedules[1:]):
            value = fnp.where(count < boundary, value, later(fnp.maximum(count - boundary, 0)))
        return value

    return schedule


__all__ = [
    "AdamState", "CountState", "EmptyState", "GradientTransformation", "Schedule",
    "SecondMomentState", "TraceState",
    "adagrad", "adam", "adamw", "add_decayed_weights", "apply_updates", "chain",
    "clip_by_global_norm", "constant", "cosine_decay", "exponential_decay", "global_norm",
    "join_schedules", "linear_warmup", "momentum", "rmsprop", "scale_by_adagrad", "scale_by_adam",
    "scale_by_learning_rate", "scale_by_rms", "sgd", "trace",
]
