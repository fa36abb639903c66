"""The indexing primitives against element-by-element loops: gather clamps,
scatters drop out-of-range indices and combine duplicates, dynamic slices
clamp their starts; abstract eval agrees with the eager result; bad operands
raise errors that name the primitive."""

import numpy as np
import pytest
from fnp_harness import assert_same
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcgrad as fg
from funcgrad import errors
from funcgrad.ir import AbstractArray, abstractify
from funcgrad.primitives import PRIMITIVES
from funcgrad.primitives import indexing as prims
from funcgrad.trace import eval_ir, trace_to_ir

SCATTER_REFERENCE = {  # primitive -> how one update combines with the current value
    "scatter": lambda old, new: new,
    "scatter_add": np.add,
    "scatter_mul": np.multiply,
    "scatter_min": np.minimum,
    "scatter_max": np.maximum,
}


def through_trace(primitive, *args, **params):
    """Bind under a trace, check the recorded aval, then evaluate the IR."""
    ir, _ = trace_to_ir(lambda *a: [primitive.bind(*a, **params)], list(args))
    (result,) = eval_ir(ir, *args)
    assert ir.out_avals[0] == abstractify(np.asarray(result)), ir
    return result


@st.composite
def gather_cases(draw, min_side=1):
    """An operand, sorted distinct axes, and indices (some out of range)."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=min_side, max_side=4))
    dtype = draw(st.sampled_from([np.float64, np.int32, np.bool_]))
    operand = draw(hnp.arrays(dtype, shape))
    axes = tuple(sorted(draw(st.sets(st.integers(0, len(shape) - 1), max_size=len(shape)))
                        if shape else ()))
    batch = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    high = max((shape[a] for a in axes), default=0) + 1
    indices = draw(hnp.arrays(np.int32, batch + (len(axes),), elements=st.integers(-2, high)))
    return operand, indices, axes


def positions(operand, indices, axes):
    """For each batch position: its full index into operand (None for the rest
    axes), or None when out of range."""
    for b in np.ndindex(indices.shape[:-1]):
        index = [slice(None)] * operand.ndim
        for k, axis in enumerate(axes):
            index[axis] = int(indices[b + (k,)])
        inside = all(0 <= index[a] < operand.shape[a] for a in axes)
        yield b, tuple(index), inside


@given(gather_cases())
def test_gather_clamps_out_of_range_indices(case):
    operand, indices, axes = case
    rest = tuple(n for d, n in enumerate(operand.shape) if d not in axes)
    expected = np.empty(indices.shape[:-1] + rest, operand.dtype)
    for b, index, _ in positions(operand, indices, axes):
        clamped = tuple(i if a not in axes else min(max(i, 0), operand.shape[a] - 1)
                        for a, i in enumerate(index))
        expected[b] = operand[clamped]
    assert_same(prims.gather.impl(np, operand, indices, axes=axes), expected)
    assert_same(through_trace(prims.gather, operand, indices, axes=axes), expected)


@pytest.mark.parametrize("name", sorted(SCATTER_REFERENCE))
@given(case=gather_cases(), data=st.data())
def test_scatter_drops_out_of_range_and_combines_duplicates(name, case, data):
    operand, indices, axes = case
    rest = tuple(n for d, n in enumerate(operand.shape) if d not in axes)
    updates = data.draw(hnp.arrays(operand.dtype, indices.shape[:-1] + rest))
    expected = operand.copy()
    for b, index, inside in positions(operand, indices, axes):
        if inside:
            expected[index] = SCATTER_REFERENCE[name](expected[index], updates[b])
    primitive = PRIMITIVES[name]
    assert_same(primitive.impl(np, operand, indices, updates, axes=axes), expected)
    assert_same(through_trace(primitive, operand, indices, updates, axes=axes), expected)


def test_gather_from_an_empty_axis_gives_zeros():
    result = prims.gather.impl(np, np.zeros((0, 2)), np.zeros((3, 1), np.int64), axes=(0,))
    assert_same(result, np.zeros((3, 2)))


def test_scatter_is_functional():
    operand = np.zeros(3)
    prims.scatter.impl(np, operand, np.array([[1]]), np.ones(1), axes=(0,))
    assert not operand.any()


@st.composite
def dynamic_slice_cases(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
    sizes = tuple(draw(st.integers(0, n)) for n in shape)
    starts = [np.int32(draw(st.integers(-3, n + 3))) for n in shape]
    return np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape), sizes, starts


def clamped(shape, sizes, starts):
    return tuple(slice(c, c + k) for c, k in
                 ((min(max(int(s), 0), n - k), k) for s, n, k in zip(starts, shape, sizes)))


@given(dynamic_slice_cases())
def test_dynamic_slice_clamps_starts_to_fit(case):
    operand, sizes, starts = case
    expected = operand[clamped(operand.shape, sizes, starts)]
    assert_same(prims.dynamic_slice.impl(np, operand, *starts, slice_sizes=sizes), expected)
    assert_same(through_trace(prims.dynamic_slice, operand, *starts, slice_sizes=sizes), expected)


@given(dynamic_slice_cases())
def test_dynamic_update_slice_clamps_starts_to_fit(case):
    operand, sizes, starts = case
    update = -np.ones(sizes, operand.dtype)
    expected = operand.copy()
    expected[clamped(operand.shape, sizes, starts)] = update
    assert_same(prims.dynamic_update_slice.impl(np, operand, update, *starts), expected)
    assert_same(through_trace(prims.dynamic_update_slice, operand, update, *starts), expected)


def test_avals_keep_the_operand_dtype_and_weak_type():
    f32 = np.dtype(np.float32)
    weak = AbstractArray((4, 5), f32, True)
    idx = AbstractArray((2, 3, 1), np.dtype(np.int32))
    assert prims.gather.abstract_eval(weak, idx, axes=(1,)) == AbstractArray((2, 3, 4), f32, True)
    updates = AbstractArray((2, 3, 4), f32)
    assert prims.scatter_add.abstract_eval(weak, idx, updates, axes=(1,)) == weak
    start = AbstractArray((), np.dtype(np.int64))
    assert prims.dynamic_slice.abstract_eval(weak, start, start, slice_sizes=(1, 5)) == \
        AbstractArray((1, 5), f32, True)


def aval(shape, dtype=np.float32):
    return AbstractArray(shape, np.dtype(dtype))


BAD_OPERANDS = [  # (primitive, avals, params, error, words in the message)
    ("gather", [aval((3, 4)), aval((2, 1), np.float32)], {"axes": (0,)},
     errors.DtypeError, "integers"),
    ("gather", [aval((3, 4)), aval((2, 2), np.int32)], {"axes": (0,)},
     errors.ShapeError, "batch_shape"),
    ("gather", [aval((3, 4)), aval((2, 2), np.int32)], {"axes": (1, 0)}, errors.AxisError, "sorted"),
    ("gather", [aval((3, 4)), aval((2, 1), np.int32)], {"axes": (2,)}, errors.AxisError, "axes"),
    ("gather", [aval((3, 4)), aval((), np.int32)], {"axes": ()}, errors.ShapeError, "indices"),
    ("scatter_add", [aval((3, 4)), aval((2, 1), np.int32), aval((2, 3))], {"axes": (0,)},
     errors.ShapeError, "(2, 4)"),
    ("scatter", [aval((3, 4)), aval((2, 1), np.int32), aval((2, 4), np.float64)], {"axes": (0,)},
     errors.DtypeError, "float32"),
    ("dynamic_slice", [aval((3, 4)), aval((), np.int32)], {"slice_sizes": (1, 1)},
     errors.ShapeError, "one start index per axis"),
    ("dynamic_slice", [aval((3,)), aval((1,), np.int32)], {"slice_sizes": (1,)},
     errors.DtypeError, "integer scalars"),
    ("dynamic_slice", [aval((3,)), aval((), np.float32)], {"slice_sizes": (1,)},
     errors.DtypeError, "integer scalars"),
    ("dynamic_slice", [aval((3,)), aval((), np.int32)], {"slice_sizes": (4,)},
     errors.ShapeError, "slice_sizes"),
    ("dynamic_update_slice", [aval((3,)), aval((4,)), aval((), np.int32)], {},
     errors.ShapeError, "does not fit"),
    ("dynamic_update_slice", [aval((3,)), aval((2,), np.int32), aval((), np.int32)], {},
     errors.DtypeError, "dtype"),
]


@pytest.mark.parametrize("name, avals, params, error, words", BAD_OPERANDS)
def test_bad_operands_raise_naming_the_primitive(name, avals, params, error, words):
    with pytest.raises(error) as info:
        PRIMITIVES[name].abstract_eval(*avals, **params)
    assert str(info.value).startswith(name + ":") and words in str(info.value)


def test_bad_operands_name_the_users_line():
    with pytest.raises(errors.ShapeError) as info:
        fg.make_ir(lambda x: prims.gather.bind(x, np.zeros((2, 2), np.int32), axes=(0,)))(np.ones(3))
    assert "test_primitives_indexing.py" in str(info.value)
