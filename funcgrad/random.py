"""Functional random numbers: keys, ``split``, ``fold_in`` and distributions.

A key is a plain ``uint32`` array of shape ``(2,)``.  Nothing is stateful:
every function takes a key and returns the same numbers for the same key,
eager or traced, batched under ``fg.vmap`` or not.  Draw from a key once and
``split`` it for more streams.  The bits come from the counter-based
Threefry-2x32 cipher (the ``threefry2x32`` primitive) applied to the key and
the position of each element; everything else is ``funcgrad.numpy`` code, so
it traces and batches like any other function.

The numbers are JAX's (``jax.random`` with its default ``threefry2x32``
implementation and ``jax_threefry_partitionable``; 64-bit types as with
``jax_enable_x64``).  Bit for bit: ``key``, ``split``, ``fold_in``, ``bits``,
``uniform`` on [0, 1), ``bernoulli``, ``randint``, ``permutation`` and
``choice`` without ``p``.  The rest evaluates JAX's formulas, but XLA's
``log1p`` and its fused multiply-adds round differently from NumPy:
``normal``, bounded ``uniform``, ``truncated_normal``, ``gamma`` and ``beta``
agree to a few ulps, and the draws decided by comparing floats
(``categorical``, ``choice`` with ``p``) agree unless two candidates are
that close.

Example:
    >>> import funcgrad as fg, numpy as np
    >>> from funcgrad import random
    >>> k = random.key(0)
    >>> k
    array([0, 0], dtype=uint32)
    >>> data_key, init_key = random.split(k)
    >>> random.bits(data_key, (3,))
    array([3617712097,  783310428,  975722988], dtype=uint32)
    >>> keys = random.split(init_key, 4)
    >>> batched = fg.vmap(lambda k: random.normal(k, (3,)))(keys)
    >>> bool(np.all(batched[2] == random.normal(keys[2], (3,))))
    True
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

import funcgrad.numpy as fnp
from funcgrad.control_flow import while_loop
from funcgrad.errors import DtypeError, ShapeError
from funcgrad.numpy._core import aval_of, is_tracer, normalize_axis, shape_of
from funcgrad.primitives.random_bits import threefry2x32
from funcgrad.primitives.structural import iota
from funcgrad.special import erf
from funcgrad.transforms.batching import vmap
from funcgrad.transforms.custom_derivatives import stop_gradient

__all__ = ["key", "split", "fold_in", "bits", "uniform", "normal", "truncated_normal", "bernoulli",
           "categorical", "randint", "permutation", "choice", "gamma", "beta"]

Shape = int | Sequence[int]
_UINT = {8: np.dtype(np.uint8), 16: np.dtype(np.uint16), 32: np.dtype(np.uint32), 64: np.dtype(np.uint64)}


# ---------------------------------------------------------------- checking arguments


def _array(x: Any) -> Any:
    return x if is_tracer(x) else np.asarray(x)


def _key(name: str, key: Any) -> Any:
    """``key`` as an array, or an error saying what a key is."""
    key = _array(key)
    aval = aval_of(key)
    if aval.dtype == np.uint32 and aval.shape == (2,):
        return key
    batch = aval.dtype == np.uint32 and aval.shape[-1:] == (2,)
    raise (ShapeError if aval.dtype == np.uint32 else DtypeError)(
        f"{name}: a key is a uint32 array of shape (2,), got {aval.dtype}{list(aval.shape)}",
        "to draw from a batch of keys, map over it with fg.vmap" if batch
        else "make a key with fg.random.key(seed), and more keys with split")


def _integer_scalar(name: str, what: str, value: Any, fix: str) -> Any:
    """``value`` as an integer scalar array, or an error naming it ``what``."""
    value = _array(value)
    aval = aval_of(value)
    if aval.dtype.kind not in "iu":
        raise DtypeError(f"{name}: {what} must be an integer, got {aval.dtype}")
    if aval.shape:
        raise ShapeError(f"{name}: {what} must be a scalar, got shape {aval.shape}", fix)
    return value


def _shape(name: str, shape: Shape) -> tuple[int, ...]:
    """``shape`` (an int or a sequence of ints) as a tuple of non-negative ints."""
    dims = (shape,) if isinstance(shape, (int, np.integer)) else shape
    try:
        dims = tuple(operator.index(d) for d in dims)
    except TypeError:
        dims = None
    if dims is None or any(d < 0 for d in dims):
        raise ShapeError(f"{name}: shape must be a tuple of non-negative ints, got {shape!r}")
    return dims


def _shape_for(name: str, shape: Shape | None, *param_shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The result shape: ``shape``, to which the parameters' shapes must
    broadcast, or by default their broadcast shape."""
    shape = None if shape is None else _shape(name, shape)
    try:
        joint = np.broadcast_shapes(*param_shapes)
        if shape is None or np.broadcast_shapes(shape, joint) == shape:
            return joint if shape is None else shape
    except ValueError:
        pass
    listed = " ".join(map(str, param_shapes))
    raise ShapeError(f"{name}: parameters of shapes {listed} do not broadcast to {shape}")


