"""Primitives that call a sub-IR: ``jit_call`` and ``fused``.

- ``jit_call(*args, ir, name)``: a call of a jitted function recorded inside
  another trace (jit inside jit, ``grad(jit(f))``, ``vmap(jit(f))``).  Run on
  arrays it compiles ``ir``; the jit passes inline it into an enclosing jit.
- ``fused(*args, ir)``: a cluster of elementwise operations and the
  reductions that consume them, made by the fusion pass; the Numba backend
  lowers it to one loop nest, so its intermediates are never materialized.

Both are functions like any other: differentiating one differentiates its
IR in place, batching one batches its IR.

Example:
    >>> import numpy as np
    >>> from funcgrad.trace import trace_to_ir
    >>> ir, _ = trace_to_ir(lambda x: [x * x + 1.0], [np.zeros(3)])
    >>> fused.impl(np, np.arange(3.0), ir=ir)
    [array([1., 2., 5.])]
"""

from __future__ import annotations

import weakref

from funcgrad.errors import DtypeError
from funcgrad.ir import IR
from funcgrad.primitives.registry import Primitive
from funcgrad.trace import bind, eval_ir


def _call_aval(name: str):
    def abstract_eval(*avals, ir: IR, **params):
        if [a.strong() for a in avals] != [a.strong() for a in ir.in_avals]:
            raise DtypeError(f"{name}: operands {list(avals)} do not match the IR's inputs "
                             f"{ir.in_avals}")
        return ir.out_avals

    return abstract_eval


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _jit_call_impl(xp, *args, ir: IR, name: str):
    from funcgrad.transforms.jit import compile_ir

    executable = _COMPILED.get(ir)
    if executable is None:
        executable = _COMPILED[ir] = compile_ir(ir, name)
    return executable(*args)


def _fused_impl(xp, *args, ir: IR):
    return eval_ir(ir, *args)


jit_call = Primitive("jit_call", _call_aval("jit_call"), _jit_call_impl, multiple_results=True)
fused = Primitive("fused", _call_aval("fused"), _fused_impl, multiple_results=True)


def _call_jvp(primals, tangents, *, ir: IR, **params):
    from funcgrad.transforms.autodiff import jvp_eval

    return jvp_eval(ir, primals, tangents)  # differentiated in place: inlined


def _call_batch(primitive: Primitive):
    def batch(ctx, args, dims, *, ir: IR, **params):
        from funcgrad.transforms.batch_dims import at_front
        from funcgrad.transforms.batching import batch_ir

        front = [x if d is None else at_front(x, d, ctx.size) for x, d in zip(args, dims)]
        in_dims = [None if d is None else 0 for d in dims]
        batched = batch_ir(ir, in_dims, ctx, [0] * len(ir.outputs))
        return bind(primitive, *front, ir=batched, **params), [0] * len(ir.outputs)

    return batch


for _primitive in (jit_call, fused):
    _primitive.jvp = _call_jvp
    _primitive.batch = _call_batch(_primitive)
