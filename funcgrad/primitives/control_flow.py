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

Derivatives: the JVP of ``cond`` and ``scan`` is the primitive itself for the
primal outputs plus a second one, over tangent sub-IRs, that computes only the
tangents; so reverse mode finds the tangent one in the linear part and
transposes it (a ``cond`` of transposed branches; for ``scan``, a forward scan
that stacks the known carries, then a reverse scan of the transposed body).
``while_loop`` has a JVP (forward mode) but no transpose: its trip count is
not static, so reverse mode cannot go through it; ``scan`` or ``fori_loop``
with Python bounds can.

Batching (vmap): each is the same primitive over batched sub-IRs, unless the
members would take different paths.  A ``cond`` whose index varies over the
batch runs every branch on the whole batch and selects each member's outputs
(JAX's semantics: branches are side-effect free).  A ``while_loop`` whose
predicate varies runs while any member's holds, and freezes the carry of a
member whose own predicate has failed.  ``scan`` keeps its scan axis first
and the batch axis of ``xs`` and ``ys`` second.

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

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from funcgrad.errors import DtypeError, ShapeError
from funcgrad.ir import IR, AbstractArray, Literal, Var, abstractify
from funcgrad.primitives.elementwise import PRIMITIVE_OF_ROW
from funcgrad.primitives.reductions import reduce_or
from funcgrad.primitives.registry import primitive
from funcgrad.primitives.structural import broadcast_in_dim, convert_element_type, select
from funcgrad.trace import Tracer, eval_eqns, eval_ir, trace_to_ir
from funcgrad.transforms.autodiff import jvp_eval, prune, split_known, transpose_ir
from funcgrad.transforms.batch_dims import BatchContext, all_at_front, at_front, moveaxis_to
from funcgrad.transforms.batching import batch_eval, batch_ir
from funcgrad.transforms.tangents import (
    UndefinedPrimal,
    Zero,
    add_tangents,
    instantiate,
    is_linear,
    tangent_aval,
    zeros,
)

less_equal = PRIMITIVE_OF_ROW["le"]


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


# ---------------------------------------------------------------- derivative rules
#
# Reverse mode splits the JVP's IR by data flow: an equation that reads a
# tangent belongs to the linear part, which is transposed.  So the JVP of
# ``cond`` and ``scan`` binds the primitive as it is for the primal outputs
# (known), and a second one whose sub-IRs compute the tangents only (linear in
# them).  Sub-IRs are made by tracing the autodiff machinery: ``jvp_eval`` for
# tangent bodies, ``backward`` for transposed ones.


def _pick(values: Sequence[Any], mask: Sequence[bool], keep: bool = True) -> list:
    """The ``values`` where ``mask`` is ``keep``."""
    return [v for v, m in zip(values, mask) if m == keep]


def _scatter(values: Sequence[Any], mask: Sequence[bool], fill: Sequence[Any]) -> list:
    """The next of ``values`` where ``mask``, the entry of ``fill`` elsewhere."""
    values = iter(values)
    return [next(values) if m else f for m, f in zip(mask, fill)]


def _split_list(values: Sequence[Any], sizes: Sequence[int]) -> list[list]:
    """``values`` cut into consecutive chunks of ``sizes``, and the rest."""
    bounds = [0, *itertools.accumulate(sizes), len(values)]
    return [list(values[lo:hi]) for lo, hi in itertools.pairwise(bounds)]


def _stacked(aval: AbstractArray, length: int) -> AbstractArray:
    return AbstractArray((length, *aval.shape), aval.dtype, aval.weak_type)


def _typed(values: Sequence[Any], avals: Sequence[AbstractArray]) -> list:
    """``values`` with exactly these types: rules see Literals unwrapped to
    NumPy scalars, which loses their weak type, and sub-IRs insist on it."""
    return [v if abstractify(v) == a else
            convert_element_type.bind(v, new_dtype=a.dtype, weak_type=a.weak_type)
            if isinstance(v, Tracer) else Literal(v, a)
            for v, a in zip(values, avals)]


def _strong(x: Any) -> Any:
    """A (co)tangent of strong type: loop carries and branches must agree exactly."""
    aval = abstractify(x)
    return convert_element_type.bind(x, new_dtype=aval.dtype) if aval.weak_type else x


def _zeros_like(values: Sequence[Any]) -> list[Zero]:
    return [Zero(tangent_aval(abstractify(v))) for v in values]


def _trace(fun: Callable, avals: Sequence[AbstractArray]) -> IR:
    """The IR of ``fun`` over ``avals``; it closes over nothing (it only runs sub-IRs)."""
    ir, captured = trace_to_ir(fun, list(avals))
    assert not captured
    return ir


def _jvp_ir(ir: IR, groups: Sequence[int], nonzero: Sequence[bool], keep_primal: Sequence[bool],
            force: Sequence[bool]) -> tuple[IR, list[bool]]:
    """``ir``'s JVP as an IR, and which output tangents it returns.

    Its inputs: for each group of ``ir``'s inputs (sizes ``groups``: e.g.
    consts, carry, xs), the primals, then the tangents of those where
    ``nonzero``.  Its outputs: the primal outputs where ``keep_primal``, then
    the tangents of the outputs that are nonzero or ``force``d.
    """
    order = []  # (is a tangent, input position) of each input of the JVP IR
    for lo, hi in itertools.pairwise([0, *itertools.accumulate(groups)]):
        order += [(False, i) for i in range(lo, hi)]
        order += [(True, i) for i in range(lo, hi) if nonzero[i]]
    avals = ir.in_avals
    returned: list[bool] = []

    def jvp(*args):
        primals, tangents = [None] * len(avals), _zeros_like(avals)
        for (is_tangent, i), arg in zip(order, args):
            (tangents if is_tangent else primals)[i] = arg
        outs, out_tangents = jvp_eval(ir, primals, tangents)
        returned[:] = [f or not isinstance(t, Zero) for t, f in zip(out_tangents, force)]
        return (_typed(_pick(outs, keep_primal), _pick(ir.out_avals, keep_primal))
                + [_strong(instantiate(t)) for t in _pick(out_tangents, returned)])

    jvp_ir = _trace(jvp, [tangent_aval(avals[i]) if is_tangent else avals[i]
                          for is_tangent, i in order])
    return jvp_ir, returned


def _transpose_ir(ir: IR, linear: Sequence[bool], known: Sequence[Any], cts: Sequence[Any]) -> list:
    """The cotangents of ``ir``'s inputs where ``linear`` (``ir`` is linear in
    them), given the values of its other inputs and its outputs' cotangents."""
    values = iter(known)
    args = [UndefinedPrimal(v.aval) if lin else next(values) for v, lin in zip(ir.inputs, linear)]
    return [ct for ct, lin in zip(transpose_ir(ir, args, cts), linear) if lin]


def _cond_jvp(primals, tangents, *, branches):
    index, *operands = _typed(primals, [AbstractArray((), np.dtype(np.int32)),
                                        *branches[0].in_avals])
    out = cond.bind(index, *operands, branches=branches)
    nonzero = [not isinstance(t, Zero) for t in tangents[1:]]
    no_primals = [False] * len(out)

    def tangent_branches(force):
        return [_jvp_ir(branch, [len(operands)], nonzero, no_primals, force) for branch in branches]

    traced = tangent_branches(no_primals)
    returned = [any(column) for column in zip(*(r for _, r in traced))]
    if any(r != returned for _, r in traced):  # make every branch return the same tangents
        traced = tangent_branches(returned)
    if not any(returned):
        return out, _zeros_like(out)
    given = [_strong(t) for t in _pick(tangents[1:], nonzero)]
    tangent_out = cond.bind(index, *operands, *given, branches=tuple(ir for ir, _ in traced))
    return out, _scatter(tangent_out, returned, _zeros_like(out))


def _cond_transpose(cts, index, *operands, branches):
    linear = [is_linear(x) for x in operands]
    known_avals = _pick(branches[0].in_avals, linear, False)
    known = _typed(_pick(operands, linear, False), known_avals)
    given = [not isinstance(ct, Zero) for ct in cts]
    zero_cts = _zeros_like(branches[0].out_avals)

    def transposed(branch):
        def transpose(*args):
            branch_cts = _scatter(args[len(known):], given, zero_cts)
            return [_strong(instantiate(ct))
                    for ct in _transpose_ir(branch, linear, args[:len(known)], branch_cts)]

        return _trace(transpose, known_avals + [ct.aval for ct in _pick(zero_cts, given)])

    cts_in = cond.bind(index, *known, *map(_strong, _pick(cts, given)),
                       branches=tuple(map(transposed, branches)))
    return [None] + _scatter(cts_in, linear, [None] * len(operands))


def _loop_jvp_body(body: IR, groups: Sequence[int], nonzero: list[bool]) -> tuple[IR, list[bool]]:
    """The JVP IR of a loop body (inputs: groups consts, carry[, xs]; outputs:
    the carry, then ys) returning the primal carry, the tangent carry and the
    nonzero tangent ys.  A carry's tangent is nonzero if its initial one is or
    if the body makes it so: ``nonzero`` is updated to that fixed point."""
    num_consts, num_carry = groups[:2]
    carry = slice(num_consts, num_consts + num_carry)
    n_ys = len(body.outputs) - num_carry
    while True:
        ir, returned = _jvp_ir(body, groups, nonzero, [True] * num_carry + [False] * n_ys,
                               nonzero[carry] + [False] * n_ys)
        if returned[:num_carry] == nonzero[carry]:
            return ir, returned
        nonzero[carry] = returned[:num_carry]


def _with_tangents(primals: Sequence[Any], tangents: Sequence[Any], nonzero: Sequence[bool],
                   groups: Sequence[int]) -> tuple[list, int]:
    """The operands of a tangent loop: each group of ``primals`` (sizes
    ``groups``, the rest last) followed by its nonzero tangents; and how many
    tangents the first group (the consts) has."""
    operands, counts = [], []
    for group in zip(*(_split_list(values, groups) for values in (primals, tangents, nonzero))):
        given = [_strong(instantiate(t)) for t in _pick(group[1], group[2])]
        operands += [*group[0], *given]
        counts.append(len(given))
    return operands, counts[0]


def _scan_jvp(primals, tangents, *, body, num_consts, num_carry, length, reverse, unroll):
    params = dict(length=length, reverse=reverse, unroll=unroll)
    n_in = num_consts + num_carry
    primals = _typed(primals, body.in_avals[:n_in] + [_stacked(a, length)
                                                      for a in body.in_avals[n_in:]])
    out = scan.bind(*primals, body=body, num_consts=num_consts, num_carry=num_carry, **params)
    nonzero = [not isinstance(t, Zero) for t in tangents]
    groups = [num_consts, num_carry]
    tangent_body, returned = _loop_jvp_body(body, groups + [len(primals) - n_in], nonzero)
    if not any(returned):
        return out, _zeros_like(out)
    # The primal carry rides along: the body's tangents need its value at every step.
    operands, num_tangent_consts = _with_tangents(primals, tangents, nonzero, groups)
    results = scan.bind(*operands, body=tangent_body, num_consts=num_consts + num_tangent_consts,
                        num_carry=num_carry + sum(returned[:num_carry]), **params)
    return out, _scatter(results[num_carry:], returned, _zeros_like(out))


def _linear_carries(body: IR, linear: list[bool], num_consts: int, num_carry: int) -> set[Var]:
    """Mark the carries that are linear: those whose initial value is, and those
    the body makes depend on a linear operand (a known initial value, such as
    instantiated zero tangents, then only adds a constant).  Updates ``linear``
    to that fixed point; returns the body's variables that depend on them."""
    carry = slice(num_consts, num_consts + num_carry)
    while True:
        unknown = set(_pick(body.inputs, linear))
        split_known(body.eqns, unknown)
        grown = [lin or (isinstance(a, Var) and a in unknown)
                 for lin, a in zip(linear[carry], body.outputs[:num_carry])]
        if grown == linear[carry]:
            return unknown
        linear[carry] = grown


def _scan_transpose(cts, *operands, body, num_consts, num_carry, length, reverse, unroll):
    params = dict(length=length, unroll=unroll)
    n_in = num_consts + num_carry
    linear = [is_linear(x) for x in operands]
    unknown = _linear_carries(body, linear, num_consts, num_carry)
    lin_consts, lin_carry, lin_xs = linear[:num_consts], linear[num_consts:n_in], linear[n_in:]
    in_avals = body.in_avals[:n_in] + [_stacked(a, length) for a in body.in_avals[n_in:]]
    known_avals = _pick(body.in_avals, linear, False)
    known = _typed(_pick(operands, linear, False), _pick(in_avals, linear, False))
    n_kc, n_kcarry = lin_consts.count(False), lin_carry.count(False)
    known_consts, known_init, known_xs = _split_list(known, [n_kc, n_kcarry])

    # Forward: the known carries at the start of every step, stacked (the residuals).
    def known_step(*args):
        env = dict(zip(_pick(body.inputs, linear, False), args))
        outs = _pick(body.outputs[:num_carry], lin_carry, False)
        eval_eqns(prune(body.eqns, {a for a in outs if isinstance(a, Var)}), env)
        return [a if isinstance(a, Literal) else env[a] for a in outs] + list(args[n_kc:n_kc + n_kcarry])

    stacked = []
    if n_kcarry:
        stacked = scan.bind(*known_consts, *known_init, *known_xs,
                            body=_trace(known_step, known_avals), num_consts=n_kc,
                            num_carry=n_kcarry, reverse=reverse, **params)[n_kcarry:]

    # Backward: from the last step to the first, transpose the body's linear part.
    ys_linear = [isinstance(a, Var) and a in unknown for a in body.outputs[num_carry:]]
    given_ys = [lin and not isinstance(ct, Zero) for lin, ct in zip(ys_linear, cts[num_carry:])]
    ct_carry = [_strong(instantiate(ct)) for ct in _pick(cts[:num_carry], lin_carry)]
    ct_consts = [zeros(tangent_aval(a)) for a in _pick(body.in_avals[:num_consts], lin_consts)]
    ct_ys = [_strong(ct) for ct in _pick(cts[num_carry:], given_ys)]
    sizes = [n_kc, len(ct_carry), len(ct_consts), len(known_xs), n_kcarry]  # then ct_ys
    zero_cts = _zeros_like(body.out_avals)

    def transpose_step(*args):
        consts, cts_carry, cts_consts, xs, carry, cts_y = _split_list(args, sizes)
        cts_out = (_scatter(cts_carry, lin_carry, zero_cts[:num_carry])
                   + _scatter(cts_y, given_ys, zero_cts[num_carry:]))
        cts_in = [_strong(instantiate(ct))
                  for ct in _transpose_ir(body, linear, consts + carry + xs, cts_out)]
        new_consts, new_carry, new_xs = _split_list(cts_in, [len(ct_consts), len(ct_carry)])
        return new_carry + [add_tangents(a, b) for a, b in zip(cts_consts, new_consts)] + new_xs

    step_avals = (known_avals[:n_kc] + [abstractify(x) for x in ct_carry + ct_consts]
                  + known_avals[n_kc + n_kcarry:] + known_avals[n_kc:n_kc + n_kcarry]
                  + [AbstractArray(a.shape[1:], a.dtype) for a in map(abstractify, ct_ys)])
    results = scan.bind(*known_consts, *ct_carry, *ct_consts, *known_xs, *stacked, *ct_ys,
                        body=_trace(transpose_step, step_avals), num_consts=n_kc,
                        num_carry=len(ct_carry) + len(ct_consts), reverse=not reverse, **params)
    ct_init, ct_consts, ct_xs = _split_list(results, [len(ct_carry), len(ct_consts)])
    nones = [None] * len(operands)
    cts_in = (_scatter(ct_consts, lin_consts, nones) + _scatter(ct_init, lin_carry, nones)
              + _scatter(ct_xs, lin_xs, nones))
    return [ct if is_linear(x) else None for x, ct in zip(operands, cts_in)]


def _while_jvp(primals, tangents, *, cond_ir, body_ir, cond_nconsts, body_nconsts):
    params = dict(cond_nconsts=cond_nconsts, body_nconsts=body_nconsts)
    primals = _typed(primals, cond_ir.in_avals[:cond_nconsts] + body_ir.in_avals)
    out = while_loop.bind(*primals, cond_ir=cond_ir, body_ir=body_ir, **params)
    nonzero = [not isinstance(t, Zero) for t in tangents[cond_nconsts:]]
    num_carry = len(out)
    tangent_body, returned = _loop_jvp_body(body_ir, [body_nconsts, num_carry], nonzero)
    if not any(returned):
        return out, _zeros_like(out)
    # A second loop carries the primal values along with the tangents (as scan's JVP does), so
    # that reverse mode fails on it, the tangent part, with while_loop's own message.
    tangent_avals = [tangent_aval(a) for a in _pick(body_ir.out_avals, returned)]
    tangent_cond = _trace(lambda *args: eval_ir(cond_ir, *args[:len(cond_ir.inputs)]),
                          cond_ir.in_avals + tangent_avals)
    operands, num_tangent_consts = _with_tangents(primals[cond_nconsts:], tangents[cond_nconsts:],
                                                  nonzero, [body_nconsts])
    results = while_loop.bind(*primals[:cond_nconsts], *operands, cond_ir=tangent_cond,
                              body_ir=tangent_body, cond_nconsts=cond_nconsts,
                              body_nconsts=body_nconsts + num_tangent_consts)
    return out, _scatter(results[num_carry:], returned, _zeros_like(out))


cond.jvp = _cond_jvp
cond.transpose = _cond_transpose
scan.jvp = _scan_jvp
scan.transpose = _scan_transpose
while_loop.jvp = _while_jvp
# while_loop has no transpose: its trip count is known only when it runs, so reverse mode
# (which needs every step's values in reverse) cannot pass through it, as in JAX.
while_loop.reverse_mode_fix = (
    "reverse-mode differentiation (grad, vjp, jacrev) needs a loop with a static trip count: "
    "use fg.scan, or fg.fori_loop with Python int bounds; or differentiate in forward mode "
    "(fg.jvp, fg.jacfwd)")


# ---------------------------------------------------------------- batching rules
#
# Sub-IRs are batched with ``batch_ir``, each batched input and output with its
# batch axis first (a batched ``xs`` of scan: second, after the scan axis).
# Which outputs of a sub-IR vary over the batch is found by batching it
# (``_batched_outputs``); a loop carry that starts unbatched becomes batched
# once the body mixes it with batched values, so loops take the fixed point.


def _batch_dims(batched: Sequence[bool]) -> list[int | None]:
    return [0 if b else None for b in batched]


def _batched_outputs(ir: IR, batched: Sequence[bool], ctx: BatchContext) -> list[bool]:
    """Which outputs of ``ir`` vary over the batch when the ``batched`` inputs do."""
    found: list[bool] = []

    def probe(*args):
        found[:] = [d is not None for d in batch_eval(ir, args, _batch_dims(batched), ctx)[1]]
        return []

    _trace(probe, [AbstractArray((ctx.size, *a.shape), a.dtype, a.weak_type) if b else a
                   for a, b in zip(ir.in_avals, batched)])
    return found


def _batch_body(ir: IR, batched: Sequence[bool], out_batched: Sequence[bool], ctx: BatchContext
                ) -> IR:
    return batch_ir(ir, _batch_dims(batched), ctx, _batch_dims(out_batched))


def _to_front(args: Sequence[Any], dims: Sequence[int | None], batched: Sequence[bool],
              size: int) -> list:
    """``args`` with the batch axis first where ``batched`` (broadcast if they are not yet)."""
    return [at_front(x, d, size) if b else x for x, d, b in zip(args, dims, batched)]


def _carry_fixed_point(body: IR, batched: list[bool], carry: slice, ctx: BatchContext
                       ) -> tuple[list[bool], list[bool]]:
    """``batched`` (the body's inputs) with the carry entries batched where the
    body makes them so, to the fixed point; and which body outputs are batched.
    The body's first outputs are the new carry."""
    batched = list(batched)
    while True:
        out = _batched_outputs(body, batched, ctx)
        grown = [b or o for b, o in zip(batched[carry], out)]
        if grown == batched[carry]:
            return batched, out
        batched[carry] = grown


def _per_member(pred: Any, on_true: Any, on_false: Any) -> Any:
    """``select`` with a predicate of one entry per member (batch axis first)."""
    shape = abstractify(on_true).shape
    if shape != abstractify(pred).shape:
        pred = broadcast_in_dim.bind(pred, shape=shape, broadcast_dimensions=(0,))
    return select.bind(pred, on_true, on_false)


def _cond_batch(ctx, args, dims, *, branches):
    (index, *operands), (index_dim, *operand_dims) = args, dims
    batched = [d is not None for d in operand_dims]
    operands = _to_front(operands, operand_dims, batched, ctx.size)
    if index_dim is None:  # one branch for all: a cond of batched branches that agree on types
        out_batched = [any(column) for column in
                       zip(*(_batched_outputs(branch, batched, ctx) for branch in branches))]
        new_branches = tuple(_batch_body(branch, batched, out_batched, ctx) for branch in branches)
        return cond.bind(index, *operands, branches=new_branches), _batch_dims(out_batched)
    # Each member takes its own branch: run every branch on the whole batch, then pick for
    # each member (side-effect free, so running the others is harmless).  Branch k is taken
    # by the members whose index is <= k and not <= k - 1, which clamps the index as cond does.
    outs = [all_at_front(*batch_eval(branch, operands, _batch_dims(batched), ctx), ctx.size)
            for branch in branches]
    picked = outs[-1]
    for k in reversed(range(len(branches) - 1)):
        bound = broadcast_in_dim.bind(Literal(np.int32(k), AbstractArray((), np.dtype(np.int32))),
                                      shape=(ctx.size,), broadcast_dimensions=())
        taken = less_equal.bind(index, bound)
        picked = [_per_member(taken, out, other) for out, other in zip(outs[k], picked)]
    return picked, [0] * len(picked)


def _while_batch(ctx, args, dims, *, cond_ir, body_ir, cond_nconsts, body_nconsts):
    sizes = [cond_nconsts, body_nconsts]
    cond_consts_b, body_consts_b, _ = _split_list([d is not None for d in dims], sizes)
    body_b, _ = _carry_fixed_point(body_ir, [d is not None for d in dims[cond_nconsts:]],
                                   slice(body_nconsts, None), ctx)
    carry_b = body_b[body_nconsts:]
    (pred_batched,) = _batched_outputs(cond_ir, cond_consts_b + carry_b, ctx)
    if pred_batched:  # members stop at different steps, so each carries its own values
        carry_b = [True] * len(carry_b)
    cond_consts, body_consts, carry = _split_list(
        _to_front(args, dims, cond_consts_b + body_consts_b + carry_b, ctx.size), sizes)
    body = _batch_body(body_ir, body_consts_b + carry_b, carry_b, ctx)
    if not pred_batched:
        out = while_loop.bind(*cond_consts, *body_consts, *carry,
                              cond_ir=_batch_body(cond_ir, cond_consts_b + carry_b, [False], ctx),
                              body_ir=body, cond_nconsts=cond_nconsts, body_nconsts=body_nconsts)
        return out, _batch_dims(carry_b)
    # Loop while any member's predicate holds; a member whose own predicate fails keeps its
    # carry from then on (the body still runs on it, its result is dropped).
    preds = _batch_body(cond_ir, cond_consts_b + carry_b, [True], ctx)

    def any_pred(*args):
        return [reduce_or.bind(eval_ir(preds, *args)[0], axes=(0,))]

    def step(*args):
        cond_args, body_args = args[:cond_nconsts], args[cond_nconsts:]
        old = body_args[body_nconsts:]
        live = eval_ir(preds, *cond_args, *old)[0]
        return [_per_member(live, new, x) for new, x in zip(eval_ir(body, *body_args), old)]

    out = while_loop.bind(*cond_consts, *cond_consts, *body_consts, *carry,
                          cond_ir=_trace(any_pred, preds.in_avals),
                          body_ir=_trace(step, preds.in_avals[:cond_nconsts] + body.in_avals),
                          cond_nconsts=cond_nconsts, body_nconsts=cond_nconsts + body_nconsts)
    return out, [0] * len(out)


def _scan_batch(ctx, args, dims, *, body, num_consts, num_carry, length, reverse, unroll):
    n_in = num_consts + num_carry
    batched, out_batched = _carry_fixed_point(body, [d is not None for d in dims],
                                              slice(num_consts, n_in), ctx)
    carry_b, ys_b = batched[num_consts:n_in], out_batched[num_carry:]
    # The body sees one slice of each xs: batched at 0 once the batch axis is second.
    xs = [x if d is None else moveaxis_to(x, d, 1) for x, d in zip(args[n_in:], dims[n_in:])]
    out = scan.bind(*_to_front(args[:n_in], dims[:n_in], batched[:n_in], ctx.size), *xs,
                    body=_batch_body(body, batched, carry_b + ys_b, ctx), num_consts=num_consts,
                    num_carry=num_carry, length=length, reverse=reverse, unroll=unroll)
    return out, _batch_dims(carry_b) + [1 if b else None for b in ys_b]


cond.batch = _cond_batch
while_loop.batch = _while_batch
scan.batch = _scan_batch