def _dtype(name: str, dtype: Any, kind: str, what: str) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind not in kind or (kind == "f" and dtype.itemsize not in (2, 4, 8)):
        raise DtypeError(f"{name}: dtype must be {what}, got {dtype}")
    return dtype


def _float_param(name: str, value: Any) -> Any:
    """A parameter whose float dtype sets the result's (``bernoulli``'s ``p``, ``categorical``'s logits)."""
    value = _array(value)
    if aval_of(value).dtype.kind != "f":
        raise DtypeError(f"{name}: needs floating-point values, got {aval_of(value).dtype}",
                         "pass floats, e.g. x.astype(float)")
    return value


# ---------------------------------------------------------------- keys and bits


def _blocks(key: Any, shape: tuple[int, ...]) -> tuple[Any, Any]:
    """Threefry of the 64-bit counters 0, 1, ... (row-major over ``shape``):
    two uint32 arrays of ``shape``."""
    size = math.prod(shape)
    if size >= 2 ** 32:
        raise ShapeError(f"random: {size} numbers at once is more than 2**32")
    low = fnp.reshape(iota.bind(dtype=_UINT[32], shape=(size,), dimension=0), shape)
    return threefry2x32.bind(fnp.broadcast_to(key[0], shape), fnp.broadcast_to(key[1], shape),
                             fnp.zeros_like(low), low)


def _split(key: Any, shape: tuple[int, ...]) -> Any:
    return fnp.stack(_blocks(key, shape), axis=-1)


def _bits(key: Any, nbits: int, shape: tuple[int, ...]) -> Any:
    high, low = _blocks(key, shape)
    if nbits == 64:
        return (high.astype(_UINT[64]) << 32) | low.astype(_UINT[64])
    return (high ^ low).astype(_UINT[nbits])


def key(seed: Any) -> Any:
    """The key for an integer seed: its 64 bits as two uint32 (high, low).

    Example:
        >>> key(42)
        array([ 0, 42], dtype=uint32)
        >>> key(-1)
        array([4294967295, 4294967295], dtype=uint32)
    """
    seed = _integer_scalar("key", "the seed", seed,
                           "for many keys, split one key, or map key over seeds with fg.vmap")
    seed = seed.astype(_UINT[64] if aval_of(seed).dtype == np.uint64 else np.int64)
    return fnp.stack([(seed >> 32).astype(_UINT[32]), seed.astype(_UINT[32])])


def split(key: Any, num: Shape = 2) -> Any:
    """``num`` new keys (``num`` an int or a shape): an array of shape ``(*num, 2)``.

    Example:
        >>> split(key(0), 3).shape
        (3, 2)
    """
    return _split(_key("split", key), _shape("split", num))


def fold_in(key: Any, data: Any) -> Any:
    """A new key from ``key`` and an integer (taken modulo 2**32): the same
    as ``split(key, n)[data]`` for any ``n > data``.

    Example:
        >>> bool(np.all(fold_in(key(0), 3) == split(key(0), 5)[3]))
        True
    """
    key = _key("fold_in", key)
    data = _integer_scalar("fold_in", "data", data, "to fold in many values, map over them with fg.vmap")
    data = data.astype(_UINT[32])
    return fnp.stack(threefry2x32.bind(key[0], key[1], fnp.zeros_like(data), data))


def bits(key: Any, shape: Shape = (), dtype: Any = np.uint32) -> Any:
    """Uniformly random unsigned integers of ``dtype`` (8 to 64 bits).

    Example:
        >>> bits(key(0), (2,), np.uint8)
        array([167, 146], dtype=uint8)
    """
    dtype = _dtype("bits", dtype, "u", "an unsigned integer type")
    return _bits(_key("bits", key), 8 * dtype.itemsize, _shape("bits", shape))


