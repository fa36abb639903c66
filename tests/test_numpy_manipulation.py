"""funcgrad.numpy shape manipulation against NumPy: eager, traced and through
NumPy's own functions on tracers (``fnp_harness.check``)."""

import math

import numpy as np
import pytest
from fnp_harness import DTYPES, arrays, check, shapes
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.errors import AxisError, ConcretizationError, ShapeError
from funcgrad.numpy._core import FUNCTIONS

# ---------------------------------------------------------------- strategies


def _array(draw, min_dims=0, max_dims=4, min_side=0, max_side=4, dtypes=DTYPES):
    dtype = draw(st.sampled_from(dtypes))
    return draw(arrays(dtype, shapes(min_dims, max_dims, min_side, max_side)))


def case(extra, **array_kwargs):
    """A strategy for ``((x, *args), kwargs)``: an array ``x`` and what
    ``extra(draw, x)`` draws for it."""
    @st.composite
    def draw_case(draw):
        x = _array(draw, **array_kwargs)
        args, kwargs = extra(draw, x)
        return (x, *args), kwargs

    return draw_case()


def axis_of(x, extra=0):
    """An axis of ``x`` (of ``x.ndim + extra`` axes), maybe negative."""
    n = x.ndim + extra
    return st.integers(-n, n - 1) if n else st.nothing()


def axes_of(x, extra=0, min_size=0, max_size=None):
    """Distinct axes, each maybe negative, in any order."""
    n = x.ndim + extra
    if not n:
        return st.just(())
    return st.lists(st.tuples(st.integers(0, n - 1), st.booleans()), min_size=min_size,
                    max_size=max_size, unique_by=lambda p: p[0]).map(
        lambda ps: tuple(a - n * neg for a, neg in ps))


