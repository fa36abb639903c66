"""User-defined derivatives and rematerialization, over pytrees, as in JAX.

- ``stop_gradient(x)``: ``x``, with a zero derivative.
- ``@custom_jvp`` with ``.defjvp(jvp)``: ``jvp(primals, tangents) ->
  (primal_out, tangent_out)`` gives the derivative (the tangent must be linear
  in ``tangents`` for reverse mode, as every JVP).
- ``@custom_vjp`` with ``.defvjp(fwd, bwd)``: ``fwd(*args) -> (out,
  residuals)``, ``bwd(residuals, ct) -> (ct_arg0, ct_arg1, ...)``.
- ``checkpoint(fun)``: ``fun``, whose backward pass recomputes its inside from
  its inputs instead of keeping its intermediate values (less memory, more
  compute).

With ``nondiff_argnums``, those arguments are passed as they are (any Python
value), to the rules first: ``jvp(*nondiff, primals, tangents)``,
``bwd(*nondiff, residuals, ct)``; ``fwd`` takes every argument.  The tangents
(cotangents) of integer values are zeros of their dtype.

A custom function is traced (into a primitive of
``funcgrad.primitives.custom_derivatives``) only under a transform; called on
arrays, outside any, it just runs.  Its rules run when a derivative is taken,
so they may call the function itself.  The function may close over traced
values: the derivative with respect to those goes through its own code.  A
rule may close over values of enclosing transforms, but not over values
computed by the function being differentiated (pass those as arguments).

Example:
    >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
    >>> @custom_jvp
    ... def log1pexp(x):
    ...     return fnp.log1p(fnp.exp(x))
    >>> @log1pexp.defjvp
    ... def log1pexp_jvp(primals, tangents):
    ...     (x,), (t,) = primals, tangents
    ...     return log1pexp(x), t / (1 + fnp.exp(-x))
    >>> fg.grad(log1pexp)(100.0)
    np.float64(1.0)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from funcgrad.control_flow import _avals, _leaf_paths
from funcgrad.errors import (
    ConcretizationError,
    DtypeError,
    EscapedTracerError,
    ShapeError,
    StructureError,
)
from funcgrad.ir import AbstractArray, abstractify
from funcgrad.numpy._core import convert
from funcgrad.primitives import custom_derivatives as primitives
from funcgrad.trace import Tracer, current_builder, trace_pytree
from funcgrad.transforms.autodiff import MissingRuleError
from funcgrad.transforms.tangents import has_tangent, tangent_aval
from funcgrad.tree import PyTreeDef, tree_flatten, tree_map, tree_unflatten

__all__ = ["stop_gradient", "custom_jvp", "custom_vjp", "checkpoint"]


def stop_gradient(x: Any) -> Any:
    """``x`` (a pytree), treated as a constant by differentiation.

    Example:
        >>> import funcgrad as fg, numpy as np
        >>> fg.grad(lambda x: x * stop_gradient(x))(3.0)
        np.float64(3.0)
    """
    return tree_map(lambda leaf: primitives.stop_gradient.bind(leaf)
                    if has_tangent(abstractify(leaf)) else leaf, x)


# ---------------------------------------------------------------- shared plumbing


def _name(fun: Callable) -> str:
    return getattr(fun, "__name__", repr(fun))


def _positional(fun: Callable, args: tuple, kwargs: dict) -> tuple:
    """``args`` with ``kwargs`` (and defaults) placed by ``fun``'s signature, as JAX does."""
    if not kwargs:
        return args
    bound = inspect.signature(fun).bind(*args, **kwargs)
    bound.apply_defaults()
    if bound.kwargs:
        raise TypeError(f"{_name(fun)}: keyword-only arguments {sorted(bound.kwargs)} cannot be "
                        "passed to a custom_jvp or custom_vjp function; make them positional")
    return bound.args


def _nondiff(args: tuple, nondiff_argnums: tuple[int, ...], name: str) -> tuple[int, ...]:
    for i in nondiff_argnums:
        if not -len(args) <= i < len(args):
            raise ValueError(f"{name}: nondiff_argnums {nondiff_argnums} is out of range for a "
                             f"call with {len(args)} arguments")
    return tuple(sorted({i % len(args) for i in nondiff_argnums}))


