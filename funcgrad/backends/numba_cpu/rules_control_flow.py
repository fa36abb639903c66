"""Lowering rules for ``cond``, ``while_loop`` and ``scan``: Python ``if``,
``while`` and ``for`` statements in the generated function, their sub-IRs
emitted inline (``program.emit_inline``), so a compiled loop runs no Python
per iteration.

A sub-IR with an equation that has no lowering keeps the whole control-flow
equation a host call (``CONDITIONS``).  Numba gives every variable one type,
so loop carries are always C-contiguous arrays of their aval's dtype and
rank (0-d for scalars), and no result aliases an operand: a body output
that is one of the body's inputs or a constant is copied, but for a carry
that the body passes through unchanged, whose initial value is copied
instead (as are all initial values of a loop that may run no step).
``scan``'s ``unroll`` hint is not used: LLVM unrolls as it sees fit.

Example (a ``fori_loop`` becomes a ``for`` loop of the generated function):
    >>> import numpy as np, funcgrad as fg
    >>> f = fg.jit(lambda x: fg.fori_loop(0, 3, lambda i, c: c * 2.0, x))
    >>> f(np.ones(2))
    array([8., 8.])
    >>> "for step in range(3):" in f.lower(np.ones(2)).program.source
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext

import numpy as np

from funcgrad.backends.numba_cpu import program
from funcgrad.backends.numba_cpu.emitter import Emitter, dtype_expr
from funcgrad.backends.numba_cpu.rules import CONDITIONS, rule
from funcgrad.ir import IR, Eqn, Var


def _inline(em: Emitter, eqn: Eqn, ir: IR, inputs: Sequence[str]) -> list[str]:
    """``ir`` emitted inline on ``inputs``: the names of its outputs."""
    outs = program.emit_inline(em, ir, list(inputs))
    em.current = eqn  # the lines that follow lower ``eqn``, not the body's last equation
    return outs


def _passed_through(ir: IR, first: int, n: int) -> list[bool]:
    """Which of a loop body's ``n`` carries (its inputs from ``first`` on, its
    first outputs) it returns unchanged."""
    body = program.optimized(ir)
    return [out is var for out, var in zip(body.outputs[:n], body.inputs[first:first + n])]


def _owned(ir: IR, outs: Sequence[str], kept: Sequence[bool] = ()) -> list[str]:
    """Expressions for ``ir``'s outputs ``outs`` as arrays that a carry or
    result may keep: copies of those that are an input, a constant or
    repeated, but where ``kept`` (carries passed through, already owned)."""
    body = program.optimized(ir)
    owned, seen = [], set()
    for k, (atom, name) in enumerate(zip(body.outputs, outs)):
        aliased = not isinstance(atom, Var) or atom in body.inputs or atom in seen
        seen.add(atom)
        owned.append(f"{name}.copy()" if aliased and not (k < len(kept) and kept[k]) else name)
    return owned


def _assign(em: Emitter, targets: Sequence[str], values: Sequence[str]) -> None:
    for target, value in zip(targets, values):
        em.line(f"{target} = {value}")


def _sub_irs(eqn: Eqn) -> list[IR]:
    params = eqn.params
    if eqn.primitive.name == "cond":
        return list(params["branches"])
    if eqn.primitive.name == "while_loop":
        return [params["cond_ir"], params["body_ir"]]
    return [params["body"]]


for _name in ("cond", "while_loop", "scan"):
    CONDITIONS[_name] = lambda eqn: all(map(program.can_inline, _sub_irs(eqn)))


@rule("cond")
def _cond(em, eqn):
    index, *operands = eqn.inputs
    operands = [em.name(a) for a in operands]
    outs = [em.name(v) for v in eqn.outputs]
    branches = eqn.params["branches"]
    k = em.fresh("branch")
    em.line(f"{k} = {em.scalar(index)}")
    # Branch j runs when the index is <= j and not <= j - 1: the index clamped, as eagerly.
    for j, branch in enumerate(branches):
        if j == len(branches) - 1:
            block = em.block("else:") if j else nullcontext()
        else:
            block = em.block(f"{'elif' if j else 'if'} {k} <= {j}:")
        with block:
            _assign(em, outs, _owned(branch, _inline(em, eqn, branch, operands)))


@rule("while_loop")
def _while_loop(em, eqn):
    p = eqn.params
    operands = [em.name(a) for a in eqn.inputs]
    cond_consts = operands[:p["cond_nconsts"]]
    body_consts = operands[p["cond_nconsts"]:p["cond_nconsts"] + p["body_nconsts"]]
    carry = [em.name(v) for v in eqn.outputs]
    kept = _passed_through(p["body_ir"], len(body_consts), len(carry))
    _assign(em, carry, [f"{x}.copy()" for x in operands[len(operands) - len(carry):]])
    with em.block("while True:"):
        (pred,) = _inline(em, eqn, p["cond_ir"], cond_consts + carry)
        with em.block(f"if not {pred}[()]:"):
            em.line("break")
        outs = _inline(em, eqn, p["body_ir"], body_consts + carry)
        _assign(em, carry, _owned(p["body_ir"], outs, kept))


@rule("scan")
def _scan(em, eqn):
    p = eqn.params
    num_consts, num_carry, length = p["num_consts"], p["num_carry"], p["length"]
    operands = [em.name(a) for a in eqn.inputs]
    consts, init, xs = (operands[:num_consts], operands[num_consts:num_consts + num_carry],
                        operands[num_consts + num_carry:])
    carry = [em.name(v) for v in eqn.outputs[:num_carry]]
    ys = eqn.outputs[num_carry:]
    kept = _passed_through(p["body"], num_consts, num_carry)
    # The body's other carry outputs are fresh arrays: their initial values need no copy.
    _assign(em, carry, [f"{x}.copy()" if length == 0 or same else x for x, same in zip(init, kept)])
    rows = []  # each y's stack as (length, y's size), and that size: written element by element
    for y in ys:
        em.line(f"{em.name(y)} = np.empty({y.aval.shape!r}, {dtype_expr(y.aval.dtype)})")
        size = int(np.prod(y.aval.shape[1:], dtype=np.int64))
        rows.append((em.fresh(f"{em.name(y)}_rows"), size))
        em.line(f"{rows[-1][0]} = {em.name(y)}.reshape(({length}, {size}))")
    i = em.fresh("step")
    # A leading-axis slice of a C-contiguous array is one; a scalar slice is read as a 0-d view.
    x_slices = [f"{x}[{i}]" if a.aval.ndim > 1 else f"{x}[{i}:{i} + 1].reshape(())"
                for x, a in zip(xs, eqn.inputs[num_consts + num_carry:])]
    steps = f"range({length - 1}, -1, -1)" if p["reverse"] else f"range({length})"
    with em.block(f"for {i} in {steps}:"):
        outs = _inline(em, eqn, p["body"], consts + carry + x_slices)
        _assign(em, carry, _owned(p["body"], outs, kept)[:num_carry])
        for (row, size), value in zip(rows, outs[num_carry:]):
            # A loop, not ``stacked[i] = y``: Numba takes seconds to compile an array assignment.
            k, flat = em.fresh("k"), em.fresh(f"{value}_flat")
            em.line(f"{flat} = {value}.reshape(({size},))")
            with em.block(f"for {k} in range({size}):"):
                em.line(f"{row}[{i}, {k}] = {flat}[{k}]")