def reshape_targets(shape):
    size = math.prod(shape)
    targets = [shape[::-1], (size,), (1, size, 1), (*shape, 1)]
    for d in range(1, size + 1):
        if size % d == 0:
            targets += [(d, size // d), (size // d, -1, 1), (-1, d)]
    return targets or [(0, 3)]  # size 0: any zero-sized shape


def permuted_axes(x):
    return st.permutations(range(x.ndim)).map(lambda p: tuple(a - x.ndim * (a % 2) for a in p))


def moveaxis_args(x):
    return axes_of(x).flatmap(lambda src: st.tuples(
        st.just(src), st.permutations(range(x.ndim)).map(lambda p: tuple(p[:len(src)]))))


def new_axes(x):
    return axis_of(x, 1) | st.integers(1, 2).flatmap(
        lambda k: axes_of(x, k, min_size=k, max_size=k))


def roll_args(draw, x):
    if x.ndim == 0 or draw(st.booleans()):
        return (draw(st.integers(-9, 9)),), {"axis": draw(st.none() | axis_of(x))}
    shifts = draw(st.lists(st.integers(-9, 9), min_size=2, max_size=2))
    return (shifts,), {"axis": draw(st.tuples(axis_of(x), axis_of(x)))}


def delete_index(x):
    n = x.shape[0]
    return (st.sampled_from([slice(1, None, 2), slice(None, None, -1), [], [0, -1, 0]])
            | st.integers(-n, n - 1) | st.lists(st.booleans(), min_size=n, max_size=n))


SPLIT_POINTS = st.integers(1, 5) | st.lists(st.integers(-6, 6), max_size=4)
DIRECTIONAL_SPLIT_POINTS = st.just(1) | st.lists(st.integers(-5, 5), max_size=3)
SHAPE_ARG = st.integers(0, 9) | st.lists(st.integers(0, 4), max_size=3).map(tuple)
REPS = st.integers(0, 3) | st.lists(st.integers(0, 3), max_size=4).map(tuple)


def only_x(draw, x):
    return (), {}


# name -> strategy of ((x, *args), kwargs) for fnp.name(x, *args, **kwargs) vs np.name
CASES = {
    "reshape": case(lambda d, x: ((d(st.sampled_from(reshape_targets(x.shape))),),
                                  {"order": d(st.sampled_from("CF"))})),
    "ravel": case(lambda d, x: ((), {"order": d(st.sampled_from("CF"))})),
    "transpose": case(lambda d, x: ((d(st.none() | permuted_axes(x)),), {})),
    "swapaxes": case(lambda d, x: (d(st.tuples(axis_of(x), axis_of(x))), {}), min_dims=1),
    "moveaxis": case(lambda d, x: (d(moveaxis_args(x)), {})),
    "expand_dims": case(lambda d, x: ((d(new_axes(x)),), {})),
    "squeeze": case(lambda d, x: ((d(st.sampled_from(
        [None] + [i - x.ndim * (i % 2) for i, n in enumerate(x.shape) if n == 1])),), {}), max_side=2),
    "flip": case(lambda d, x: ((), {"axis": d(st.none() | axis_of(x) | axes_of(x))}), min_dims=1),
    "fliplr": case(only_x, min_dims=2),
    "flipud": case(only_x, min_dims=1),
    "roll": case(roll_args),
    "rot90": case(lambda d, x: ((d(st.integers(-5, 5)),), {"axes": d(st.permutations(
        range(x.ndim)).map(lambda p: (p[0], p[1] - x.ndim)))}), min_dims=2),
    "tile": case(lambda d, x: ((d(REPS),), {}), max_dims=3),
    "repeat": case(lambda d, x: ((d(st.integers(0, 3)),), {"axis": d(st.none() | axis_of(x))})),
    "resize": case(lambda d, x: ((d(SHAPE_ARG),), {})),
    "delete": case(lambda d, x: ((d(delete_index(x)),), {"axis": d(st.sampled_from([0, -x.ndim]))}),
                   min_dims=1, min_side=1),
    "append": case(lambda d, x: ((d(arrays(np.float32, x.shape)),), {"axis": d(st.none() | axis_of(x))}),
                   min_dims=1),
    "atleast_1d": case(only_x),
    "atleast_2d": case(only_x),
    "atleast_3d": case(only_x),
    "ndim": case(only_x),
    "shape": case(only_x),
    "size": case(lambda d, x: ((), {"axis": d(st.none() | axis_of(x))})),
    "broadcast_to": case(lambda d, x: ((d(st.sampled_from([(2, *x.shape), (3, 1, *x.shape)])),), {})),
    "array_split": case(lambda d, x: ((d(SPLIT_POINTS),), {"axis": d(axis_of(x))}), min_dims=1),
    "hsplit": case(lambda d, x: ((d(DIRECTIONAL_SPLIT_POINTS),), {}), min_dims=1),
    "vsplit": case(lambda d, x: ((d(DIRECTIONAL_SPLIT_POINTS),), {}), min_dims=2),
    "dsplit": case(lambda d, x: ((d(DIRECTIONAL_SPLIT_POINTS),), {}), min_dims=3),
}


@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data())
def test_single_array_functions(name, data):
    args, kwargs = data.draw(CASES[name])
    check(getattr(fnp, name), getattr(np, name), *args, **kwargs)


@given(data=st.data())
def test_split_into_equal_sections(data):
    x = _array(data.draw, min_dims=1)
    axis = data.draw(axis_of(x))
    n = x.shape[axis]
    sections = data.draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0] or [1, 3]))
    check(fnp.split, np.split, x, sections, axis=axis)
    check(fnp.split, np.split, x, [1, -1], axis=axis)


@given(data=st.data())
def test_repeat_with_an_array_of_counts(data):
    if "take" not in FUNCTIONS:
        pytest.skip("fnp.take is not written yet")
    x = _array(data.draw, min_dims=1)
    axis = data.draw(axis_of(x))
    counts = data.draw(hnp.arrays(np.int64, x.shape[axis], elements=st.integers(0, 3)))
    check(lambda x: fnp.repeat(x, counts, axis), lambda x: np.repeat(x, counts, axis), x)


# ---------------------------------------------------------------- padding

WIDTH = st.integers(0, 7)
PAD_WIDTHS = WIDTH | st.tuples(WIDTH) | st.tuples(WIDTH, WIDTH)


@given(data=st.data())
def test_pad_constant(data):
    x = _array(data.draw, max_dims=3)
    widths = data.draw(PAD_WIDTHS | st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)),
                                               min_size=x.ndim, max_size=x.ndim))
    values = data.draw(st.sampled_from([0, 1.5, (2, -3)])
                       | st.lists(st.tuples(st.integers(-5, 5), st.integers(-5, 5)),
                                  min_size=x.ndim, max_size=x.ndim))
    check(fnp.pad, np.pad, x, widths, constant_values=values)
    check(fnp.pad, np.pad, x, widths)


