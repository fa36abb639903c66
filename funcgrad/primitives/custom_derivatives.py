"""Primitives for user-defined derivatives and for rematerialization.

Each keeps the user's function as a traced sub-IR in its params; values a
function closes over are explicit operands after its arguments ("consts"), so
every sub-IR depends on its inputs only.  The user's derivative rules are
params too: Python callables over flat lists, called when a derivative is
taken (so a rule may call the custom function itself).  The decorators over
pytrees, which make these callables, are in
``funcgrad.transforms.custom_derivatives``.

- ``stop_gradient(x)``: the identity, whose derivative is zero.
- ``custom_jvp_call(*args, *consts, fun, jvp, num_consts)``: ``fun(*args,
  *consts)``.  Its JVP rule is ``jvp(args, tangents) -> (outs,
  out_tangents)``, with the tangents of the inexact args and outputs only.
- ``custom_vjp_call(*args, *consts, fun, fwd, num_consts)``: ``fun(*args,
  *consts)``.  Its JVP rule runs ``fwd(args) -> (outs, residuals, bwd)`` and
  applies ``custom_vjp_bwd`` to the tangents.
- ``custom_vjp_bwd(*residuals, *tangents, bwd, num_res, ct_avals)``: the
  linear map whose transpose is ``bwd(residuals, cts) -> cts`` (cotangents of
  the inexact outputs in, of the inexact args out).  Applied forward
  (``fg.jvp``) it transposes ``bwd``, which must then be linear in ``cts``.
- ``checkpoint(*args, fun)``: ``fun(*args)``; its JVP rule gives the tangent
  by ``checkpoint_linear``, which keeps only ``args`` as residuals and re-runs
  ``fun`` in the backward pass.
- ``checkpoint_linear(*args, *tangents, fun, wrt)``: the JVP of ``fun`` at
  ``args`` applied to the tangents of the inputs where ``wrt``.

Over the arguments a custom rule gives the derivative; over the closed-over
values (the consts) the function's own code is differentiated.

Example:
    >>> import numpy as np
    >>> from funcgrad.trace import trace_to_ir
    >>> fun, _ = trace_to_ir(lambda x: [x * x], [np.zeros(2)])
    >>> checkpoint.impl(np, np.array([1.0, 3.0]), fun=fun)
    (array([1., 9.]),)
    >>> checkpoint_linear.impl(np, np.array([1.0, 3.0]), np.ones(2), fun=fun, wrt=(True,))
    (array([2., 6.]),)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from funcgrad.errors import DtypeError, ShapeError
from funcgrad.ir import IR, AbstractArray, abstractify
from funcgrad.primitives.control_flow import _arrays
from funcgrad.primitives.reductions import reduce_sum
from funcgrad.primitives.registry import primitive
from funcgrad.trace import eval_ir, trace_to_ir
from funcgrad.transforms.autodiff import (
    MissingRuleError,
    backward,
    jvp_eval,
    linearize_ir,
    transpose_ir,
)
from funcgrad.transforms.batch_dims import BatchContext, at_front, elementwise_batch, moveaxis_to
from funcgrad.transforms.batching import batch_ir, vmap
from funcgrad.transforms.tangents import (
    UndefinedPrimal,
    Zero,
    add_tangents,
    has_tangent,
    instantiate,
    is_linear,
    tangent_aval,
)


def _check_operands(name: str, got: Sequence[AbstractArray], expected: Sequence[AbstractArray]
                    ) -> None:
    """Operands must fit the sub-IR's inputs in shape and dtype (weak types may differ:
    a derivative rule sees a weak literal's value, which is strong)."""
    if len(got) != len(expected):
        raise ShapeError(f"{name}: {len(got)} operands where the function takes {len(expected)}")
    for i, (g, e) in enumerate(zip(got, expected)):
        if g.shape != e.shape:
            raise ShapeError(f"{name}: operand {i} is {g!r} where the function takes {e!r}")
        if g.dtype != e.dtype:
            raise DtypeError(f"{name}: operand {i} is {g!r} where the function takes {e!r}")


def _run(xp, ir: IR, operands: Sequence[Any]) -> tuple:
    return _arrays(xp, eval_ir(ir, *operands), ir.out_avals)