# ---------------------------------------------------------------- floats


def _uniform(key: Any, shape: tuple[int, ...], dtype: np.dtype, minval: Any, maxval: Any) -> Any:
    info = np.finfo(dtype)
    # Random mantissa bits as a number in [0, 1): JAX's bitcast of
    # ``(bits >> (nbits - nmant)) | bits(1.0)`` minus 1.0, computed exactly.
    mantissa = _bits(key, info.bits, shape) >> (info.bits - info.nmant)
    floats = mantissa.astype(dtype) * 2.0 ** -info.nmant
    minval, maxval = fnp.asarray(minval, dtype), fnp.asarray(maxval, dtype)
    return fnp.maximum(minval, floats * (maxval - minval) + minval)


def uniform(key: Any, shape: Shape = (), dtype: Any = np.float64, minval: Any = 0.0,
            maxval: Any = 1.0) -> Any:
    """Uniform floats in ``[minval, maxval)``; the bounds broadcast to ``shape``.

    Example:
        >>> uniform(key(0), (3,), np.float32)
        array([0.947667  , 0.9785799 , 0.33229148], dtype=float32)
    """
    dtype = _dtype("uniform", dtype, "f", "a float type")
    shape = _shape_for("uniform", shape, shape_of(minval), shape_of(maxval))
    return _uniform(_key("uniform", key), shape, dtype, minval, maxval)


def _normal(key: Any, shape: tuple[int, ...], dtype: np.dtype) -> Any:
    # The inverse CDF of a uniform in (-1, 1), as JAX does.
    low = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype))
    return np.array(np.sqrt(2), dtype) * _erfinv(_uniform(key, shape, dtype, low, 1.0))


def normal(key: Any, shape: Shape = (), dtype: Any = np.float64) -> Any:
    """Standard normal floats.

    Example:
        >>> normal(key(0), (3,), np.float32)
        array([ 1.6226422 ,  2.0252647 , -0.43359444], dtype=float32)
    """
    dtype = _dtype("normal", dtype, "f", "a float type")
    return _normal(_key("normal", key), _shape("normal", shape), dtype)


def truncated_normal(key: Any, lower: Any, upper: Any, shape: Shape | None = None,
                     dtype: Any = np.float64) -> Any:
    """Standard normal floats conditioned to lie in ``(lower, upper)``; by
    default the result has the bounds' broadcast shape.

    Example:
        >>> bool(np.all(np.abs(truncated_normal(key(0), -1.0, 1.0, (100,))) < 1))
        True
    """
    dtype = _dtype("truncated_normal", dtype, "f", "a float type")
    shape = _shape_for("truncated_normal", shape, shape_of(lower), shape_of(upper))
    sqrt2 = np.array(np.sqrt(2), dtype)
    lower, upper = fnp.asarray(lower, dtype), fnp.asarray(upper, dtype)
    u = _uniform(_key("truncated_normal", key), shape, dtype, erf(lower / sqrt2), erf(upper / sqrt2))
    # Rounding may land on a bound: clamp into the open interval.
    inside = [fnp.nextafter(stop_gradient(bound), np.array(toward, dtype))
              for bound, toward in ((lower, np.inf), (upper, -np.inf))]
    return fnp.clip(sqrt2 * _erfinv(u), *inside)


def bernoulli(key: Any, p: Any = 0.5, shape: Shape | None = None) -> Any:
    """Booleans that are True with probability ``p`` (floats, broadcast to ``shape``).

    Example:
        >>> bernoulli(key(0), 0.5, (4,))
        array([ True,  True, False, False])
    """
    p = _float_param("bernoulli", p)
    shape = _shape_for("bernoulli", shape, shape_of(p))
    return _uniform(_key("bernoulli", key), shape, aval_of(p).dtype, 0.0, 1.0) < p


def _gumbel(key: Any, shape: tuple[int, ...], dtype: np.dtype) -> Any:
    return -fnp.log(-fnp.log(_uniform(key, shape, dtype, np.finfo(dtype).tiny, 1.0)))


