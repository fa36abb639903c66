"""A cache of derived reverse-mode programs, for eager ``grad``.

Eager ``grad`` must run the user's Python on every call (globals change,
Python ``if``s take other branches), so it always traces.  What it then
*derives* from the trace — the JVP, its partial evaluation, the transposed
linear part — depends only on the traced IR's structure: its equations,
params, types and scalar constants.  Everything value-dependent is either in
that structure (a Python ``if`` recorded one branch) or an array constant,
which the derived program takes as an input.  So the derivation is done once
per structure and kept as two IRs, ``forward`` (inputs, constants -> outputs,
residuals) and ``backward`` (residuals, cotangents -> input cotangents), and
later calls just evaluate them.

Example:
    >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
    >>> g = fg.grad(lambda x: fnp.sum(fnp.sin(x) * 2.0))
    >>> g(np.zeros(2)), g(np.zeros(2))       # the second call reuses the program
    (array([2., 2.]), array([2., 2.]))
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from funcgrad.backends import array_namespace
from funcgrad.ir import IR, Eqn, Literal, Var
from funcgrad.trace import current_builder, eval_ir, trace_to_ir

MAX_ENTRIES = 256
_cache: OrderedDict[Any, _Program] = OrderedDict()
_lock = threading.Lock()


class _Uncacheable(Exception):
    """The IR has params that cannot be compared across traces (sub-IRs)."""


def _freeze(value: Any) -> Any:
    if isinstance(value, IR):
        raise _Uncacheable  # a new object on every trace: never equal
    if isinstance(value, (tuple, list)):
        return tuple(_freeze(v) for v in value)
    hash(value)  # unhashable params: TypeError, handled by the caller
    return value


def structure_key(ir: IR) -> tuple[Any, list[Any]]:
    """A hashable description of ``ir`` that two traces share exactly when
    their derived programs are the same, and the array constants it lifts out
    (to be passed as inputs).  Raises ``_Uncacheable`` or ``TypeError``."""
    number = {v: i for i, v in enumerate(ir.inputs)}
    constants: list[Any] = []

    def atom(a):
        if not isinstance(a, Literal):
            return number[a]
        if a.aval.shape == ():  # exact bits: 0.0 and -0.0 differ
            return ("literal", a.aval, np.asarray(a.value).tobytes())
        constants.append(a)
        return ("constant", a.aval)

    parts: list[Any] = [tuple(v.aval for v in ir.inputs)]
    for eqn in ir.eqns:
        params = tuple(sorted((k, _freeze(v)) for k, v in eqn.params.items()))
        parts.append((eqn.primitive, tuple(map(atom, eqn.inputs)), params))
        for v in eqn.outputs:
            number[v] = len(number)
    parts.append(tuple(map(atom, ir.outputs)))
    return tuple(parts), constants


def _lifted(ir: IR, constants: Sequence[Literal]) -> IR:
    """``ir`` with its array constants turned into trailing inputs."""
    slots = {id(c): Var(c.aval) for c in constants}
    swap = lambda a: slots.get(id(a), a)  # noqa: E731
    eqns = [Eqn(e.primitive, [swap(a) for a in e.inputs], e.outputs, e.params, e.source)
            for e in ir.eqns]
    return IR(ir.inputs + [slots[id(c)] for c in constants], eqns, [swap(a) for a in ir.outputs])


class _Program:
    """The forward and backward IRs derived from one IR structure."""

    def __init__(self, ir: IR, wrt: Sequence[bool]):
        from funcgrad.transforms.autodiff import Linearized, backward, linearize_ir
        from funcgrad.transforms.tangents import instantiate, tangent_aval

        wrt = list(wrt) + [False] * (len(ir.inputs) - len(wrt))
        store: dict[str, Any] = {}

        def forward(*args):
            lin = linearize_ir(ir, args, wrt)
            store["lin"], store["residuals"] = lin, list(lin.residuals)
            return list(lin.primal_out) + [lin.residuals[v] for v in store["residuals"]]

        self.forward, _ = trace_to_ir(forward, ir.in_avals)
        lin, residual_vars = store["lin"], store["residuals"]
        self.n_out, self.n_residuals = len(ir.outputs), len(residual_vars)

        def pullback(*args):
            residuals = dict(zip(residual_vars, args[:self.n_residuals]))
            linear = Linearized([], lin.tangent_in, lin.tangent_out, lin.linear_eqns, residuals)
            return [instantiate(ct) for ct in backward(linear, args[self.n_residuals:])]

        ct_avals = [tangent_aval(a) for a in ir.out_avals]
        self.backward, _ = trace_to_ir(pullback, [v.aval for v in residual_vars] + ct_avals)

        self._run_forward, self._run_backward = _compiled(self.forward), _compiled(self.backward)

    def __call__(self, args: Sequence[Any]) -> tuple[list[Any], Callable]:
        outs = self._run_forward(args)
        primal_out, residuals = outs[:self.n_out], outs[self.n_out:]
        return primal_out, lambda cts: self._run_backward([*residuals, *cts])


def _compiled(ir: IR) -> Callable[[Sequence[Any]], list[Any]]:
    """``ir`` as a tight loop of eager implementations (what ``eval_ir``
    does with no trace active, minus the per-equation dispatch)."""
    slot = {v: i for i, v in enumerate(ir.inputs)}
    for eqn in ir.eqns:
        for v in eqn.outputs:
            slot[v] = len(slot)

    def reader(atom):
        return (None, atom.value) if isinstance(atom, Literal) else (slot[atom], None)

    steps = [(e.primitive.impl, [reader(a) for a in e.inputs], e.params,
              [slot[v] for v in e.outputs], e.primitive.multiple_results) for e in ir.eqns]
    outputs = [reader(a) for a in ir.outputs]

    def run(args: Sequence[Any]) -> list[Any]:
        if current_builder() is not None:  # under a trace: record, as eval_ir does
            return eval_ir(ir, *args)
        env = list(args) + [None] * (len(slot) - len(args))
        xp = array_namespace(args)
        for impl, inputs, params, outs, multiple in steps:
            result = impl(xp, *[env[i] if i is not None else v for i, v in inputs], **params)
            if multiple:
                for i, r in zip(outs, result):
                    env[i] = r
            else:
                env[outs[0]] = result
        return [env[i] if i is not None else v for i, v in outputs]

    return run


def cached_vjp(ir: IR, args: Sequence[Any], wrt: Sequence[bool]
               ) -> tuple[list[Any], Callable] | None:
    """``(primal_out, pullback)`` from the program derived for ``ir``'s
    structure, or None when ``ir`` cannot be cached."""
    try:
        structure, constants = structure_key(ir)
        key = (structure, tuple(wrt))
        hash(key)
    except (_Uncacheable, TypeError):
        return None
    with _lock:
        program = _cache.get(key)
        if program is not None:
            _cache.move_to_end(key)
    if program is None:
        program = _Program(_lifted(ir, constants), wrt)
        with _lock:
            _cache[key] = program
            if len(_cache) > MAX_ENTRIES:
                _cache.popitem(last=False)
    return program(list(args) + [c.value for c in constants])


