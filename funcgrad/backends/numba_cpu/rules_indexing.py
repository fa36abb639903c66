"""Lowering rules for ``gather``, the ``scatter`` family, ``sort`` and ``threefry2x32``.

Operands are C-contiguous, so a rule reads and writes them through flat
views and does the index arithmetic now, in Python: each indexed axis adds
``index * stride`` to an offset, and the whole ("rest") axes become loops,
adjacent ones merged into one.  The semantics are the eager
implementations' (``funcgrad.primitives.indexing``, ``sorting`` and
``random_bits``): gather clamps indices into range, scatters drop the
updates whose indices are out of range and apply the others in order (the
last duplicate wins a ``scatter``), sort is stable with NaNs last, and
Threefry wraps around in uint32.

Example (rows of a (3, 4) array, taken whole: one loop of 4 per index):
    >>> import numpy as np, funcgrad as fg
    >>> from funcgrad.backends.numba_cpu.emitter import Emitter
    >>> from funcgrad.backends.numba_cpu.rules import RULES
    >>> from funcgrad.primitives.indexing import gather
    >>> x = np.zeros((3, 4), np.float32)
    >>> ir = fg.make_ir(lambda x, i: gather.bind(x, i, axes=(0,)))(x, np.zeros((2, 1), np.int32))
    >>> em = Emitter()
    >>> names = [em.name(v) for v in ir.inputs]  # inputs are named first, as in a program
    >>> RULES["gather"](em, ir.eqns[0])
    >>> print("\\n".join(em.lines))
    c_flat = np.empty((8,), np.float32)
    a_flat = a.reshape(-1)
    b_2d = b.reshape((2, 1))
    for batch in range(2):
        j0 = min(max(np.int64(b_2d[batch, 0]), 0), 2)
        base = j0 * 4
        for r0 in range(4):
            c_flat[batch * 4 + r0] = a_flat[base + r0]
    c = c_flat.reshape((2, 4))
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import numpy as np

from funcgrad.backends.numba_cpu.emitter import Emitter, dtype_expr, typed_constant
from funcgrad.backends.numba_cpu.rules import CONDITIONS, RULES, _tuple, rule
from funcgrad.backends.numba_cpu.scalar_ops import helpers_used, scalar_expression
from funcgrad.ir import Atom
from funcgrad.primitives.random_bits import KEY_PARITY, ROTATIONS


def _strides(shape: tuple[int, ...]) -> list[int]:
    """Element strides of a C-contiguous array of ``shape``."""
    return [math.prod(shape[d + 1:]) for d in range(len(shape))]


def _rest_groups(shape: tuple[int, ...], axes: tuple[int, ...]) -> list[tuple[int, int]]:
    """The whole axes as ``(size, stride)`` loops: adjacent whole axes are one
    loop, since together they are contiguous in a C-contiguous operand."""
    strides = _strides(shape)
    groups: list[tuple[int, int]] = []
    for d, size in enumerate(shape):
        if d in axes:
            continue
        if d > 0 and d - 1 not in axes:  # follows a whole axis
            groups[-1] = (groups[-1][0] * size, strides[d])
        else:
            groups.append((size, strides[d]))
    return groups


def _flat(em: Emitter, atom: Atom) -> str:
    """A flat view of ``atom`` (a view: arrays are C-contiguous)."""
    name = em.fresh(f"{em.name(atom)}_flat")
    em.line(f"{name} = {em.name(atom)}.reshape(-1)")
    return name


def _times(name: str, factor: int) -> str:
    return name if factor == 1 else f"{name} * {factor}"


@contextmanager
def _positions(em: Emitter, shape: tuple[int, ...], indices: Atom, axes: tuple[int, ...],
               clamp: bool) -> Iterator[tuple[str, str]]:
    """Loops over every (batch, rest) element of a gather's output (a scatter's
    updates), in C order; yields the source of its flat offset in the operand
    and of its own flat position.  Out-of-range indices are clamped into
    range (``clamp``) or their elements skipped."""
    batch = math.prod(indices.aval.shape[:-1])
    groups = _rest_groups(shape, axes)
    strides = _strides(shape)
    b, index_2d = em.fresh("batch"), em.fresh(f"{em.name(indices)}_2d")
    if axes:
        em.line(f"{index_2d} = {em.name(indices)}.reshape({(batch, len(axes))!r})")
    with ExitStack() as loops:
        loops.enter_context(em.block(f"for {b} in range({batch}):"))
        terms, checks = [], []
        for k, axis in enumerate(axes):
            n, j = shape[axis], em.fresh(f"j{k}")
            value = f"{index_2d}[{b}, {k}]"
            if indices.aval.dtype == np.uint64:  # may not fit in int64: cap it at n first
                value = f"min({value}, {typed_constant(n, np.uint64)})"
            if clamp:
                em.line(f"{j} = min(max(np.int64({value}), 0), {n - 1})")
            else:
                em.line(f"{j} = np.int64({value})")
                checks.append(f"{j} >= 0 and {j} < {n}")
            terms.append(_times(j, strides[axis]))
        if checks:
            loops.enter_context(em.block(f"if {' and '.join(checks)}:"))
        base = em.fresh("base")
        em.line(f"{base} = {' + '.join(terms) or '0'}")
        names = [em.fresh(f"r{g}") for g in range(len(groups))]
        sizes = [size for size, _ in groups]
        offset = [base] + [_times(r, stride) for r, (_, stride) in zip(names, groups)]
        position = [_times(b, math.prod(sizes))] + [
            _times(r, math.prod(sizes[g + 1:])) for g, r in enumerate(names)]
        for r, size in zip(names, sizes):
            loops.enter_context(em.block(f"for {r} in range({size}):"))
        yield " + ".join(offset), " + ".join(position)


@rule("gather")
def _gather(em, eqn):
    x, indices = eqn.inputs
    out = eqn.outputs[0]
    shape, axes = x.aval.shape, eqn.params["axes"]
    name, dtype = em.name(out), dtype_expr(out.aval.dtype)
    if any(shape[a] == 0 for a in axes):  # nothing to clamp to: zeros, as the eager gather
        em.line(f"{name} = np.zeros({out.aval.shape!r}, {dtype})")
        return
    flat = em.fresh(f"{name}_flat")
    em.line(f"{flat} = np.empty(({out.aval.size},), {dtype})")
    source = _flat(em, x)
    with _positions(em, shape, indices, axes, clamp=True) as (offset, position):
        em.line(f"{flat}[{position}] = {source}[{offset}]")
    em.line(f"{name} = {flat}.reshape({out.aval.shape!r})")


# The scalar_ops row combining the current value with an update (None: the update replaces it).
_COMBINE = {"scatter": None, "scatter_add": "add", "scatter_mul": "mul", "scatter_min": "min",
            "scatter_max": "max"}


def _scatter(combine: str | None):
    def lower(em, eqn):
        x, indices, updates = eqn.inputs
        out = eqn.outputs[0]
        em.line(f"{em.name(out)} = {em.name(x)}.copy()")
        target, source = _flat(em, out), _flat(em, updates)
        at = em.fresh("at")
        with _positions(em, x.aval.shape, indices, eqn.params["axes"], clamp=False) as (
                offset, position):
            em.line(f"{at} = {offset}")
            value = f"{source}[{position}]"
            if combine is not None:
                dtype = out.aval.dtype
                value = scalar_expression(combine, [f"{target}[{at}]", value], dtype, dtype)
                em.use(*helpers_used(value))
            em.line(f"{target}[{at}] = {value}")

    return lower


for _name, _combine in _COMBINE.items():
    RULES[_name] = _scatter(_combine)
for _name in ("scatter_min", "scatter_max"):  # complex numbers have no order in Numba
    CONDITIONS[_name] = lambda eqn: eqn.outputs[0].aval.dtype.kind != "c"


def _before(xs: list[str], ys: list[str], dtypes: list[np.dtype]) -> str:
    """Source: whether the element with keys ``xs`` sorts strictly before the
    one with keys ``ys``: lexicographically, the first key most significant, NaNs last."""

    def less(x, y, dtype):
        return f"({x} < {y} or ({y} != {y} and {x} == {x}))" if dtype.kind == "f" else f"{x} < {y}"

    expr = less(xs[-1], ys[-1], dtypes[-1])
    for x, y, dtype in zip(xs[-2::-1], ys[-2::-1], dtypes[-2::-1]):
        expr = f"{less(x, y, dtype)} or (not {less(y, x, dtype)} and ({expr}))"
    return expr


_RUN = 16  # sort's runs sorted by insertion before merging


@rule("sort")
def _sort(em, eqn):
    """Each lane's positions sorted by its keys (see ``_sort_lane``), then
    every operand permuted by them: written out rather than Numba's argsort,
    which takes seconds to compile for each dtype."""
    shape = eqn.inputs[0].aval.shape
    d, num_keys = eqn.params["dimension"], eqn.params["num_keys"]
    box = (math.prod(shape[:d]), shape[d], math.prod(shape[d + 1:]))  # lanes along the middle
    n = box[1]
    ins, outs = [], []
    for atom, var in zip(eqn.inputs, eqn.outputs):
        ins.append(em.fresh(f"{em.name(atom)}_3d"))
        em.line(f"{ins[-1]} = {em.name(atom)}.reshape({box!r})")
        outs.append(em.fresh(f"{em.name(var)}_3d"))
        em.line(f"{outs[-1]} = np.empty({box!r}, {dtype_expr(var.aval.dtype)})")
    # A lane's positions and keys, contiguous; the keys move with the positions
    # so that comparisons read memory in order.
    dtypes = [np.dtype(np.int64)] + [atom.aval.dtype for atom in eqn.inputs[:num_keys]]
    lane = [em.fresh("order")] + [em.fresh(f"key{k}") for k in range(num_keys)]
    spare = [em.fresh(f"{name}_spare") for name in lane] if n > _RUN else []  # for merging
    for name, dtype in zip(lane + spare, dtypes + dtypes):
        em.line(f"{name} = np.empty(({n},), {dtype_expr(dtype)})")
    o, i, t = em.fresh("o"), em.fresh("i"), em.fresh("t")
    with em.block(f"for {o} in range({box[0]}):"), em.block(f"for {i} in range({box[2]}):"):
        with em.block(f"for {t} in range({n}):"):
            em.line(f"{lane[0]}[{t}] = {t}")
            for key, source in zip(lane[1:], ins):
                em.line(f"{key}[{t}] = {source}[{o}, {t}, {i}]")
        _sort_lane(em, lane, spare, dtypes, n)
        with em.block(f"for {t} in range({n}):"):
            for source, target in zip(ins, outs):
                em.line(f"{target}[{o}, {t}, {i}] = {source}[{o}, {lane[0]}[{t}], {i}]")
    for var, target in zip(eqn.outputs, outs):
        em.line(f"{em.name(var)} = {target}.reshape({shape!r})")


def _sort_lane(em: Emitter, lane: list[str], spare: list[str], dtypes: list[np.dtype],
               n: int) -> None:
    """Sort the ``n`` elements of the buffers ``lane`` (positions, then keys)
    stably by the keys: insertion sort of runs of ``_RUN``, then a bottom-up
    merge of runs of width ``_RUN``, ``2 * _RUN``, ... into the ``spare``
    buffers, swapped with the lane's after each pass."""
    keys, key_dtypes = lane[1:], dtypes[1:]
    lo, t, a, b = (em.fresh(stem) for stem in ("lo", "t", "a", "b"))
    held = [em.fresh(f"{name}_held") for name in lane]
    with em.block(f"for {lo} in range(0, {n}, {_RUN}):"), em.block(
            f"for {t} in range({lo} + 1, min({lo} + {_RUN}, {n})):"):
        for name, value in zip(lane, held):
            em.line(f"{value} = {name}[{t}]")
        em.line(f"{a} = {t}")
        earlier = _before(held[1:], [f"{key}[{a} - 1]" for key in keys], key_dtypes)
        with em.block(f"while {a} > {lo} and ({earlier}):"):
            for name in lane:
                em.line(f"{name}[{a}] = {name}[{a} - 1]")
            em.line(f"{a} -= 1")
        for name, value in zip(lane, held):
            em.line(f"{name}[{a}] = {value}")
    if n <= _RUN:
        return
    width, mid, hi = em.fresh("width"), em.fresh("mid"), em.fresh("hi")
    em.line(f"{width} = {_RUN}")
    with em.block(f"while {width} < {n}:"):
        with em.block(f"for {lo} in range(0, {n}, 2 * {width}):"):
            em.line(f"{mid} = min({lo} + {width}, {n})")
            em.line(f"{hi} = min({lo} + 2 * {width}, {n})")
            em.line(f"{a}, {b} = {lo}, {mid}")
            # Stable: the left run's element goes first unless the right one sorts before it.
            right_first = _before(*([f"{key}[{k}]" for key in keys] for k in (b, a)), key_dtypes)
            with em.block(f"for {t} in range({lo}, {hi}):"):
                for condition, k in ((f"if {a} < {mid} and ({b} == {hi} or not ({right_first})):", a),
                                     ("else:", b)):
                    with em.block(condition):
                        for name, into in zip(lane, spare):
                            em.line(f"{into}[{t}] = {name}[{k}]")
                        em.line(f"{k} += 1")
        em.line(f"{_tuple(lane + spare)} = {_tuple(spare + lane)}")
        em.line(f"{width} *= 2")


