"""vmap of the indexing primitives and of fnp indexing, against Python loops.

The primitives (gather, the scatters, the dynamic slices) with every
combination of batched and unbatched operands, batch axes anywhere (negative
too), duplicate, negative and out-of-range indices and starts, drawn by
hypothesis.  Then ``fg.vmap`` of NumPy-style indexing: ``x[i]`` and advanced
indexing, ``take``, ``take_along_axis``, ``x.at[i].set/add/...``, against
NumPy in a loop; and the compositions ``vmap(grad(f))`` and ``grad`` of a
function that uses ``vmap``.
"""

import numpy as np
import pytest
from fnp_harness import assert_same
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.primitives import indexing as prims

BATCH = 3
INDEX_DTYPES = [np.int8, np.uint8, np.int32, np.int64]
SCATTERS = [prims.scatter, prims.scatter_add, prims.scatter_mul, prims.scatter_min,
            prims.scatter_max]


def vmap_vs_loop(f, members, in_axes, rtol=None):
    """``vmap(f, in_axes)`` on the members stacked along ``in_axes`` equals
    stacking ``f`` of each member (leafwise); an argument with in_axes None
    is the first member's, shared by all."""
    members = [[arg if axis is not None else members[0][k]
                for k, (arg, axis) in enumerate(zip(member, in_axes))] for member in members]
    batched = [members[0][k] if axis is None else np.stack([m[k] for m in members], axis=axis)
               for k, axis in enumerate(in_axes)]
    expected = fg.tree_map(lambda *outs: np.stack(outs), *[f(*member) for member in members])
    assert_same(fg.vmap(f, in_axes=tuple(in_axes))(*batched), expected, rtol=rtol)


@st.composite
def batch_axes(draw, arrays, at_least_one=True):
    """An in_axes entry (None, or an axis, maybe negative) for each array."""
    axes = [draw(st.one_of(st.none(), st.integers(-np.ndim(x) - 1, np.ndim(x)))) for x in arrays]
    if at_least_one and all(a is None for a in axes):
        axes[draw(st.integers(0, len(axes) - 1))] = 0
    return axes


def _floats(draw, shape):
    return draw(hnp.arrays(np.float64, shape, elements=st.integers(-4, 4).map(float)))


@st.composite
def index_cases(draw, with_updates):
    """Members ``(operand, indices[, updates])`` of a gather/scatter: indices
    out of range and duplicated, different for each member; and the axes."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4))
    axes = tuple(a for a in range(len(shape)) if draw(st.booleans()))
    batch = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    dtype = np.dtype(draw(st.sampled_from(INDEX_DTYPES)))
    low = 0 if dtype.kind == "u" else -2
    rest = tuple(n for d, n in enumerate(shape) if d not in axes)
    members = []
    for _ in range(BATCH):
        indices = draw(hnp.arrays(dtype, batch + (len(axes),), elements=st.integers(low, 5)))
        member = [_floats(draw, shape), indices]
        if with_updates:
            member.append(_floats(draw, batch + rest))
        members.append(member)
    return members, axes


@given(case=index_cases(with_updates=False), data=st.data())
def test_gather(case, data):
    members, axes = case
    in_axes = data.draw(batch_axes(members[0]))
    vmap_vs_loop(lambda x, i: prims.gather.bind(x, i, axes=axes), members, in_axes)


@pytest.mark.parametrize("scatter", SCATTERS, ids=lambda p: p.name)
@given(case=index_cases(with_updates=True), data=st.data())
def test_scatter(scatter, case, data):
    members, axes = case
    in_axes = data.draw(batch_axes(members[0]))
    vmap_vs_loop(lambda x, i, u: scatter.bind(x, i, u, axes=axes), members, in_axes)


def test_member_numbers_wider_than_the_index_dtype():
    """Indices of a dtype too narrow to number the members are widened."""
    x, i = np.arange(600.0).reshape(300, 2), np.ones((300, 1), np.uint8)
    got = fg.vmap(lambda x, i: prims.gather.bind(x, i, axes=(0,)))(x, i)
    np.testing.assert_array_equal(got, x[:, 1])
    got = fg.vmap(lambda x, i: prims.scatter_add.bind(x, i, np.float64(1), axes=(0,)))(x, i)
    np.testing.assert_array_equal(got, x + [0, 1])


@st.composite
def dynamic_cases(draw, update):
    """Members ``(operand[, update], *starts)`` of a dynamic slice (starts
    out of range, of several dtypes), its slice sizes, and the in_axes."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    sizes = tuple(draw(st.integers(0, n)) for n in shape)
    dtypes = [np.dtype(draw(st.sampled_from(INDEX_DTYPES))) for _ in shape]
    members = []
    for _ in range(BATCH):
        starts = [dtype.type(draw(st.integers(0 if dtype.kind == "u" else -3, n + 3)))
                  for dtype, n in zip(dtypes, shape)]
        members.append([_floats(draw, shape)] + [_floats(draw, sizes)] * update + starts)
    in_axes = draw(batch_axes(members[0]))
    return members, sizes, in_axes


