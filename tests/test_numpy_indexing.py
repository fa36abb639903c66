"""``x[index]``, ``x.at[index]`` and NumPy's index functions on traced arrays,
against NumPy: random index expressions (ints, slices with steps, None,
Ellipsis, integer arrays and lists, boolean masks), constant or traced."""

import math

import numpy as np
import pytest
from fnp_harness import arrays, assert_same, check, run_traced, shapes
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import errors, tree
from funcgrad.numpy.indexing import _at
from funcgrad.trace import eval_ir, trace_pytree, trace_to_ir

# ---------------------------------------------------------------- index expressions


class Arg:
    """A placeholder in an index template for ``arrays[k]`` (traced or not)."""

    def __init__(self, k: int, as_list: bool):
        self.k, self.as_list = k, as_list


def build(template, arrays):
    """The index: placeholders replaced by arrays (constant ones as lists where
    marked); a list template is a bare item."""
    def item(i):
        if not isinstance(i, Arg):
            return i
        array = arrays[i.k]
        return array.tolist() if i.as_list and isinstance(array, np.ndarray) else array

    items = tuple(item(i) for i in template)
    return items[0] if isinstance(template, list) else items


SIDES = st.sampled_from([1, 2, 3, 4] * 3 + [0])


@st.composite
def indexings(draw, masks=True):
    """``(shape, template, arrays)``: a random index expression for an array of ``shape``.

    Index arrays broadcast to one batch shape; in mask mode, the one mask's
    companions are 0-d or (1,) arrays, so the expression stays valid.
    """
    shape = tuple(draw(st.lists(SIDES, max_size=4)))
    ndim = len(shape)
    batch = draw(shapes(0, 2, 1, 3))
    mask_mode = masks and draw(st.booleans())
    if draw(st.booleans()):  # an Ellipsis standing for axes [e0, e1)
        e0 = draw(st.integers(0, ndim))
        e1, end = draw(st.integers(e0, ndim)), ndim
    else:
        e0 = e1 = None
        end = draw(st.integers(0, ndim))  # the axes after `end` are implicit
    template, arrays = [], []

    def maybe_new_axis():
        if draw(st.integers(0, 5)) == 0:
            template.append(draw(st.sampled_from([None, None, True, False])))

    axis = 0
    while axis < end or axis == e0:
        maybe_new_axis()
        if axis == e0:
            template.append(Ellipsis)
            axis, e0 = e1, None
            continue
        size = shape[axis]
        kinds = ["slice"] + (["int", "array", "array"] if size else []) + (["mask"] * mask_mode)
        kind = draw(st.sampled_from(kinds))
        if kind == "slice":
            bound = st.one_of(st.none(), st.integers(-size - 2, size + 2))
            step = st.sampled_from([None, None, 1, 2, 3, -1, -2, -3])
            template.append(slice(draw(bound), draw(bound), draw(step)))
        elif kind == "int" and draw(st.booleans()):
            template.append(draw(st.integers(-size, size - 1)))
        elif kind in ("int", "array"):
            if kind == "int":
                index_shape = ()
            elif mask_mode:
                index_shape = draw(st.sampled_from([(), (1,)]))
            else:  # a suffix of the batch shape, some dimensions 1
                index_shape = tuple(n if draw(st.booleans()) else 1
                                    for n in batch[draw(st.integers(0, len(batch))):])
            index = draw(hnp.arrays(np.int64, index_shape, elements=st.integers(-size, size - 1)))
            template.append(Arg(len(arrays), as_list=bool(index.ndim) and draw(st.booleans())))
            arrays.append(index)
        else:
            limit = (e0 if e0 is not None else end) - axis
            k = draw(st.integers(1, limit))
            template.append(draw(hnp.arrays(np.bool_, shape[axis:axis + k])))
            mask_mode = False  # one mask per expression
            axis += k
            continue
        axis += 1
    maybe_new_axis()
    if len(template) == 1 and draw(st.booleans()):
        return shape, template, arrays  # a bare item: x[i], not x[(i,)]
    return shape, tuple(template), arrays


def numbered(shape, dtype=np.float64):
    """Distinct values, so a misplaced element shows."""
    values = np.arange(math.prod(shape)).reshape(shape)
    return (values % 3 == 1) if dtype == np.bool_ else values.astype(dtype)


def check_or_same_error(fn, np_fn, *args, **kwargs):
    """``check``, or, where NumPy raises IndexError, the traced call raises it too."""
    try:
        np_fn(*args)
    except IndexError:
        with pytest.raises(IndexError):
            run_traced(fn, args, {})
        return
    check(fn, np_fn, *args, **kwargs)