def _with_zeros(avals: Sequence[AbstractArray], tangents: Sequence[Any]) -> list[Any]:
    """Tangents of outputs of ``avals``: ``tangents`` for the inexact ones, in order; Zero for the others."""
    given = iter(tangents)
    return [next(given) if has_tangent(a) else Zero(tangent_aval(a)) for a in avals]


def _tangent_avals(avals: Sequence[AbstractArray]) -> list[AbstractArray]:
    """The types of the tangents of the inexact values of ``avals``."""
    return [tangent_aval(a) for a in avals if has_tangent(a)]


def _inexact_tangents(avals: Sequence[AbstractArray], tangents: Sequence[Any]) -> list[Any]:
    """The tangents of the inputs of ``avals`` that have one, as arrays."""
    return [instantiate(t) for a, t in zip(avals, tangents) if has_tangent(a)]


def _jvp_of(fun: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[list, list]:
    """The JVP of ``fun`` (a function of flat arrays), by tracing it."""
    ir, consts = trace_to_ir(lambda *xs: list(fun(*xs)), primals)
    return jvp_eval(ir, [*primals, *consts], [*tangents, *(Zero(tangent_aval(c.aval)) for c in consts)])


def _closure_tangents(fun: IR, primals: Sequence[Any], tangents: Sequence[Any], num_args: int,
                      out_tangents: list[Any]) -> list[Any]:
    """``out_tangents`` plus the derivative along the consts' tangents, by
    differentiating ``fun``'s own code (a custom rule covers the args only)."""
    if all(isinstance(t, Zero) for t in tangents[num_args:]):
        return out_tangents
    arg_zeros = [Zero(tangent_aval(a)) for a in fun.in_avals[:num_args]]
    _, extra = jvp_eval(fun, primals, arg_zeros + list(tangents[num_args:]))
    return [add_tangents(a, b) for a, b in zip(out_tangents, extra)]


# ---------------------------------------------------------------- stop_gradient


@primitive("stop_gradient", lambda x: x)
def stop_gradient(xp, x):
    return x


def _stop_gradient_jvp(primals, tangents):
    (x,) = primals
    return stop_gradient.bind(x), Zero(tangent_aval(abstractify(x)))


stop_gradient.jvp = _stop_gradient_jvp


# ---------------------------------------------------------------- custom_jvp


def _call_aval(name: str):
    def abstract_eval(*operands, fun: IR, **params):
        _check_operands(name, operands, fun.in_avals)
        return fun.out_avals

    return abstract_eval


@primitive("custom_jvp_call", _call_aval("custom_jvp_call"), multiple_results=True)
def custom_jvp_call(xp, *operands, fun, jvp, num_consts):
    return _run(xp, fun, operands)


def _custom_jvp_call_jvp(primals, tangents, *, fun, jvp, num_consts):
    num_args = len(fun.inputs) - num_consts
    if all(isinstance(t, Zero) for t in tangents[:num_args]):  # only closed-over values vary
        return jvp_eval(fun, primals, tangents)
    outs, out_tangents = jvp(list(primals[:num_args]),
                             _inexact_tangents(fun.in_avals, tangents[:num_args]))
    out_tangents = _with_zeros(fun.out_avals, out_tangents)
    return outs, _closure_tangents(fun, primals, tangents, num_args, out_tangents)


custom_jvp_call.jvp = _custom_jvp_call_jvp


# ---------------------------------------------------------------- custom_vjp


@primitive("custom_vjp_call", _call_aval("custom_vjp_call"), multiple_results=True)
def custom_vjp_call(xp, *operands, fun, fwd, num_consts):
    return _run(xp, fun, operands)


def _custom_vjp_call_jvp(primals, tangents, *, fun, fwd, num_consts):
    num_args = len(fun.inputs) - num_consts
    if all(isinstance(t, Zero) for t in tangents[:num_args]):
        return jvp_eval(fun, primals, tangents)
    outs, residuals, bwd = fwd(list(primals[:num_args]))
    ct_avals = tuple(_tangent_avals(fun.out_avals))
    linear = custom_vjp_bwd.bind(*residuals, *_inexact_tangents(fun.in_avals, tangents[:num_args]),
                                 bwd=bwd, num_res=len(residuals), ct_avals=ct_avals)
    out_tangents = _with_zeros(fun.out_avals, linear)
    return outs, _closure_tangents(fun, primals, tangents, num_args, out_tangents)


def _forward_map(*operands, bwd: Callable, num_res: int, ct_avals: tuple) -> list[Any]:
    """The tangents of the outputs for the tangents of the args: ``bwd`` transposed."""
    residuals = operands[:num_res]
    ir, consts = trace_to_ir(lambda *xs: bwd(list(xs[:num_res]), list(xs[num_res:])),
                             [*residuals, *ct_avals])
    slots = [UndefinedPrimal(a) for a in ct_avals]
    try:
        cts = transpose_ir(ir, [*residuals, *slots, *consts], operands[num_res:])
    except MissingRuleError as error:
        nonlinear = error.args[0].split()[0]  # "<primitive> has no transpose rule ..."
        raise MissingRuleError(
            f"forward mode (fg.jvp, fg.linearize, fg.jacfwd) through a custom_vjp function "
            f"transposes its bwd, which must then be linear in the cotangent; but {bwd.name} "
            f"applies {nonlinear} to it",
            "use reverse mode (fg.grad, fg.vjp, fg.jacrev), make bwd linear in the cotangent, "
            "or define the derivative with fg.custom_jvp") from None
    return [instantiate(c) for c in cts[num_res:num_res + len(ct_avals)]]


@primitive("custom_vjp_bwd", lambda *operands, bwd, num_res, ct_avals: list(ct_avals),
           multiple_results=True)
def custom_vjp_bwd(xp, *operands, bwd, num_res, ct_avals):
    return _arrays(xp, _forward_map(*operands, bwd=bwd, num_res=num_res, ct_avals=ct_avals),
                   ct_avals)


def _custom_vjp_bwd_jvp(primals, tangents, **params):
    return _jvp_of(functools.partial(_forward_map, **params), primals, tangents)


def _custom_vjp_bwd_transpose(cts, *operands, bwd, num_res, ct_avals):
    in_cts = bwd(list(operands[:num_res]), [instantiate(c) for c in cts])
    return [None] * num_res + [ct if is_linear(t) else None
                               for ct, t in zip(in_cts, operands[num_res:])]


custom_vjp_call.jvp = _custom_vjp_call_jvp
custom_vjp_bwd.jvp = _custom_vjp_bwd_jvp
custom_vjp_bwd.transpose = _custom_vjp_bwd_transpose


# ---------------------------------------------------------------- checkpoint


@primitive("checkpoint", _call_aval("checkpoint"), multiple_results=True)
def checkpoint(xp, *operands, fun):
    return _run(xp, fun, operands)


def _checkpoint_linear_aval(*operands, fun: IR, wrt: tuple[bool, ...]):
    n = len(fun.inputs)
    _check_operands("checkpoint_linear", operands[:n], fun.in_avals)
    if len(wrt) != n:
        raise ShapeError(f"checkpoint_linear: wrt has {len(wrt)} entries for {n} inputs")
    _check_operands("checkpoint_linear", operands[n:],
                    [tangent_aval(a) for a, w in zip(fun.in_avals, wrt) if w])
    return _tangent_avals(fun.out_avals)


def _tangent_map(*operands, fun: IR, wrt: tuple[bool, ...]) -> list[Any]:
    """The JVP of ``fun`` at ``operands[:n]`` along the tangents ``operands[n:]``."""
    n = len(fun.inputs)
    given = iter(operands[n:])
    tangents = [next(given) if w else Zero(tangent_aval(a)) for a, w in zip(fun.in_avals, wrt)]
    _, out_tangents = jvp_eval(fun, operands[:n], tangents)
    return _inexact_tangents(fun.out_avals, out_tangents)


@primitive("checkpoint_linear", _checkpoint_linear_aval, multiple_results=True)
def checkpoint_linear(xp, *operands, fun, wrt):
    return _arrays(xp, _tangent_map(*operands, fun=fun, wrt=wrt), _tangent_avals(fun.out_avals))


def _checkpoint_jvp(primals, tangents, *, fun):
    outs = checkpoint.bind(*primals, fun=fun)
    wrt = tuple(not isinstance(t, Zero) for t in tangents)
    linear = checkpoint_linear.bind(*primals, *(t for t in tangents if not isinstance(t, Zero)),
                                    fun=fun, wrt=wrt)
    return outs, _with_zeros(fun.out_avals, linear)


def _checkpoint_linear_jvp(primals, tangents, *, fun, wrt):
    # checkpoint_linear is a function like any other: checkpoint it, so that higher
    # derivatives rematerialize too.
    tangent_fun, consts = trace_to_ir(functools.partial(_tangent_map, fun=fun, wrt=wrt), primals)
    assert not consts  # fun is closed
    return _checkpoint_jvp(primals, tangents, fun=tangent_fun)


def _checkpoint_linear_transpose(cts, *operands, fun, wrt):
    # Rematerialize: linearize fun at its inputs again, now, in the backward pass.
    n = len(fun.inputs)
    given = iter(operands[n:])
    linear = [is_linear(next(given)) if w else False for w in wrt]
    lin = linearize_ir(fun, operands[:n], linear)
    in_cts = iter(backward(lin, _with_zeros(fun.out_avals, cts)))
    return [None] * n + [next(in_cts) if is_linear(t) else None for t in operands[n:]]


checkpoint.jvp = _checkpoint_jvp
checkpoint_linear.jvp = _checkpoint_linear_jvp
checkpoint_linear.transpose = _checkpoint_linear_transpose


# A call applied to tangents (a custom function inside a linear function) is linear
# where its function is: transpose the function's own code.
def _call_transpose(cts, *operands, fun, **params):
    return transpose_ir(fun, operands, cts)


custom_jvp_call.transpose = _call_transpose
custom_vjp_call.transpose = _call_transpose
checkpoint.transpose = _call_transpose


# ---------------------------------------------------------------- batching rules
# The function's sub-IR is batched, every output with its batch axis first; the
# user's rules, which differentiation calls later, become vmaps of themselves
# over the operands' batch axes (``_Vmapped*``: hashable params, printed as
# ``vmap(rule)``).  A cotangent of an operand shared by the batch is the sum of
# the members' cotangents.


def _batch_fun(fun: IR, dims: Sequence[int | None], ctx: BatchContext) -> IR:
    return batch_ir(fun, dims, ctx, [0] * len(fun.outputs))


def _inexact_dims(avals: Sequence[AbstractArray], dims: Sequence[int | None]) -> tuple:
    """The batch axes of the values of ``avals`` that have a tangent."""
    return tuple(d for a, d in zip(avals, dims) if has_tangent(a))


def _all_first(outs: Sequence[Any]) -> tuple[Sequence[Any], list[int]]:
    return outs, [0] * len(outs)


@dataclass(frozen=True, repr=False)
class _Vmapped:
    """A user's rule over flat lists, run by ``vmap`` over a batch of ``size``."""

    rule: Callable
    size: int
    axis_name: Hashable | None

    @property
    def name(self) -> str:
        return f"vmap of {getattr(self.rule, 'name', repr(self.rule))}"

    def __repr__(self) -> str:
        return f"vmap({self.rule!r})"

    def _vmap(self, fun: Callable, *in_axes: Sequence[int | None]) -> Callable:
        batched = vmap(fun, in_axes=tuple(map(list, in_axes)), axis_size=self.size,
                       axis_name=self.axis_name)
        return lambda *lists: batched(*map(list, lists))


@dataclass(frozen=True, repr=False)
class _VmappedJvp(_Vmapped):
    """A custom_jvp rule over a batch: each tangent is batched as its primal."""

    arg_dims: tuple[int | None, ...]
    tangent_dims: tuple[int | None, ...]

    def __call__(self, primals: Sequence[Any], tangents: Sequence[Any]) -> Any:
        return self._vmap(self.rule, self.arg_dims, self.tangent_dims)(primals, tangents)


@dataclass(frozen=True, repr=False)
class _VmappedBwd(_Vmapped):
    """A custom_vjp bwd over a batch: the cotangents of shared args are sums."""

    res_dims: tuple[int | None, ...]
    arg_dims: tuple[int | None, ...]  # of the args whose cotangents it returns

    def __call__(self, residuals: Sequence[Any], cts: Sequence[Any]) -> list[Any]:
        in_cts = self._vmap(self.rule, self.res_dims, [0] * len(cts))(residuals, cts)
        return [reduce_sum.bind(ct, axes=(0,)) if d is None else moveaxis_to(ct, 0, d)
                for ct, d in zip(in_cts, self.arg_dims)]


@dataclass(frozen=True, repr=False)
class _VmappedFwd(_Vmapped):
    """A custom_vjp fwd over a batch: residuals batched first, bwd a ``_VmappedBwd``."""

    arg_dims: tuple[int | None, ...]
    inexact_dims: tuple[int | None, ...]

    def __call__(self, primals: Sequence[Any]) -> tuple[Any, Any, _VmappedBwd]:
        bwds = []

        def member(args):
            outs, residuals, bwd = self.rule(args)
            bwds.append(bwd)  # a callable: kept aside, not batched
            return outs, residuals

        outs, residuals = self._vmap(member, self.arg_dims)(primals)
        return outs, residuals, _VmappedBwd(bwds[0], self.size, self.axis_name,
                                            (0,) * len(residuals), self.inexact_dims)


def _custom_jvp_call_batch(ctx, args, dims, *, fun, jvp, num_consts):
    arg_dims = tuple(dims[:len(fun.inputs) - num_consts])
    rule = _VmappedJvp(jvp, ctx.size, ctx.name, arg_dims, _inexact_dims(fun.in_avals, arg_dims))
    return _all_first(custom_jvp_call.bind(*args, fun=_batch_fun(fun, dims, ctx), jvp=rule,
                                           num_consts=num_consts))


def _custom_vjp_call_batch(ctx, args, dims, *, fun, fwd, num_consts):
    arg_dims = tuple(dims[:len(fun.inputs) - num_consts])
    rule = _VmappedFwd(fwd, ctx.size, ctx.name, arg_dims, _inexact_dims(fun.in_avals, arg_dims))
    return _all_first(custom_vjp_call.bind(*args, fun=_batch_fun(fun, dims, ctx), fwd=rule,
                                           num_consts=num_consts))


def _custom_vjp_bwd_batch(ctx, args, dims, *, bwd, num_res, ct_avals):
    rule = _VmappedBwd(bwd, ctx.size, ctx.name, tuple(dims[:num_res]), tuple(dims[num_res:]))
    batched_avals = tuple(AbstractArray((ctx.size, *a.shape), a.dtype, a.weak_type)
                          for a in ct_avals)
    return _all_first(custom_vjp_bwd.bind(*args, bwd=rule, num_res=num_res,
                                          ct_avals=batched_avals))


def _checkpoint_batch(ctx, args, dims, *, fun):
    return _all_first(checkpoint.bind(*args, fun=_batch_fun(fun, dims, ctx)))


def _checkpoint_linear_batch(ctx, args, dims, *, fun, wrt):
    n = len(fun.inputs)
    primals, primal_dims, tangents = list(args[:n]), list(dims[:n]), []
    given = iter(zip(args[n:], dims[n:]))
    for i in (i for i, w in enumerate(wrt) if w):
        tangent, tangent_dim = next(given)
        if tangent_dim != primal_dims[i]:
            # A tangent has its primal's shape: batch both, along the same axis.
            primals[i] = at_front(primals[i], primal_dims[i], ctx.size)
            tangent, primal_dims[i] = at_front(tangent, tangent_dim, ctx.size), 0
        tangents.append(tangent)
    return _all_first(checkpoint_linear.bind(*primals, *tangents, wrt=wrt,
                                             fun=_batch_fun(fun, primal_dims, ctx)))


stop_gradient.batch = elementwise_batch(stop_gradient)
custom_jvp_call.batch = _custom_jvp_call_batch
custom_vjp_call.batch = _custom_vjp_call_batch
custom_vjp_bwd.batch = _custom_vjp_bwd_batch
checkpoint.batch = _checkpoint_batch
checkpoint_linear.batch = _checkpoint_linear_batch


# The linear maps above as funcgrad operations, so jit can trace them into its program.
EXPANSIONS: dict[str, Callable[..., list[Any]]] = {
    "checkpoint_linear": _tangent_map, "custom_vjp_bwd": _forward_map}
