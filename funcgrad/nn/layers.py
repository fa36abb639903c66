"""Layers as ``(init, apply)`` pairs, composed with ``serial``, ``parallel``
and ``residual``, in the style of ``jax.example_libraries.stax``.

A layer is a pair of pure functions:

- ``init(key, input_shape) -> (output_shape, params)``: the parameters (a
  pytree of arrays, float32 like JAX's) for inputs of ``input_shape``;
- ``apply(params, x, **kwargs) -> y``: the layer on an input.

Keyword arguments go to every sublayer, each taking what it knows:
``key`` (a ``funcgrad.random`` key, split among the sublayers; ``Dropout``
needs it), ``train`` (``Dropout`` and ``BatchNorm``: False by default, the
inference behaviour), ``mask`` (``MultiHeadAttention``).

Arrays are channels-last (as stax and Keras): a convolution or pool takes
``(*batch, *spatial, channels)``, with any number of leading batch axes,
none included, so ``vmap`` over examples works. ``Flatten`` keeps axis 0.

**Running state.** ``BatchNorm`` keeps running statistics outside its
parameters (they are not trained): a layer whose ``stateful`` is true has
``init_state(input_shape) -> state``, and its ``apply`` takes ``state=`` and
returns ``(y, new_state)``. A combinator with a stateful sublayer is
stateful: its state is a list with one entry per sublayer (``None`` for the
stateless ones). ``state=None`` means the initial state.

A layer is a ``Layer``: a 2-tuple (unpack it as ``init, apply = Dense(3)``)
that also knows its name, its shape rule and its sublayers, for ``summary``.
Plain ``(init, apply)`` tuples work in the combinators too.

Example:
    >>> import funcgrad.random as random
    >>> init, apply = serial(Dense(4), Relu, Dense(2))
    >>> out_shape, params = init(random.key(0), (8, 3))
    >>> out_shape, apply(params, np.ones((8, 3))).shape
    ((8, 2), (8, 2))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import product
from typing import Any

import numpy as np

import funcgrad.numpy as fnp
from funcgrad.errors import DtypeError, ShapeError
from funcgrad.nn import activations
from funcgrad.nn.initializers import Initializer, _random, glorot_normal, normal, ones, zeros
from funcgrad.numpy._core import aval_of, normalize_axes, result_dtype, shape_of
from funcgrad.primitives.convolution import conv_general_dilated
from funcgrad.transforms.custom_derivatives import stop_gradient
from funcgrad.tree import tree_leaves

__all__ = [
    "Layer", "Dense", "Conv", "MaxPool", "AvgPool", "Flatten", "Dropout", "LayerNorm", "BatchNorm",
    "Embedding", "MultiHeadAttention", "causal_mask", "elementwise",
    "Relu", "LeakyRelu", "Elu", "Gelu", "Silu", "Sigmoid", "Tanh", "Softplus", "Softmax",
    "LogSoftmax", "serial", "parallel", "residual", "FanOut", "FanInSum", "FanInConcat",
    "count_params", "summary",
]

Array = Any
Shape = tuple[int, ...]
Padding = str | Sequence[tuple[int, int]]


class Layer(tuple):
    """An ``(init, apply)`` pair that also knows its ``name``, its
    ``output_shape(input_shape)`` rule, its ``init_state`` (``None`` if it has
    no running state) and its sublayers (``children``, with ``child_inputs``
    giving their input shapes)."""

    def __new__(cls, name: str, init: Callable, apply: Callable, output_shape: Callable, *,
                init_state: Callable | None = None, children: Sequence[Layer] = (),
                child_inputs: Callable | None = None) -> Layer:
        layer = super().__new__(cls, (init, apply))
        layer.name, layer.output_shape, layer.init_state = name, output_shape, init_state
        layer.children, layer.child_inputs = tuple(children), child_inputs
        return layer

    @property
    def init(self) -> Callable:
        return self[0]

    @property
    def apply(self) -> Callable:
        return self[1]

    @property
    def stateful(self) -> bool:
        return self.init_state is not None

    def __repr__(self) -> str:
        return f"<Layer {self.name}>"


def _shape(shape: Sequence[int]) -> Shape:
    return tuple(int(d) for d in shape)


def _leaf(name: str, output_shape: Callable[[Shape], Shape], apply: Callable,
          make_params: Callable[[Any, Shape], Any] | None = None,
          init_state: Callable | None = None) -> Layer:
    """A layer without sublayers: ``init`` checks the shape, then makes the params."""
    def init(key: Any, input_shape: Sequence[int]) -> tuple[Shape, Any]:
        input_shape = _shape(input_shape)
        out = output_shape(input_shape)
        return out, () if make_params is None else make_params(key, input_shape)

    return Layer(name, init, apply, lambda s: output_shape(_shape(s)), init_state=init_state)


def _as_layer(layer: Any) -> Layer:
    """A ``Layer``, or a plain ``(init, apply)`` pair wrapped as one (its shape
    rule runs its ``init``)."""
    if isinstance(layer, Layer):
        return layer
    init, apply = layer
    return Layer("(init, apply)", init, apply, lambda s: init(_random().key(0), s)[0])


def _keys(key: Any, n: int) -> list[Any]:
    return [None] * n if key is None else list(_random().split(key, n))


def _check_rank(name: str, shape: Shape, rank: int, layout: str) -> None:
    if len(shape) < rank:
        raise ShapeError(f"{name}: inputs must be {layout}, got shape {shape}")


def _check_features(name: str, x: Array, expected: int, what: str = "features") -> None:
    """The input's last axis must have ``expected`` entries (the params' size)."""
    shape = tuple(shape_of(x))
    if not shape or shape[-1] != expected:
        raise ShapeError(f"{name}: input of shape {shape} does not fit the parameters, which expect "
                         f"{expected} {what} on the last axis")


# ---------------------------------------------------------------- Dense


def _dense(params: dict, x: Array) -> Array:
    return x @ params["w"] + params["b"]


def Dense(out_dim: int, w_init: Initializer | None = None, b_init: Initializer = zeros) -> Layer:
    """A fully connected layer ``x @ w + b`` over the last axis of ``x``;
    params ``{"w": (in, out_dim), "b": (out_dim,)}``.

    Example:
        >>> import funcgrad.random as random
        >>> init, apply = Dense(3)
        >>> shape, params = init(random.key(0), (5, 2))
        >>> shape, params["w"].shape
        ((5, 3), (2, 3))
    """
    name = f"Dense({out_dim})"
    w_init = w_init or glorot_normal()

    def output_shape(s: Shape) -> Shape:
        _check_rank(name, s, 1, "(..., features)")
        return (*s[:-1], out_dim)

    def make_params(key: Any, s: Shape) -> dict:
        k_w, k_b = _keys(key, 2)
        return {"w": w_init(k_w, (s[-1], out_dim)), "b": b_init(k_b, (out_dim,))}

    def apply(params: dict, x: Array, **kwargs: Any) -> Array:
        _check_features(name, x, shape_of(params["w"])[0])
        return _dense(params, x)

    return _leaf(name, output_shape, apply, make_params)


# ---------------------------------------------------------------- windows: Conv and pools


def _dilated(size: int, dilation: int) -> int:
    return (size - 1) * dilation + 1


def _tuple(name: str, what: str, value: Sequence[int] | None, n: int, default: int = 1) -> Shape:
    value = (default,) * n if value is None else _shape(value)
    if len(value) != n or min(value, default=1) < 1:
        raise ValueError(f"{name}: {what} must be {n} positive ints, got {value}")
    return value


def _pads(name: str, padding: Padding, spatial: Shape, window: Shape, strides: Shape,
          dilation: Shape) -> tuple[tuple[int, int], ...]:
    """``(low, high)`` padding per spatial axis: 'VALID' (none), 'SAME' (the
    output has ``ceil(size / stride)`` positions; the odd one goes high) or
    explicit pairs."""
    if isinstance(padding, str):
        if padding.upper() == "VALID":
            return ((0, 0),) * len(spatial)
        if padding.upper() == "SAME":
            totals = (max(((size + s - 1) // s - 1) * s + _dilated(k, d) - size, 0)
                      for size, k, s, d in zip(spatial, window, strides, dilation))
            return tuple((total // 2, total - total // 2) for total in totals)
        raise ValueError(f"{name}: padding must be 'SAME', 'VALID' or (low, high) pairs, got {padding!r}")
    pads = tuple((int(low), int(high)) for low, high in padding)
    if len(pads) != len(spatial):
        raise ValueError(f"{name}: padding needs one (low, high) pair per spatial axis "
                         f"({len(spatial)}), got {padding}")
    return pads


def _window_positions(name: str, input_shape: Shape, spatial: Shape, window: Shape, strides: Shape,
                      pads, dilation: Shape) -> Shape:
    out = []
    for size, k, s, (low, high), d in zip(spatial, window, strides, pads, dilation):
        span = size + low + high - _dilated(k, d)
        if span < 0:
            raise ShapeError(f"{name}: the window {window} does not fit in the spatial dimensions "
                             f"{spatial} of the input shape {input_shape} (with padding {pads})",
                             "pad the input (padding='SAME') or use a smaller window")
        out.append(span // s + 1)
    return tuple(out)


def _split_layout(name: str, s: Shape, n: int) -> tuple[Shape, Shape, int]:
    """``(*batch, *spatial, channels)`` -> batch, spatial, channels."""
    _check_rank(name, s, n + 1, f"(*batch, {n} spatial axes, channels)")
    return s[:len(s) - n - 1], s[len(s) - n - 1:-1], s[-1]


def Conv(out_channels: int, filter_shape: Sequence[int], strides: Sequence[int] | None = None,
         padding: Padding = "VALID", dilation: Sequence[int] | None = None,
         feature_group_count: int = 1, w_init: Initializer | None = None,
         b_init: Initializer = zeros) -> Layer:
    """A convolution (a cross-correlation, as in every deep-learning library)
    with ``len(filter_shape)`` spatial axes: 1-D, 2-D or more.

    Inputs are ``(*batch, *spatial, in_channels)``; params ``{"w": (*filter_shape,
    in_channels // feature_group_count, out_channels), "b": (out_channels,)}``
    (HWIO, as stax). ``padding``: 'VALID', 'SAME' or ``(low, high)`` per
    spatial axis; ``dilation`` spreads the filter (atrous);
    ``feature_group_count`` splits the channels into groups convolved
    separately (depthwise when it equals ``in_channels``).

    Example:
        >>> import funcgrad.random as random
        >>> init, apply = Conv(8, (3, 3), padding="SAME", strides=(2, 2))
        >>> shape, params = init(random.key(0), (4, 28, 28, 1))
        >>> shape, params["w"].shape
        ((4, 14, 14, 8), (3, 3, 1, 8))
    """
    window = _shape(filter_shape)
    n = len(window)
    name = f"Conv({out_channels}, {window})"
    strides, dilation = _tuple(name, "strides", strides, n), _tuple(name, "dilation", dilation, n)
    groups = feature_group_count
    w_init = w_init or glorot_normal()

    def output_shape(s: Shape) -> Shape:
        batch, spatial, channels = _split_layout(name, s, n)
        if channels % groups or out_channels % groups:
            raise ShapeError(f"{name}: feature_group_count={groups} must divide the input channels "
                             f"({channels}, of input shape {s}) and the output channels ({out_channels})")
        pads = _pads(name, padding, spatial, window, strides, dilation)
        out = _window_positions(name, s, spatial, window, strides, pads, dilation)
        return (*batch, *out, out_channels)

    def make_params(key: Any, s: Shape) -> dict:
        k_w, k_b = _keys(key, 2)
        return {"w": w_init(k_w, (*window, s[-1] // groups, out_channels)),
                "b": b_init(k_b, (out_channels,))}

    def apply(params: dict, x: Array, **kwargs: Any) -> Array:
        w = params["w"]
        batch, spatial, channels = _split_layout(name, tuple(shape_of(x)), n)
        _check_features(name, x, shape_of(w)[-2] * groups, "channels")
        dtype = result_dtype(x, w)
        # Channels-last to the primitive's (N, C, *spatial) and (O, I, *window).
        lhs = fnp.reshape(fnp.asarray(x, dtype), (math.prod(batch), *spatial, channels))
        lhs = fnp.transpose(lhs, (0, n + 1, *range(1, n + 1)))
        rhs = fnp.transpose(fnp.asarray(w, dtype), (n + 1, n, *range(n)))
        y = conv_general_dilated.bind(
            lhs, rhs, window_strides=strides,
            padding=_pads(name, padding, spatial, window, strides, dilation),
            lhs_dilation=(1,) * n, rhs_dilation=dilation, feature_group_count=groups)
        y = fnp.transpose(y, (0, *range(2, n + 2), 1))
        return fnp.reshape(y, (*batch, *shape_of(y)[1:])) + params["b"]

    return _leaf(name, output_shape, apply, make_params)


def _windows(x: Array, window: Shape, strides: Shape, pads, fill: float) -> Array:
    """Every window of ``x`` (channels-last, ``len(window)`` spatial axes),
    padded with ``fill``, stacked on a new axis 0: one strided slice per
    position within the window, so gradients flow through slices."""
    n = len(window)
    x = fnp.pad(x, [(0, 0)] * (len(shape_of(x)) - n - 1) + list(pads) + [(0, 0)], constant_values=fill)
    spatial = shape_of(x)[-n - 1:-1]
    counts = [(size - k) // s + 1 for size, k, s in zip(spatial, window, strides)]
    return fnp.stack([x[(..., *(slice(o, o + (c - 1) * s + 1, s) for o, c, s in zip(offset, counts, strides)),
                         slice(None))]
                      for offset in product(*map(range, window))])


def _pool(kind: str, window_shape: Sequence[int], strides: Sequence[int] | None, padding: Padding,
          reduce: Callable[..., Array]) -> Layer:
    """A pooling layer: ``reduce(x, window, strides, pads)`` pools ``x``."""
    window = _shape(window_shape)
    n = len(window)
    name = f"{kind}({window})"
    strides = _tuple(name, "strides", strides or window, n)
    ones_ = (1,) * n

    def output_shape(s: Shape) -> Shape:
        batch, spatial, channels = _split_layout(name, s, n)
        pads = _pads(name, padding, spatial, window, strides, ones_)
        return (*batch, *_window_positions(name, s, spatial, window, strides, pads, ones_), channels)

    def apply(params: Any, x: Array, **kwargs: Any) -> Array:
        _, spatial, _ = _split_layout(name, tuple(shape_of(x)), n)
        return reduce(x, window, strides, _pads(name, padding, spatial, window, strides, ones_))

    return _leaf(name, output_shape, apply)


def _max_of_windows(x: Array, window: Shape, strides: Shape, pads) -> Array:
    dtype = aval_of(x).dtype
    lowest = -np.inf if dtype.kind == "f" else np.iinfo(dtype).min
    return fnp.max(_windows(x, window, strides, pads, lowest), axis=0)


def _mean_of_windows(x: Array, window: Shape, strides: Shape, pads) -> Array:
    total = fnp.sum(_windows(x, window, strides, pads, 0), axis=0)
    # How many input entries each window holds: the same windows of ones.
    spatial = tuple(shape_of(x)[-len(window) - 1:-1])
    count = np.sum(_windows(np.ones((*spatial, 1)), window, strides, pads, 0), axis=0)
    return total / np.maximum(count, 1).astype(result_dtype(total, 1.0))


def MaxPool(window_shape: Sequence[int], strides: Sequence[int] | None = None,
            padding: Padding = "VALID") -> Layer:
    """The maximum over each window of ``(*batch, *spatial, channels)`` inputs.

    ``strides`` default to the window (non-overlapping windows, as Keras and
    PyTorch; stax's default is 1); padding counts as ``-inf``.

    Example:
        >>> init, apply = MaxPool((2,))
        >>> apply((), np.array([[1.0], [3.0], [2.0], [0.0]]))
        array([[3.],
               [2.]])
    """
    return _pool("MaxPool", window_shape, strides, padding, _max_of_windows)


def AvgPool(window_shape: Sequence[int], strides: Sequence[int] | None = None,
            padding: Padding = "VALID") -> Layer:
    """The mean over each window of ``(*batch, *spatial, channels)`` inputs;
    with padding, each window averages its input entries only (as stax).
    ``strides`` default to the window.

    Example:
        >>> init, apply = AvgPool((2,), padding="SAME")
        >>> apply((), np.array([[1.0], [3.0], [2.0]]))
        array([[2.],
               [2.]])
    """
    return _pool("AvgPool", window_shape, strides, padding, _mean_of_windows)


# ---------------------------------------------------------------- reshaping, dropout


def _flatten_shape(s: Shape) -> Shape:
    _check_rank("Flatten", s, 1, "(batch, ...)")
    return (s[0], math.prod(s[1:]))


Flatten = _leaf("Flatten", _flatten_shape,
                lambda params, x, **kwargs: fnp.reshape(x, _flatten_shape(tuple(shape_of(x)))))
Flatten.__doc__ = "Flattens all axes but the first: ``(batch, ...) -> (batch, size)``."


def Dropout(rate: float) -> Layer:
    """Zeroes each entry with probability ``rate`` and scales the rest by
    ``1 / (1 - rate)`` when ``train=True`` (then ``key=`` is needed);
    the identity otherwise (the default).

    Example:
        >>> import funcgrad.random as random
        >>> init, apply = Dropout(0.5)
        >>> y = apply((), np.ones(1000), key=random.key(0), train=True)
        >>> sorted(set(y.tolist())), bool(0.9 < y.mean() < 1.1)
        ([0.0, 2.0], True)
    """
    if not 0 <= rate < 1:
        raise ValueError(f"Dropout: rate must be in [0, 1), got {rate}")
    name = f"Dropout({rate})"

    def apply(params: Any, x: Array, key: Any = None, train: bool = False, **kwargs: Any) -> Array:
        if not train or rate == 0:
            return x
        if key is None:
            raise ValueError(f"{name}: train=True needs a random key: apply(params, x, key=key, train=True)")
        keep = _random().bernoulli(key, 1.0 - rate, tuple(shape_of(x)))
        return fnp.where(keep, x / (1.0 - rate), 0)

    return _leaf(name, lambda s: s, apply)


# ---------------------------------------------------------------- normalization


def _normalize(x: Array, mean: Array, var: Array, epsilon: float, params: dict) -> Array:
    return (x - mean) / fnp.sqrt(var + epsilon) * params["scale"] + params["bias"]


def LayerNorm(axis: int | Sequence[int] = -1, epsilon: float = 1e-5, scale_init: Initializer = ones,
              bias_init: Initializer = zeros) -> Layer:
    """Normalizes each example over ``axis`` (the features, by default the
    last axis) to mean 0 and variance 1, then scales and shifts:
    ``(x - mean) / sqrt(var + epsilon) * scale + bias``.

    Params ``{"scale", "bias"}`` have the shape of the normalized axes (axes
    are counted from the end, so leading batch axes may come and go).

    Example:
        >>> import funcgrad.random as random
        >>> init, apply = LayerNorm()
        >>> _, params = init(random.key(0), (2, 4))
        >>> np.round(apply(params, np.array([[1.0, 2.0, 3.0, 4.0]] * 2)), 4)[0]
        array([-1.3416, -0.4472,  0.4472,  1.3416])
    """
    name = "LayerNorm"
    axes_from_end = tuple(sorted({int(a) for a in np.atleast_1d(axis)}))
    if axes_from_end[-1] >= 0 or len(axes_from_end) != np.size(axis):
        raise ValueError(f"{name}: axis must be distinct negative ints (counted from the end, so "
                         f"leading batch axes may vary), got {axis}")

    def axes_of(shape: Shape) -> tuple[int, ...]:
        return normalize_axes(axes_from_end, len(shape), name)

    def params_shape(shape: Shape) -> Shape:
        # The normalized axes, and 1 for any axis between them, up to the end.
        first = len(shape) + axes_from_end[0]
        axes = axes_of(shape)
        return tuple(shape[d] if d in axes else 1 for d in range(first, len(shape)))

    def output_shape(s: Shape) -> Shape:
        _check_rank(name, s, -axes_from_end[0], f"at least {-axes_from_end[0]}-D for axis={axis}")
        return s

    def make_params(key: Any, s: Shape) -> dict:
        k_scale, k_bias = _keys(key, 2)
        return {"scale": scale_init(k_scale, params_shape(s)), "bias": bias_init(k_bias, params_shape(s))}

    def apply(params: dict, x: Array, **kwargs: Any) -> Array:
        shape = tuple(shape_of(x))
        output_shape(shape)
        if params_shape(shape) != tuple(shape_of(params["scale"])):
            raise ShapeError(f"{name}: input of shape {shape} does not fit parameters of shape "
                             f"{tuple(shape_of(params['scale']))}")
        axes = axes_of(shape)
        mean = fnp.mean(x, axis=axes, keepdims=True)
        var = fnp.var(x, axis=axes, keepdims=True)
        return _normalize(x, mean, var, epsilon, params)

    return _leaf(name, output_shape, apply, make_params)


def BatchNorm(epsilon: float = 1e-5, momentum: float = 0.9, scale_init: Initializer = ones,
              bias_init: Initializer = zeros) -> Layer:
    """Batch normalization over every axis but the last (the channels).

    Stateful: ``apply(params, x, state=state, train=False) -> (y, new_state)``.
    With ``train=True`` it normalizes by the batch's mean and (biased)
    variance, and returns the running statistics updated as ``momentum * old
    + (1 - momentum) * batch``; otherwise it normalizes by the running
    statistics and returns them unchanged.  ``state`` is ``{"mean", "var"}``
    (zeros and ones from ``init_state(input_shape)``, or when
    ``state=None``); params are ``{"scale", "bias"}``, one per channel.

    Example:
        >>> import funcgrad.random as random
        >>> layer = BatchNorm()
        >>> _, params = layer.init(random.key(0), (8, 3))
        >>> x = np.arange(24.0).reshape(8, 3)
        >>> y, state = layer.apply(params, x, state=layer.init_state((8, 3)), train=True)
        >>> np.round(y.mean(axis=0), 6), state["mean"]
        (array([0., 0., 0.]), array([1.05, 1.15, 1.25], dtype=float32))
    """
    name = "BatchNorm"

    def output_shape(s: Shape) -> Shape:
        _check_rank(name, s, 1, "(..., channels)")
        return s

    def make_params(key: Any, s: Shape) -> dict:
        k_scale, k_bias = _keys(key, 2)
        return {"scale": scale_init(k_scale, s[-1:]), "bias": bias_init(k_bias, s[-1:])}

    def init_state(input_shape: Sequence[int]) -> dict:
        channels = output_shape(_shape(input_shape))[-1:]
        return {"mean": zeros(None, channels), "var": ones(None, channels)}

    def apply(params: dict, x: Array, state: dict | None = None, train: bool = False,
              **kwargs: Any) -> tuple[Array, dict]:
        _check_features(name, x, shape_of(params["scale"])[0], "channels")
        state = init_state(shape_of(x)) if state is None else state
        if not train:
            return _normalize(x, state["mean"], state["var"], epsilon, params), state
        axes = tuple(range(len(shape_of(x)) - 1))
        mean, var = fnp.mean(x, axis=axes), fnp.var(x, axis=axes)
        # The running statistics are bookkeeping: no derivative, and they keep their dtype.
        new_state = {k: (momentum * state[k] + (1 - momentum) * stop_gradient(batch)).astype(
            aval_of(state[k]).dtype) for k, batch in (("mean", mean), ("var", var))}
        return _normalize(x, mean, var, epsilon, params), new_state

    return _leaf(name, output_shape, apply, make_params, init_state)


# ---------------------------------------------------------------- embeddings and attention


def Embedding(vocab_size: int, features: int, init: Initializer | None = None) -> Layer:
    """A lookup table: integer ids of any shape to vectors,
    ``(*ids_shape) -> (*ids_shape, features)``; params ``{"table": (vocab_size,
    features)}``, drawn from ``N(0, 1)`` by default.

    Example:
        >>> import funcgrad.random as random
        >>> init, apply = Embedding(10, 4)
        >>> _, params = init(random.key(0), (2, 5))
        >>> apply(params, np.zeros((2, 5), np.int32)).shape
        (2, 5, 4)
    """
    name = f"Embedding({vocab_size}, {features})"
    init = init or normal(1.0)

    def apply(params: dict, ids: Array, **kwargs: Any) -> Array:
        if aval_of(ids).dtype.kind not in "iu":
            raise DtypeError(f"{name}: ids must be integers, got {aval_of(ids).dtype}")
        return fnp.take(params["table"], ids, axis=0)

    return _leaf(name, lambda s: (*s, features), apply,
                 lambda key, s: {"table": init(key, (vocab_size, features))})


def causal_mask(length: int) -> np.ndarray:
    """The boolean mask that lets position ``i`` attend to positions ``<= i``.

    Example:
        >>> causal_mask(3)
        array([[ True, False, False],
               [ True,  True, False],
               [ True,  True,  True]])
    """
    return np.tril(np.ones((length, length), bool))


def MultiHeadAttention(num_heads: int, head_dim: int | None = None, out_dim: int | None = None,
                       w_init: Initializer | None = None, b_init: Initializer = zeros) -> Layer:
    """Multi-head self-attention over ``(..., length, features)`` inputs:
    ``softmax(q k^T / sqrt(head_dim)) v`` per head, then an output projection.

    ``head_dim`` defaults to ``features // num_heads``, ``out_dim`` to
    ``features``. ``apply(params, x, mask=None)``: a boolean ``mask``
    broadcasting to ``(..., num_heads, length, length)`` (query by key) lets
    a query attend where it is True, e.g. ``causal_mask(length)``. Params:
    ``{"query", "key", "value", "out"}``, each ``{"w", "b"}`` as ``Dense``.

    Example:
        >>> import funcgrad.random as random
        >>> init, apply = MultiHeadAttention(num_heads=2)
        >>> _, params = init(random.key(0), (3, 5, 8))
        >>> apply(params, np.ones((3, 5, 8)), mask=causal_mask(5)).shape
        (3, 5, 8)
    """
    name = f"MultiHeadAttention({num_heads})"
    w_init = w_init or glorot_normal()

    def dims(s: Shape) -> tuple[int, int]:
        _check_rank(name, s, 2, "(..., length, features)")
        features = s[-1]
        if head_dim is None and features % num_heads:
            raise ShapeError(f"{name}: {num_heads} heads do not divide the {features} features of the "
                             f"input shape {s}", "pass head_dim=")
        return head_dim or features // num_heads, out_dim or features

    def make_params(key: Any, s: Shape) -> dict:
        size, out = dims(s)
        shapes = {"query": (s[-1], num_heads * size), "key": (s[-1], num_heads * size),
                  "value": (s[-1], num_heads * size), "out": (num_heads * size, out)}
        keys = _keys(key, 2 * len(shapes))
        return {part: {"w": w_init(keys[2 * i], shape), "b": b_init(keys[2 * i + 1], shape[1:])}
                for i, (part, shape) in enumerate(shapes.items())}

    def heads(params: dict, x: Array) -> Array:
        """(..., length, heads * size) -> (..., length, heads, size)."""
        y = _dense(params, x)
        shape = tuple(shape_of(y))
        return fnp.reshape(y, (*shape[:-1], num_heads, shape[-1] // num_heads))

    def apply(params: dict, x: Array, mask: Array | None = None, **kwargs: Any) -> Array:
        _check_features(name, x, shape_of(params["query"]["w"])[0])
        q, k, v = (heads(params[part], x) for part in ("query", "key", "value"))
        logits = fnp.einsum("...qhd,...khd->...hqk", q, k) / math.sqrt(shape_of(q)[-1])
        if mask is not None:
            logits = fnp.where(_check_mask(mask, tuple(shape_of(logits))), logits,
                               np.finfo(aval_of(logits).dtype).min)
        attended = fnp.einsum("...hqk,...khd->...qhd", activations.softmax(logits), v)
        shape = tuple(shape_of(attended))
        return _dense(params["out"], fnp.reshape(attended, (*shape[:-2], shape[-2] * shape[-1])))

    def _check_mask(mask: Array, logits_shape: Shape) -> Array:
        if aval_of(mask).dtype != np.bool_:
            raise DtypeError(f"{name}: mask must be boolean (True: attend), got {aval_of(mask).dtype}")
        mask_shape = tuple(shape_of(mask))
        try:
            np.broadcast_shapes(mask_shape, logits_shape)
        except ValueError:
            raise ShapeError(f"{name}: mask of shape {mask_shape} does not broadcast to the attention "
                             f"logits (..., heads, queries, keys) of shape {logits_shape}") from None
        return mask

    return _leaf(name, lambda s: (*s[:-1], dims(s)[1]), apply, make_params)


# ---------------------------------------------------------------- activations as layers


def elementwise(fn: Callable, **fn_kwargs: Any) -> Layer:
    """A parameterless layer applying ``fn(x, **fn_kwargs)``.

    Example:
        >>> init, apply = elementwise(activations.leaky_relu, negative_slope=0.1)
        >>> apply((), np.array([-1.0, 1.0]))
        array([-0.1,  1. ])
    """
    settings = ", ".join(f"{k}={v!r}" for k, v in fn_kwargs.items())
    name = fn.__name__ + (f"({settings})" if settings else "")
    return _leaf(name, lambda s: s, lambda params, x, **kwargs: fn(x, **fn_kwargs))


Relu = elementwise(activations.relu)
LeakyRelu = elementwise(activations.leaky_relu)
Elu = elementwise(activations.elu)
Gelu = elementwise(activations.gelu)
Silu = elementwise(activations.silu)
Sigmoid = elementwise(activations.sigmoid)
Tanh = elementwise(activations.tanh)
Softplus = elementwise(activations.softplus)
Softmax = elementwise(activations.softmax)
LogSoftmax = elementwise(activations.log_softmax)


# ---------------------------------------------------------------- combinators


def _call(layer: Layer, params: Any, x: Array, key: Any, state: Any, kwargs: dict) -> tuple[Array, Any]:
    """``layer`` on ``x``: its output and its new state (``None`` if stateless)."""
    if layer.stateful:
        return layer.apply(params, x, key=key, state=state, **kwargs)
    return layer.apply(params, x, key=key, **kwargs), None


def _check_count(name: str, what: str, values: Any, n: int) -> None:
    if values is not None and len(values) != n:
        raise ValueError(f"{name}: expected {what} for {n} layers, got {len(values)}")


def _combinator(name: str, layers: Sequence[Any], chained: bool) -> Layer:
    """``serial`` (``chained``: each layer takes the previous output) or
    ``parallel`` (layer ``i`` takes input ``i`` of a tuple)."""
    layers = [_as_layer(layer) for layer in layers]
    n = len(layers)

    def child_inputs(input_shape: Any) -> list[Any]:
        if not chained:
            _check_count(name, "input shapes", input_shape, n)
            return list(input_shape)
        shapes = []
        for layer in layers:
            shapes.append(input_shape)
            input_shape = layer.output_shape(input_shape)
        return shapes

    def output_shape(input_shape: Any) -> Any:
        shapes = child_inputs(input_shape)
        if chained:
            return layers[-1].output_shape(shapes[-1]) if layers else input_shape
        return tuple(layer.output_shape(s) for layer, s in zip(layers, shapes))

    def init(key: Any, input_shape: Any) -> tuple[Any, list]:
        outs, params = [], []
        for layer, k, s in zip(layers, _keys(key, n), child_inputs(input_shape)):
            out, p = layer.init(k, s)
            outs.append(out)
            params.append(p)
        return (outs[-1] if outs else input_shape) if chained else tuple(outs), params

    def init_state(input_shape: Any) -> list:
        return [layer.init_state(s) if layer.stateful else None
                for layer, s in zip(layers, child_inputs(input_shape))]

    def apply(params: list, x: Any, key: Any = None, state: list | None = None, **kwargs: Any) -> Any:
        _check_count(name, "params", params, n)
        _check_count(name, "states", state, n)
        if not chained:
            _check_count(name, "inputs", x, n)
        outs, new_state = [], []
        states = [None] * n if state is None else state
        for i, (layer, k, s) in enumerate(zip(layers, _keys(key, n), states)):
            y, s = _call(layer, params[i], x if chained else x[i], k, s, kwargs)
            outs.append(y)
            new_state.append(s)
            if chained:
                x = y
        y = x if chained else tuple(outs)
        return (y, new_state) if stateful else y

    stateful = any(layer.stateful for layer in layers)
    return Layer(name, init, apply, output_shape, init_state=init_state if stateful else None,
                 children=layers, child_inputs=child_inputs)


def serial(*layers: Any) -> Layer:
    """The layers one after another; params are a list, one entry per layer.

    Example:
        >>> import funcgrad.random as random
        >>> init, apply = serial(Dense(3), Tanh)
        >>> shape, params = init(random.key(0), (2, 5))
        >>> shape, len(params)
        ((2, 3), 2)
    """
    return _combinator("serial", layers, chained=True)


def parallel(*layers: Any) -> Layer:
    """Layer ``i`` on input ``i``: takes and returns tuples (input shapes too);
    combine with ``FanOut`` and ``FanInSum`` / ``FanInConcat``.

    Example:
        >>> import funcgrad.random as random
        >>> init, apply = serial(FanOut(2), parallel(Dense(3), Dense(4)), FanInConcat())
        >>> init(random.key(0), (2, 5))[0]
        (2, 7)
    """
    return _combinator("parallel", layers, chained=False)


def residual(*layers: Any) -> Layer:
    """``x + serial(*layers)(x)``: the layers must keep the shape.

    Example:
        >>> import funcgrad.random as random
        >>> init, apply = residual(Dense(4), Relu)
        >>> init(random.key(0), (2, 4))[0]
        (2, 4)
    """
    body = serial(*layers)

    def output_shape(input_shape: Any) -> Any:
        out = body.output_shape(input_shape)
        if tuple(out) != tuple(input_shape):
            raise ShapeError(f"residual: the layers map shape {tuple(input_shape)} to {tuple(out)}; a "
                             "residual connection x + f(x) needs them equal")
        return out

    def init(key: Any, input_shape: Any) -> tuple[Any, list]:
        output_shape(input_shape)
        return body.init(key, input_shape)

    def apply(params: list, x: Array, key: Any = None, state: list | None = None, **kwargs: Any) -> Any:
        y, new_state = _call(body, params, x, key, state, kwargs)
        return (x + y, new_state) if body.stateful else x + y

    return Layer("residual", init, apply, output_shape, init_state=body.init_state,
                 children=body.children, child_inputs=body.child_inputs)


def FanOut(num: int) -> Layer:
    """Copies the input into a tuple of ``num`` (for ``parallel``).

    Example:
        >>> FanOut(2).apply((), np.ones(1))
        (array([1.]), array([1.]))
    """
    return _leaf(f"FanOut({num})", lambda s: (s,) * num, lambda params, x, **kwargs: (x,) * num)


def _fan_in_sum_shape(shapes: Any) -> Shape:
    shapes = [tuple(s) for s in shapes]
    if len(set(shapes)) > 1:
        raise ShapeError(f"FanInSum: inputs must have one shape, got {shapes}")
    return shapes[0]


FanInSum = Layer("FanInSum", lambda key, shapes: (_fan_in_sum_shape(shapes), ()),
                 lambda params, xs, **kwargs: sum(xs[1:], xs[0]), _fan_in_sum_shape)
FanInSum.__doc__ = "Sums a tuple of inputs of one shape (after ``parallel``)."


def FanInConcat(axis: int = -1) -> Layer:
    """Concatenates a tuple of inputs along ``axis`` (after ``parallel``).

    Example:
        >>> FanInConcat().apply((), (np.zeros((1, 2)), np.ones((1, 1))))
        array([[0., 0., 1.]])
    """
    name = f"FanInConcat({axis})"

    def output_shape(shapes: Any) -> Shape:
        shapes = [tuple(s) for s in shapes]
        rank = len(shapes[0])
        a = normalize_axes(axis, rank, name)[0]
        if any(len(s) != rank or s[:a] + s[a + 1:] != shapes[0][:a] + shapes[0][a + 1:] for s in shapes):
            raise ShapeError(f"{name}: inputs of shapes {shapes} differ off axis {axis}")
        return (*shapes[0][:a], sum(s[a] for s in shapes), *shapes[0][a + 1:])

    return Layer(name, lambda key, shapes: (output_shape(shapes), ()),
                 lambda params, xs, **kwargs: fnp.concatenate(xs, axis=axis), output_shape)


# ---------------------------------------------------------------- inspection


def count_params(params: Any) -> int:
    """The number of parameters (array entries) in a pytree.

    Example:
        >>> count_params({"w": np.zeros((3, 4)), "b": np.zeros(4)})
        16
    """
    return sum(math.prod(shape_of(leaf)) for leaf in tree_leaves(params))


def summary(layer_or_layers: Any, input_shape: Any, key: Any = None) -> str:
    """A table of the layers (nested ones indented), their output shapes and
    parameter counts, with the total.  A list of layers is read as ``serial``;
    the parameters are made by ``init`` with ``key`` (default ``key(0)``).

    Example:
        >>> print(summary([Dense(8), Relu, Dense(2)], (32, 4)))
        Layer     Output shape  Params
        ------------------------------
        Dense(8)  (32, 8)           40
        relu      (32, 8)            0
        Dense(2)  (32, 2)           18
        ------------------------------
        Total params: 58
    """
    layer = layer_or_layers if isinstance(layer_or_layers, Layer) else serial(*layer_or_layers)
    _, params = layer.init(_random().key(0) if key is None else key, input_shape)
    rows: list[tuple[str, str, str]] = []

    def add(layer: Layer, shape: Any, params: Any, depth: int) -> None:
        rows.append(("  " * depth + layer.name, str(layer.output_shape(shape)), f"{count_params(params):,}"))
        walk(layer, shape, params, depth + 1)

    def walk(layer: Layer, shape: Any, params: Any, depth: int) -> None:
        for child, s, p in zip(layer.children, layer.child_inputs(shape) if layer.children else (), params):
            add(child, s, p, depth)

    if layer.children:  # the top-level combinator's rows are its layers
        walk(layer, input_shape, params, 0)
    else:
        add(layer, input_shape, params, 0)
    header = ("Layer", "Output shape", "Params")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]

    def line(row: tuple[str, str, str]) -> str:
        return f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}"

    rule = "-" * len(line(header))
    return "\n".join([line(header), rule, *map(line, rows), rule,
                      f"Total params: {count_params(params):,}"])