# ---------------------------------------------------------------- x[index]


@given(indexings())
def test_getitem_with_constant_indices_matches_numpy(case):
    shape, template, index_arrays = case
    index = build(template, index_arrays)
    check_or_same_error(lambda x: x[index], lambda x: x[index], numbered(shape), protocol=False)


@given(indexings(), st.sampled_from([np.float32, np.int32, np.bool_]))
def test_getitem_with_traced_index_arrays_matches_numpy(case, dtype):
    shape, template, index_arrays = case
    x = numbered(shape, dtype)

    def get(x, *arrays):
        return x[build(template, arrays)]

    check_or_same_error(get, get, x, *index_arrays, protocol=False)


@pytest.mark.parametrize("index", [
    (), Ellipsis, None, (None, Ellipsis, None), 0, -1, (1, 2), slice(None, None, -1),
    (slice(None), [0, 2, 0]), ([0, 1], slice(None), [1, 3]), ([[0], [1]], [0, 2]),
    (Ellipsis, [0, -1]), (0, slice(None), [1, 2]), ([1, 0], None, [0, 1]),
    (slice(None), True, [0, 1]), np.array([True, False, True]), (slice(1, None), [[0, 3]]),
    ([], slice(None)), (np.zeros((3, 4), bool)), (slice(None), None, 0, slice(None, None, -2)),
    (slice(None), [0, 1], Ellipsis, [0, 1]),  # an Ellipsis for no axis still separates
])
def test_getitem_reference_cases(index):
    x = numbered((3, 4, 5))
    check(lambda a: a[index], None, x, protocol=False)


def test_getitem_on_zero_dimensional_arrays():
    for index in [(), Ellipsis, None, True, False, (None, Ellipsis)]:
        check(lambda a, index=index: a[index], None, np.array(2.5), protocol=False)


def test_getitem_keeps_weak_type():
    weak = fg.AbstractArray((3, 2), np.dtype(np.float32), weak_type=True)
    ir, _ = trace_to_ir(lambda x: [x[0], x[::-1, [1]], x[None]], [weak])
    assert all(aval.weak_type and aval.dtype == np.float32 for aval in ir.out_avals)


def test_lists_of_traced_scalars_are_index_arrays():
    def pick(x, i, j):
        return x[[i, j, 1]], x[[[i], [j]], 0]

    check(pick, lambda x, i, j: (x[[i, j, 1]], x[[[i], [j]], 0]), numbered((4, 3)),
          np.array(3), np.array(-1), protocol=False)


def traced(fn, *args):
    ir = fg.make_ir(fn)(*args)
    return eval_ir(ir, *args)


def test_traced_slice_bounds_need_a_concrete_trace():
    x, i = numbered((5,)), np.array(2)
    assert_same(concrete_trace(lambda x, i: x[i:i + 2], x, i), x[2:4])
    with pytest.raises(errors.ConcretizationError):
        fg.make_ir(lambda x, i: x[i:])(x, i)


def test_traced_out_of_range_reads_clamp_and_writes_drop():
    x = numbered((4,))
    assert traced(lambda x, i: x[i], x, np.array(7))[0] == 3
    assert traced(lambda x, i: x[i], x, np.array(-9))[0] == 0
    assert_same(traced(lambda x, i: x.at[i].set(-1.0), x, np.array([7, -9, 1]))[0],
                np.array([0.0, -1.0, 2.0, 3.0]))


def test_traced_bool_mask_needs_a_concrete_trace():
    x, mask = numbered((2, 3)), np.array([[True, False, True], [False, False, True]])
    with pytest.raises(errors.ConcretizationError) as info:
        fg.make_ir(lambda x, m: x[m])(x, mask)
    message = str(info.value)
    assert "boolean mask" in message and "fnp.where" in message
    assert "test_numpy_indexing.py" in message
    for fn, reference in [
        (lambda x, m: x[m], None),
        (lambda x, m: x[m[:, 2], 1:], None),
        (lambda x, m: x[m[1, 2]], None),  # a traced 0-d mask
        (lambda x, m: x.at[m].add(1.0), lambda x, m: at_reference("add", x, m, 1.0)),
    ]:
        assert_same(concrete_trace(fn, x, mask), (reference or fn)(x, mask))