@given(dynamic_cases(update=False))
def test_dynamic_slice(case):
    members, sizes, in_axes = case
    vmap_vs_loop(lambda x, *s: prims.dynamic_slice.bind(x, *s, slice_sizes=sizes), members,
                 in_axes)


@given(dynamic_cases(update=True))
def test_dynamic_update_slice(case):
    members, _, in_axes = case
    vmap_vs_loop(lambda x, u, *s: prims.dynamic_update_slice.bind(x, u, *s), members, in_axes)


@pytest.mark.parametrize("start", [np.array([127, -128, 5], np.int8),
                                   np.array([255, 0, 200], np.uint8)])
def test_dynamic_slice_clamps_starts_narrower_than_the_axis(start):
    """Starts whose dtype cannot hold the clamp bound (an axis of 300)."""
    x = np.arange(300.0)
    got = fg.vmap(lambda s: prims.dynamic_slice.bind(x, s, slice_sizes=(2,)))(start)
    np.testing.assert_array_equal(got, [x[max(int(s), 0):][:2] for s in start])


def test_starts_of_whole_axes_do_not_batch():
    """A window as long as its axis starts at 0 whatever the start: no gather,
    and the result is not batched."""
    x = np.arange(6.0).reshape(2, 3)
    f = fg.vmap(lambda s: prims.dynamic_slice.bind(x, s, np.int64(1), slice_sizes=(2, 1)))
    ir = fg.make_ir(f)(np.arange(BATCH))
    assert "gather" not in str(ir)
    np.testing.assert_array_equal(f(np.arange(BATCH)), np.broadcast_to(x[:, 1:2], (BATCH, 2, 1)))


def test_batched_indices_make_one_gather():
    ir = str(fg.make_ir(fg.vmap(lambda x, i: x[i]))(np.ones((BATCH, 5)),
                                                    np.zeros((BATCH, 2), np.int64)))
    assert ir.count("gather") == 1 and "scatter" not in ir


# ---------------------------------------------------------------- fnp indexing

RNG = np.random.default_rng(0)
X = RNG.normal(size=(BATCH, 4, 5))
IDX = np.array([[0, -1], [3, 3], [-4, 2]])  # per member: negative, duplicate
J = np.array([[4, 0], [1, -2], [2, 2]])
K = np.array([1, -1, 3])  # one scalar index per member

# name -> (function of a member, its arguments stacked over the batch)
GETS = {
    "x[i]": (lambda x, i: x[i], (X, IDX)),
    "x[k]": (lambda x, k: x[k], (X, K)),
    "x[:, i]": (lambda x, i: x[:, i], (X, IDX)),
    "x[i, j]": (lambda x, i, j: x[i, j], (X, IDX, J)),
    "x[i, None][..., j]": (lambda x, i, j: x[i, None][..., j], (X, IDX, J)),
    "x[1:, i]": (lambda x, i: x[1:, i], (X, IDX)),
    "x[k, ::-2]": (lambda x, k: x[k, ::-2], (X, K)),
    "x[i[:, None], j]": (lambda x, i, j: x[i[:, None], j], (X, IDX, J)),
    "take": (lambda x, i: fnp.take(x, i, axis=1), (X, J)),
    "take flat": (lambda x, i: fnp.take(x, i), (X, IDX)),
    "take wrap": (lambda x, i: fnp.take(x, i + 7, axis=0, mode="wrap"), (X, IDX)),
    "take_along_axis": (lambda x, i: fnp.take_along_axis(x, i[None] % 5, axis=-1), (X, J)),
}


def _update(name, index):
    """``f(x, *ks, v)``: ``x.at[index(*ks)].<name>(v)`` on tracers, its NumPy twin on arrays."""
    ufunc = {"add": np.add, "multiply": np.multiply, "min": np.minimum, "max": np.maximum}

    def f(x, *args):
        *ks, v = args
        if not isinstance(x, np.ndarray):
            return getattr(x.at[index(*ks)], name)(v)
        out = x.copy()
        if name == "set":
            out[index(*ks)] = v
        else:
            ufunc[name].at(out, index(*ks), v)
        return out

    return f