def categorical(key: Any, logits: Any, axis: int = -1, shape: Shape | None = None) -> Any:
    """Indices drawn with probabilities ``softmax(logits, axis)`` (the Gumbel-max
    trick); ``shape`` defaults to the logits' shape without ``axis``, and may
    add leading dimensions for more draws.

    Example:
        >>> categorical(key(0), np.log([0.2, 0.8]), shape=(6,))
        array([1, 0, 1, 1, 1, 0])
    """
    logits = _float_param("categorical", logits)
    logits_shape = tuple(shape_of(logits))
    axis = normalize_axis(axis, len(logits_shape), "categorical")
    batch_shape = logits_shape[:axis] + logits_shape[axis + 1:]
    shape = _shape_for("categorical", shape, batch_shape)
    prefix = shape[:len(shape) - len(batch_shape)]
    rest = shape[len(prefix):]  # the batch shape, broadcast
    noise_shape = prefix + rest[:axis] + logits_shape[axis:axis + 1] + rest[axis:]
    noise = _gumbel(_key("categorical", key), noise_shape, aval_of(logits).dtype)
    return fnp.argmax(noise + logits, axis=len(prefix) + axis)


# ---------------------------------------------------------------- integers


def _clipped(value: Any, dtype: np.dtype) -> Any:
    """Integers converted to ``dtype``, clipping (not wrapping) to its range."""
    own, new = np.iinfo(aval_of(value).dtype), np.iinfo(dtype)
    return fnp.clip(value, max(own.min, new.min), min(own.max, new.max)).astype(dtype)


def _rem(x: Any, span: Any) -> Any:
    """``x % span`` where a zero ``span`` leaves ``x`` (XLA's rule, which JAX's
    full-range ``randint`` relies on; NumPy would give 0)."""
    zero = span == 0
    return fnp.where(zero, x, x % fnp.where(zero, 1, span))