@pytest.mark.parametrize("mode", ["edge", "wrap", "reflect", "symmetric"])
@given(data=st.data())
def test_pad_modes(mode, data):
    x = _array(data.draw, min_side=1, max_dims=3)
    check(fnp.pad, np.pad, x, data.draw(PAD_WIDTHS), mode=mode)


def test_pad_with_a_traced_value():
    x, value = np.arange(6.0).reshape(2, 3), np.array(-1.0)
    check(lambda x, v: fnp.pad(x, 1, constant_values=v), lambda x, v: np.pad(x, 1, constant_values=v),
          x, value, protocol=False)  # np.pad itself converts constant_values with np.asarray


def test_pad_records_one_pad_and_no_gather():
    ir = fg.make_ir(lambda x: (fnp.pad(x, 2), fnp.pad(x, 2, mode="reflect")))(np.ones(4))
    assert [e.primitive.name for e in ir.eqns][:1] == ["pad"]
    assert "gather" not in str(ir)


# ---------------------------------------------------------------- joining


@st.composite
def joinable(draw, ndim, axis, dtypes=DTYPES):
    """Arrays of ``ndim`` dimensions whose shapes differ only along ``axis``."""
    base = draw(shapes(ndim, ndim, min_side=0))
    arrays_ = []
    for _ in range(draw(st.integers(1, 4))):
        shape = list(base)
        if axis is not None and axis < ndim:
            shape[axis] = draw(st.integers(0, 3))
        arrays_.append(draw(arrays(draw(st.sampled_from(dtypes)), tuple(shape))))
    return arrays_


@given(data=st.data())
def test_concatenate(data):
    ndim = data.draw(st.integers(1, 3))
    axis = data.draw(st.integers(-ndim, ndim - 1))
    xs = data.draw(joinable(ndim, axis % ndim))
    check(lambda *xs: fnp.concatenate(xs, axis), lambda *xs: np.concatenate(xs, axis), *xs)
    check(lambda *xs: fnp.concatenate(xs, axis, dtype=np.float32),
          lambda *xs: np.concatenate(xs, axis, dtype=np.float32), *xs)


@given(data=st.data())
def test_concatenate_flattened(data):
    xs = [_array(data.draw) for _ in range(data.draw(st.integers(1, 3)))]
    check(lambda *xs: fnp.concatenate(xs, axis=None), lambda *xs: np.concatenate(xs, axis=None), *xs)


@given(data=st.data())
def test_stack(data):
    xs = data.draw(joinable(data.draw(st.integers(0, 3)), None))
    axis = data.draw(st.integers(-xs[0].ndim - 1, xs[0].ndim))
    check(lambda *xs: fnp.stack(xs, axis), lambda *xs: np.stack(xs, axis), *xs)


# name -> the axis whose length may differ, by ndim
JOIN_AXIS = {
    "hstack": {0: None, 1: 0, 2: 1, 3: 1},
    "vstack": {0: None, 1: None, 2: 0, 3: 0},
    "dstack": {0: None, 1: None, 2: None, 3: 2},
    "column_stack": {0: None, 1: None, 2: 1, 3: 1},
}


@pytest.mark.parametrize("name", sorted(JOIN_AXIS))
@given(data=st.data())
def test_directional_stacks(name, data):
    ndim = data.draw(st.integers(0, 3 if name != "column_stack" else 2))
    xs = data.draw(joinable(ndim, JOIN_AXIS[name][ndim]))
    fnp_fn, np_fn = getattr(fnp, name), getattr(np, name)
    check(lambda *xs: fnp_fn(xs), lambda *xs: np_fn(xs), *xs)


def test_stack_mixes_tracers_and_scalars():
    a, b = np.float32(2.5) * np.ones((), np.float32), np.arange(3.0)[1:2].reshape(())
    check(lambda a, b: fnp.stack([a, 1, b]), lambda a, b: np.stack([a, 1, b]), a, b)
    check(lambda a: fnp.hstack([a, [1.0, 2.0]]), lambda a: np.hstack([a, [1.0, 2.0]]),
          np.ones(2, np.float32))


@given(shapes_=hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3))
def test_broadcast_arrays(shapes_):
    xs = [np.full(s, i, np.int32 if i else np.float32) for i, s in enumerate(shapes_.input_shapes)]
    check(fnp.broadcast_arrays, np.broadcast_arrays, *xs)


# ---------------------------------------------------------------- errors and IR


def trace(fn, *args):
    return fg.make_ir(fn)(*args)


