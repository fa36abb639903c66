"""Primitives that move, copy or retype data without arithmetic.

``convert_element_type``, ``broadcast_in_dim``, ``reshape``, ``transpose``,
``rev``, ``slice``, ``pad``, ``concatenate``, ``select`` and ``iota``: the
explicit forms of what NumPy does implicitly (broadcasting, promotion) and of
basic indexing.

Example:
    >>> broadcast_in_dim.impl(np, np.arange(3), shape=(2, 3), broadcast_dimensions=(1,))
    array([[0, 1, 2],
           [0, 1, 2]])
"""

from __future__ import annotations

import math

import numpy as np

from funcgrad.errors import AxisError, DtypeError, ShapeError
from funcgrad.ir import AbstractArray, Literal, abstractify
from funcgrad.primitives.registry import primitive
from funcgrad.transforms.batch_dims import (
    all_at_front,
    at_front,
    elementwise_batch,
    moveaxis_to,
    shift_axes,
)
from funcgrad.transforms.tangents import (
    Zero,
    has_tangent,
    instantiate,
    is_linear,
    linear_jvp,
    tangent_aval,
)


def _convert_aval(x, *, new_dtype, weak_type=False):
    return AbstractArray(x.shape, np.dtype(new_dtype), weak_type)


@primitive("convert_element_type", _convert_aval)
def convert_element_type(xp, x, *, new_dtype, weak_type=False):
    return xp.asarray(x).astype(new_dtype)


def _broadcast_aval(x, *, shape, broadcast_dimensions):
    dims = broadcast_dimensions
    ok = (len(dims) == x.ndim and all(0 <= d < len(shape) for d in dims)
          and list(dims) == sorted(set(dims))
          and all(x.shape[i] in (1, shape[d]) for i, d in enumerate(dims)))
    if not ok:
        raise ShapeError(f"broadcast_in_dim: cannot broadcast {x!r} to shape {shape} "
                         f"along dimensions {dims}")
    return AbstractArray(tuple(shape), x.dtype, x.weak_type)


@primitive("broadcast_in_dim", _broadcast_aval)
def broadcast_in_dim(xp, x, *, shape, broadcast_dimensions):
    expanded = [1] * len(shape)
    for i, d in enumerate(broadcast_dimensions):
        expanded[d] = np.shape(x)[i]
    return xp.broadcast_to(xp.reshape(x, expanded), shape)


def _reshape_aval(x, *, new_sizes):
    if math.prod(new_sizes) != x.size or any(n < 0 for n in new_sizes):
        raise ShapeError(f"reshape: cannot reshape {x!r} (size {x.size}) into shape {new_sizes}")
    return AbstractArray(tuple(new_sizes), x.dtype, x.weak_type)


@primitive("reshape", _reshape_aval)
def reshape(xp, x, *, new_sizes):
    return xp.reshape(x, new_sizes)


def _transpose_aval(x, *, permutation):
    if sorted(permutation) != list(range(x.ndim)):
        raise AxisError(f"transpose: {permutation} is not a permutation of the axes of {x!r}")
    return AbstractArray(tuple(x.shape[p] for p in permutation), x.dtype, x.weak_type)


@primitive("transpose", _transpose_aval)
def transpose(xp, x, *, permutation):
    return xp.transpose(x, permutation)


def _rev_aval(x, *, dimensions):
    if any(not 0 <= d < x.ndim for d in dimensions):
        raise AxisError(f"rev: dimensions {dimensions} out of range for {x!r}")
    return x


@primitive("rev", _rev_aval)
def rev(xp, x, *, dimensions):
    return xp.flip(x, dimensions) if dimensions else x