def _randint(key: Any, shape: tuple[int, ...], minval: Any, maxval: Any, dtype: np.dtype) -> Any:
    # JAX's method: 2 * nbits random bits reduced modulo the span (slightly
    # biased unless the span is a power of 2).
    minval, maxval = (v if aval_of(v).dtype.kind in "iu" else v.astype(np.int64) for v in (minval, maxval))
    info, unsigned = np.iinfo(dtype), _UINT[8 * dtype.itemsize]
    out_of_range = maxval > _clipped(np.array(info.max, dtype), aval_of(maxval).dtype)
    minval, maxval = _clipped(minval, dtype), _clipped(maxval, dtype)
    key_high, key_low = _split(key, (2,))
    high, low = _bits(key_high, info.bits, shape), _bits(key_low, info.bits, shape)
    # Arithmetic that wraps around calls the ufuncs: NumPy scalars' operators warn.
    span = fnp.subtract(maxval.astype(unsigned), minval.astype(unsigned))
    span = fnp.where(maxval <= minval, unsigned.type(1), span)
    # maxval past the dtype's range means up to and including its maximum.
    span = fnp.where(out_of_range & (maxval > minval), fnp.add(span, unsigned.type(1)), span)
    multiplier = _rem(fnp.full_like(span, 2 ** (info.bits // 2)), span)  # 2**nbits % span
    multiplier = _rem(multiplier * multiplier, span)
    offset = _rem(fnp.add(fnp.multiply(_rem(high, span), multiplier), _rem(low, span)), span)
    return minval + offset.astype(dtype)


def randint(key: Any, shape: Shape, minval: Any, maxval: Any, dtype: Any = np.int64) -> Any:
    """Integers in ``[minval, maxval)`` (broadcast to ``shape``); where
    ``maxval <= minval``, ``minval``.

    Example:
        >>> randint(key(0), (5,), 0, 10)
        array([5, 1, 5, 7, 3])
    """
    dtype = _dtype("randint", dtype, "iu", "an integer type")
    shape = _shape_for("randint", shape, shape_of(minval), shape_of(maxval))
    minval, maxval = _array(minval), _array(maxval)
    if dtype.itemsize >= 4:
        return _randint(_key("randint", key), shape, minval, maxval, dtype)
    # Narrow types draw 32-bit integers, which keeps the bias small.
    info = np.iinfo(dtype)
    minval = fnp.clip(minval.astype(np.int32), info.min, info.max)
    maxval = fnp.clip(maxval.astype(np.int32), info.min, info.max + 1)
    return _randint(_key("randint", key), shape, minval, maxval, np.dtype(np.int32)).astype(dtype)


# ---------------------------------------------------------------- permutations and choices


def _shuffle(key: Any, x: Any, axis: int) -> Any:
    """``x`` sorted along ``axis`` by random 32-bit keys, in enough rounds
    that ties are unlikely (JAX's heuristic: 3 log(size) bits in all)."""
    size = math.prod(shape_of(x))
    rounds = math.ceil(3 * math.log(max(1, size)) / math.log(2 ** 32 - 1))
    for _ in range(rounds):
        key, subkey = _split(key, (2,))
        order = fnp.argsort(_bits(subkey, 32, tuple(shape_of(x))), axis=axis, kind="stable")
        x = fnp.take_along_axis(x, order, axis=axis)
    return x


def _population(name: str, x: Any) -> int:
    """The ``n`` of a population given as an integer."""
    if aval_of(x).dtype.kind not in "iu":
        raise DtypeError(f"{name}: needs an integer or an array of at least 1 dimension, "
                         f"got a {aval_of(x).dtype} scalar")
    return operator.index(x)


def permutation(key: Any, x: Any, axis: int = 0, independent: bool = False) -> Any:
    """A random permutation of ``range(x)`` for an integer, or of ``x``'s
    slices along ``axis`` (each 1-d slice separately if ``independent``).

    Example:
        >>> permutation(key(0), 5)
        array([0, 1, 4, 3, 2])
    """
    key, x = _key("permutation", key), _array(x)
    if not shape_of(x):
        return _shuffle(key, fnp.arange(_population("permutation", x)), 0)
    axis = normalize_axis(axis, len(shape_of(x)), "permutation")
    if independent or len(shape_of(x)) == 1:
        return _shuffle(key, x, axis)
    return fnp.take(x, _shuffle(key, fnp.arange(shape_of(x)[axis]), 0), axis=axis)


def choice(key: Any, a: Any, shape: Shape = (), replace: bool = True, p: Any = None,
           axis: int = 0) -> Any:
    """Samples of ``a``'s slices along ``axis`` (or of ``range(a)`` for an
    integer), with or without replacement, uniformly or with probabilities ``p``.

    Example:
        >>> choice(key(0), 10, (3,), replace=False)
        array([0, 1, 8])
    """
    key = _key("choice", key)
    shape = _shape("choice", shape)
    scalar = not shape_of(a)
    if scalar:
        n, axis = _population("choice", a), 0
    else:
        axis = normalize_axis(axis, len(shape_of(a)), "choice")
        n = shape_of(a)[axis]
    out_shape = shape if scalar else shape_of(a)[:axis] + shape + shape_of(a)[axis + 1:]
    draws = math.prod(shape)
    if draws == 0:
        return fnp.zeros(out_shape, np.int64 if scalar else aval_of(a).dtype)
    if n <= 0:
        raise ShapeError(f"choice: cannot draw {draws} samples from an empty population")
    if not replace and draws > n:
        raise ShapeError(f"choice: cannot take {draws} samples from {n} without replacement")
    if p is None and not replace:
        drawn = permutation(key, a, axis)[(slice(None),) * axis + (slice(draws),)]
        return fnp.reshape(drawn, out_shape)
    if p is None:
        indices = randint(key, shape, 0, n)
    else:
        p = _array(p)
        if tuple(shape_of(p)) != (n,):
            raise ShapeError(f"choice: p must have shape ({n},) to match the population, "
                             f"got {tuple(shape_of(p))}")
        if aval_of(p).dtype.kind != "f":
            p = p.astype(np.float64)
        if replace:
            cumulative = fnp.cumsum(p)
            u = _uniform(key, shape, aval_of(cumulative).dtype, 0.0, 1.0)
            indices = fnp.searchsorted(cumulative, cumulative[-1] * (1 - u))
        else:
            # The Gumbel top-k trick: the k largest of log(p) + Gumbel noise.
            with np.errstate(divide="ignore"):  # p = 0 is log p = -inf: never drawn
                log_p = fnp.log(p)
            noisy = _gumbel(key, (n,), aval_of(p).dtype) + log_p
            indices = fnp.reshape(fnp.argsort(-noisy, kind="stable")[:draws], shape)
    return indices if scalar else fnp.take(a, indices, axis=axis)


# ---------------------------------------------------------------- gamma and beta


def _gamma_one(key: Any, alpha: Any, log_space: bool) -> Any:
    """One Gamma(alpha) sample: Marsaglia and Tsang's rejection method,
    "A simple method for generating gamma variables" (2000), as JAX runs it."""
    dtype = aval_of(alpha).dtype
    zero = fnp.zeros_like(alpha)
    # For alpha < 1, Gamma(alpha) ~ Gamma(alpha + 1) * Uniform ** (1 / alpha).
    boost = alpha >= 1
    boosted = fnp.where(boost, alpha, alpha + 1)
    d = boosted - 1 / 3
    c = (1 / 3) / fnp.sqrt(d)

    def rejected(state):
        _, x2, v, u = state
        return (u >= 1 - 0.0331 * (x2 * x2)) & (fnp.log(u) >= x2 * 0.5 + d * ((1 - v) + fnp.log(v)))

    def propose(state):
        key, x_key, u_key = _split(state[0], (3,))

        def next_normal(inner):
            inner_key, subkey = _split(inner[0], (2,))
            x = _normal(subkey, (), dtype)
            return inner_key, x, 1 + x * c

        _, x, v = while_loop(lambda inner: inner[2] <= 0, next_normal, (x_key, zero, zero - 1))
        return key, x * x, v * v * v, _uniform(u_key, (), dtype, 0.0, 1.0)

    key, subkey = _split(key, (2,))
    v = while_loop(rejected, propose, (key, zero, zero + 1, zero + 2))[2]
    if log_space:
        # log Uniform = -Exponential, computed as log1p(-u) to avoid log(0).
        log_u = fnp.log1p(-_uniform(subkey, (), dtype, 0.0, 1.0))
        log_boost = fnp.where(boost | (log_u == 0), zero, log_u * (1 / alpha))
        return fnp.log(d) + fnp.log(v) + log_boost
    u = 1 - _uniform(subkey, (), dtype, 0.0, 1.0)
    return d * v * fnp.where(boost, 1 + zero, u ** (1 / alpha))


def _gammas(draws: list[tuple[Any, Any]], shape: tuple[int, ...], dtype: np.dtype,
            log_space: bool) -> list[Any]:
    """Gamma samples of ``shape`` for each ``(key, alpha)`` (log-samples if
    ``log_space``): the key split into one per element, as JAX does, and all
    the elements in one batched rejection loop."""
    size = math.prod(shape)
    if size == 0:
        return [fnp.zeros(shape, dtype) for _ in draws]
    keys = fnp.concatenate([_split(k, (size,)) for k, _ in draws])
    alphas = fnp.concatenate([fnp.reshape(fnp.broadcast_to(fnp.asarray(alpha, dtype), shape), (size,))
                              for _, alpha in draws])
    samples = vmap(functools.partial(_gamma_one, log_space=log_space))(keys, alphas)
    return [fnp.reshape(samples[i * size:(i + 1) * size], shape) for i in range(len(draws))]


def gamma(key: Any, a: Any, shape: Shape | None = None, dtype: Any = np.float64) -> Any:
    """Gamma(a) floats with unit scale (``a > 0``, broadcast to ``shape``).

    Example:
        >>> x = gamma(key(0), 3.0, (2000,))
        >>> bool(abs(x.mean() - 3) < 0.2)
        True
    """
    dtype = _dtype("gamma", dtype, "f", "a float type")
    shape = _shape_for("gamma", shape, shape_of(a))
    return _gammas([(_key("gamma", key), a)], shape, dtype, log_space=False)[0]


def beta(key: Any, a: Any, b: Any, shape: Shape | None = None, dtype: Any = np.float64) -> Any:
    """Beta(a, b) floats: ``Ga / (Ga + Gb)`` for independent Gamma draws,
    computed from their logarithms so that small ``a``, ``b`` do not underflow.

    Example:
        >>> x = beta(key(0), 2.0, 6.0, (2000,))
        >>> bool(abs(x.mean() - 0.25) < 0.02)
        True
    """
    dtype = _dtype("beta", dtype, "f", "a float type")
    shape = _shape_for("beta", shape, shape_of(a), shape_of(b))
    key_a, key_b = _split(_key("beta", key), (2,))
    log_a, log_b = _gammas([(key_a, a), (key_b, b)], shape, dtype, log_space=True)
    top = fnp.maximum(log_a, log_b)
    scaled_a, scaled_b = fnp.exp(log_a - top), fnp.exp(log_b - top)
    return scaled_a / (scaled_a + scaled_b)


# ---------------------------------------------------------------- erf and its inverse

# Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011), as XLA
# evaluates it: w = -log1p(-x*x) picks a region; within it, a polynomial in
# (w or sqrt(w)) - center, times x.  Per precision, the regions:
# (upper bound of w, polynomial of sqrt(w)?, center, coefficients highest first).
_ERFINV_REGIONS = {
    32: ((5.0, False, 2.5, (
        2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
        -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)),
         (np.inf, True, 3.0, (
        -0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
        -0.0076224613, 0.00943887047, 1.00167406, 2.83297682))),
    64: ((6.25, False, 3.125, (
        -3.6444120640178196996e-21, -1.685059138182016589e-19, 1.2858480715256400167e-18,
        1.115787767802518096e-17, -1.333171662854620906e-16, 2.0972767875968561637e-17,
        6.6376381343583238325e-15, -4.0545662729752068639e-14, -8.1519341976054721522e-14,
        2.6335093153082322977e-12, -1.2975133253453532498e-11, -5.4154120542946279317e-11,
        1.051212273321532285e-09, -4.1126339803469836976e-09, -2.9070369957882005086e-08,
        4.2347877827932403518e-07, -1.3654692000834678645e-06, -1.3882523362786468719e-05,
        0.0001867342080340571352, -0.00074070253416626697512, -0.0060336708714301490533,
        0.24015818242558961693, 1.6536545626831027356)),
         (16.0, True, 3.25, (
        2.2137376921775787049e-09, 9.0756561938885390979e-08, -2.7517406297064545428e-07,
        1.8239629214389227755e-08, 1.5027403968909827627e-06, -4.013867526981545969e-06,
        2.9234449089955446044e-06, 1.2475304481671778723e-05, -4.7318229009055733981e-05,
        6.8284851459573175448e-05, 2.4031110387097893999e-05, -0.0003550375203628474796,
        0.00095328937973738049703, -0.0016882755560235047313, 0.0024914420961078508066,
        -0.0037512085075692412107, 0.005370914553590063617, 1.0052589676941592334,
        3.0838856104922207635)),
         (np.inf, True, 5.0, (
        -2.7109920616438573243e-11, -2.5556418169965252055e-10, 1.5076572693500548083e-09,
        -3.7894654401267369937e-09, 7.6157012080783393804e-09, -1.4960026627149240478e-08,
        2.9147953450901080826e-08, -6.7711997758452339498e-08, 2.2900482228026654717e-07,
        -9.9298272942317002539e-07, 4.5260625972231537039e-06, -1.9681778105531670567e-05,
        7.5995277030017761139e-05, -0.00021503011930044477347, -0.00013871931833623122026,
        1.0103004648645343977, 4.8499064014085844221))),
}


def _by_region(masks: list[Any], values: list[Any]) -> Any:
    """``values[i]`` where ``masks[i]`` is the first true mask (the last value otherwise)."""
    out = values[-1]
    for mask, value in zip(masks[::-1], values[-2::-1]):
        out = fnp.where(mask, value, out)
    return out


def _erfinv(x: Any) -> Any:
    """The inverse error function on (-1, 1), float16 computed in float32."""
    dtype = aval_of(x).dtype
    work = np.dtype(np.float64 if dtype == np.float64 else np.float32)
    x = x.astype(work)
    regions = _ERFINV_REGIONS[8 * work.itemsize]
    w = -fnp.log1p(-x * x)
    masks = [w < bound for bound, *_ in regions[:-1]]
    sqrt_w = fnp.sqrt(w)
    z = _by_region(masks, [(sqrt_w if of_sqrt else w) - np.array(center, work)
                           for _, of_sqrt, center, _ in regions])
    # Leading zeros align the shorter polynomials: 0 * z + c is exactly c.
    degree = max(len(coefficients) for *_, coefficients in regions)
    table = np.array([(0.0,) * (degree - len(c)) + c for *_, c in regions], work)
    p = _by_region(masks, list(table[:, 0]))
    for column in table.T[1:]:
        p = _by_region(masks, list(column)) + p * z
    return fnp.where(fnp.abs(x) == 1, x * np.finfo(work).max, p * x).astype(dtype)
