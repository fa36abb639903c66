"""gather, the scatters, sort and threefry2x32 compiled by fg.jit equal their
eager results exactly (they move data or wrap around in uint32; float
scatter_add/mul may round differently, within rtol 1e-6), and run inside the
compiled function, not as host calls."""

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.backends.numba_cpu.program import Segment
from funcgrad.primitives.indexing import SCATTERS, gather, scatter, scatter_add
from funcgrad.primitives.random_bits import threefry2x32
from funcgrad.primitives.registry import PRIMITIVES
from funcgrad.primitives.sorting import sort


def check_jit(fn, *args, rtol: dict[int, float] | None = None, reference=None):
    """``fg.jit(fn)(*args)`` equals ``fn(*args)`` run eagerly (or ``reference(*args)``),
    output by output (exactly, but within ``rtol[k]`` for output ``k``), and
    compiles to no host call."""
    jitted = fg.jit(fn)
    got = jitted(*args)
    with fg.disable_jit(), np.errstate(invalid="ignore"):  # NaNs meet in scatter_min/max
        want = (reference or fn)(*args)
    got, want = (list(v) if isinstance(v, (list, tuple)) else [v] for v in (got, want))
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g), np.asarray(w)
        assert (g.dtype, g.shape) == (w.dtype, w.shape), k
        if rtol and k in rtol:
            np.testing.assert_allclose(g, w, rtol=rtol[k], err_msg=f"output {k}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"output {k}")
            if w.dtype.kind == "f":  # signed zeros too, which assert_array_equal takes as equal
                assert np.array_equal(np.signbit(g), np.signbit(w)), k
    steps = jitted.lower(*args).program.steps
    assert all(isinstance(s, Segment) for s in steps), [getattr(s, "primitive", s) for s in steps]


def operand(shape, dtype, rng, nans=False):
    x = rng.integers(-5, 6, shape).astype(dtype)
    if dtype != np.int32:
        x = x + rng.random(shape).astype(dtype)
        if nans and x.size:
            x.flat[rng.integers(0, x.size, max(1, x.size // 4))] = np.nan
    return x


# (operand shape, indexed axes, batch shape, dtype): 1-D to 3-D, every axis
# set, no axes (each index takes the whole operand), a 0-d result, an empty batch.
# Each compile costs a second or so, so the dtypes take turns rather than multiply.
GATHER_CASES = [
    ((6,), (0,), (9,), np.float32),
    ((6,), (0,), (), np.int32),
    ((3, 4), (0,), (7,), np.float64),
    ((3, 4), (1,), (2, 5), np.int32),
    ((3, 4), (0, 1), (8,), np.float32),
    ((3, 4), (), (3,), np.float64),
    ((2, 3, 4), (1,), (5,), np.int32),
    ((2, 3, 4), (0, 2), (3, 2), np.float64),
    ((2, 3, 4), (0, 1, 2), (10,), np.float32),
    ((2, 3, 4), (2,), (0,), np.int32),
]
SCATTER_CASES = [GATHER_CASES[k] for k in (0, 3, 5, 7, 8)]


def indices_for(shape, axes, batch, rng, dtype=np.int32):
    """Indices with duplicates and out-of-range values on both sides
    (negative ones only for signed dtypes)."""
    low = -2 if np.dtype(dtype).kind == "i" else 0
    columns = [rng.integers(low, shape[a] + 2, batch) for a in axes]
    return np.stack(columns, axis=-1).astype(dtype) if axes else np.zeros(batch + (0,), dtype)


def case_operands(shape, axes, batch, dtype, seed):
    """An operand, indices into it, and updates (with NaNs for floats)."""
    rng = np.random.default_rng(seed)
    rest = tuple(n for d, n in enumerate(shape) if d not in axes)
    return (operand(shape, dtype, rng, nans=True), indices_for(shape, axes, batch, rng),
            operand(batch + rest, dtype, rng, nans=True))


@pytest.mark.parametrize("shape, axes, batch, dtype", GATHER_CASES)
def test_gather(shape, axes, batch, dtype):
    x, i, _ = case_operands(shape, axes, batch, dtype, seed=len(shape) + 3 * len(axes))
    check_jit(lambda x, i: gather.bind(x, i, axes=axes), x, i)


def all_scatters(axes):
    """Every scatter of the operand by the same indices and updates."""
    return lambda x, i, u: [PRIMITIVES[name].bind(x, i, u, axes=axes) for name in SCATTERS]


# The outputs of scatter_add and scatter_mul (in SCATTERS order), which may round differently.
ROUNDING = {1: 1e-6, 2: 1e-6}


@pytest.mark.parametrize("shape, axes, batch, dtype", SCATTER_CASES)
def test_scatters(shape, axes, batch, dtype):
    x, i, u = case_operands(shape, axes, batch, dtype, seed=len(shape) + 3 * len(axes))
    check_jit(all_scatters(axes), x, i, u, rtol=ROUNDING if dtype != np.int32 else None)


def test_index_dtypes():
    rng = np.random.default_rng(1)
    x, updates = operand((4, 3), np.float64, rng), operand((6, 3), np.float64, rng)
    small = indices_for((4, 3), (0,), (6,), rng, np.uint8)
    huge = indices_for((4, 3), (0,), (6,), rng, np.uint64)
    huge[0] = np.iinfo(np.uint64).max  # does not fit in int64: clamped to the last row, or dropped
    wide = indices_for((4, 3), (0,), (6,), rng, np.int64)

    def fn(x, u, *indices):
        return [op.bind(x, *i_u, axes=(0,)) for i in indices
                for op, i_u in ((gather, (i,)), (scatter_add, (i, u)))]

    check_jit(fn, x, updates, small, huge, wide, rtol={1: 1e-6, 3: 1e-6, 5: 1e-6})


def test_bool_operand_and_empty_axis():
    rng = np.random.default_rng(2)
    x, updates = rng.random((3, 4)) > 0.5, rng.random((6, 4)) > 0.5
    check_jit(all_scatters((0,)), x, indices_for((3, 4), (0,), (6,), rng), updates)
    # An indexed axis of length 0: gather gives zeros, scatters drop everything.
    empty, i = np.zeros((0, 2), np.float32), np.array([[0], [1], [-1]], np.int32)
    check_jit(lambda x, i, u: [gather.bind(x, i, axes=(0,)), scatter.bind(x, i, u, axes=(0,))],
              empty, i, np.ones((3, 2), np.float32))


@pytest.mark.parametrize("shape, dimension, dtype, num_keys", [
    ((40,), 0, np.float64, 1),  # longer than an insertion-sorted run: merges too
    ((40,), 0, np.float32, 2),
    ((4, 6), 0, np.int32, 2),
    ((4, 6), 1, np.float32, 1),
    ((2, 19, 3), 1, np.float64, 2),
    ((3, 0), 1, np.float32, 2),
])
def test_sort(shape, dimension, dtype, num_keys):
    rng = np.random.default_rng(3)
    # Few distinct keys: ties, which the stable sort keeps in order; NaNs and signed zeros.
    keys = rng.integers(0, 3, shape).astype(dtype)
    minor = operand(shape, dtype, rng, nans=True)
    minor.flat[::3] = 1  # ties in the second key too
    if dtype != np.int32:
        keys.flat[::4] = np.nan
        keys.flat[1::5] = -0.0
    positions = np.arange(keys.size).reshape(shape)
    check_jit(lambda *ops: sort.bind(*ops, dimension=dimension, num_keys=num_keys),
              keys, minor, positions)


def test_sort_bool_keys():
    keys = np.array([[True, False, True, False], [False, False, True, True]])
    check_jit(lambda k, p: sort.bind(k, p, dimension=1, num_keys=1), keys, np.arange(8).reshape(2, 4))


def test_threefry2x32():
    rng = np.random.default_rng(4)
    words = [rng.integers(0, 2**32, (2, 3), dtype=np.uint32) for _ in range(4)]
    words[0][0, 0], words[3][-1, -1] = 0xFFFFFFFF, 0
    check_jit(lambda *w: threefry2x32.bind(*w), *words)
    # Random123's known-answer vectors for 20 rounds, 0-d operands.
    threefry = fg.jit(lambda *w: threefry2x32.bind(*w))
    for word, expected in ((0, (0x6B200159, 0x99BA4EFE)), (0xFFFFFFFF, (0x1CB996FC, 0xBB002BE7))):
        y0, y1 = threefry(*[np.full((), word, np.uint32)] * 4)
        assert (int(y0), int(y1)) == expected


def add_at(x, i, v):
    out = x.copy()
    np.add.at(out, i, v)
    return out


def test_user_api():
    rng = np.random.default_rng(5)
    x = rng.random((5, 3)).astype(np.float32)
    i = np.array([4, -1, 0, 2, 2, -5], np.int32)  # negative indices wrap, as in NumPy
    check_jit(lambda x, i: x[i], x, i)
    v = rng.random((6, 3)).astype(np.float32)
    # x.at needs a traced x: compare with NumPy's own.
    check_jit(lambda x, i, v: x.at[i].add(v), x, i, v, rtol={0: 1e-6}, reference=add_at)
    x[1, 2] = x[3, 0] = np.nan
    check_jit(lambda x: fnp.sort(x, axis=0), x, reference=lambda x: np.sort(x, axis=0, kind="stable"))
    key = fg.random.key(42)
    check_jit(lambda k: fg.random.uniform(k, (5,)), key)
