"""Control-flow primitives: ``cond``, ``while_loop`` and ``scan``.

Each keeps its body as traced sub-IRs in its params.  Values a body closes
over are explicit operands ("consts"), placed before the loop or branch
operands, so a sub-IR depends on nothing but its inputs.  The user-facing
functions over pytrees are in ``funcgrad.control_flow``.

- ``cond(index, *operands, branches)``: runs ``branches[index]`` (the int32
  ``index`` is clamped into range) on the operands; every branch takes the
  same inputs and returns the same types.
- ``while_loop(*cond_consts, *body_consts, *carry, cond_ir, body_ir,
  cond_nconsts, body_nconsts)``: ``carry = body_ir(carry)`` while
  ``cond_ir(carry)`` holds.
- ``scan(*consts, *init, *xs, body, num_consts, num_carry, length, reverse,
  unroll)``: ``carry, y = body(consts, carry, x)`` for each slice ``x`` of
  ``xs`` along axis 0 (last to first with ``reverse``); returns the final
  carry and the ``y``s stacked along axis 0.  ``unroll`` is a hint for the
  compiler: how many iterations one compiled loop step runs.

Abstract evaluation checks that the sub-IRs fit the operands exactly (weak
types included); the eager implementations loop in Python over ``eval_ir``.

Example:
    >>> from funcgrad.trace import trace_to_ir
    >>> body, _ = trace_to_ir(lambda c, x: [c + x, c * x], [np.zeros(()), np.zeros(())])
    >>> print(trace_to_ir(lambda c, xs: scan.bind(c, xs, body=body, num_consts=0, num_carry=1,
    ...                                          length=3, reverse=False, unroll=1),
    ...                   [np.zeros(()), np.zeros(3)])[0])
    { lambda a:f64[] b:f64[3] .
      c:f64[] d:f64[3] = scan[length=3 num_carry=1 num_consts=0 reverse=False unroll=1] a b
          body=
          { lambda e:f64[] f:f64[] .
            g:f64[] = add e f
            h:f64[] = mul e f
            in (g h) }
      in (c d) }
    >>> scan.impl(np, 0.0, np.arange(4.0), body=body, num_consts=0, num_carry=1, length=4,
    ...           reverse=False, unroll=1)
    (array(6.), array([0., 0., 2., 9.]))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from funcgrad.errors import DtypeError, ShapeError
from funcgrad.ir import IR, AbstractArray
from funcgrad.primitives.registry import primitive
from funcgrad.trace import eval_ir


def _check_types(what: str, got: Sequence[AbstractArray], expected: Sequence[AbstractArray]) -> None:
    """Raise unless ``got`` equals ``expected`` exactly, naming the first difference."""
    if len(got) != len(expected):
        raise ShapeError(f"{what}: {len(got)} values where {len(expected)} are expected")
    for i, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            error = ShapeError if g.shape != e.shape else DtypeError
            raise error(f"{what} {i} is {g!r} where {e!r} is expected "
                        "(shape, dtype and weak type must all agree)")


def _arrays(xp, values, avals: Sequence[AbstractArray]) -> tuple:
    """Eager results as arrays of their IR dtypes (a body may return a Python scalar)."""
    return tuple(xp.asarray(v, dtype=a.dtype) for v, a in zip(values, avals))


def _cond_aval(index, *operands, branches: tuple[IR, ...]):
    if index.shape != () or index.dtype != np.int32:
        raise DtypeError(f"cond: the branch index must be an int32 scalar, got {index!r}")
    if not branches:
        raise ValueError("cond: needs at least one branch")
    for k, branch in enumerate(branches):
        _check_types(f"cond: branch {k} input", branch.in_avals, operands)
        _check_types(f"cond: branch {k} output", branch.out_avals, branches[0].out_avals)
    return branches[0].out_avals


@primitive("cond", _cond_aval, multiple_results=True)
def cond(xp, index, *operands, branches):
    branch = branches[min(max(int(index), 0), len(branches) - 1)]
    return _arrays(xp, eval_ir(branch, *operands), branch.out_avals)


def _while_aval(*operands, cond_ir: IR, body_ir: IR, cond_nconsts: int, body_nconsts: int):
    cond_consts = list(operands[:cond_nconsts])
    body_consts = list(operands[cond_nconsts:cond_nconsts + body_nconsts])
    carry = list(operands[cond_nconsts + body_nconsts:])
    _check_types("while_loop: cond_ir input", cond_ir.in_avals, cond_consts + carry)
    out = cond_ir.out_avals
    if len(out) != 1 or out[0].shape != () or out[0].dtype != np.bool_:
        raise DtypeError(f"while_loop: cond_ir must return one boolean scalar, got {out}")
    _check_types("while_loop: body_ir input", body_ir.in_avals, body_consts + carry)
    _check_types("while_loop: carry output", body_ir.out_avals, carry)
    return carry


@primitive("while_loop", _while_aval, multiple_results=True)
def while_loop(xp, *operands, cond_ir, body_ir, cond_nconsts, body_nconsts):
    cond_consts = operands[:cond_nconsts]
    body_consts = operands[cond_nconsts:cond_nconsts + body_nconsts]
    carry = operands[cond_nconsts + body_nconsts:]
    while eval_ir(cond_ir, *cond_consts, *carry)[0]:
        carry = eval_ir(body_ir, *body_consts, *carry)
    return _arrays(xp, carry, body_ir.out_avals)


def _scan_aval(*operands, body: IR, num_consts: int, num_carry: int, length: int, reverse: bool,
               unroll: int):
    consts_and_carry = list(operands[:num_consts + num_carry])
    xs = operands[num_consts + num_carry:]
    for i, x in enumerate(xs):
        if x.shape[:1] != (length,):
            raise ShapeError(f"scan: xs {i} is {x!r}, but a leading axis of length {length} is expected")
    x_avals = [AbstractArray(x.shape[1:], x.dtype, x.weak_type) for x in xs]
    _check_types("scan: body input", body.in_avals, consts_and_carry + x_avals)
    carry, ys = body.out_avals[:num_carry], body.out_avals[num_carry:]
    _check_types("scan: carry output", carry, consts_and_carry[num_consts:])
    if unroll < 1:
        raise ValueError(f"scan: unroll must be at least 1, got {unroll}")
    return carry + [AbstractArray((length, *y.shape), y.dtype, y.weak_type) for y in ys]


@primitive("scan", _scan_aval, multiple_results=True)
def scan(xp, *operands, body, num_consts, num_carry, length, reverse, unroll):
    consts = operands[:num_consts]
    carry = operands[num_consts:num_consts + num_carry]
    xs = operands[num_consts + num_carry:]
    carry_avals, y_avals = body.out_avals[:num_carry], body.out_avals[num_carry:]
    ys = [xp.empty((length, *y.shape), y.dtype) for y in y_avals]
    for i in reversed(range(length)) if reverse else range(length):
        out = eval_ir(body, *consts, *carry, *(x[i] for x in xs))
        carry = out[:num_carry]
        for stacked, y in zip(ys, out[num_carry:]):
            stacked[i] = y
    return _arrays(xp, carry, carry_avals) + tuple(ys)