def _slice_aval(x, *, start_indices, limit_indices, strides):
    if not len(start_indices) == len(limit_indices) == len(strides) == x.ndim:
        raise ShapeError(f"slice: needs one start, limit and stride per axis of {x!r}")
    shape = []
    for start, limit, stride, size in zip(start_indices, limit_indices, strides, x.shape):
        if not (0 <= start <= limit <= size and stride >= 1):
            raise ShapeError(f"slice: [{start}:{limit}:{stride}] out of range for an axis of "
                             f"size {size} in {x!r}")
        shape.append(max(0, -(-(limit - start) // stride)))
    return AbstractArray(tuple(shape), x.dtype, x.weak_type)


@primitive("slice", _slice_aval)
def slice_(xp, x, *, start_indices, limit_indices, strides):
    return x[tuple(slice(s, e, k) for s, e, k in zip(start_indices, limit_indices, strides))]


def _pad_aval(x, value, *, padding_config):
    if value.shape != () or value.dtype != x.dtype:
        raise DtypeError(f"pad: the padding value must be a {x.dtype.name} scalar, got {value!r}")
    if len(padding_config) != x.ndim:
        raise ShapeError(f"pad: needs one (low, high, interior) per axis of {x!r}")
    shape = []
    for (low, high, interior), size in zip(padding_config, x.shape):
        if interior < 0:
            raise ShapeError("pad: interior padding must be non-negative")
        out = low + high + size + max(size - 1, 0) * interior
        if out < 0:
            raise ShapeError(f"pad: negative size {out} for an axis of size {size}")
        shape.append(out)
    return AbstractArray(tuple(shape), x.dtype, x.weak_type)


@primitive("pad", _pad_aval)
def pad(xp, x, value, *, padding_config):
    # Interior padding first (strided placement), then edges; negative edges crop.
    dilated_shape = [s + max(s - 1, 0) * i for s, (_, _, i) in zip(x.shape, padding_config)]
    out = xp.full(dilated_shape, value, dtype=x.dtype)
    out[tuple(slice(None, None, i + 1) for _, _, i in padding_config)] = x
    widths = [(max(lo, 0), max(hi, 0)) for lo, hi, _ in padding_config]
    out = xp.pad(out, widths, constant_values=value)
    crop = tuple(slice(max(-lo, 0), out.shape[k] - max(-hi, 0))
                 for k, (lo, hi, _) in enumerate(padding_config))
    return out[crop]


def _concatenate_aval(*xs, dimension):
    first = xs[0]
    if not 0 <= dimension < first.ndim:
        raise AxisError(f"concatenate: dimension {dimension} out of range for {first!r}")
    for x in xs:
        same = x.ndim == first.ndim and all(
            a == b for k, (a, b) in enumerate(zip(x.shape, first.shape)) if k != dimension)
        if not same:
            shapes = " ".join(str(y.shape) for y in xs)
            raise ShapeError(f"concatenate: shapes {shapes} differ outside axis {dimension}")
        if x.dtype != first.dtype:
            raise DtypeError(f"concatenate: dtypes differ: {first.dtype.name} and {x.dtype.name}")
    shape = list(first.shape)
    shape[dimension] = sum(x.shape[dimension] for x in xs)
    return AbstractArray(tuple(shape), first.dtype, all(x.weak_type for x in xs))


@primitive("concatenate", _concatenate_aval)
def concatenate(xp, *xs, dimension):
    return xp.concatenate(xs, axis=dimension)


def _select_aval(pred, on_true, on_false):
    if pred.dtype != np.bool_:
        raise DtypeError(f"select: the predicate must be boolean, got {pred!r}")
    if not pred.shape == on_true.shape == on_false.shape:
        raise ShapeError(f"select: shapes differ: {pred.shape} {on_true.shape} {on_false.shape}")
    if on_true.dtype != on_false.dtype:
        raise DtypeError(f"select: dtypes differ: {on_true.dtype.name} {on_false.dtype.name}")
    return AbstractArray(on_true.shape, on_true.dtype, on_true.weak_type and on_false.weak_type)


@primitive("select", _select_aval)
def select(xp, pred, on_true, on_false):
    return xp.where(pred, on_true, on_false)


def _iota_aval(*, dtype, shape, dimension):
    if not 0 <= dimension < len(shape):
        raise AxisError(f"iota: dimension {dimension} out of range for shape {shape}")
    return AbstractArray(tuple(shape), np.dtype(dtype))


@primitive("iota", _iota_aval)
def iota(xp, *, dtype, shape, dimension):
    counts = xp.arange(shape[dimension], dtype=dtype)
    expanded = [1] * len(shape)
    expanded[dimension] = shape[dimension]
    return xp.broadcast_to(counts.reshape(expanded), shape)


# ---------------------------------------------------------------- derivative rules
# All of these are linear in their array operands: the JVP applies the primitive
# to the tangents, and the transpose moves the cotangent back.


def _convert_transpose(ct, x, *, new_dtype, weak_type=False):
    return [convert_element_type.bind(ct, new_dtype=x.aval.dtype, weak_type=x.aval.weak_type)]


def _convert_jvp(primals, tangents, *, new_dtype, weak_type=False):
    (x,), (t,) = primals, tangents
    out = convert_element_type.bind(x, new_dtype=new_dtype, weak_type=weak_type)
    if isinstance(t, Zero) or not has_tangent(tangent_aval(abstractify(out))):
        return out, Zero(tangent_aval(abstractify(out)))
    return out, convert_element_type.bind(t, new_dtype=new_dtype, weak_type=weak_type)


def _broadcast_transpose(ct, x, *, shape, broadcast_dimensions):
    from funcgrad.primitives.reductions import reduce_sum

    # Sum over the new axes and over the size-1 axes that were expanded.
    expanded = tuple(d for i, d in enumerate(broadcast_dimensions)
                     if x.aval.shape[i] == 1 and shape[d] != 1)
    new = tuple(d for d in range(len(shape)) if d not in broadcast_dimensions)
    summed = reduce_sum.bind(ct, axes=tuple(sorted(new + expanded))) if new or expanded else ct
    return [reshape.bind(summed, new_sizes=x.aval.shape)]


def _reshape_transpose(ct, x, *, new_sizes):
    return [reshape.bind(ct, new_sizes=x.aval.shape)]


def _transpose_transpose(ct, x, *, permutation):
    inverse = tuple(sorted(range(len(permutation)), key=permutation.__getitem__))
    return [transpose.bind(ct, permutation=inverse)]


def _rev_transpose(ct, x, *, dimensions):
    return [rev.bind(ct, dimensions=dimensions)]


def _slice_transpose(ct, x, *, start_indices, limit_indices, strides):
    # Put each element back where it came from: start, start + stride, ...; zeros elsewhere.
    zero = _zero_scalar(x.aval.dtype)
    if any(n == 0 for n in ct_shape(ct)):
        return [broadcast_in_dim.bind(zero, shape=x.aval.shape, broadcast_dimensions=())]
    config = tuple((start, size - (start + (n - 1) * stride + 1), stride - 1)
                   for start, stride, n, size in zip(start_indices, strides, ct_shape(ct),
                                                     x.aval.shape))
    return [pad.bind(ct, zero, padding_config=config)]


def _pad_transpose(ct, x, value, *, padding_config):
    from funcgrad.primitives.reductions import reduce_sum

    # Undo the edges (negative padding crops), then keep every (interior+1)-th element.
    unpadded = pad.bind(ct, _zero_scalar(ct_dtype(ct)),
                        padding_config=tuple((-lo, -hi, 0) for lo, hi, _ in padding_config))
    shape = ct_shape(unpadded)
    t_x = slice_.bind(unpadded, start_indices=(0,) * len(shape), limit_indices=shape,
                      strides=tuple(i + 1 for _, _, i in padding_config))
    t_value = None
    if is_linear(value):
        axes = tuple(range(len(shape)))
        total = reduce_sum.bind(ct, axes=axes)
        t_value = total if not is_linear(x) else _sub(total, reduce_sum.bind(t_x, axes=axes))
    return [t_x if is_linear(x) else None, t_value]


def _concatenate_transpose(ct, *xs, dimension):
    cts, start = [], 0
    shape = ct_shape(ct)
    for x in xs:
        size = x.aval.shape[dimension]
        if is_linear(x):
            starts = tuple(start if d == dimension else 0 for d in range(len(shape)))
            limits = tuple(start + size if d == dimension else n for d, n in enumerate(shape))
            cts.append(slice_.bind(ct, start_indices=starts, limit_indices=limits,
                                   strides=(1,) * len(shape)))
        else:
            cts.append(None)
        start += size
    return cts


def _select_jvp(primals, tangents):
    pred, on_true, on_false = primals
    out = select.bind(pred, on_true, on_false)
    t_true, t_false = tangents[1:]
    if isinstance(t_true, Zero) and isinstance(t_false, Zero):
        return out, Zero(tangent_aval(abstractify(out)))
    return out, select.bind(pred, instantiate(t_true), instantiate(t_false))


def _select_transpose(ct, pred, on_true, on_false):
    zero = broadcast_in_dim.bind(_zero_scalar(ct_dtype(ct)), shape=ct_shape(ct),
                                 broadcast_dimensions=())
    return [None,
            select.bind(pred, ct, zero) if is_linear(on_true) else None,
            select.bind(pred, zero, ct) if is_linear(on_false) else None]


def _zero_scalar(dtype):
    return Literal(np.zeros((), dtype)[()], AbstractArray((), np.dtype(dtype)))


def ct_shape(ct) -> tuple[int, ...]:
    return abstractify(ct).shape


def ct_dtype(ct) -> np.dtype:
    return abstractify(ct).dtype


def _sub(a, b):
    from funcgrad.primitives.elementwise import PRIMITIVE_OF_ROW

    return PRIMITIVE_OF_ROW["sub"].bind(a, b)


def _iota_jvp(primals, tangents, **params):
    out = iota.bind(**params)
    return out, Zero(tangent_aval(abstractify(out)))


iota.jvp = _iota_jvp
convert_element_type.jvp = _convert_jvp
convert_element_type.transpose = _convert_transpose
select.jvp = _select_jvp
select.transpose = _select_transpose
for _primitive, _transpose in [(broadcast_in_dim, _broadcast_transpose),
                               (reshape, _reshape_transpose), (transpose, _transpose_transpose),
                               (rev, _rev_transpose), (slice_, _slice_transpose),
                               (pad, _pad_transpose), (concatenate, _concatenate_transpose)]:
    _primitive.jvp = linear_jvp(_primitive)
    _primitive.transpose = _transpose


# ---------------------------------------------------------------- batching rules
# Each puts the batch dimension first (see funcgrad.transforms.batch_dims) and
# shifts the params past it.


def _broadcast_batch(ctx, args, dims, *, shape, broadcast_dimensions):
    (x,), (d,) = args, dims
    return broadcast_in_dim.bind(moveaxis_to(x, d, 0), shape=(ctx.size, *shape),
                                 broadcast_dimensions=(0, *shift_axes(broadcast_dimensions))), 0


def _reshape_batch(ctx, args, dims, *, new_sizes):
    return reshape.bind(moveaxis_to(args[0], dims[0], 0), new_sizes=(ctx.size, *new_sizes)), 0


def _transpose_batch(ctx, args, dims, *, permutation):
    x = moveaxis_to(args[0], dims[0], 0)
    return transpose.bind(x, permutation=(0, *shift_axes(permutation))), 0


def _rev_batch(ctx, args, dims, *, dimensions):
    return rev.bind(moveaxis_to(args[0], dims[0], 0), dimensions=shift_axes(dimensions)), 0


def _slice_batch(ctx, args, dims, *, start_indices, limit_indices, strides):
    x = moveaxis_to(args[0], dims[0], 0)
    return slice_.bind(x, start_indices=(0, *start_indices), limit_indices=(ctx.size, *limit_indices),
                       strides=(1, *strides)), 0


def _pad_batch(ctx, args, dims, *, padding_config):
    (x, value), (x_dim, value_dim) = args, dims
    config = ((0, 0, 0), *padding_config)
    x = at_front(x, x_dim, ctx.size)
    if value_dim is None:
        return pad.bind(x, value, padding_config=config), 0
    # A batched padding value: pad with zeros, then select the value where padded.
    dtype = ct_dtype(x)
    padded = pad.bind(x, _zero_scalar(dtype), padding_config=config)
    inside = pad.bind(broadcast_in_dim.bind(Literal(np.True_, AbstractArray((), np.dtype(bool))),
                                            shape=ct_shape(x), broadcast_dimensions=()),
                      Literal(np.False_, AbstractArray((), np.dtype(bool))), padding_config=config)
    fill = broadcast_in_dim.bind(moveaxis_to(value, value_dim, 0), shape=ct_shape(padded),
                                 broadcast_dimensions=(0,))
    return select.bind(inside, padded, fill), 0


def _concatenate_batch(ctx, args, dims, *, dimension):
    return concatenate.bind(*all_at_front(args, dims, ctx.size), dimension=dimension + 1), 0


for _primitive, _rule in [(broadcast_in_dim, _broadcast_batch), (reshape, _reshape_batch),
                          (transpose, _transpose_batch), (rev, _rev_batch), (slice_, _slice_batch),
                          (pad, _pad_batch), (concatenate, _concatenate_batch),
                          (convert_element_type, elementwise_batch(convert_element_type)),
                          (select, elementwise_batch(select))]:
    _primitive.batch = _rule
