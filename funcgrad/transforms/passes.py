"""IR passes that jit runs before lowering, each small and usable on its own.

Each pass takes an IR and returns a new one computing the same outputs:

- ``inline_calls``: splice the bodies of nested jit calls (and of custom
  derivative and checkpoint wrappers, whose rules jit no longer needs, and
  the linear maps they leave in a derivative) into the caller.
- ``forward_identities``: drop equations that return their operand
  unchanged (``stop_gradient``, a reshape or convert to the same type).
- ``fold_constants``: compute equations whose operands are all constants,
  when the result is small.
- ``eliminate_common_subexpressions``: one equation for repeated work.
- ``eliminate_dead_code``: drop equations no output depends on.
- ``fuse``: group elementwise operations (with their broadcasts) and the
  reductions that consume them into ``fused`` equations, one loop nest each.

``optimize`` runs them all in that order.

Example:
    >>> import funcgrad as fg, numpy as np
    >>> ir = fg.make_ir(lambda x: (x * 2.0 + x * 2.0).sum())(np.ones(3, np.float32))
    >>> print(optimize(ir))
    { lambda a:f32[3] .
      b:f32[] = fused a
          ir=
            { lambda a:f32[3] .
              c:f32[3]~ = broadcast_in_dim[broadcast_dimensions=() shape=(3,)] 2.0:f32[]~
              d:f32[3] = mul a c
              e:f32[3] = add d d
              b:f32[] = reduce_sum[axes=(0,)] e
              in (b) }
      in (b) }
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from funcgrad.ir import IR, Atom, Eqn, Literal, Var
from funcgrad.primitives.call import fused
from funcgrad.primitives.custom_derivatives import EXPANSIONS
from funcgrad.primitives.elementwise import ELEMENTWISE
from funcgrad.primitives.reductions import REDUCTION_TABLE

Substitution = dict[Var, Atom]


def _subst(atom: Atom, env: Substitution) -> Atom:
    return env.get(atom, atom) if isinstance(atom, Var) else atom


def _rebuild(ir: IR, eqns: list[Eqn], env: Substitution) -> IR:
    return IR(ir.inputs, eqns, [_subst(a, env) for a in ir.outputs])


def _with_inputs(eqn: Eqn, env: Substitution) -> Eqn:
    if not any(isinstance(a, Var) and a in env for a in eqn.inputs):
        return eqn
    return Eqn(eqn.primitive, [_subst(a, env) for a in eqn.inputs], eqn.outputs, eqn.params,
               eqn.source)


# ---------------------------------------------------------------- inlining

# Wrappers whose params hold the function they call (``fun``) or a jitted body (``ir``).
_INLINED = {"jit_call": "ir", "fused": "ir", "custom_jvp_call": "fun", "custom_vjp_call": "fun",
            "checkpoint": "fun"}


def inline_calls(ir: IR) -> IR:
    """Splice called sub-IRs into ``ir``, recursively, with fresh variables."""
    eqns: list[Eqn] = []
    env: Substitution = {}
    _inline_into(ir.eqns, env, eqns, fresh=False)
    return _rebuild(ir, eqns, env)


def _inline_into(source: Sequence[Eqn], env: Substitution, out: list[Eqn], fresh: bool) -> None:
    """Append ``source`` to ``out`` with calls spliced in; inside a body
    (``fresh``) every output gets a new variable, as a body may be inlined twice."""
    for eqn in source:
        eqn = _with_inputs(eqn, env)
        key = _INLINED.get(eqn.primitive.name)
        expand = EXPANSIONS.get(eqn.primitive.name)
        if key is not None or expand is not None:
            body: IR = eqn.params[key] if key is not None else _expanded(eqn, expand)
            inner: Substitution = dict(zip(body.inputs, eqn.inputs))  # consts are trailing inputs
            _inline_into(body.eqns, inner, out, fresh=True)
            env.update(zip(eqn.outputs, (_subst(a, inner) for a in body.outputs)))
        elif fresh:
            outputs = [Var(v.aval) for v in eqn.outputs]
            env.update(zip(eqn.outputs, outputs))
            out.append(Eqn(eqn.primitive, eqn.inputs, outputs, eqn.params, eqn.source))
        else:
            out.append(eqn)


def _expanded(eqn: Eqn, expand: Callable) -> IR:
    """The IR of a primitive defined by a traceable map of its operands."""
    from funcgrad.trace import trace_to_ir

    body, captured = trace_to_ir(lambda *ops: expand(*ops, **eqn.params),
                                 [a.aval for a in eqn.inputs])
    assert not captured
    return body


# ---------------------------------------------------------------- simplification

_IDENTITY_WHEN: dict[str, Callable[[Eqn], bool]] = {
    "stop_gradient": lambda eqn: True,
    "reshape": lambda eqn: eqn.inputs[0].aval.shape == eqn.outputs[0].aval.shape,
    "convert_element_type": lambda eqn: eqn.inputs[0].aval.dtype == eqn.outputs[0].aval.dtype,
    "broadcast_in_dim": lambda eqn: eqn.inputs[0].aval.shape == eqn.outputs[0].aval.shape,
    "transpose": lambda eqn: tuple(eqn.params["permutation"]) == tuple(
        range(len(eqn.params["permutation"]))),
}


def forward_identities(ir: IR) -> IR:
    """Replace uses of an equation that returns its operand by the operand.
    (Only the weak-type flag may differ, which no longer matters once traced.)"""
    eqns, env = [], {}
    for eqn in ir.eqns:
        eqn = _with_inputs(eqn, env)
        rule = _IDENTITY_WHEN.get(eqn.primitive.name)
        if rule is not None and isinstance(eqn.inputs[0], Var) and rule(eqn):
            env[eqn.outputs[0]] = eqn.inputs[0]
        else:
            eqns.append(eqn)
    return _rebuild(ir, eqns, env)


FOLD_LIMIT = 64  # elements: a folded constant bigger than this is cheaper to compute in place


def fold_constants(ir: IR) -> IR:
    """Evaluate equations whose operands are all literals and whose results
    are small, turning them into literals.  (Views of constants stay: inside
    a loop nest they cost nothing.)"""
    eqns, env = [], {}
    for eqn in ir.eqns:
        eqn = _with_inputs(eqn, env)
        small = all(v.aval.size <= FOLD_LIMIT for v in eqn.outputs)
        constant = all(isinstance(a, Literal) for a in eqn.inputs)
        if constant and small and not is_view(eqn) and not _has_sub_ir(eqn):
            values = [np.asarray(a.value, a.aval.dtype) for a in eqn.inputs]
            result = eqn.primitive.impl(np, *values, **eqn.params)
            results = result if eqn.primitive.multiple_results else [result]
            for var, value in zip(eqn.outputs, results):
                env[var] = Literal(np.asarray(value, var.aval.dtype).copy(), var.aval)
        else:
            eqns.append(eqn)
    return _rebuild(ir, eqns, env)


def _has_sub_ir(eqn: Eqn) -> bool:
    return any(isinstance(v, IR) or (isinstance(v, tuple) and v and isinstance(v[0], IR))
               for v in eqn.params.values())


def eliminate_common_subexpressions(ir: IR) -> IR:
    """Keep the first of equations with the same primitive, operands and params."""
    eqns, env, seen = [], {}, {}
    for eqn in ir.eqns:
        eqn = _with_inputs(eqn, env)
        key = _eqn_key(eqn)
        first = seen.get(key) if key is not None else None
        if first is not None:
            env.update(zip(eqn.outputs, first.outputs))
            continue
        if key is not None:
            seen[key] = eqn
        eqns.append(eqn)
    return _rebuild(ir, eqns, env)


def _eqn_key(eqn: Eqn) -> Any:
    try:
        key = (eqn.primitive, tuple(map(_atom_key, eqn.inputs)),
               tuple(sorted((k, _frozen(v)) for k, v in eqn.params.items())))
        hash(key)
    except TypeError:  # an unhashable param: never merged
        return None
    return key


def _atom_key(atom: Atom) -> Any:
    if isinstance(atom, Var):
        return atom
    if atom.aval.shape == ():  # scalars by value and exact type; arrays by identity
        return ("literal", atom.aval, np.asarray(atom.value, atom.aval.dtype).tobytes())
    return ("array", id(atom.value))


def _frozen(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(map(_frozen, value))
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, np.ndarray):
        raise TypeError("arrays in params are not merged")
    return value


def eliminate_dead_code(ir: IR) -> IR:
    """Drop equations none of whose outputs is used (all primitives are pure)."""
    live = {a for a in ir.outputs if isinstance(a, Var)}
    kept = []
    for eqn in reversed(ir.eqns):
        if any(v in live for v in eqn.outputs):
            kept.append(eqn)
            live.update(a for a in eqn.inputs if isinstance(a, Var))
    kept.reverse()
    return IR(ir.inputs, kept, ir.outputs)


# ---------------------------------------------------------------- fusion

ELEMENTWISE_LIKE = frozenset(ELEMENTWISE) | {"convert_element_type", "select"}
REDUCTIONS = frozenset(row.name for row in REDUCTION_TABLE)


def is_view(eqn: Eqn) -> bool:
    """Whether ``eqn`` only re-indexes its operand (or, for iota, its indices):
    inside a loop nest it is an index map, recomputed by every cluster that
    reads it instead of being materialized."""
    name = eqn.primitive.name
    if name in ("broadcast_in_dim", "transpose", "iota"):
        return True
    if name == "reshape":  # inserting or dropping unit dimensions only
        drop_ones = lambda shape: [d for d in shape if d != 1]  # noqa: E731
        return drop_ones(eqn.inputs[0].aval.shape) == drop_ones(eqn.outputs[0].aval.shape)
    return False


class _Cluster:
    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape
        self.eqns: list[Eqn] = []
        self.defined: set[Var] = set()
        self.axes: tuple[int, ...] | None = None  # the reductions' axes, once one joins
        self.open = True
        self.merged_into: _Cluster | None = None
        self.materializes: Var | None = None  # a cluster of views made for one reader outside

    def root(self) -> _Cluster:
        cluster = self
        while cluster.merged_into is not None:
            cluster = cluster.merged_into
        return cluster

    def absorb(self, other: _Cluster) -> None:
        for eqn in other.eqns:
            if not set(eqn.outputs) <= self.defined:  # a view both pulled in
                self.add(eqn)
        if other.axes is not None:
            self.axes = other.axes
        other.merged_into = self

    def add(self, eqn: Eqn) -> None:
        self.eqns.append(eqn)
        self.defined.update(eqn.outputs)


def fuse(ir: IR) -> IR:
    """Group elementwise equations of one shape and the reductions that
    consume them into ``fused`` equations; views (broadcasts, transposes,
    unit reshapes, iota) are pulled into every cluster that reads them.

    A cluster stays open for new members until something outside it reads one
    of its values; it is emitted where its last member was, so every value it
    reads is defined before it and every reader of its values comes after.
    """
    return _Fuser(ir).run()


class _Fuser:
    def __init__(self, ir: IR):
        self.ir = ir
        self.cluster_of: dict[Var, _Cluster] = {}
        self.views: dict[Var, Eqn] = {}
        self.materialized: set[Var] = set()
        self.position: list[Eqn | _Cluster] = []  # new order; clusters where their last member was

    def run(self) -> IR:
        for eqn in self.ir.eqns:
            name = eqn.primitive.name
            if is_view(eqn):
                self.views[eqn.outputs[0]] = eqn
            elif name in ELEMENTWISE_LIKE:
                self.join(eqn, eqn.outputs[0].aval.shape, None, eqn.inputs)
            elif name in REDUCTIONS:
                self.join(eqn, eqn.inputs[0].aval.shape, tuple(eqn.params["axes"]), eqn.inputs)
            else:
                self.read_outside(eqn.inputs)
                self.position.append(eqn)
        self.read_outside(self.ir.outputs)
        return _assemble(self.ir, self.position)

    def owner(self, atom: Atom) -> _Cluster | None:
        cluster = self.cluster_of.get(atom) if isinstance(atom, Var) else None
        return None if cluster is None else cluster.root()

    def view_chain(self, var: Var) -> tuple[list[Eqn], list[Atom]]:
        """The view equations computing ``var`` (operands first) and the
        non-view values they read."""
        chain, roots, stack = [], [], [var]
        while stack:
            atom = stack.pop()
            if isinstance(atom, Var) and atom in self.views:
                view = self.views[atom]
                chain.append(view)
                stack.extend(view.inputs)
            else:
                roots.append(atom)
        return chain[::-1], roots

    def read_outside(self, atoms) -> None:
        """A reader outside any cluster: close the clusters it reads from and
        materialize the views it reads."""
        for atom in atoms:
            if isinstance(atom, Var) and atom in self.views and atom not in self.materialized:
                chain, roots = self.view_chain(atom)
                self.read_outside(roots)
                cluster = _Cluster(atom.aval.shape)
                for view in chain:
                    cluster.add(view)
                cluster.open = False
                cluster.materializes = atom
                self.position.append(cluster)
                self.materialized.add(atom)
            owner = self.owner(atom)
            if owner is not None:
                owner.open = False

    def join(self, eqn: Eqn, shape: tuple[int, ...], axes, inputs) -> None:
        pulled: list[Eqn] = []
        direct: list[Atom] = []
        for atom in inputs:
            if isinstance(atom, Var) and atom in self.views:
                chain, roots = self.view_chain(atom)
                pulled.extend(chain)
                for root in roots:  # loaded from memory inside the loop: materialized
                    owner = self.owner(root)
                    if owner is not None:
                        owner.open = False
            else:
                direct.append(atom)
        candidates: list[_Cluster] = []
        for atom in direct:
            owner = self.owner(atom)
            if owner is None or owner in candidates:
                continue
            fits = (owner.open and owner.shape == shape and atom.aval.shape == shape
                    and (axes is None or owner.axes in (None, axes)))
            if fits:
                candidates.append(owner)
            else:
                owner.open = False
        cluster = self.merged(candidates, shape)
        for view in pulled:
            if not set(view.outputs) <= cluster.defined:
                cluster.add(view)
        if axes is not None:
            cluster.axes = axes
        cluster.add(eqn)
        for var in eqn.outputs:
            self.cluster_of[var] = cluster

    def merged(self, candidates: list[_Cluster], shape: tuple[int, ...]) -> _Cluster:
        """One open cluster for a new member: the candidates merged, or a new
        one; it moves to the end of the order (where its last member is)."""
        cluster = candidates[0] if candidates else _Cluster(shape)
        for other in candidates[1:]:
            cluster.absorb(other)
        for c in candidates:
            self.position.remove(c)
        self.position.append(cluster)
        return cluster


def _assemble(ir: IR, position: list) -> IR:
    readers: dict[Var, set[int]] = {}  # which items (equations or clusters) read each variable
    for item in position:
        for eqn in item.eqns if isinstance(item, _Cluster) else [item]:
            for atom in eqn.inputs:
                if isinstance(atom, Var):
                    readers.setdefault(atom, set()).add(id(item))
    ir_outputs = {a for a in ir.outputs if isinstance(a, Var)}
    eqns = []
    for item in position:
        if isinstance(item, Eqn):
            eqns.append(item)
            continue
        members = item.eqns
        if item.materializes is not None:
            outputs = [item.materializes]
        else:  # a view pulled into a cluster stays inside it: readers elsewhere recompute it
            outputs = [v for e in members if not is_view(e) for v in e.outputs
                       if v in ir_outputs or readers.get(v, set()) - {id(item)}]
        inputs: list[Var] = []
        for e in members:
            inputs.extend(a for a in e.inputs
                          if isinstance(a, Var) and a not in item.defined and a not in inputs)
        body = IR(inputs, members, outputs)
        eqns.append(Eqn(fused, inputs, outputs, {"ir": body}, members[-1].source))
    return IR(ir.inputs, eqns, ir.outputs)


PIPELINE = (inline_calls, forward_identities, fold_constants, eliminate_common_subexpressions,
            eliminate_dead_code, fuse)


def optimize(ir: IR, passes: Sequence[Callable[[IR], IR]] = PIPELINE) -> IR:
    """Run ``passes`` over ``ir`` in order."""
    for run in passes:
        ir = run(ir)
    return ir