CONDITIONS["sort"] = lambda eqn: all(
    key.aval.dtype.kind != "c" for key in eqn.inputs[:eqn.params["num_keys"]])


@rule("threefry2x32")
def _threefry2x32(em, eqn):
    """The eager implementation's 20 rounds, unrolled, one element at a time."""
    out_aval = eqn.outputs[0].aval
    key0, key1, x0, x1 = (_flat(em, atom) for atom in eqn.inputs)
    outs = [em.fresh(f"{em.name(var)}_flat") for var in eqn.outputs]
    for flat in outs:
        em.line(f"{flat} = np.empty(({out_aval.size},), np.uint32)")
    i = em.fresh("i")
    keys, v0, v1 = [em.fresh(f"key{k}") for k in range(3)], em.fresh("v0"), em.fresh("v1")
    # Every sum is cast back to uint32 (Numba computes it in 64 bits): wraparound as in NumPy.
    with em.block(f"for {i} in range({out_aval.size}):"):
        em.line(f"{keys[0]} = {key0}[{i}]")
        em.line(f"{keys[1]} = {key1}[{i}]")
        em.line(f"{keys[2]} = np.uint32({keys[0]} ^ {keys[1]} ^ {typed_constant(KEY_PARITY, np.uint32)})")
        em.line(f"{v0} = np.uint32({x0}[{i}] + {keys[0]})")
        em.line(f"{v1} = np.uint32({x1}[{i}] + {keys[1]})")
        for r in range(5):
            for rotation in ROTATIONS[r % 2]:
                em.line(f"{v0} = np.uint32({v0} + {v1})")
                em.line(f"{v1} = np.uint32(({v1} << {rotation}) | ({v1} >> {32 - rotation}))")
                em.line(f"{v1} = np.uint32({v1} ^ {v0})")
            em.line(f"{v0} = np.uint32({v0} + {keys[(r + 1) % 3]})")
            em.line(f"{v1} = np.uint32({v1} + {keys[(r + 2) % 3]} + np.uint32({r + 1}))")
        em.line(f"{outs[0]}[{i}] = {v0}")
        em.line(f"{outs[1]}[{i}] = {v1}")
    for var, flat in zip(eqn.outputs, outs):
        em.line(f"{em.name(var)} = {flat}.reshape({out_aval.shape!r})")