@pytest.mark.parametrize("index, words", [
    ((0, 0, 0), "too many indices for array: array is 2-dimensional, but 3 were indexed"),
    (3, "index 3 is out of bounds for axis 0 with size 3"),
    ((0, -5), "index -5 is out of bounds for axis 1 with size 4"),
    (([0, 7],), "index 7 is out of bounds for axis 0"),
    (1.0, "only integers, slices"),
    ([1.5], "only integers, slices"),
    ("a", "only integers, slices"),
    ((Ellipsis, Ellipsis), "single ellipsis"),
    (np.array([True, False]), "boolean index did not match indexed array along axis 0"),
    (([0, 1], [0, 1, 2]), "shape mismatch: indexing arrays could not be broadcast"),
])
def test_bad_indices_raise_index_error_as_numpy(index, words):
    x = numbered((3, 4))
    with pytest.raises(IndexError):
        x[index]
    with pytest.raises(IndexError) as info:
        fg.make_ir(lambda x: x[index])(x)
    assert words in str(info.value) and "test_numpy_indexing.py" in str(info.value)


def test_traced_float_index_is_an_index_error():
    with pytest.raises(IndexError, match="only integers"):
        fg.make_ir(lambda x, i: x[i])(np.ones(3), np.array([0.0]))


def test_item_assignment_points_to_at():
    def assign(x):
        x[0] = 1.0
        return x

    with pytest.raises(errors.InPlaceUpdateError) as info:
        fg.make_ir(assign)(np.ones(3))
    assert ".at[index].set(value)" in str(info.value)


# ---------------------------------------------------------------- x.at[index]

UFUNC_AT = {"add": np.add, "multiply": np.multiply, "min": np.minimum, "max": np.maximum,
            "divide": np.divide, "power": np.power}


def at_reference(op, x, index, values):
    out = x.copy()
    values = np.asarray(values).astype(x.dtype)
    if op == "set":
        out[index] = values
    elif op == "get":
        return x[index]
    else:
        UFUNC_AT[op].at(out, index, values)
    return out


@st.composite
def at_cases(draw):
    """(op, x, template, index arrays, values), values broadcastable to x[index]."""
    op = draw(st.sampled_from(["set", "add", "multiply", "min", "max", "divide", "power", "get"]))
    shape, template, index_arrays = draw(indexings())
    dtypes = [np.float64] if op in ("divide", "power") else [np.float64, np.float32, np.int32]
    dtype = draw(st.sampled_from(dtypes + [np.bool_] * (op == "set")))
    x = draw(arrays(dtype, shape, low=0.5, high=2))
    try:
        out_shape = x[build(template, index_arrays)].shape
    except IndexError:
        out_shape = ()
    values_shape = tuple(n if draw(st.booleans()) else 1
                         for n in out_shape[draw(st.integers(0, len(out_shape))):])
    values = draw(arrays(np.float64, values_shape, low=0.5, high=2))
    if draw(st.booleans()) and not values_shape:
        values = float(values)
    return op, x, template, index_arrays, values


@given(at_cases(), st.booleans())
def test_at_updates_match_numpy(case, traced_indices):
    op, x, template, index_arrays, values = case

    def update(x, values, *arrays):
        ref = _at(x)[build(template, arrays)]
        return ref.get() if op == "get" else getattr(ref, op)(values)

    def reference(x, values, *arrays):
        return at_reference(op, x, build(template, arrays), values)

    if not traced_indices:
        index = build(template, index_arrays)
        check_or_same_error(lambda x, v: update(x, v, *index_arrays),
                            lambda x, v: at_reference(op, x, index, v), x, values, protocol=False)
    else:
        check_or_same_error(update, reference, x, values, *index_arrays, protocol=False)


def test_at_is_a_tracer_attribute_and_is_functional():
    x = numbered((3, 4))
    out = traced(lambda x: (x.at[1, ::2].set(-1.0), x.at[[0, 0], 1].add(10.0), x), x)
    assert_same(out[0], at_reference("set", x, (1, slice(None, None, 2)), -1.0))
    assert_same(out[1], at_reference("add", x, ([0, 0], 1), 10.0))
    assert_same(out[2], x)


def test_at_values_are_cast_and_broadcast_as_assignment():
    x = np.zeros((2, 3), np.int32)
    assert_same(traced(lambda x, v: x.at[:, 1:].set(v), x, np.array([[1.7, -2.2]]))[0],
                at_reference("set", x, (slice(None), slice(1, None)), np.array([[1.7, -2.2]])))
    assert_same(traced(lambda x, v: x.at[0].set(v), x, np.ones((1, 1, 3)))[0],
                at_reference("set", x, 0, np.ones(3)))
    with pytest.raises(ValueError):
        fg.make_ir(lambda x, v: x.at[0].set(v))(x, np.ones(2))


