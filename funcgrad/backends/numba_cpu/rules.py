r"""Lowering rules for the primitives that are not fused: source for each.

A rule ``rule(em, eqn)`` writes statements that define the equation's
outputs as C-contiguous arrays (the emitter's invariant).  Shapes and
params are known now, so rules do their index arithmetic in Python and
emit only what runs.  ``RULES`` maps a primitive name to its rule; a
primitive without one runs as a host call between compiled segments.

Example:
    >>> import numpy as np, funcgrad as fg
    >>> from funcgrad.backends.numba_cpu.emitter import Emitter
    >>> ir = fg.make_ir(lambda x: x[1:3])(np.ones(4))
    >>> em = Emitter()
    >>> em.name_as_printed(ir)
    >>> RULES["slice"](em, ir.eqns[0])
    >>> print("\n".join(em.lines))
    b = np.empty((2,), np.float64)
    for i0 in range(2):
        b[i0] = a[1 + 1 * i0]
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

import numpy as np

from funcgrad.backends.numba_cpu.emitter import Emitter, dtype_expr
from funcgrad.backends.numba_cpu.loops import COMBINE
from funcgrad.backends.numba_cpu.scalar_ops import helpers_used
from funcgrad.ir import Eqn

Rule = Callable[[Emitter, Eqn], None]
RULES: dict[str, Rule] = {}
# Primitives lowered only in some cases: a predicate on the equation (else a host call).
CONDITIONS: dict[str, Callable[[Eqn], bool]] = {}


def rule(name: str):
    def register(fn: Rule) -> Rule:
        RULES[name] = fn
        return fn

    return register


def _ins(em: Emitter, eqn: Eqn) -> list[str]:
    return [em.name(a) for a in eqn.inputs]


def _out(em: Emitter, eqn: Eqn, k: int = 0) -> str:
    return em.name(eqn.outputs[k])


def _tuple(items) -> str:
    items = list(items)
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


@rule("reshape")
def _reshape(em, eqn):
    (x,) = _ins(em, eqn)
    em.line(f"{_out(em, eqn)} = {x}.reshape({_tuple(map(str, eqn.params['new_sizes']))})")


def copy_loops(em: Emitter, dst: str, dst_index, src: str, src_index, shape) -> None:
    """Loops copying ``src[src_index(i)]`` to ``dst[dst_index(i)]`` over
    ``shape``; the index functions map the loop indices to index source.
    (Explicit loops: Numba compiles a slice assignment or copy for seconds.)"""
    with ExitStack() as loops:
        for d, size in enumerate(shape):
            loops.enter_context(em.block(f"for i{d} in range({size}):"))
        idx = [f"i{d}" for d in range(len(shape))]
        em.line(f"{dst}[{', '.join(dst_index(idx)) or '()'}] = {src}[{', '.join(src_index(idx)) or '()'}]")


def _empty(em: Emitter, aval) -> str:
    return f"np.empty({aval.shape!r}, {dtype_expr(aval.dtype)})"


@rule("slice")
def _slice(em, eqn):
    (x,) = _ins(em, eqn)
    p = eqn.params
    aval = eqn.outputs[0].aval
    strides = p["strides"] or (1,) * aval.ndim
    out = _out(em, eqn)
    em.line(f"{out} = {_empty(em, aval)}")
    copy_loops(em, out, lambda i: i, x,
               lambda i: [f"{s} + {k} * {j}" for s, k, j in zip(p["start_indices"], strides, i)],
               aval.shape)


@rule("rev")
def _rev(em, eqn):
    (x,) = _ins(em, eqn)
    aval = eqn.outputs[0].aval
    dims = eqn.params["dimensions"]
    out = _out(em, eqn)
    em.line(f"{out} = {_empty(em, aval)}")
    copy_loops(em, out, lambda i: i, x,
               lambda i: [f"{n - 1} - {j}" if d in dims else j
                          for d, (n, j) in enumerate(zip(aval.shape, i))], aval.shape)


@rule("concatenate")
def _concatenate(em, eqn):
    aval = eqn.outputs[0].aval
    axis = eqn.params["dimension"]
    out = _out(em, eqn)
    em.line(f"{out} = {_empty(em, aval)}")
    offset = 0
    for atom in eqn.inputs:
        shifted = lambda i, offset=offset: [f"{offset} + {j}" if d == axis else j  # noqa: E731
                                             for d, j in enumerate(i)]
        copy_loops(em, out, shifted, em.name(atom), lambda i: i, atom.aval.shape)
        offset += atom.aval.shape[axis]


@rule("pad")
def _pad(em, eqn):
    x, value = eqn.inputs
    out = _out(em, eqn)
    aval = eqn.outputs[0].aval
    em.line(f"{out} = {_empty(em, aval)}")
    fill = em.fresh("fill")
    em.line(f"{fill} = {em.scalar(value)}")
    with ExitStack() as loops:
        for d, size in enumerate(aval.shape):
            loops.enter_context(em.block(f"for i{d} in range({size}):"))
        em.line(f"{out}[{', '.join(f'i{d}' for d in range(aval.ndim)) or '()'}] = {fill}")
    firsts, counts, starts, steps = [], [], [], []
    for size, out_size, (low, _, interior) in zip(x.aval.shape, aval.shape,
                                                   eqn.params["padding_config"]):
        step = interior + 1
        # Input element i lands at low + i * step; keep those inside the output.
        first = -(low // step) if low < 0 else 0
        last = min(size - 1, (out_size - 1 - low) // step)
        if last < first:
            return  # nothing of x survives the cropping
        firsts.append(first)
        counts.append(last - first + 1)
        starts.append(low + first * step)
        steps.append(step)
    copy_loops(em, out, lambda i: [f"{s} + {k} * {j}" for s, k, j in zip(starts, steps, i)],
               em.name(x), lambda i: [f"{f} + {j}" for f, j in zip(firsts, i)], counts)


@rule("dot_general")
def _dot_general(em, eqn):
    lhs, rhs = eqn.inputs
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lf = [d for d in range(lhs.aval.ndim) if d not in lc and d not in lb]
    rf = [d for d in range(rhs.aval.ndim) if d not in rc and d not in rb]
    size = lambda aval, dims: int(np.prod([aval.shape[d] for d in dims], dtype=np.int64))  # noqa: E731
    batch, m, k, n = size(lhs.aval, lb), size(lhs.aval, lf), size(lhs.aval, lc), size(rhs.aval, rf)
    out = eqn.outputs[0]
    dtype = dtype_expr(out.aval.dtype)
    result = em.fresh("product")
    blas = out.aval.dtype.kind in "fc" and k > 0
    if blas and batch == 1:
        a = _matrix(em, lhs, lf, list(lc), (m, k))
        b = _matrix(em, rhs, list(rc), rf, (k, n))
        em.line(f"{result} = np.dot({a}, {b})")
    else:
        a = _batched(em, lhs, list(lb), lf, list(lc), (batch, m, k))
        b = _batched(em, rhs, list(rb), list(rc), rf, (batch, k, n))
        em.line(f"{result} = np.zeros(({batch}, {m}, {n}), {dtype})")
        i = em.fresh("batch")
        with em.block(f"for {i} in range({batch}):"):
            if blas:
                em.line(f"{result}[{i}] = np.dot({a}[{i}], {b}[{i}])")
            elif out.aval.dtype.kind in "fc":
                em.line("pass  # an empty contraction: zeros")
            else:
                em.use("matmul_loops")
                em.line(f"matmul_loops({a}[{i}], {b}[{i}], {result}[{i}])")
    em.line(f"{em.name(out)} = {result}.reshape({_tuple(map(str, out.aval.shape))})")


def _matrix(em: Emitter, x, rows: list[int], cols: list[int], shape) -> str:
    """``x`` as a (rows, cols) matrix for BLAS: a reshape of it, or of its
    transpose (a view BLAS reads transposed), or else a transposed copy."""
    ndim = x.aval.ndim
    name = em.name(x)
    if rows + cols == list(range(ndim)):
        return f"{name}.reshape({shape!r})"
    if cols + rows == list(range(ndim)):
        return f"{name}.reshape({shape[::-1]!r}).T"
    return _transposed(em, x, rows + cols, shape)


def _batched(em: Emitter, x, batch, rows, cols, shape) -> str:
    """``x`` as a C-contiguous (batch, rows, cols) array."""
    perm = [*batch, *rows, *cols]
    if perm == list(range(x.aval.ndim)):
        return f"{em.name(x)}.reshape({shape!r})"
    return _transposed(em, x, perm, shape)


def _transposed(em: Emitter, x, perm: list[int], shape) -> str:
    """A C-contiguous copy of ``x`` with its axes permuted, then reshaped.
    (Loops: ``np.transpose`` with axes takes seconds to compile in Numba.)"""
    name = em.fresh(f"{em.name(x)}_t")
    dims = tuple(x.aval.shape[p] for p in perm)
    em.line(f"{name} = np.empty({dims!r}, {dtype_expr(x.aval.dtype)})")

    def source(i):
        index = [""] * len(perm)
        for d, p in enumerate(perm):
            index[p] = i[d]
        return index

    copy_loops(em, name, lambda i: i, em.name(x), source, dims)
    return f"{name}.reshape({shape!r})"


_CUMULATIVE = {"cumsum": COMBINE["reduce_sum"], "cumprod": COMBINE["reduce_prod"],
               "cummax": COMBINE["reduce_max"], "cummin": COMBINE["reduce_min"]}


def _along_axis(em: Emitter, shape: tuple[int, ...], axis: int) -> tuple[str, ExitStack]:
    """Loops over every dimension but ``axis`` (an ExitStack that closes
    them) and the index inside them, with ``{k}`` where the axis goes."""
    stack = ExitStack()
    index = []
    for d, size in enumerate(shape):
        if d == axis:
            index.append("{k}")
        else:
            stack.enter_context(em.block(f"for i{d} in range({size}):"))
            index.append(f"i{d}")
    return ", ".join(index), stack


def _cumulative(name: str):
    def lower(em, eqn):
        (x,) = _ins(em, eqn)
        out = _out(em, eqn)
        aval = eqn.outputs[0].aval
        axis, reverse = eqn.params["axis"], eqn.params["reverse"]
        n = aval.shape[axis]
        em.line(f"{out} = np.empty({aval.shape!r}, {dtype_expr(aval.dtype)})")
        if n == 0:
            return
        index, loops = _along_axis(em, aval.shape, axis)
        acc, k = em.fresh("acc"), em.fresh("k")
        with loops:
            first = n - 1 if reverse else 0
            em.line(f"{acc} = {x}[{index.format(k=first)}]")
            em.line(f"{out}[{index.format(k=first)}] = {acc}")
            steps = f"range({n - 2}, -1, -1)" if reverse else f"range(1, {n})"
            with em.block(f"for {k} in {steps}:"):
                expr = _CUMULATIVE[name].format(acc=acc, v=f"{x}[{index.format(k=k)}]")
                em.use(*helpers_used(expr))
                em.line(f"{acc} = {dtype_expr(aval.dtype)}({expr})")
                em.line(f"{out}[{index.format(k=k)}] = {acc}")

    return lower


for _name in _CUMULATIVE:
    RULES[_name] = _cumulative(_name)


def _argreduce(better: str):
    def lower(em, eqn):
        (x,) = _ins(em, eqn)
        out = _out(em, eqn)
        axis = eqn.params["axis"]
        shape = eqn.inputs[0].aval.shape
        aval = eqn.outputs[0].aval
        em.line(f"{out} = np.empty({aval.shape!r}, {dtype_expr(aval.dtype)})")
        index, loops = _along_axis(em, shape, axis)
        out_index = ", ".join(f"i{d}" for d in range(len(shape)) if d != axis) or "()"
        best, where, k, v = (em.fresh(n) for n in ("best", "where", "k", "v"))
        with loops:
            em.line(f"{best} = {x}[{index.format(k=0)}]")
            em.line(f"{where} = 0")
            with em.block(f"for {k} in range(1, {shape[axis]}):"):
                em.line(f"{v} = {x}[{index.format(k=k)}]")
                # The first NaN wins, as in NumPy: once best is NaN nothing replaces it.
                with em.block(f"if {best} == {best} and ({v} {better} {best} or {v} != {v}):"):
                    em.line(f"{best} = {v}")
                    em.line(f"{where} = {k}")
            em.line(f"{out}[{out_index}] = {where}")

    return lower


RULES["argmax"] = _argreduce(">")
RULES["argmin"] = _argreduce("<")


def _starts(em: Emitter, starts, operand_shape, sizes) -> list[str]:
    """Start indices clamped so the window fits, as JAX's dynamic_slice."""
    names = []
    for atom, dim, size in zip(starts, operand_shape, sizes):
        name = em.fresh("start")
        em.line(f"{name} = min(max(int({em.scalar(atom)}), 0), {dim - size})")
        names.append(name)
    return names


@rule("dynamic_slice")
def _dynamic_slice(em, eqn):
    x, *starts = eqn.inputs
    sizes = eqn.params["slice_sizes"]
    names = _starts(em, starts, x.aval.shape, sizes)
    out = _out(em, eqn)
    em.line(f"{out} = {_empty(em, eqn.outputs[0].aval)}")
    copy_loops(em, out, lambda i: i, em.name(x),
               lambda i: [f"{s} + {j}" for s, j in zip(names, i)], sizes)


@rule("dynamic_update_slice")
def _dynamic_update_slice(em, eqn):
    x, update, *starts = eqn.inputs
    names = _starts(em, starts, x.aval.shape, update.aval.shape)
    out = _out(em, eqn)
    em.line(f"{out} = {em.name(x)}.copy()")
    copy_loops(em, out, lambda i: [f"{s} + {j}" for s, j in zip(names, i)], em.name(update),
               lambda i: i, update.aval.shape)
