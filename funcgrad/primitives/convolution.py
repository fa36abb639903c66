"""Convolution: ``conv_general_dilated``, in ``jax.lax``'s NCHW / OIHW layouts.

The input ``lhs`` is ``(N, C, *spatial)``, the kernel ``rhs`` is
``(O, C // feature_group_count, *window)``, the output is
``(N, O, *out_spatial)``, for any number of spatial dimensions.  Padding is a
``(low, high)`` pair per spatial dimension (negative crops); ``lhs_dilation``
spreads the input (a transposed convolution), ``rhs_dilation`` the kernel (an
atrous convolution).  Like ``lax.conv``, this is a cross-correlation: the
kernel is not flipped.

The eager implementation is im2col: the windows of the padded input are a
strided view (``sliding_window_view``), copied once into a matrix that one
batched ``matmul`` per feature group multiplies with the kernel.

Example:
    >>> x = np.arange(5.0).reshape(1, 1, 5)
    >>> w = np.array([1.0, 1.0]).reshape(1, 1, 2)
    >>> conv_general_dilated.impl(np, x, w, window_strides=(1,), padding=((0, 0),),
    ...                           lhs_dilation=(1,), rhs_dilation=(1,), feature_group_count=1)
    array([[[1., 3., 5., 7.]]])
"""

from __future__ import annotations

import math

import numpy as np

from funcgrad.errors import DtypeError, ShapeError
from funcgrad.ir import AbstractArray
from funcgrad.primitives import structural
from funcgrad.primitives.linalg import _merge_pair, bilinear_jvp
from funcgrad.primitives.registry import primitive
from funcgrad.transforms.batch_dims import moveaxis_to
from funcgrad.transforms.tangents import aval_of, is_linear, zeros


def _dilated(size: int, dilation: int) -> int:
    return (size - 1) * dilation + 1 if size else 0