def test_at_on_numpy_arrays_computes_eagerly():
    x = np.arange(4.0)
    assert_same(_at(x)[[0, 0]].add(1.0), np.array([2.0, 1.0, 2.0, 3.0]))
    assert_same(_at(x)[1:].divide(2.0), np.array([0.0, 0.5, 1.0, 1.5]))
    assert_same(x, np.arange(4.0))


# ---------------------------------------------------------------- NumPy's functions


@given(data=st.data())
def test_take_matches_numpy(data):
    shape = data.draw(shapes(0, 3, 1, 4))
    x = numbered(shape, data.draw(st.sampled_from([np.float32, np.int64])))
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1))
                     if shape else st.none())
    n = x.size if axis is None else shape[axis]
    mode = data.draw(st.sampled_from(["raise", "wrap", "clip"]))
    reach = n if mode == "raise" else 2 * n + 1
    indices = data.draw(hnp.arrays(np.int64, shapes(0, 2, 0, 3),
                                   elements=st.integers(-reach, reach - 1)))
    check(fnp.take, np.take, x, indices, axis=axis, mode=mode)
    static = indices.tolist()
    check(lambda a: fnp.take(a, static, axis, mode=mode),
          lambda a: np.take(a, static, axis, mode=mode), x)
    check(lambda a: a.take(static, axis=axis, mode=mode),
          lambda a: a.take(static, axis=axis, mode=mode), x, protocol=False)


def test_take_errors_as_numpy():
    x = np.ones(3)
    for fn, error in [(lambda a: fnp.take(a, [3]), IndexError),
                      (lambda a: fnp.take(a, 0, mode="nope"), ValueError),
                      (lambda a: fnp.take(a, 0, axis=1), errors.AxisError),
                      (lambda a: fnp.take(a, [0], out=a), TypeError)]:
        with pytest.raises(error):
            fg.make_ir(fn)(x)
    with pytest.raises(IndexError, match="empty"):
        fg.make_ir(lambda a: fnp.take(a, [0], mode="clip"))(np.ones(0))


@given(data=st.data())
def test_take_along_axis_matches_numpy(data):
    shape = data.draw(shapes(1, 3, 1, 4))
    x = numbered(shape)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    index_shape = list(shape)
    index_shape[axis] = data.draw(st.integers(0, 4))
    index_shape = [1 if data.draw(st.booleans()) else s for s in index_shape]
    indices = data.draw(hnp.arrays(np.int64, tuple(index_shape), elements=st.integers(-n, n - 1)))
    check(fnp.take_along_axis, np.take_along_axis, x, indices, axis=axis)
    flat = data.draw(hnp.arrays(np.int32, (3,), elements=st.integers(-x.size, x.size - 1)))
    check(fnp.take_along_axis, np.take_along_axis, x, flat, axis=None)


def test_take_along_axis_errors_as_numpy():
    x = np.ones((2, 3))
    for indices, axis, error in [(np.ones((2, 1)), 1, IndexError), (np.ones(2, int), 1, ValueError),
                                 (np.ones((2, 1), int), None, ValueError)]:
        with pytest.raises(error):
            np.take_along_axis(x, indices, axis)
        with pytest.raises(error):
            fg.make_ir(lambda a, i, axis=axis: fnp.take_along_axis(a, i, axis))(x, indices)


def concrete_trace(fn, *args):
    """``fn`` traced on concrete arrays (values available), then evaluated."""
    ir, _, _, out_tree = trace_pytree(fn, args, concrete=True)
    return tree.tree_unflatten(out_tree, eval_ir(ir, *args))


@pytest.mark.parametrize("name", ["nonzero", "argwhere", "flatnonzero"])
@given(x=arrays(np.int32, shapes(1, 3, 0, 4), low=-1, high=1))
def test_value_dependent_functions_need_concrete_values(name, x):
    fn, np_fn = getattr(fnp, name), getattr(np, name)
    assert_same(fn(x), np_fn(x))
    assert_same(concrete_trace(fn, x), np_fn(x))
    assert_same(concrete_trace(np_fn, x), np_fn(x))  # through the NumPy protocol
    with pytest.raises(errors.ConcretizationError, match=r"fnp\.where"):
        fg.make_ir(fn)(x)


def test_nonzero_method():
    x = np.array([[0, 1], [2, 0]])
    assert_same(concrete_trace(lambda a: a.nonzero(), x), x.nonzero())