V = RNG.normal(size=(BATCH, 2, 5))
UPDATES = {
    **{f"x.at[i].{name}(v)": (_update(name, lambda i: i), (X, IDX, V))
       for name in ("set", "add", "multiply", "min", "max")},
    "x.at[:, k].add(scalar v)": (_update("add", lambda k: (slice(None), k)),
                                 (X, K, np.array([1.0, 2.0, 3.0]))),
    "x.at[i, j].set(v)": (_update("set", lambda i, j: (i, j)), (X, IDX, J, V[:, :, 0])),
}


def _members(stacked):
    return [[a[b] for a in stacked] for b in range(BATCH)]


@pytest.mark.parametrize("name", list(GETS) + list(UPDATES))
@given(data=st.data())
def test_fnp_indexing(name, data):
    f, stacked = {**GETS, **UPDATES}[name]
    members = _members(stacked)
    vmap_vs_loop(f, members, data.draw(batch_axes(members[0])))


def test_nested_vmap_of_indexing():
    def f(x, i):
        return x[i].at[0].add(x[i[0]])

    def reference(x, i):
        out = x[i].copy()
        out[0] += x[i[0]]
        return out

    x, i = RNG.normal(size=(2, BATCH, 4, 5)), np.stack([IDX, IDX[::-1]])
    expected = [[reference(x[a, b], i[a, b]) for b in range(BATCH)] for a in range(2)]
    assert_same(fg.vmap(fg.vmap(f))(x, i), np.array(expected))


def test_dynamic_slice_in_a_vmapped_loop():
    """A fori_loop body reading a window at the counter plus a batched offset."""
    def window_sums(x, offset):
        def body(t, acc):
            return acc + fnp.sum(prims.dynamic_slice.bind(x, t + offset, slice_sizes=(3,)))
        return fg.fori_loop(0, 4, body, 0.0)

    x, offsets = RNG.normal(size=(BATCH, 8)), np.array([0, 2, 7])
    expected = [sum(x[b, min(t + o, 5):][:3].sum() for t in range(4))
                for b, o in enumerate(offsets)]
    np.testing.assert_allclose(fg.vmap(window_sums)(x, offsets), expected, rtol=1e-12)


# ---------------------------------------------------------------- with derivatives


def _gather_loss(x, i):
    return fnp.sum(fnp.sin(x[i]) * x[i[0]])


def _at_loss(x, i, v):
    return (fnp.sum(x.at[i].add(v * x[i]) ** 2) + fnp.sum(x.at[i].max(v))
            + fnp.sum(x.at[i].multiply(v)))


def _take_loss(x, j):
    return fnp.sum(fnp.take_along_axis(x, j[None] % 5, axis=1) ** 3)


def _slice_loss(x, k):
    window = prims.dynamic_slice.bind(x, k, np.int64(1), slice_sizes=(2, 3))
    return fnp.sum(prims.dynamic_update_slice.bind(x, window ** 2, np.int64(0), k) * x)


# name -> (loss, arguments stacked over the batch, argnums)
LOSSES = {
    "x[i]": (_gather_loss, (X, IDX), 0),
    "x.at[i]": (_at_loss, (X, IDX, V), (0, 2)),
    "take_along_axis": (_take_loss, (X, J), 0),
    "dynamic slices": (_slice_loss, (X, K), 0),
}


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("in_axes", [(0, 0), (0, None), (None, 0)], ids=str)
def test_vmap_of_grad(name, in_axes):
    loss, stacked, argnums = LOSSES[name]
    in_axes = in_axes + (0,) * (len(stacked) - 2)
    vmap_vs_loop(fg.grad(loss, argnums=argnums), _members(stacked), in_axes, rtol=1e-12)


@pytest.mark.parametrize("name", LOSSES)
def test_grad_of_vmap(name):
    """The gradient of a sum over the batch: each member's gradient for the
    batched arguments, their sum for a shared one."""
    loss, stacked, argnums = LOSSES[name]
    shared = stacked[0][0]
    in_axes = (None,) + (0,) * (len(stacked) - 1)

    def total(x, *rest):
        return fnp.sum(fg.vmap(loss, in_axes=in_axes)(x, *rest))

    got = fg.grad(total, argnums=argnums)(shared, *stacked[1:])
    members = [[shared, *m[1:]] for m in _members(stacked)]
    grads = [fg.grad(loss, argnums=argnums)(*m) for m in members]
    if isinstance(argnums, int):
        expected = sum(grads)
    else:
        expected = (sum(g[0] for g in grads), np.stack([g[1] for g in grads]))
    assert_same(got, expected, rtol=1e-12)
