"""Automatic differentiation over the IR: forward mode, linearize, reverse mode.

One derivative rule per primitive: its JVP (``primitive.jvp``), written with
traceable operations.  Reverse mode is built from it, as in JAX ("You Only
Linearize Once"):

1. **JVP.** ``jvp_eval`` runs an IR on primals and tangents, applying each
   primitive's JVP rule.  Traced, it gives the JVP IR.
2. **Partial evaluation.** ``linearize_ir`` splits the JVP IR by data flow:
   equations that depend on no tangent are the *primal* part (evaluated now,
   their values are the residuals); the others are the *linear* part, linear
   in the tangents by construction of the rules.
3. **Transposition.** ``backward`` walks the linear part in reverse, calling
   each linear primitive's transpose rule (``primitive.transpose``), and so
   turns output cotangents into input cotangents.

Everything binds primitives, so a derivative is itself traceable:
``grad(grad(f))`` differentiates the IR that the inner ``grad`` recorded.

Example:
    >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
    >>> fg.grad(lambda x: fnp.sum(fnp.sin(x)))(np.zeros(2))
    array([1., 1.])
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from funcgrad import trace
from funcgrad.errors import DtypeError, FuncgradError, ShapeError
from funcgrad.ir import IR, AbstractArray, Eqn, Literal, Var, abstractify
from funcgrad.trace import Tracer, bind, current_builder, eval_eqns, new_builder, trace_to_ir
from funcgrad.transforms.tangents import (
    UndefinedPrimal,
    Zero,
    add_tangents,
    has_tangent,
    instantiate,
    tangent_aval,
    zeros,
)
from funcgrad.transforms.vjp_cache import cached_vjp
from funcgrad.tree import tree_flatten, tree_map, tree_unflatten


class MissingRuleError(FuncgradError, NotImplementedError):
    """A primitive was differentiated that has no derivative (or transpose) rule."""


# ---------------------------------------------------------------- forward mode


def jvp_eval(ir: IR, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[list, list]:
    """Run ``ir`` on ``primals`` pushing ``tangents`` forward (``Zero``s allowed).

    Returns the primal outputs and their tangents (``Zero`` where independent
    of the inputs' tangents).
    """
    # Python scalars become NumPy scalars of the input's dtype, so rules can use .dtype.
    primal_env: dict[Var, Any] = {
        var: var.aval.dtype.type(p) if type(p) in (bool, int, float, complex) else p
        for var, p in zip(ir.inputs, primals)}
    tangent_env: dict[Var, Any] = dict(zip(ir.inputs, tangents))

    def primal(atom):
        return atom if isinstance(atom, Literal) else primal_env[atom]

    def tangent(atom):
        return Zero(tangent_aval(atom.aval)) if isinstance(atom, Literal) else tangent_env[atom]

    for eqn in ir.eqns:
        prim = eqn.primitive
        in_primals = [primal(a) for a in eqn.inputs]
        in_tangents = [tangent(a) for a in eqn.inputs]
        if all(isinstance(t, Zero) for t in in_tangents):
            out = bind(prim, *in_primals, **eqn.params)
            outs = out if prim.multiple_results else [out]
            out_tangents = [Zero(tangent_aval(v.aval)) for v in eqn.outputs]
        else:
            if prim.jvp is None:
                raise MissingRuleError(f"{prim.name} has no derivative rule yet, so it cannot be "
                                       "differentiated", "open an issue; wrap the computation in "
                                       "fg.custom_jvp to supply a derivative meanwhile")
            values = [a.value if isinstance(a, Literal) else a for a in in_primals]
            out, out_tangent = prim.jvp(values, in_tangents, **eqn.params)
            outs = out if prim.multiple_results else [out]
            out_tangents = out_tangent if prim.multiple_results else [out_tangent]
            if trace.CHECK_IR:
                _check_tangents(prim, eqn.outputs, out_tangents)
        primal_env.update(zip(eqn.outputs, outs))
        tangent_env.update(zip(eqn.outputs, out_tangents))
    outs = [a.value if isinstance(a, Literal) else primal_env[a] for a in ir.outputs]
    return outs, [tangent(a) for a in ir.outputs]


def _check_tangents(prim, outputs: Sequence[Var], out_tangents: Sequence[Any]) -> None:
    """A rule's tangents must have its outputs' shapes and dtypes."""
    for var, t in zip(outputs, out_tangents):
        aval = t.aval if isinstance(t, Zero) else abstractify(t)
        if not has_tangent(var.aval):
            continue
        if (aval.shape, aval.dtype) != (var.aval.shape, var.aval.dtype):
            raise AssertionError(f"the JVP rule of {prim.name} gave a tangent {aval!r} for an "
                                 f"output {var.aval!r}")


# ---------------------------------------------------------------- linearize


@dataclass
class Linearized:
    """The result of linearizing an IR at a point.

    ``primal_out``: the outputs' values.  ``linear_eqns``: equations linear in
    ``tangent_in`` (the tangent input variables) that compute
    ``tangent_out`` (atoms: variables of the linear part, or known values);
    ``residuals`` holds the values of every other variable they read.
    """

    primal_out: list[Any]
    tangent_in: list[Var]
    tangent_out: list[Any]
    linear_eqns: list[Eqn]
    residuals: dict[Var, Any]


def linearize_ir(ir: IR, primals: Sequence[Any], wrt: Sequence[bool]) -> Linearized:
    """Linearize ``ir`` at ``primals`` with respect to the inputs where ``wrt``.

    The JVP runs under a *linear* builder, which records only the equations
    that read a tangent (the linear part) and lets everything else be
    computed at once by the enclosing context: on arrays, or recorded into an
    outer trace when ``primals`` are its tracers.  That is partial evaluation
    done while tracing; the values the linear part reads are its residuals.
    """
    with new_builder(linear=True) as builder:
        tangent_inputs = [builder.new_input(tangent_aval(abstractify(p)))
                          for p, w in zip(primals, wrt) if w]
        given = iter(tangent_inputs)
        tangents = [next(given) if w else Zero(tangent_aval(abstractify(p)))
                    for p, w in zip(primals, wrt)]
        primal_out, out_tangents = jvp_eval(ir, primals, tangents)
        # A tangent that is not this builder's tracer does not depend on the inputs' tangents.
        tangent_out = [t.variable if isinstance(t, Tracer) and t.builder is builder
                       else Zero(tangent_aval(abstractify(t))) for t in out_tangents]
    residuals = dict(zip(builder.captured_vars, builder.captured_tracers))
    return Linearized(primal_out, [t.variable for t in tangent_inputs], tangent_out,
                      builder.eqns, residuals)


def split_known(eqns: Sequence[Eqn], unknown: set[Var]) -> tuple[list[Eqn], list[Eqn]]:
    """Partial evaluation: the equations that read none of the ``unknown``
    variables (known now), and those that do (``unknown`` grows with their
    outputs)."""
    known, linear = [], []
    for eqn in eqns:
        if any(isinstance(a, Var) and a in unknown for a in eqn.inputs):
            linear.append(eqn)
            unknown.update(eqn.outputs)
        else:
            known.append(eqn)
    return known, linear


def prune(eqns: Sequence[Eqn], needed: set[Var]) -> list[Eqn]:
    """Dead-code elimination: the equations that the variables ``needed`` depend on."""
    needed, kept = set(needed), []
    for eqn in reversed(eqns):
        if any(v in needed for v in eqn.outputs):
            kept.append(eqn)
            needed.update(a for a in eqn.inputs if isinstance(a, Var))
    return kept[::-1]


def transpose_ir(ir: IR, args: Sequence[Any], cts: Sequence[Any]) -> list[Any]:
    """The cotangents of the inputs of ``ir`` that are ``UndefinedPrimal`` in
    ``args`` (``ir`` must be linear in them), given its outputs' ``cts``;
    None for the other inputs, which are known values.

    Example:
        >>> from funcgrad.trace import trace_to_ir
        >>> ir, _ = trace_to_ir(lambda w, x: [w * x], [np.zeros(2), np.zeros(2)])
        >>> aval = ir.inputs[1].aval
        >>> transpose_ir(ir, [np.array([2.0, 3.0]), UndefinedPrimal(aval)], [np.ones(2)])
        [None, array([2., 3.])]
    """
    linear_inputs = [v for v, a in zip(ir.inputs, args) if isinstance(a, UndefinedPrimal)]
    unknown = set(linear_inputs)
    known_eqns, linear_eqns = split_known(ir.eqns, unknown)
    residuals = {a for eqn in linear_eqns for a in eqn.inputs if isinstance(a, Var) and a not in unknown}
    env = {v: a for v, a in zip(ir.inputs, args) if not isinstance(a, UndefinedPrimal)}
    eval_eqns(prune(known_eqns, residuals), env)
    outs = [a if isinstance(a, Var) and a in unknown else Zero(tangent_aval(a.aval))
            for a in ir.outputs]
    in_cts = iter(backward(Linearized([], linear_inputs, outs, linear_eqns, env), cts))
    return [next(in_cts) if isinstance(a, UndefinedPrimal) else None for a in args]


def forward_linear(lin: Linearized, tangents: Sequence[Any]) -> list[Any]:
    """Apply the linear map: the output tangents for these input tangents."""
    env = dict(lin.residuals)
    env.update(zip(lin.tangent_in, tangents))
    eval_eqns(prune(lin.linear_eqns, {t for t in lin.tangent_out if isinstance(t, Var)}), env)
    return [instantiate(t) if isinstance(t, Zero) else env[t] for t in lin.tangent_out]


def backward(lin: Linearized, cotangents: Sequence[Any]) -> list[Any]:
    """Transpose the linear map: the input cotangents for these output ones."""
    unknown = set(lin.tangent_in)
    for eqn in lin.linear_eqns:
        unknown.update(eqn.outputs)
    ct_env: dict[Var, Any] = {}

    def accumulate(var: Var, ct: Any) -> None:
        if ct is None or isinstance(ct, Zero):
            return
        ct_env[var] = add_tangents(ct_env[var], ct) if var in ct_env else ct

    for atom, ct in zip(lin.tangent_out, cotangents):
        if isinstance(atom, Var):
            accumulate(atom, ct)
    for eqn in reversed(lin.linear_eqns):
        prim = eqn.primitive
        cts_out = [ct_env.pop(v, None) for v in eqn.outputs]
        if all(ct is None for ct in cts_out):
            continue
        if prim.transpose is None:
            raise MissingRuleError(f"{prim.name} has no transpose rule, so reverse mode cannot "
                                   "pass through it", prim.reverse_mode_fix)
        cts_out = [Zero(tangent_aval(v.aval)) if ct is None else ct
                   for v, ct in zip(eqn.outputs, cts_out)]
        args = [UndefinedPrimal(a.aval) if isinstance(a, Var) and a in unknown else
                (a.value if isinstance(a, Literal) else lin.residuals[a]) for a in eqn.inputs]
        cts_in = prim.transpose(cts_out if prim.multiple_results else cts_out[0], *args,
                                **eqn.params)
        for atom, arg, ct in zip(eqn.inputs, args, cts_in):
            if isinstance(arg, UndefinedPrimal):
                accumulate(atom, ct)
    return [ct_env.get(v, Zero(v.aval)) for v in lin.tangent_in]


# ---------------------------------------------------------------- pytree plumbing


def _flatten_fun(fun: Callable, in_tree, *, has_aux: bool = False):
    """``fun`` over flat leaves; ``store`` receives the output tree, and with
    ``has_aux`` the aux tree: aux leaves are extra outputs (never differentiated),
    so traced values in them come out of the trace as values."""
    store: dict[str, Any] = {"aux_tree": None}

    def flat(*leaves):
        out = fun(*tree_unflatten(in_tree, leaves))
        aux_leaves: list = []
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise ShapeError("has_aux=True: the function must return a pair (output, aux), "
                                 f"got {type(out).__name__}",
                                 "return (loss, aux) or call without has_aux")
            out, aux = out
            aux_leaves, store["aux_tree"] = tree_flatten(aux)
        out_leaves, store["tree"] = tree_flatten(out)
        return out_leaves + aux_leaves

    return flat, store


def _linearize_pytree(fun: Callable, primals: tuple, wrt_leaves: Sequence[bool] | None = None,
                      has_aux: bool = False):
    leaves, in_tree = tree_flatten(primals)
    flat, store = _flatten_fun(lambda *args: fun(*args), in_tree, has_aux=has_aux)
    ir, captured = trace_to_ir(flat, leaves, concrete=True)
    wrt = [has_tangent(abstractify(x)) for x in leaves] if wrt_leaves is None else list(wrt_leaves)
    lin = linearize_ir(ir, list(leaves) + captured, wrt + [False] * len(captured))
    return lin, in_tree, leaves, wrt, store


# ---------------------------------------------------------------- public API


def jvp(fun: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """Forward mode: ``(fun(*primals), J @ tangents)``, over pytrees.

    Example:
        >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
        >>> fg.jvp(fnp.sin, (np.zeros(2),), (np.ones(2),))
        (array([0., 0.]), array([1., 1.]))
    """
    primals, tangents = tuple(primals), tuple(tangents)
    leaves, in_tree = tree_flatten(primals)
    tangent_leaves, tangent_tree = tree_flatten(tangents)
    if tangent_tree != in_tree:
        raise ShapeError(f"jvp: tangents have structure {tangent_tree}, primals {in_tree}",
                         "pass one tangent per primal, in the same pytree structure")
    checked = [_check_tangent(p, t, i) for i, (p, t) in enumerate(zip(leaves, tangent_leaves))]
    flat, store = _flatten_fun(fun, in_tree)
    ir, captured = trace_to_ir(flat, leaves, concrete=True)
    outs, out_tangents = jvp_eval(ir, list(leaves) + captured,
                                  checked + [Zero(tangent_aval(abstractify(c))) for c in captured])
    tree = store["tree"]
    return tree_unflatten(tree, outs), tree_unflatten(tree, [instantiate(t) for t in out_tangents])


def _check_tangent(primal: Any, tangent: Any, index: int) -> Any:
    p, t = abstractify(primal), abstractify(tangent)
    if not has_tangent(p):
        return Zero(tangent_aval(p))
    if p.shape != t.shape or p.dtype != t.dtype:
        raise ShapeError(f"jvp: tangent {index} is {t!r} but its primal is {p!r}: a tangent "
                         "must have its primal's shape and dtype",
                         f"use np.ones({p.shape}, {p.dtype.name}) or cast the tangent")
    return tangent


def linearize(fun: Callable, *primals: Any) -> tuple[Any, Callable]:
    """``(fun(*primals), f_jvp)`` where ``f_jvp(*tangents)`` applies the
    derivative at ``primals`` without re-running ``fun``.

    Example:
        >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
        >>> y, f_jvp = fg.linearize(fnp.exp, np.zeros(2))
        >>> f_jvp(np.array([1.0, 2.0]))
        array([1., 2.])
    """
    lin, in_tree, _, wrt, store = _linearize_pytree(fun, primals)

    def f_jvp(*tangents):
        tangent_leaves, tree = tree_flatten(tangents)
        if tree != in_tree:
            raise ShapeError(f"linearize: tangents have structure {tree}, primals {in_tree}")
        used = [t for t, w in zip(tangent_leaves, wrt) if w]
        return tree_unflatten(store["tree"], forward_linear(lin, used))

    return tree_unflatten(store["tree"], lin.primal_out), f_jvp


def vjp(fun: Callable, *primals: Any, has_aux: bool = False):
    """Reverse mode: ``(fun(*primals), vjp_fun)`` where ``vjp_fun(ct)``
    returns the cotangents of the primals (a tuple, one per primal);
    with ``has_aux``, ``(out, vjp_fun, aux)``.

    Example:
        >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
        >>> y, vjp_fun = fg.vjp(lambda x: x * 3.0, np.ones(2))
        >>> vjp_fun(np.array([1.0, 2.0]))
        (array([3., 6.]),)
    """
    leaves, in_tree = tree_flatten(primals)
    flat, store = _flatten_fun(fun, in_tree, has_aux=has_aux)
    ir, captured = trace_to_ir(flat, leaves, concrete=True)
    wrt = [has_tangent(abstractify(x)) for x in leaves]
    # At top level, reuse the program derived for this IR's structure (see vjp_cache).
    found = cached_vjp(ir, leaves, wrt) if not captured and current_builder() is None else None
    if found is None:
        lin = linearize_ir(ir, list(leaves) + captured, wrt + [False] * len(captured))
        found = lin.primal_out, functools.partial(backward, lin)
    primal_out, pullback = found
    out_tree = store["tree"]
    n_out = out_tree.num_leaves
    out_leaves, aux_leaves = primal_out[:n_out], primal_out[n_out:]

    def vjp_fun(cotangent):
        ct_leaves, tree = tree_flatten(cotangent)
        if tree != out_tree:
            raise ShapeError(f"vjp: the cotangent has structure {tree}, the output {out_tree}")
        for ct, out in zip(ct_leaves, out_leaves):
            c, o = abstractify(ct), abstractify(out)
            if c.shape != o.shape:
                raise ShapeError(f"vjp: a cotangent of shape {c.shape} for an output of shape "
                                 f"{o.shape}")
        cts = iter(pullback(ct_leaves + [zeros(tangent_aval(abstractify(a))) for a in aux_leaves]))
        grads = [instantiate(next(cts)) if w else zeros(tangent_aval(abstractify(x)))
                 for x, w in zip(leaves, wrt)]
        return tree_unflatten(in_tree, grads)

    out = tree_unflatten(out_tree, out_leaves)
    if has_aux:
        return out, vjp_fun, tree_unflatten(store["aux_tree"], aux_leaves)
    return out, vjp_fun


def _argnums_tuple(argnums: int | Sequence[int], n_args: int, name: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in nums:
        if not -n_args <= i < n_args:
            raise ValueError(f"{name}: argnums {argnums} is out of range for a call with "
                             f"{n_args} positional arguments")
    return tuple(i % n_args for i in nums)


def value_and_grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False
                   ) -> Callable:
    """A function returning ``(fun(*args), gradient)``; the gradient is with
    respect to the argument(s) ``argnums``, in their pytree structure.  With
    ``has_aux``, ``fun`` returns ``(value, aux)`` and the result is
    ``((value, aux), gradient)``.

    Example:
        >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
        >>> fg.value_and_grad(lambda w, x: fnp.sum(w * x))(np.ones(2), np.array([3.0, 4.0]))
        (np.float64(7.0), array([3., 4.]))
    """

    @functools.wraps(fun)
    def value_and_grad_fun(*args, **kwargs):
        nums = _argnums_tuple(argnums, len(args), "grad")
        _check_differentiable(args, nums)
        restricted = _restrict(functools.partial(fun, **kwargs), args, nums)
        result = vjp(restricted, *(args[i] for i in nums), has_aux=has_aux)
        out, vjp_fun = result[0], result[1]
        _check_scalar(out)
        seed = tree_map(lambda o: np.ones((), abstractify(o).dtype), out)
        grads = vjp_fun(seed)
        grads = grads[0] if isinstance(argnums, int) else grads
        return ((out, result[2]) if has_aux else out), grads

    return value_and_grad_fun


def grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The gradient of a scalar function with respect to argument(s)
    ``argnums`` (pytrees of float arrays).  With ``has_aux``, ``fun`` returns
    ``(value, aux)`` and the result is ``(gradient, aux)``.

    Example:
        >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
        >>> fg.grad(lambda x: fnp.sum(x ** 2))(np.array([1.0, 2.0]))
        array([2., 4.])
    """
    value_and_grad_fun = value_and_grad(fun, argnums, has_aux)

    @functools.wraps(fun)
    def grad_fun(*args, **kwargs):
        value, grads = value_and_grad_fun(*args, **kwargs)
        return (grads, value[1]) if has_aux else grads

    return grad_fun


def _check_differentiable(args: tuple, nums: tuple[int, ...]) -> None:
    for i in nums:
        for leaf in tree_flatten(args[i])[0]:
            aval = abstractify(leaf)
            if not has_tangent(aval):
                raise DtypeError(f"grad: argument {i} has a {aval.dtype.name} leaf ({aval!r}); "
                                 "gradients are defined for float arguments only",
                                 f"convert it (x.astype(np.float64)) or leave argument {i} out "
                                 "of argnums")


def _check_scalar(out: Any) -> None:
    leaves = tree_flatten(out)[0]
    if len(leaves) != 1 or abstractify(leaves[0]).shape != ():
        shapes = [abstractify(x).shape for x in leaves]
        raise ShapeError(f"grad: the function must return a scalar (shape ()), it returned "
                         f"shape(s) {shapes}",
                         "use fg.jacrev or fg.vjp for non-scalar outputs, or reduce to a scalar "
                         "(e.g. .sum())")
    if not has_tangent(abstractify(leaves[0])):
        raise DtypeError(f"grad: the function returned a {abstractify(leaves[0]).dtype.name} "
                         "value, which has no gradient; return a float")


def linear_transpose(fun: Callable, *primals: Any) -> Callable:
    """The transpose of a linear function: ``fun_t(ct)`` returns the
    cotangents of ``primals`` (only their shapes and dtypes are used).

    Example:
        >>> import funcgrad as fg, numpy as np
        >>> f_t = fg.linear_transpose(lambda x: x.sum(axis=0), np.ones((2, 3)))
        >>> f_t(np.array([1.0, 2.0, 3.0]))
        (array([[1., 2., 3.],
               [1., 2., 3.]]),)
    """
    leaves, in_tree = tree_flatten(primals)
    avals = [tangent_aval(abstractify(x)) for x in leaves]
    flat, _ = _flatten_fun(fun, in_tree)
    ir, captured = trace_to_ir(flat, avals)
    args = [UndefinedPrimal(a) for a in avals] + list(captured)

    def transposed(cotangent):
        cts = transpose_ir(ir, args, tree_flatten(cotangent)[0])[:len(avals)]
        return tree_unflatten(in_tree, [instantiate(c) for c in cts])

    return transposed


def _std_basis(aval: AbstractArray) -> np.ndarray:
    return np.eye(aval.size, dtype=aval.dtype).reshape((aval.size, *aval.shape))


def _restrict(fun: Callable, args: tuple, nums: tuple[int, ...]) -> Callable:
    """``fun`` as a function of the arguments ``nums`` only."""

    def restricted(*diff):
        full = list(args)
        for i, value in zip(nums, diff):
            full[i] = value
        return fun(*full)

    return restricted


def _one_hot_leaves(leaves: list, k: int, basis: np.ndarray) -> list:
    return [basis if j == k else np.zeros(abstractify(x).shape, abstractify(x).dtype)
            for j, x in enumerate(leaves)]


def _jacobian(fun: Callable, argnums: int | Sequence[int], forward: bool) -> Callable:
    """Jacobians by one *batched* pass per input (forward) or output (reverse)
    leaf: the linear map is applied under ``vmap`` to the standard basis."""
    from funcgrad.transforms.batching import vmap

    def jac_fun(*args):
        nums = _argnums_tuple(argnums, len(args), "jacfwd" if forward else "jacrev")
        _check_differentiable(args, nums)
        diff = tuple(args[i] for i in nums)
        inputs = diff[0] if isinstance(argnums, int) else diff
        in_leaves, in_tree = tree_flatten(inputs)
        restricted = _restrict(fun, args, nums)
        out, linear_map = (linearize if forward else vjp)(restricted, *diff)
        out_leaves, out_tree = tree_flatten(out)
        blocks = [[None] * len(in_leaves) for _ in out_leaves]  # blocks[output][input]
        if forward:
            for k, leaf in enumerate(in_leaves):
                def column(basis, k=k):
                    return tree_flatten(linear_map(*_tangent_args(in_tree, in_leaves, k, basis,
                                                                   argnums)))[0]

                rows = vmap(column)(_std_basis(abstractify(leaf)))  # per output: (n_in, *out)
                for m, o in enumerate(out_leaves):
                    blocks[m][k] = _block(rows[m], abstractify(o), abstractify(leaf), True)
        else:
            for m, o in enumerate(out_leaves):
                def row(basis, m=m):
                    cts = linear_map(tree_unflatten(out_tree, _one_hot_leaves(out_leaves, m, basis)))
                    return tree_flatten(cts[0] if isinstance(argnums, int) else cts)[0]

                rows = vmap(row)(_std_basis(abstractify(o)))  # per input: (n_out, *in)
                for k, leaf in enumerate(in_leaves):
                    blocks[m][k] = _block(rows[k], abstractify(o), abstractify(leaf), False)
        return tree_unflatten(out_tree, [tree_unflatten(in_tree, row) for row in blocks])

    return jac_fun


def _tangent_args(in_tree, in_leaves: list, k: int, basis: Any, argnums) -> tuple:
    tangents = tree_unflatten(in_tree, _one_hot_leaves(in_leaves, k, basis))
    return (tangents,) if isinstance(argnums, int) else tangents


def _block(stacked: Any, out_aval: AbstractArray, in_aval: AbstractArray, forward: bool) -> Any:
    """One Jacobian block, of shape ``out + in``, from the stacked JVPs (one
    per input element) or VJPs (one per output element)."""
    from funcgrad.numpy import moveaxis, reshape

    if forward and out_aval.shape:  # (in.size, *out) -> (*out, in.size)
        stacked = moveaxis(stacked, 0, -1)
    return reshape(stacked, out_aval.shape + in_aval.shape)


def jacfwd(fun: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Jacobian by forward mode: one JVP per input element.  For an
    output of shape ``O`` and an input of shape ``I`` a block has shape
    ``O + I``; over pytrees, the output's structure holds the input's.

    Example:
        >>> import funcgrad as fg, numpy as np
        >>> fg.jacfwd(lambda x: x ** 2)(np.array([1.0, 2.0]))
        array([[2., 0.],
               [0., 4.]])
    """
    return _jacobian(fun, argnums, forward=True)


def jacrev(fun: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Jacobian by reverse mode: one VJP per output element (shapes as
    ``jacfwd``).

    Example:
        >>> import funcgrad as fg, numpy as np
        >>> fg.jacrev(lambda x: x[::-1] * 2.0)(np.array([1.0, 2.0]))
        array([[0., 2.],
               [2., 0.]])
    """
    return _jacobian(fun, argnums, forward=False)


def hessian(fun: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Hessian of a scalar function: ``jacfwd(jacrev(fun))``.

    Example:
        >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
        >>> fg.hessian(lambda x: fnp.sum(x ** 3))(np.array([1.0, 2.0]))
        array([[ 6.,  0.],
               [ 0., 12.]])
    """
    return jacfwd(jacrev(fun, argnums), argnums)


__all__ = ["grad", "hessian", "jacfwd", "jacrev", "jvp", "linear_transpose", "linearize",
           "value_and_grad", "vjp", "MissingRuleError"]