@given(data=st.data())
def test_compress_and_extract_match_numpy(data):
    shape = data.draw(shapes(1, 3, 1, 4))
    x = numbered(shape)
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    n = x.size if axis is None else shape[axis]
    condition = data.draw(hnp.arrays(np.bool_, (data.draw(st.integers(0, n)),)))
    check(lambda a: fnp.compress(condition, a, axis), lambda a: np.compress(condition, a, axis), x)
    assert_same(concrete_trace(lambda c, a: fnp.compress(c, a, axis), condition, x),
                np.compress(condition, x, axis))
    mask = data.draw(hnp.arrays(np.bool_, shape))
    check(lambda a: fnp.extract(mask, a), lambda a: np.extract(mask, a), x)
    assert_same(concrete_trace(fnp.extract, mask, x), np.extract(mask, x))
    with pytest.raises(errors.ConcretizationError):
        fg.make_ir(fnp.extract)(mask, x)


@given(data=st.data())
def test_choose_matches_numpy(data):
    shape = data.draw(shapes(0, 2, 1, 3))
    mode = data.draw(st.sampled_from(["raise", "wrap", "clip"]))
    low, high = (0, 2) if mode == "raise" else (-4, 5)
    a = data.draw(arrays(np.int64, shape, low=low, high=high))
    c0 = data.draw(arrays(np.float32, shape[1:]))
    c1 = data.draw(arrays(np.int32, shape))
    c2 = data.draw(arrays(np.float64, ()))
    check(lambda a, c0, c1, c2: fnp.choose(a, [c0, c1, c2], mode=mode),
          lambda a, c0, c1, c2: np.choose(a, [c0, c1, c2], mode=mode), a, c0, c1, c2)
    check(lambda c1: fnp.choose(a, [c1, 2], mode=mode),
          lambda c1: np.choose(a, [c1, 2], mode=mode), c1, protocol=False)


def test_choose_raise_mode_rejects_constant_bad_entries():
    with pytest.raises(ValueError, match="invalid entry"):
        fg.make_ir(lambda c: fnp.choose([0, 2], [c, c]))(np.ones(2))


@given(data=st.data())
def test_unravel_index_matches_numpy(data):
    dims = data.draw(shapes(1, 3, 1, 4))
    indices = data.draw(hnp.arrays(np.int64, shapes(0, 2, 1, 3),
                                   elements=st.integers(0, math.prod(dims) - 1)))
    for order in "CF":
        check(fnp.unravel_index, np.unravel_index, indices, dims, order=order)


def test_ix_matches_numpy():
    rows, cols = np.array([0, 2]), np.array([3, 1, 0])
    x = numbered((3, 4))
    check(lambda x, r, c: x[fnp.ix_(r, c)], lambda x, r, c: x[np.ix_(r, c)], x, rows, cols)
    check(fnp.ix_, np.ix_, rows, cols)
    assert_same(concrete_trace(lambda m: fnp.ix_(m, []), np.array([True, False, True])),
                np.ix_(np.array([True, False, True]), []))
    with pytest.raises(ValueError, match="1 dimensional"):
        fg.make_ir(fnp.ix_)(np.ones((2, 2), int))


@pytest.mark.parametrize("name, args", [
    ("diag_indices_from", (np.ones((3, 3)),)), ("diag_indices_from", (np.ones((2, 2, 2)),)),
    ("tril_indices_from", (np.ones((3, 4)),)), ("tril_indices_from", (np.ones((4, 3)), 1)),
    ("triu_indices_from", (np.ones((3, 4)), -1)),
])
def test_indices_from_need_only_shapes(name, args):
    check(getattr(fnp, name), getattr(np, name), *args)


@pytest.mark.parametrize("name, array", [("diag_indices_from", np.ones((2, 3))),
                                         ("diag_indices_from", np.ones(2)),
                                         ("tril_indices_from", np.ones(3))])
def test_indices_from_errors_as_numpy(name, array):
    with pytest.raises(ValueError):
        getattr(np, name)(array)
    with pytest.raises(ValueError):
        fg.make_ir(getattr(fnp, name))(array)


@pytest.mark.parametrize("name, args", [
    ("diag_indices", (3,)), ("diag_indices", (2, 3)), ("tril_indices", (3, 1, 4)),
    ("triu_indices", (4,)), ("indices", ((2, 3),)),
])
def test_concrete_helpers_are_numpys(name, args):
    assert_same(getattr(fnp, name)(*args), getattr(np, name)(*args))
    n = np.int64(args[0]) if isinstance(args[0], int) else None
    if n is not None:  # a traced size needs its value
        assert_same(concrete_trace(lambda n: getattr(fnp, name)(n, *args[1:]), n),
                    getattr(np, name)(*args))
