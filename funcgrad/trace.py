"""Tracing: turning Python functions into IR.

``bind`` is the single entry point for applying a primitive.  While a
``Builder`` is active (a thread-local stack of them), ``bind`` records an
equation and returns ``Tracer``s; otherwise it runs the eager implementation
on the arguments' array backend.  A tracer of an outer builder met by an inner
one is captured as an implicit input (closure conversion), so transforms nest.

A builder started with concrete inputs can answer ``bool(tracer)`` and friends
by evaluating just the equations the value depends on (memoized); an abstract
builder raises ``ConcretizationError`` instead.

Example:
    >>> import funcgrad.numpy as fnp, numpy as np
    >>> ir, captured = trace_to_ir(lambda x: [fnp.exp(x)], [np.zeros(2)])
    >>> print(ir)
    { lambda a:f64[2] .
      b:f64[2] = exp a
      in (b) }
    >>> eval_ir(ir, np.zeros(2))
    [array([1., 1.])]
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from funcgrad.backends import array_namespace
from funcgrad.config import config
from funcgrad.errors import (
    ConcretizationError,
    EscapedTracerError,
    InPlaceUpdateError,
    TracerArrayConversionError,
    check_nans,
    user_location,
)
from funcgrad.ir import IR, AbstractArray, Atom, Eqn, Literal, Var, abstractify, typecheck

_UNKNOWN = object()  # the concrete value of an abstract input

# Type-check every traced IR (``funcgrad.ir.typecheck``): slower, catches a
# malformed IR where it is made.  The test suite turns it on.
CHECK_IR = os.environ.get("FUNCGRAD_CHECK_IR", "") not in ("", "0")


class Tracer:
    """A traced array: stands for a value while a function is being traced.

    Tracers behave like NumPy arrays (operators, methods, indexing and the
    NumPy protocols are installed by ``funcgrad.numpy``) and record what is
    done to them into their builder's IR.
    """

    __slots__ = ("builder", "variable")
    __array_priority__ = 1000

    def __init__(self, builder: Builder, var: Var):
        self.builder = builder
        self.variable = var

    @property
    def aval(self) -> AbstractArray:
        return self.variable.aval

    @property
    def shape(self) -> tuple[int, ...]:
        return self.variable.aval.shape

    @property
    def dtype(self) -> np.dtype:
        return self.variable.aval.dtype

    @property
    def ndim(self) -> int:
        return len(self.variable.aval.shape)

    @property
    def size(self) -> int:
        return self.variable.aval.size

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object (a 0-d traced array)")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"Tracer<{self.aval!r}>"

    # Concrete values: known on a concrete trace, an error on an abstract one.
    def concrete_value(self, why: str = "its value") -> Any:
        return self.builder.concrete_value(self.variable, why)

    def __bool__(self) -> bool:
        return bool(self.concrete_value("bool()"))

    def __int__(self) -> int:
        return int(self.concrete_value("int()"))

    def __float__(self) -> float:
        return float(self.concrete_value("float()"))

    def __complex__(self) -> complex:
        return complex(self.concrete_value("complex()"))

    def __index__(self) -> int:
        if not np.issubdtype(self.dtype, np.integer):
            raise TypeError(f"only integer arrays can be used as an index, not {self.aval!r}")
        return int(self.concrete_value("use as a Python index"))

    def item(self, *args: Any) -> Any:
        return self.concrete_value(".item()").item(*args)

    def tolist(self) -> Any:
        return self.concrete_value(".tolist()").tolist()

    # Conversions that would silently drop the value from the trace.
    def __array__(self, dtype=None, copy=None):
        raise TracerArrayConversionError(
            f"a traced array {self.aval!r} cannot be converted to a NumPy array: "
            "its value is not known while tracing, and converting it would drop it "
            "from the computation (and from its gradient)",
            "use funcgrad.numpy (import funcgrad.numpy as fnp) or plain np.* functions on "
            "the traced array instead of np.asarray/np.array/float() conversions",
        )

    def __setitem__(self, index, value):
        raise InPlaceUpdateError(
            f"traced arrays are immutable: item assignment on {self.aval!r} is not supported",
            "write x = x.at[index].set(value) (or .add/.multiply/.min/.max) instead of x[index] = value",
        )

    __hash__ = None  # arrays are unhashable; NumPy's rule


class Builder:
    """Records equations for one trace.  Inputs may carry a concrete source:
    an array, or a tracer of an outer builder (captured closure values)."""

    def __init__(self, *, linear: bool = False, abstract_reason: str | None = None):
        # A linear builder records only what involves its own tracers; anything
        # else is computed at once by the enclosing context (partial evaluation).
        self.linear = linear
        self.abstract_reason = abstract_reason  # why values are unknown, for error messages
        self.inputs: list[Var] = []
        self.captured_vars: list[Var] = []
        self.captured_tracers: list[Tracer] = []
        self._captured_index: dict[Var, Var] = {}
        self.eqns: list[Eqn] = []
        self.sources: dict[Var, Any] = {}
        self.producers: dict[Var, Eqn] = {}
        self.memo: dict[Var, Any] = {}
        self.active = True

    def new_input(self, aval: AbstractArray, source: Any = _UNKNOWN) -> Tracer:
        var = Var(aval)
        self.inputs.append(var)
        if source is not _UNKNOWN:
            self.sources[var] = source
        return Tracer(self, var)

    def atom(self, value: Any) -> Atom:
        """The IR operand for ``value``: its variable, a captured input or a literal."""
        if isinstance(value, Tracer):
            if value.builder is self:
                return value.variable
            if not value.builder.active:
                raise _escaped(value)
            return self._capture(value)
        return value if isinstance(value, Literal) else Literal(value)

    def _capture(self, tracer: Tracer) -> Var:
        var = self._captured_index.get(tracer.variable)
        if var is None:
            var = Var(tracer.aval)
            self._captured_index[tracer.variable] = var
            self.captured_vars.append(var)
            self.captured_tracers.append(tracer)
            self.sources[var] = tracer
        return var

    def record(self, primitive, args: Sequence[Any], params: dict[str, Any]):
        inputs = [self.atom(a) for a in args]
        out_avals = primitive.abstract_eval(*[a.aval for a in inputs], **params)
        multiple = primitive.multiple_results
        outputs = [Var(aval) for aval in (out_avals if multiple else [out_avals])]
        # The user's line, for error messages; a linear trace's equations are funcgrad's own.
        eqn = Eqn(primitive, inputs, outputs, params, None if self.linear else user_location())
        self.eqns.append(eqn)
        for var in outputs:
            self.producers[var] = eqn
        tracers = [Tracer(self, var) for var in outputs]
        return tracers if multiple else tracers[0]

    def concrete_value(self, var: Var, why: str) -> Any:
        """Evaluate the equations ``var`` depends on (memoized), on arrays."""
        memo = self.memo
        stack = [var]
        with eager():
            while stack:
                v = stack[-1]
                if v in memo:
                    stack.pop()
                    continue
                eqn = self.producers.get(v)
                if eqn is None:
                    memo[v] = self._input_value(v, why)
                    stack.pop()
                    continue
                missing = [a for a in eqn.inputs if isinstance(a, Var) and a not in memo]
                if missing:
                    stack.extend(missing)
                    continue
                values = [memo[a] if isinstance(a, Var) else a.value for a in eqn.inputs]
                result = eqn.primitive.impl(array_namespace(values), *values, **eqn.params)
                results = result if eqn.primitive.multiple_results else [result]
                memo.update(zip(eqn.outputs, results))
                stack.pop()
        return memo[var]

    def _input_value(self, var: Var, why: str) -> Any:
        source = self.sources.get(var, _UNKNOWN)
        if isinstance(source, Tracer):
            return source.concrete_value(why)
        if source is _UNKNOWN:
            raise ConcretizationError(
                f"{why} needs the value of a traced array {var.aval!r}, which is not known "
                + (self.abstract_reason or "while tracing (only its shape and dtype are)"),
                "for a value-dependent choice use fnp.where(cond, x, y); for control flow "
                "use fg.cond / fg.while_loop; or mark the argument static",
            )
        return source


def _escaped(tracer: Tracer) -> EscapedTracerError:
    return EscapedTracerError(
        f"a traced array {tracer.aval!r} was used after the transform that traced it "
        "had returned (it leaked out, e.g. stored in a global or a closure)",
        "return the value from the transformed function instead of storing it",
    )


class _TraceState(threading.local):
    def __init__(self):
        self.stack: list[Builder | None] = []


_state = _TraceState()


def current_builder() -> Builder | None:
    """The innermost active builder, or None when computing eagerly."""
    stack = _state.stack
    return stack[-1] if stack else None


@contextmanager
def new_builder(*, linear: bool = False, abstract_reason: str | None = None):
    builder = Builder(linear=linear, abstract_reason=abstract_reason)
    _state.stack.append(builder)
    try:
        yield builder
    finally:
        _state.stack.pop()
        builder.active = False


@contextmanager
def _enclosing():
    """Step out of the innermost builder for a moment."""
    builder = _state.stack.pop()
    try:
        yield
    finally:
        _state.stack.append(builder)


@contextmanager
def eager():
    """Compute on arrays even inside a trace (used to find concrete values)."""
    _state.stack.append(None)
    try:
        yield
    finally:
        _state.stack.pop()


def bind(primitive, *args: Any, **params: Any) -> Any:
    """Apply ``primitive``: record it into the active trace, or compute it.

    Arguments are arrays, Python scalars, tracers, or ``Literal``s (constants
    with an exact abstract value, e.g. a weakly typed float32 scalar).
    """
    builder = current_builder()
    if builder is not None:
        if builder.linear and not any(isinstance(a, Tracer) and a.builder is builder for a in args):
            with _enclosing():  # known values: computed now, not recorded
                return bind(primitive, *args, **params)
        return builder.record(primitive, args, params)
    for arg in args:
        if isinstance(arg, (Tracer, Literal)):
            if isinstance(arg, Tracer):
                raise _escaped(arg)
            args = [a.value if isinstance(a, Literal) else a for a in args]
            break
    result = primitive.impl(array_namespace(args), *args, **params)
    if config.debug_nans:
        check_nans(primitive.name, result if primitive.multiple_results else [result])
    return result


def trace_to_ir(fun: Callable, args: Sequence[Any], *, concrete: bool = False,
                abstract_reason: str | None = None) -> tuple[IR, list[Tracer]]:
    """Trace ``fun`` on flat ``args`` (arrays, scalars, tracers or AbstractArrays).

    Returns the IR and the outer tracers it captured; the IR's inputs are the
    explicit ones followed by one per captured tracer.  With ``concrete=True``,
    concrete arguments let the trace answer ``bool()`` and friends; tracer
    arguments always forward concrete values to their own builder.
    ``abstract_reason`` says, in errors, why values are unknown.
    """
    with new_builder(abstract_reason=abstract_reason) as builder:
        tracers = []
        for arg in args:
            if isinstance(arg, AbstractArray):
                tracers.append(builder.new_input(arg))
            elif isinstance(arg, Tracer) or concrete:
                tracers.append(builder.new_input(abstractify(arg), arg))
            else:
                tracers.append(builder.new_input(abstractify(arg)))
        outputs = fun(*tracers)
        out_atoms = [builder.atom(out) for out in outputs]
    ir = IR(builder.inputs + builder.captured_vars, builder.eqns, out_atoms)
    if CHECK_IR:
        typecheck(ir)
    return ir, builder.captured_tracers


def eval_ir(ir: IR, *args: Any) -> list[Any]:
    """Run ``ir`` on ``args``: computes on arrays, or re-records (inlines)
    every equation into the active trace."""
    if len(args) != len(ir.inputs):
        raise TypeError(f"eval_ir: the IR takes {len(ir.inputs)} inputs, got {len(args)}")
    env: dict[Var, Any] = dict(zip(ir.inputs, args))
    eval_eqns(ir.eqns, env)
    return [out.value if isinstance(out, Literal) else env[out] for out in ir.outputs]


def eval_eqns(eqns: Sequence[Eqn], env: dict[Var, Any]) -> None:
    """Bind each equation on the values ``env`` holds for its inputs, adding
    its outputs to ``env``.  Literals pass through ``bind`` as they are, so
    re-recording keeps their weak type."""
    for eqn in eqns:
        args = [atom if isinstance(atom, Literal) else env[atom] for atom in eqn.inputs]
        result = bind(eqn.primitive, *args, **eqn.params)
        if eqn.primitive.multiple_results:
            env.update(zip(eqn.outputs, result))
        else:
            env[eqn.outputs[0]] = result


def trace_pytree(fun: Callable, args: Sequence[Any], *, static_argnums: Sequence[int] = (),
                 concrete: bool = False):
    """Trace ``fun(*args)`` over pytrees: static arguments are passed as they
    are, the leaves of the others become IR inputs.

    Returns ``(ir, captured_tracers, in_tree, out_tree)``; ``in_tree`` is the
    structure of the tuple of non-static arguments.
    """
    from funcgrad.tree import tree_flatten, tree_unflatten

    static = {i % len(args) if args else i for i in static_argnums}
    for i in static_argnums:
        if not -len(args) <= i < len(args):
            raise ValueError(f"static_argnums: {i} is out of range for {len(args)} arguments")
    dynamic = [a for i, a in enumerate(args) if i not in static]
    flat_args, in_tree = tree_flatten(tuple(dynamic))
    out_tree = None

    def flat_fun(*leaves):
        nonlocal out_tree
        rebuilt = iter(tree_unflatten(in_tree, leaves))
        call_args = [args[i] if i in static else next(rebuilt) for i in range(len(args))]
        flat_out, out_tree = tree_flatten(fun(*call_args))
        return flat_out

    ir, captured = trace_to_ir(flat_fun, flat_args, concrete=concrete)
    return ir, captured, in_tree, out_tree


def make_ir(fun: Callable, static_argnums: int | Sequence[int] = ()) -> Callable[..., IR]:
    """A function that returns the IR of ``fun`` for the given arguments'
    shapes and dtypes (pytrees in and out; values of static arguments are
    baked in).

    Example:
        >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
        >>> print(fg.make_ir(lambda p, x: fnp.tanh(x @ p["w"]))({"w": np.ones((3, 2))}, np.ones(3)))
        { lambda a:f64[3,2] b:f64[3] .
          c:f64[2] = dot_general[dimension_numbers=(((0,), (0,)), ((), ()))] b a
          d:f64[2] = tanh c
          in (d) }
    """
    if isinstance(static_argnums, int):
        static_argnums = (static_argnums,)

    def make(*args: Any) -> IR:
        return trace_pytree(fun, args, static_argnums=static_argnums)[0]

    return make
