"""``conv_general_dilated`` against a direct nested-loop convolution (1-, 2-
and 3-d; strides, padding incl. negative, both dilations, feature groups),
and ``threefry2x32`` against the Random123 known-answer vectors; abstract
eval agrees with the eager result; bad operands raise errors that name the
primitive."""

import itertools

import numpy as np
import pytest
from fnp_harness import assert_same, through_trace
from hypothesis import given
from hypothesis import strategies as st

from funcgrad import errors
from funcgrad.ir import AbstractArray
from funcgrad.primitives.convolution import conv_general_dilated
from funcgrad.primitives.random_bits import threefry2x32

rng = np.random.default_rng(0)


# ---------------------------------------------------------------- convolution


def reference_conv(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, feature_group_count):
    """Each output element as an explicit sum over input features and window taps."""
    n, _, *spatial = lhs.shape
    o, i, *window = rhs.shape
    # The input as the convolution sees it: spread by lhs_dilation, then padded (negative crops).
    spread = [(s - 1) * d + 1 if s else 0 for s, d in zip(spatial, lhs_dilation)]
    x = np.zeros(lhs.shape[:2] + tuple(spread), lhs.dtype)
    x[(slice(None), slice(None)) + tuple(slice(None, None, d) for d in lhs_dilation)] = lhs
    for axis, (low, high) in enumerate(padding, start=2):
        widths = [(0, 0)] * x.ndim
        widths[axis] = (max(low, 0), max(high, 0))
        x = np.pad(x, widths)
        x = np.take(x, range(max(-low, 0), x.shape[axis] - max(-high, 0)), axis=axis)
    spans = [(k - 1) * d + 1 for k, d in zip(window, rhs_dilation)]
    out_spatial = [max(0, (size - span) // s + 1) if size >= span else 0
                   for size, span, s in zip(x.shape[2:], spans, window_strides)]
    out = np.zeros((n, o, *out_spatial), lhs.dtype)
    per_group = o // feature_group_count
    for b, f in itertools.product(range(n), range(o)):
        group = f // per_group
        for position in itertools.product(*map(range, out_spatial)):
            total = 0
            for c in range(i):
                for tap in itertools.product(*map(range, window)):
                    index = tuple(p * s + t * d for p, s, t, d in
                                  zip(position, window_strides, tap, rhs_dilation))
                    total += x[(b, group * i + c) + index] * rhs[(f, c) + tap]
            out[(b, f) + position] = total
    return out


CONV_CASES = [  # lhs shape, rhs shape, (strides, padding, lhs_dilation, rhs_dilation, groups)
    ((2, 3, 7), (4, 3, 3), (1,), ((0, 0),), (1,), (1,), 1),
    ((2, 4, 9), (6, 2, 3), (2,), ((1, 2),), (1,), (2,), 2),
    ((1, 1, 5), (1, 1, 2), (1,), ((-1, -1),), (1,), (1,), 1),
    ((1, 2, 3), (2, 2, 2), (1,), ((1, 1),), (3,), (1,), 1),
    ((1, 1, 2), (1, 1, 5), (1,), ((0, 0),), (1,), (1,), 1),          # window wider than input: empty
    ((1, 2, 6, 5), (3, 2, 2, 3), (1, 2), ((1, 1), (0, 2)), (2, 1), (1, 2), 1),
    ((2, 6, 5, 5), (6, 1, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), (1, 1), 6),  # depthwise
    ((0, 2, 4, 4), (2, 2, 3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1), (1, 1), 1),  # empty batch
    ((1, 2, 4, 3, 3), (2, 2, 2, 2, 2), (1, 1, 2), ((0, 0), (1, 0), (0, 1)), (1, 1, 1), (1, 1, 1), 1),
]


def conv_params(strides, padding, lhs_dilation, rhs_dilation, groups):
    return dict(window_strides=strides, padding=padding, lhs_dilation=lhs_dilation,
                rhs_dilation=rhs_dilation, feature_group_count=groups)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32])
@pytest.mark.parametrize("lhs_shape, rhs_shape, params", [(c[0], c[1], c[2:]) for c in CONV_CASES])
def test_conv_matches_nested_loops(lhs_shape, rhs_shape, params, dtype):
    lhs = (rng.standard_normal(lhs_shape) * 3).astype(dtype)
    rhs = (rng.standard_normal(rhs_shape) * 3).astype(dtype)
    expected = reference_conv(lhs, rhs, *params)
    assert_same(conv_general_dilated.impl(np, lhs, rhs, **conv_params(*params)), expected, rtol=1e-4)
    assert_same(through_trace(conv_general_dilated, lhs, rhs, **conv_params(*params)), expected, rtol=1e-4)