def _diff_leaves(args: tuple, static: tuple[int, ...]) -> list[Any]:
    return tree_flatten(tuple(a for i, a in enumerate(args) if i not in static))[0]


def _pair(name: str, what: str, form: str, value: Any) -> tuple[Any, Any]:
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise StructureError(f"{name}: {what} must return a pair {form}, got "
                             f"{type(value).__name__}", f"return {form}")
    return value[0], value[1]


def _conform(name: str, what: str, value: Any, tree: PyTreeDef,
             avals: Sequence[AbstractArray | None]) -> list[Any]:
    """The leaves of ``value``, which must have the structure ``tree`` and leaves
    of ``avals`` (a weak leaf, a Python scalar, takes its dtype; None: any leaf)."""
    leaves, got = tree_flatten(value)
    if got != tree:
        raise StructureError(f"{name}: {what} has the structure {got}, but {tree} is expected",
                             "give it the structure of the value it stands for (the same "
                             "containers, keys and lengths)")
    conformed = []
    for leaf, aval, path in zip(leaves, avals, _leaf_paths(tree, what)):
        if aval is not None:
            (got_aval,) = _avals(name, [leaf], [path])
            if got_aval.shape != aval.shape or (got_aval.dtype != aval.dtype and not got_aval.weak_type):
                error = ShapeError if got_aval.shape != aval.shape else DtypeError
                raise error(f"{name}: {path} is {got_aval!r}, but {aval.strong()!r} is expected",
                            "give each leaf the shape and dtype of the value it stands for "
                            "(e.g. .astype(x.dtype))")
            if got_aval != aval:  # a Python scalar, or a weak type to adjust
                leaf = (convert(leaf, aval.dtype, aval.weak_type) if isinstance(leaf, Tracer)
                        else np.asarray(leaf, aval.dtype))
        conformed.append(leaf)
    return conformed


def _tangent_avals(avals: Sequence[AbstractArray]) -> list[AbstractArray | None]:
    """What a tangent must be: the value's (strong) type; any value for integers."""
    return [tangent_aval(a) if has_tangent(a) else None for a in avals]


def _full_tangents(avals: Sequence[AbstractArray], inexact: Sequence[Any]) -> list[Any]:
    """One tangent per value: ``inexact`` in order, zeros for integer values."""
    given = iter(inexact)
    return [next(given) if has_tangent(a) else np.zeros(a.shape, a.dtype) for a in avals]


def _inexact(avals: Sequence[AbstractArray], values: Sequence[Any]) -> list[Any]:
    return [v for v, a in zip(values, avals) if has_tangent(a)]


class _Rule:
    """A user's rule over flat lists, as a primitive's param: called when a
    derivative is taken, hashed by identity, printed as the user's function.
    ``name`` says what it is, for error messages."""

    def __init__(self, name: str, user_fun: Callable, flat: Callable):
        self.name, self.user_fun, self.flat = name, user_fun, flat

    def __call__(self, *args: Any) -> Any:
        try:
            return self.flat(*args)
        except EscapedTracerError as error:
            raise EscapedTracerError(
                f"{self.name} uses a traced value it closes over, which belongs to a trace that "
                f"has ended (the function being differentiated): {error.args[0].splitlines()[0]}",
                "pass the value to the custom function as an argument") from None

    def __repr__(self) -> str:
        return _name(self.user_fun)


class _CustomFunction:
    """What custom_jvp and custom_vjp share: a call traced into the IR of
    ``fun``; each binds its primitive in ``_bind``, with its rules."""

    kind: str

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.name = f"{self.kind} function {_name(fun)}"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._check_defined()
        args = _positional(self.fun, args, kwargs)
        if current_builder() is None:  # no transform: nothing to differentiate
            return self.fun(*args)
        static = _nondiff(args, self.nondiff_argnums, self.name)
        nondiff_args = [args[i] for i in static]
        if any(isinstance(leaf, Tracer) for leaf in tree_flatten(nondiff_args)[0]):
            raise ConcretizationError(
                f"{self.name}: an argument in nondiff_argnums {static} is a traced value; "
                "nondiff_argnums are for values known while tracing",
                "pass it as a differentiable argument (bwd may return None as its cotangent)")
        fun_ir, consts, in_tree, out_tree = trace_pytree(self.fun, args, static_argnums=static,
                                                         concrete=True)
        outs = self._bind(fun_ir, consts, _diff_leaves(args, static), in_tree, out_tree, args,
                          static)
        return tree_unflatten(out_tree, outs)