ERRORS = [
    (lambda x: fnp.reshape(x, (4, 2)), ShapeError, r"reshape.*\(2, 3\).*\(4, 2\)"),
    (lambda x: fnp.reshape(x, (-1, -1)), ValueError, "one unknown dimension"),
    (lambda x: x.reshape(4, -1), ShapeError, r"reshape.*\(2, 3\).*\(4, -1\)"),
    (lambda x: fnp.reshape(x, 6, order="A"), NotImplementedError, "memory layout"),
    (lambda x: fnp.squeeze(x, 0), ShapeError, "squeeze.*size not equal to one"),
    (lambda x: fnp.concatenate([x, x.T]), ShapeError, r"concatenate.*\(2, 3\).*\(3, 2\)"),
    (lambda x: fnp.concatenate([x, x], axis=2), AxisError, "concatenate: axis 2"),
    (lambda x: fnp.concatenate([x[0, 0], x[0, 0]]), ValueError, "zero-dimensional"),
    (lambda x: fnp.stack([x, x.T]), ShapeError, "stack: all input arrays must have the same shape"),
    (lambda x: fnp.flip(x, -3), AxisError, "flip: axis -3"),
    (lambda x: fnp.expand_dims(x, 3), AxisError, "expand_dims: axis 3"),
    (lambda x: fnp.moveaxis(x, 0, 5), AxisError, "moveaxis: axis 5"),
    (lambda x: fnp.moveaxis(x, (0, 1), 0), ValueError, "same number of elements"),
    (lambda x: fnp.transpose(x, (0, 0)), ValueError, "repeated axis"),
    (lambda x: fnp.transpose(x, (0,)), ValueError, "don't match"),
    (lambda x: fnp.broadcast_to(x, (4, 3)), ShapeError, r"broadcast_to.*\(2, 3\).*\(4, 3\)"),
    (lambda x: fnp.broadcast_arrays(x, x.T), ShapeError, "broadcast_arrays"),
    (lambda x: fnp.split(x, 4, axis=1), ValueError, "equal division"),
    (lambda x: fnp.vsplit(x[0], 1), ValueError, "vsplit only works on arrays of 2"),
    (lambda x: fnp.fliplr(x[0]), ValueError, "fliplr: input must be >= 2-d"),
    (lambda x: fnp.rot90(x, axes=(0, 0)), ValueError, "axes must be different"),
    (lambda x: fnp.tile(x, -1), ValueError, "negative"),
    (lambda x: fnp.repeat(x, 1.5), TypeError, "integers"),
    (lambda x: fnp.repeat(x, [1, 2], axis=1), ValueError, "broadcast"),
    (lambda x: fnp.pad(x, -1), ValueError, "negative"),
    (lambda x: fnp.pad(x, 1, mode="mean"), NotImplementedError, "mean"),
    (lambda x: fnp.pad(x, 1, mode="edge", constant_values=1), ValueError, "unsupported keyword"),
    (lambda x: fnp.pad(x[:, :0], 1, mode="wrap"), ValueError, "empty axis 1"),
    (lambda x: fnp.concatenate([x, x], dtype=np.int32), TypeError, "same_kind"),
]


@pytest.mark.parametrize(("fn", "error", "match"), ERRORS)
def test_errors_on_traced_arrays(fn, error, match):
    with pytest.raises(error, match=match):
        trace(fn, np.ones((2, 3)))


def test_errors_name_the_users_line():
    with pytest.raises(ShapeError, match=r"test_numpy_manipulation\.py"):
        trace(lambda x: fnp.reshape(x, 5), np.ones(3))


def test_traced_shapes_need_concrete_values():
    with pytest.raises(ConcretizationError, match="reshape's shape"):
        trace(lambda x, n: fnp.reshape(x, (n, -1)), np.ones(6), np.int64(2))


@pytest.mark.parametrize(("fn", "primitives"), [
    (lambda x: fnp.tile(x, (2, 1)), ["broadcast_in_dim", "reshape"]),
    (lambda x: fnp.repeat(x, 2, axis=0), ["broadcast_in_dim", "reshape"]),
    (lambda x: fnp.roll(x, 1, axis=1), ["slice", "slice", "concatenate"]),
    (lambda x: fnp.rot90(x), ["rev", "transpose"]),
    (lambda x: fnp.reshape(x, (-1,), order="F"), ["transpose", "reshape"]),
])
def test_recorded_primitives(fn, primitives):
    assert [e.primitive.name for e in trace(fn, np.ones((2, 3))).eqns] == primitives