@st.composite
def conv_cases(draw):
    n_spatial = draw(st.integers(1, 2))
    groups = draw(st.integers(1, 2))
    in_per_group, out_per_group, batch = (draw(st.integers(1, 2)) for _ in range(3))
    spatial = [draw(st.integers(1, 6)) for _ in range(n_spatial)]
    window = [draw(st.integers(1, 3)) for _ in range(n_spatial)]
    params = conv_params(
        tuple(draw(st.integers(1, 3)) for _ in range(n_spatial)),
        tuple((draw(st.integers(-1, 2)), draw(st.integers(-1, 2))) for _ in range(n_spatial)),
        tuple(draw(st.integers(1, 2)) for _ in range(n_spatial)),
        tuple(draw(st.integers(1, 2)) for _ in range(n_spatial)),
        groups)
    lhs = rng.standard_normal((batch, groups * in_per_group, *spatial))
    rhs = rng.standard_normal((groups * out_per_group, in_per_group, *window))
    return lhs, rhs, params


@given(conv_cases())
def test_conv_matches_nested_loops_on_drawn_cases(case):
    lhs, rhs, params = case
    expected = reference_conv(lhs, rhs, *params.values())
    assert_same(through_trace(conv_general_dilated, lhs, rhs, **params), expected)


def aval(shape, dtype=np.float32):
    return AbstractArray(tuple(shape), np.dtype(dtype))


@pytest.mark.parametrize("lhs, rhs, params, error, words", [
    (aval((1, 4, 5)), aval((2, 3, 3)), conv_params((1,), ((0, 0),), (1,), (1,), 1), errors.ShapeError,
     ["conv_general_dilated", "(1, 4, 5)", "(2, 3, 3)", "feature_group_count=1"]),
    (aval((1, 4, 5)), aval((3, 2, 3)), conv_params((1,), ((0, 0),), (1,), (1,), 2), errors.ShapeError,
     ["divisible"]),
    (aval((1, 2, 5)), aval((2, 2, 3)), conv_params((1, 1), ((0, 0),), (1,), (1,), 1), errors.ShapeError,
     ["window_strides"]),
    (aval((1, 2, 5)), aval((2, 2, 3)), conv_params((0,), ((0, 0),), (1,), (1,), 1), errors.ShapeError,
     ["positive"]),
    (aval((1, 2, 5)), aval((2, 2, 3, 3)), conv_params((1,), ((0, 0),), (1,), (1,), 1), errors.ShapeError,
     ["spatial"]),
    (aval((1, 2, 5)), aval((2, 2, 3), np.float64), conv_params((1,), ((0, 0),), (1,), (1,), 1),
     errors.DtypeError, ["f32[1,2,5]", "f64[2,2,3]"]),
    (aval((1, 2, 5), np.bool_), aval((2, 2, 3), np.bool_), conv_params((1,), ((0, 0),), (1,), (1,), 1),
     errors.DtypeError, ["numeric"]),
])
def test_conv_bad_operands(lhs, rhs, params, error, words):
    with pytest.raises(error) as info:
        conv_general_dilated.abstract_eval(lhs, rhs, **params)
    for word in words:
        assert word in str(info.value)


# ---------------------------------------------------------------- threefry

KNOWN_ANSWERS = [  # Random123's kat_vectors for threefry2x32 with 20 rounds: key, counter, result
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


@pytest.mark.parametrize("key, counter, expected", KNOWN_ANSWERS)
def test_threefry_known_answers(key, counter, expected):
    operands = [np.array(v, np.uint32) for v in key + counter]
    assert_same(through_trace(threefry2x32, *operands), [np.array(v, np.uint32) for v in expected])


@given(st.lists(st.integers(0, 2**32 - 1), min_size=4, max_size=4), st.sampled_from([(3,), (2, 2), (0,)]))
def test_threefry_is_elementwise(words, shape):
    """Each element is the cipher of its own key and counter, whatever the shape."""
    operands = [np.full(shape, w, np.uint32) + np.arange(np.prod(shape), dtype=np.uint32).reshape(shape)
                for w in words]
    y0, y1 = through_trace(threefry2x32, *operands)
    for index in np.ndindex(shape):
        one = threefry2x32.impl(np, *(np.array(x[index]) for x in operands))
        assert (y0[index], y1[index]) == tuple(one)


def test_threefry_raises_no_overflow_warnings():
    with np.errstate(all="raise"):
        threefry2x32.impl(np, *(np.array(0xFFFFFFFF, np.uint32) for _ in range(4)))


@pytest.mark.parametrize("avals, error, words", [
    ([aval((2,), np.uint32)] * 3 + [aval((2,), np.int32)], errors.DtypeError, ["threefry2x32", "uint32"]),
    ([aval((2,), np.uint32)] * 3 + [aval((3,), np.uint32)], errors.ShapeError, ["threefry2x32", "(3,)"]),
])
def test_threefry_bad_operands(avals, error, words):
    with pytest.raises(error) as info:
        threefry2x32.abstract_eval(*avals)
    for word in words:
        assert word in str(info.value)