# ---------------------------------------------------------------- custom_jvp


class custom_jvp(_CustomFunction):
    """A function with a derivative rule of its own (forward and reverse mode).

    ``fun`` takes pytrees of arrays; the rule, set by ``@f.defjvp``, is
    ``jvp(*nondiff_args, primals, tangents) -> (primal_out, tangent_out)``
    with ``primals`` and ``tangents`` tuples of the other arguments.  Use it
    for numerical stability (the example) or to supply a derivative funcgrad
    lacks.  Higher derivatives differentiate the rule.

    Example:
        >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
        >>> @custom_jvp
        ... def f(x):
        ...     return fnp.sin(x)
        >>> @f.defjvp
        ... def f_jvp(primals, tangents):
        ...     return f(*primals), 2.0 * tangents[0]  # a made-up derivative
        >>> fg.grad(f)(0.5)
        np.float64(2.0)
    """

    kind = "custom_jvp"
    jvp: Callable | None = None

    def defjvp(self, jvp: Callable) -> Callable:
        """Set the rule (usable as a decorator); returns it."""
        self.jvp = jvp
        return jvp

    def _check_defined(self) -> None:
        if self.jvp is None:
            raise MissingRuleError(f"{self.name} has no JVP rule",
                                   f"define one with @{_name(self.fun)}.defjvp")

    def _bind(self, fun_ir, consts, leaves, in_tree, out_tree, args, static) -> list:
        name, nondiff_args = self.name, [args[i] for i in static]
        in_avals, out_avals = fun_ir.in_avals[:len(leaves)], fun_ir.out_avals

        def flat_jvp(primals, tangents):
            primal_tree = tree_unflatten(in_tree, primals)
            tangent_tree = tree_unflatten(in_tree, _full_tangents(in_avals, tangents))
            primal_out, tangent_out = _pair(name, "the JVP rule", "(primal_out, tangent_out)",
                                            self.jvp(*nondiff_args, primal_tree, tangent_tree))
            outs = _conform(name, "primal_out", primal_out, out_tree, out_avals)
            out_tangents = _conform(name, "tangent_out", tangent_out, out_tree,
                                    _tangent_avals(out_avals))
            return outs, _inexact(out_avals, out_tangents)

        return primitives.custom_jvp_call.bind(
            *leaves, *consts, fun=fun_ir, jvp=_Rule(f"the JVP rule of {name}", self.jvp, flat_jvp),
            num_consts=len(consts))


# ---------------------------------------------------------------- custom_vjp