def _conv_shape(lhs_shape, rhs_shape, window_strides, padding, lhs_dilation, rhs_dilation,
                feature_group_count) -> tuple[int, ...]:
    """The output shape, or a ShapeError naming what does not fit."""
    name = "conv_general_dilated"
    n_spatial = len(lhs_shape) - 2
    if n_spatial < 1 or len(rhs_shape) != len(lhs_shape):
        raise ShapeError(f"{name}: needs lhs (N, C, *spatial) and rhs (O, I, *window) with the same "
                         f"number (at least 1) of spatial dimensions, got shapes {lhs_shape} and {rhs_shape}")
    params = {"window_strides": window_strides, "padding": padding,
              "lhs_dilation": lhs_dilation, "rhs_dilation": rhs_dilation}
    for key, value in params.items():
        if len(value) != n_spatial:
            raise ShapeError(f"{name}: {key}={value} needs one entry per spatial dimension ({n_spatial})")
    if min(window_strides + lhs_dilation + rhs_dilation) < 1 or feature_group_count < 1:
        raise ShapeError(f"{name}: strides, dilations and feature_group_count must be positive")
    (n, c), (o, i) = lhs_shape[:2], rhs_shape[:2]
    groups = feature_group_count
    if c != i * groups or o % groups:
        raise ShapeError(f"{name}: lhs {lhs_shape} has {c} features and rhs {rhs_shape} has {i} input "
                         f"features per group and {o} outputs: with feature_group_count={groups} "
                         "needs C == I * groups and O divisible by groups")
    if 0 in rhs_shape[2:]:
        raise ShapeError(f"{name}: the kernel window {rhs_shape[2:]} must not be empty")
    out = []
    for size, window, stride, (low, high), l_dil, r_dil in zip(
            lhs_shape[2:], rhs_shape[2:], window_strides, padding, lhs_dilation, rhs_dilation):
        span = _dilated(size, l_dil) + low + high - _dilated(window, r_dil)
        out.append(span // stride + 1 if span >= 0 else 0)
    return (n, o, *out)


def _conv_aval(lhs, rhs, **params):
    if lhs.dtype != rhs.dtype or lhs.dtype == np.bool_:
        raise DtypeError(f"conv_general_dilated: operands must have one numeric dtype, got {lhs!r} "
                         f"and {rhs!r}", "convert them with fnp.asarray(x, dtype) first")
    return AbstractArray(_conv_shape(lhs.shape, rhs.shape, **params), lhs.dtype,
                         lhs.weak_type and rhs.weak_type)


@primitive("conv_general_dilated", _conv_aval)
def conv_general_dilated(xp, lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation,
                         feature_group_count):
    """Grouped, strided, padded and dilated N-d cross-correlation, as im2col + matmul."""
    out_shape = _conv_shape(lhs.shape, rhs.shape, window_strides, padding, lhs_dilation,
                            rhs_dilation, feature_group_count)
    n, o, *out_spatial = out_shape
    groups, in_features, window = feature_group_count, rhs.shape[1], rhs.shape[2:]
    depth = in_features * math.prod(window)  # what each output sums over
    if math.prod(out_shape) == 0 or depth == 0:
        return xp.zeros(out_shape, lhs.dtype)
    n_spatial = len(window)
    # Spread (interior padding) and pad (or crop) the input: pad's own implementation.
    config = ((0, 0, 0), (0, 0, 0)) + tuple((lo, hi, d - 1) for (lo, hi), d in zip(padding, lhs_dilation))
    x = structural.pad.impl(xp, lhs, xp.zeros((), lhs.dtype), padding_config=config)
    spans = tuple(_dilated(k, d) for k, d in zip(window, rhs_dilation))
    spatial_axes = tuple(range(2, 2 + n_spatial))
    windows = xp.lib.stride_tricks.sliding_window_view(x, spans, axis=spatial_axes)
    # (N, C, *positions, *spans) -> every stride-th position, every dilation-th tap.
    windows = windows[(slice(None), slice(None))
                      + tuple(slice(None, size * s, s) for size, s in zip(out_spatial, window_strides))
                      + tuple(slice(None, None, d) for d in rhs_dilation)]
    # im2col: (G, N * positions, I * window) @ (G, I * window, O / G).
    windows = windows.reshape(n, groups, in_features, *windows.shape[2:])
    positions = math.prod(out_spatial)
    spatial = tuple(range(3, 3 + n_spatial))
    taps = tuple(range(3 + n_spatial, 3 + 2 * n_spatial))
    columns = xp.transpose(windows, (1, 0, *spatial, 2, *taps)).reshape(groups, n * positions, depth)
    kernel = xp.swapaxes(rhs.reshape(groups, o // groups, depth), 1, 2)
    out = xp.matmul(columns, kernel).reshape(groups, n, *out_spatial, o // groups)
    out = xp.transpose(out, (1, 0, 2 + n_spatial, *range(2, 2 + n_spatial)))
    return out.reshape(out_shape)


# ---------------------------------------------------------------- derivative rules
# Bilinear: the JVP applies the convolution to each tangent in turn; each
# transpose is itself a convolution (as jax.lax's), with the roles of the
# strides and dilations exchanged.


def _zero_sized(ct) -> bool:
    return math.prod(aval_of(ct).shape) == 0


def _lhs_cotangent(ct, lhs_aval, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation,
                   feature_group_count):
    """The convolution of ``ct`` with the kernel flipped in space and with its
    input and output features exchanged within each group; the input
    positions the forward strides skipped become ``lhs_dilation`` holes."""
    groups = feature_group_count
    o, i, *window = aval_of(rhs).shape
    n_spatial = len(window)
    kernel = structural.reshape.bind(rhs, new_sizes=(groups, o // groups, i, *window))
    kernel = structural.transpose.bind(kernel, permutation=(0, 2, 1, *range(3, 3 + n_spatial)))
    kernel = structural.reshape.bind(kernel, new_sizes=(groups * i, o // groups, *window))
    kernel = structural.rev.bind(kernel, dimensions=tuple(range(2, 2 + n_spatial)))
    pads = []
    for size, k, out, (low, _), stride, l_dil, r_dil in zip(
            lhs_aval.shape[2:], window, aval_of(ct).shape[2:], padding, window_strides,
            lhs_dilation, rhs_dilation):
        before = _dilated(k, r_dil) - low - 1
        after = _dilated(size, l_dil) + _dilated(k, r_dil) - 1 - _dilated(out, stride) - before
        pads.append((before, after))
    return conv_general_dilated.bind(ct, kernel, window_strides=lhs_dilation, padding=tuple(pads),
                                     lhs_dilation=window_strides, rhs_dilation=rhs_dilation,
                                     feature_group_count=groups)


def _rhs_cotangent(ct, lhs, rhs_aval, *, window_strides, padding, lhs_dilation, rhs_dilation,
                   feature_group_count):
    """The convolution of ``lhs`` with ``ct`` where examples play features and
    features play examples: ``(I, G * N, ...)`` by ``(O, N, ...)`` in ``G`` groups,
    then ``(I, O, ...)`` transposed; the forward strides become dilations."""
    groups = feature_group_count
    n, _, *spatial = aval_of(lhs).shape
    i, window = rhs_aval.shape[1], rhs_aval.shape[2:]
    others = tuple(range(3, 3 + len(spatial)))
    x = structural.reshape.bind(lhs, new_sizes=(n, groups, i, *spatial))
    x = structural.transpose.bind(x, permutation=(2, 1, 0, *others))
    x = structural.reshape.bind(x, new_sizes=(i, groups * n, *spatial))
    kernel = structural.transpose.bind(ct, permutation=(1, 0, *range(2, 2 + len(spatial))))
    pads = []
    for size, k, out, (low, _), stride, l_dil, r_dil in zip(
            spatial, window, aval_of(ct).shape[2:], padding, window_strides, lhs_dilation,
            rhs_dilation):
        high = _dilated(out, stride) - _dilated(size, l_dil) + _dilated(k, r_dil) - low - 1
        pads.append((low, high))
    y = conv_general_dilated.bind(x, kernel, window_strides=rhs_dilation, padding=tuple(pads),
                                  lhs_dilation=lhs_dilation, rhs_dilation=window_strides,
                                  feature_group_count=groups)
    return structural.transpose.bind(y, permutation=(1, 0, *range(2, 2 + len(spatial))))


def _conv_transpose(ct, lhs, rhs, **params):
    if is_linear(lhs):
        return [zeros(lhs.aval) if _zero_sized(ct) else _lhs_cotangent(ct, lhs.aval, rhs, **params),
                None]
    return [None, zeros(rhs.aval) if _zero_sized(ct) else _rhs_cotangent(ct, lhs, rhs.aval, **params)]


conv_general_dilated.jvp = bilinear_jvp(conv_general_dilated)
conv_general_dilated.transpose = _conv_transpose


# ---------------------------------------------------------------- batching rule
# The vmap's axis folds into an axis the convolution already maps over: the
# examples N (lhs varies), the output features O (rhs varies: each group's
# outputs stay contiguous), or, when both vary, the feature groups (member b's
# features and kernels form groups of their own).


def _split(x, axis: int, sizes: tuple[int, int]):
    """``x`` with axis ``axis`` split into two of ``sizes``."""
    shape = aval_of(x).shape
    return structural.reshape.bind(x, new_sizes=(*shape[:axis], *sizes, *shape[axis + 1:]))


def _conv_batch(ctx, args, dims, *, feature_group_count, **params):
    (lhs, rhs), (lhs_dim, rhs_dim) = args, dims
    if rhs_dim is None:
        # (N, B) or (B, N) -> N * B examples; no transpose if the axis is already there.
        axis = lhs_dim if lhs_dim in (0, 1) else 0
        lhs = moveaxis_to(lhs, lhs_dim, axis)
        out = conv_general_dilated.bind(_merge_pair(lhs, 0), rhs, feature_group_count=feature_group_count,
                                        **params)
        return _split(out, 0, aval_of(lhs).shape[:2]), axis
    if lhs_dim is None:
        # (O, B) -> O * B outputs; (B, O) too when there is one group.
        axis = rhs_dim if rhs_dim == 1 or (rhs_dim == 0 and feature_group_count == 1) else 1
        rhs = moveaxis_to(rhs, rhs_dim, axis)
        out = conv_general_dilated.bind(lhs, _merge_pair(rhs, 0), feature_group_count=feature_group_count,
                                        **params)
        return _split(out, 1, aval_of(rhs).shape[:2]), 1 + axis
    # (N, B * C) by (B * O, I) in B * groups groups.
    lhs, rhs = moveaxis_to(lhs, lhs_dim, 1), moveaxis_to(rhs, rhs_dim, 0)
    out = conv_general_dilated.bind(_merge_pair(lhs, 1), _merge_pair(rhs, 0),
                                    feature_group_count=ctx.size * feature_group_count, **params)
    return _split(out, 1, aval_of(rhs).shape[:2]), 1


conv_general_dilated.batch = _conv_batch