class custom_vjp(_CustomFunction):
    """A function with a reverse-mode rule of its own.

    Set by ``f.defvjp(fwd, bwd)``: ``fwd(*args) -> (out, residuals)`` runs in
    the forward pass (``out`` as ``f``'s; ``residuals`` any pytree of arrays);
    ``bwd(*nondiff_args, residuals, ct) -> tuple`` returns one cotangent per
    differentiable argument (a pytree like it, or None for zeros).  Use it to
    change gradients (clipping) or to save memory or work in the backward
    pass.  Forward mode (``fg.jvp``) transposes ``bwd``, so it needs ``bwd``
    linear in ``ct``.

    Example:
        >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
        >>> from functools import partial
        >>> @partial(custom_vjp, nondiff_argnums=(0,))
        ... def clip_gradient(bound, x):
        ...     return x
        >>> clip_gradient.defvjp(lambda bound, x: (x, None),
        ...                      lambda bound, _, ct: (fnp.clip(ct, -bound, bound),))
        >>> fg.grad(lambda x: fnp.sum(clip_gradient(0.5, x) * 3.0))(np.ones(2))
        array([0.5, 0.5])
    """

    kind = "custom_vjp"
    fwd: Callable | None = None
    bwd: Callable | None = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        """Set the forward and backward functions."""
        self.fwd, self.bwd = fwd, bwd

    def _check_defined(self) -> None:
        if self.fwd is None:
            raise MissingRuleError(f"{self.name} has no VJP rule",
                                   f"define one with {_name(self.fun)}.defvjp(fwd, bwd)")

    def _bind(self, fun_ir, consts, leaves, in_tree, out_tree, args, static) -> list:
        name, nondiff_args = self.name, [args[i] for i in static]
        in_avals, out_avals = fun_ir.in_avals[:len(leaves)], fun_ir.out_avals

        def flat_fwd(primals):
            rebuilt = iter(tree_unflatten(in_tree, primals))
            fwd_args = [args[i] if i in static else next(rebuilt) for i in range(len(args))]
            out, residuals = _pair(name, "fwd", "(out, residuals)", self.fwd(*fwd_args))
            res_leaves, res_tree = tree_flatten(residuals)
            _avals(name, res_leaves, _leaf_paths(res_tree, "residuals"))
            outs = _conform(name, "fwd's out", out, out_tree, out_avals)

            def flat_bwd(res, cts):
                ct_tree = tree_unflatten(out_tree, _full_tangents(out_avals, cts))
                in_cts = self.bwd(*nondiff_args, tree_unflatten(res_tree, res), ct_tree)
                return _inexact(in_avals, _bwd_leaves(name, in_cts, in_tree.children, in_avals))

            return outs, res_leaves, _Rule(f"the bwd of {name}", self.bwd, flat_bwd)

        return primitives.custom_vjp_call.bind(
            *leaves, *consts, fun=fun_ir, fwd=_Rule(f"the fwd of {name}", self.fwd, flat_fwd),
            num_consts=len(consts))


def _bwd_leaves(name: str, cts: Any, arg_trees: Sequence[PyTreeDef],
                in_avals: Sequence[AbstractArray]) -> list[Any]:
    """The leaves of bwd's cotangents: a tuple with one entry per differentiable
    argument, each of that argument's structure, shapes and dtypes, or None."""
    if not isinstance(cts, (tuple, list)) or len(cts) != len(arg_trees):
        got = (f"a {type(cts).__name__} of {len(cts)}" if isinstance(cts, (tuple, list))
               else f"a {type(cts).__name__}")
        raise StructureError(
            f"{name}: bwd must return a tuple with one cotangent per differentiable argument "
            f"({len(arg_trees)}), got {got}",
            "return (ct_x,) for one argument, (ct_x, ct_y) for two; None for a zero cotangent")
    leaves, start = [], 0
    for i, (ct, tree) in enumerate(zip(cts, arg_trees)):
        avals = in_avals[start:start + tree.num_leaves]
        start += tree.num_leaves
        if ct is None:
            leaves += [np.zeros(a.shape, a.dtype) for a in avals]
        else:
            leaves += _conform(name, f"bwd's output[{i}]", ct, tree, _tangent_avals(avals))
    return leaves


# ---------------------------------------------------------------- checkpoint


def checkpoint(fun: Callable | None = None, *, static_argnums: int | Sequence[int] = ()
               ) -> Callable:
    """``fun``, rematerialized: differentiating it keeps only its inputs for
    the backward pass, which runs ``fun`` again to get the values inside it.
    Trades compute for memory.  Usable as ``@checkpoint`` or
    ``@checkpoint(static_argnums=...)``; static arguments are passed as they
    are (any Python value).

    Example:
        >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
        >>> layer = checkpoint(lambda w, x: fnp.tanh(w * x))
        >>> fg.grad(lambda w: fnp.sum(layer(w, layer(w, np.ones(2)))))(0.5)
        np.float64(1.6225...)
    """
    if fun is None:
        return functools.partial(checkpoint, static_argnums=static_argnums)
    static_argnums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @functools.wraps(fun)
    def checkpointed(*args: Any, **kwargs: Any) -> Any:
        if current_builder() is None:
            return fun(*args, **kwargs)
        fun_ir, consts, _, out_tree = trace_pytree(functools.partial(fun, **kwargs), args,
                                                   static_argnums=static_argnums, concrete=True)
        static = tuple({i % len(args) for i in static_argnums})
        outs = primitives.checkpoint.bind(*_diff_leaves(args, static), *consts, fun=fun_ir)
        return tree_unflatten(out_tree, outs)

    return checkpointed
