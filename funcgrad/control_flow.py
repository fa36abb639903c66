"""Structured control flow over pytrees: ``cond``, ``switch``, ``while_loop``,
``fori_loop``, ``scan`` and ``map``, with ``jax.lax``'s semantics.

Each function traces its Python callables, on the shapes and dtypes of
their arguments (not their values), into sub-IRs of one control-flow primitive
(``funcgrad.primitives.control_flow``); values they close over become
operands of that primitive.  On concrete arrays the primitive runs at once;
under a trace it is recorded, with its bodies, as one equation.

Types follow NEP 50 as NumPy does: a weak value (from a Python scalar) takes
the dtype of the strong value it meets.  So a loop started from ``0.0`` whose
body returns float32 runs in float32 (the carry is promoted, as JAX does), and
a branch returning ``0.0`` where the other returns float32 returns float32.
Any other change of type is an error that names the leaf.

Example:
    >>> import numpy as np
    >>> fori_loop(0, 5, lambda i, total: total + i, 0)
    array(10)
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from funcgrad.errors import DtypeError, ShapeError, StructureError
from funcgrad.ir import IR, AbstractArray, Var, abstractify
from funcgrad.numpy import clip, ufuncs
from funcgrad.numpy._core import convert, result_dtype
from funcgrad.primitives import control_flow as primitives
from funcgrad.trace import Tracer, trace_to_ir
from funcgrad.tree import PyTreeDef, tree_flatten, tree_structure, tree_unflatten

__all__ = ["cond", "switch", "while_loop", "fori_loop", "scan", "map"]



# ---------------------------------------------------------------- pytrees and types


def _leaf_paths(treedef: PyTreeDef, root: str) -> list[str]:
    """A readable path per leaf: ``carry['w']``, ``carry[1]``, ``state.step``."""
    if treedef.node is None:
        return [root]
    node, aux, children = treedef.node, treedef.aux, treedef.children
    if node is dict:
        keys = [f"[{k!r}]" for k in aux]
    elif issubclass(node, tuple) and hasattr(node, "_fields"):  # namedtuple
        keys = [f".{name}" for name in node._fields]
    elif dataclasses.is_dataclass(node) and isinstance(aux, tuple) and len(aux) == len(children):
        keys = [f".{name}" for name in aux]
    else:
        keys = [f"[{i}]" for i in range(len(children))]
    return [path for key, child in zip(keys, children) for path in _leaf_paths(child, root + key)]


def _avals(name: str, leaves: Sequence[Any], paths: Sequence[str]) -> list[AbstractArray]:
    avals = []
    for leaf, path in zip(leaves, paths):
        try:
            avals.append(abstractify(leaf))
        except AttributeError:
            raise DtypeError(f"{name}: {path} is a {type(leaf).__name__}, not an array or a number",
                             "pass arrays, Python scalars or pytrees of them") from None
    return avals


def _join(*avals: AbstractArray) -> np.dtype:
    """The NEP 50 result dtype of values of these types (weak ones adopt the others' dtype)."""
    return result_dtype(*avals)


def _adopts(aval: AbstractArray, target: AbstractArray) -> bool:
    """Whether a value of ``aval`` converts to ``target`` as NumPy would: a weak
    value of the same shape whose dtype the target's absorbs."""
    return (aval != target and aval.weak_type and aval.shape == target.shape
            and _join(aval, target) == target.dtype)


def _trace(fun: Callable, in_tree: PyTreeDef, in_avals: Sequence[AbstractArray],
           targets: Sequence[AbstractArray] = ()) -> tuple[IR, list[Tracer], PyTreeDef]:
    """Trace ``fun`` over pytree arguments (structure ``in_tree``, leaves of ``in_avals``).

    The first output leaves are converted to ``targets`` where they adopt them.
    Returns the IR, the outer tracers it closes over (whose inputs come first
    in the IR, as the primitives take them), and the output structure.
    """
    out_tree = None

    def flat_fun(*leaves):
        nonlocal out_tree
        outs, out_tree = tree_flatten(fun(*tree_unflatten(in_tree, leaves)))
        adopted = [convert(x, t.dtype, t.weak_type) if _adopts(abstractify(x), t) else x
                   for x, t in zip(outs, targets)]
        return adopted + outs[len(adopted):]

    ir, consts = trace_to_ir(flat_fun, in_avals)
    explicit = len(in_avals)
    ir = IR(ir.inputs[explicit:] + ir.inputs[:explicit], ir.eqns, ir.outputs)
    return ir, consts, out_tree


def _check_structure(name: str, what: str, got: PyTreeDef, expected: PyTreeDef) -> None:
    if got != expected:
        raise StructureError(
            f"{name}: {what} must have the structure of the initial value, {expected}, "
            f"but it is {got}",
            "return the carry in the same containers (same keys, same lengths) as the initial value")


def _scalar(name: str, what: str, value: Any, kinds: str) -> AbstractArray:
    """The aval of a predicate, index or bound, which must be a scalar of ``kinds``."""
    aval = _avals(name, [value], [what])[0]
    kind_names = "a boolean or integer" if "b" in kinds else "an integer"
    if aval.shape != ():
        raise ShapeError(f"{name}: the {what} must be a scalar, got {aval!r}",
                         "reduce it to one value (x.any(), x.all(), x[0]); for an elementwise "
                         "choice use fnp.where(condition, x, y)")
    if aval.dtype.kind not in kinds:
        raise DtypeError(f"{name}: the {what} must be {kind_names} scalar, got {aval!r}",
                         "compare it (x > 0) or convert it (x.astype(int))")
    return aval


# ---------------------------------------------------------------- cond and switch


def cond(pred: Any, true_fun: Callable, false_fun: Callable, *operands: Any) -> Any:
    """``true_fun(*operands)`` if ``pred`` else ``false_fun(*operands)``, as one
    primitive: both branches are traced, only one runs.

    ``pred`` is a boolean or integer scalar (nonzero is true).  Both branches
    take the operands (pytrees) and return the same structure, shapes and
    dtypes; a weak value (a Python scalar) in one branch takes the other's
    dtype.

    Example:
        >>> import numpy as np
        >>> cond(np.float32(2.0) > 0, lambda x: x * 2, lambda x: 0.0, np.float32(2.0))
        array(4., dtype=float32)
    """
    aval = _scalar("cond", "predicate", pred, "biu")
    if aval.dtype != np.bool_:
        pred = ufuncs.not_equal(pred, 0)
    index = convert(pred, np.int32, weak_type=False)
    return _cond("cond", ("false_fun", "true_fun"), index, (false_fun, true_fun), operands)


def switch(index: Any, branches: Sequence[Callable], *operands: Any) -> Any:
    """``branches[index](*operands)``, with ``index`` clamped into range, as one
    primitive: every branch is traced, only one runs.

    Example:
        >>> import numpy as np
        >>> [switch(k, [lambda x: x, lambda x: -x, lambda x: x * 10], 3.0) for k in (0, 1, 2, 7)]
        [array(3.), array(-3.), array(30.), array(30.)]
    """
    branches = tuple(branches)
    if not branches:
        raise ValueError("switch: needs at least one branch")
    _scalar("switch", "index", index, "iu")
    # Clamp before narrowing to int32, so a large int64 index cannot wrap around.
    index = convert(clip(index, 0, len(branches) - 1), np.int32, weak_type=False)
    names = tuple(f"branches[{k}]" for k in range(len(branches)))
    return _cond("switch", names, index, branches, operands)


def _cond(name: str, names: Sequence[str], index: Any, funs: Sequence[Callable],
          operands: tuple) -> Any:
    leaves, in_tree = tree_flatten(operands)
    in_avals = _avals(name, leaves, _leaf_paths(in_tree, "operands"))
    traced = [_trace(fun, in_tree, in_avals) for fun in funs]
    out_tree = traced[0][2]
    for branch_name, (_, _, tree) in zip(names, traced):
        if tree != out_tree:
            raise StructureError(
                f"{name}: the branches must return the same structure, but {branch_name} returns "
                f"{tree} and {names[0]} returns {out_tree}",
                "return the same containers (same keys, same lengths) from every branch")
    targets = _branch_types(name, names, _leaf_paths(out_tree, "output"),
                            [ir.out_avals for ir, _, _ in traced])
    traced = [(ir, consts) if ir.out_avals == targets
              else _trace(fun, in_tree, in_avals, targets)[:2]
              for (ir, consts, _), fun in zip(traced, funs)]
    branches, consts = _with_common_consts(traced)
    outs = primitives.cond.bind(index, *leaves, *consts, branches=tuple(branches))
    return tree_unflatten(out_tree, outs)


def _branch_types(name: str, names: Sequence[str], paths: Sequence[str],
                  out_avals: Sequence[Sequence[AbstractArray]]) -> list[AbstractArray]:
    """The type of each output: the branches' common strong type, which weak
    values adopt, or the join of weak types; differing types are an error."""
    targets = []
    for j, path in enumerate(paths):
        avals = [outs[j] for outs in out_avals]
        first = next((k for k, a in enumerate(avals) if not a.weak_type), 0)
        target = avals[first]
        if target.weak_type:
            target = AbstractArray(target.shape, _join(*avals), True)
        for k, aval in enumerate(avals):
            if aval != target and not _adopts(aval, target):
                error = ShapeError if aval.shape != target.shape else DtypeError
                raise error(
                    f"{name}: the branches must return the same shapes and dtypes, but {path} is "
                    f"{aval!r} in {names[k]} and {avals[first]!r} in {names[first]}",
                    "make the branches agree, e.g. with .astype(dtype) or fnp.broadcast_to")
        targets.append(target)
    return targets


def _with_common_consts(traced: Sequence[tuple[IR, list[Tracer]]]) -> tuple[list[IR], list[Tracer]]:
    """Branch IRs that all take the operands followed by every branch's consts
    (each ignores the others'), and those consts."""
    consts: dict[Var, Tracer] = {}
    for _, captured in traced:
        for tracer in captured:
            consts.setdefault(tracer.variable, tracer)
    branches = []
    for ir, captured in traced:
        n = len(captured)
        own = dict(zip((t.variable for t in captured), ir.inputs[:n]))
        inputs = ir.inputs[n:] + [own[v] if v in own else Var(t.aval) for v, t in consts.items()]
        branches.append(IR(inputs, ir.eqns, ir.outputs))
    return branches, list(consts.values())


# ---------------------------------------------------------------- loops


def _loop_body(name: str, body: Callable, init: Any, xs: Any, x_avals: Sequence[AbstractArray],
               paths: Sequence[str] | None = None) -> tuple[IR, list[Tracer], list[Any], PyTreeDef]:
    """Trace ``body(carry, x) -> (new_carry, y)`` so that the carry keeps its type.

    A weak leaf of ``init`` (a Python scalar) that the body turns into another
    type is promoted to the NEP 50 join of both, and the body traced again
    (JAX's rule); a weak leaf the body returns takes the carry's type.  Any
    other difference is an error naming the leaf (``paths``).

    Returns the body IR, its consts, the (promoted) init leaves and the
    output structure ``(carry, y)``.
    """
    init_leaves, carry_tree = tree_flatten(init)
    paths = paths or _leaf_paths(carry_tree, "carry")
    init_avals = _avals(name, init_leaves, paths)

    def checked_body(carry, x):
        out = body(carry, x)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise StructureError(f"{name}: the body must return a pair (new_carry, y), "
                                 f"got {type(out).__name__}", "return (new_carry, y)")
        _check_structure(name, "the carry the body returns", tree_structure(out[0]), carry_tree)
        return out

    in_tree = tree_structure((init, xs))
    carry_avals = init_avals
    while True:  # ends: a promotion makes a weak leaf strong or of a higher kind
        ir, consts, out_tree = _trace(checked_body, in_tree, [*carry_avals, *x_avals], carry_avals)
        out_avals = ir.out_avals[:len(carry_avals)]
        promoted = [AbstractArray(a.shape, _join(a, b), b.weak_type)
                    if a != b and a.weak_type and a.shape == b.shape else a
                    for a, b in zip(carry_avals, out_avals)]
        if promoted == carry_avals:
            break
        carry_avals = promoted
    changed = [(p, a0, b) for p, a0, a, b in zip(paths, init_avals, carry_avals, out_avals) if a != b]
    if changed:
        error = ShapeError if any(a.shape != b.shape for _, a, b in changed) else DtypeError
        lines = "\n".join(f"    {p}: the initial value is {a!r}, the body returns {b!r}"
                          for p, a, b in changed)
        raise error(f"{name}: the carry must keep its shape and dtype from one iteration to the "
                    f"next, but the body changes it:\n{lines}",
                    "return each carry leaf with the shape and dtype of its initial value "
                    "(e.g. x.astype(init.dtype)), or start from an initial value of the type the "
                    "body returns (np.float32(0) rather than 0.0)")
    init_leaves = [convert(v, a.dtype, a.weak_type) for v, a in zip(init_leaves, carry_avals)]
    return ir, consts, init_leaves, out_tree


def while_loop(cond_fun: Callable, body_fun: Callable, init_val: Any) -> Any:
    """``val = body_fun(val)`` while ``cond_fun(val)``, starting from
    ``init_val``, as one primitive; returns the final value.

    The carry (a pytree) keeps its structure, shapes and dtypes; ``cond_fun``
    returns a boolean scalar.

    Example:
        >>> while_loop(lambda x: x < 100, lambda x: x * 3, 1)
        array(243)
    """
    return _while("while_loop", cond_fun, body_fun, init_val)


def _while(name: str, cond_fun: Callable, body_fun: Callable, init_val: Any,
           paths: Sequence[str] | None = None) -> Any:
    body_ir, body_consts, init_leaves, out_tree = _loop_body(
        name, lambda carry, _: (body_fun(carry), None), init_val, None, [], paths)
    carry_tree = out_tree.children[0]
    cond_ir, cond_consts, cond_tree = _trace(cond_fun, tree_structure((init_val,)), body_ir.out_avals)
    out = cond_ir.out_avals
    if len(out) != 1 or out[0].shape != () or out[0].dtype != np.bool_:
        error = DtypeError if len(out) == 1 and out[0].shape == () else ShapeError
        raise error(f"{name}: cond_fun must return a boolean scalar, got "
                    f"{tree_unflatten(cond_tree, out)}",
                    "return a comparison such as x < n, reduced to one value (.any(), .all())")
    outs = primitives.while_loop.bind(*cond_consts, *body_consts, *init_leaves, cond_ir=cond_ir,
                                      body_ir=body_ir, cond_nconsts=len(cond_consts),
                                      body_nconsts=len(body_consts))
    return tree_unflatten(carry_tree, outs)


def fori_loop(lower: Any, upper: Any, body_fun: Callable, init_val: Any) -> Any:
    """``val = body_fun(i, val)`` for ``i`` in ``range(lower, upper)``, as one
    primitive; returns the final value.

    With bounds known now (Python or NumPy integers) this is a ``scan`` of
    ``upper - lower`` steps; with traced bounds, a ``while_loop``.  The index
    ``i`` has the bounds' dtype (weak, like a Python int, for Python ints).

    Example:
        >>> import numpy as np
        >>> fori_loop(1, 4, lambda i, acc: acc * i, np.float32(1.0))
        array(6., dtype=float32)
    """
    low = _scalar("fori_loop", "lower bound", lower, "iu")
    high = _scalar("fori_loop", "upper bound", upper, "iu")
    dtype, weak = _join(low, high), low.weak_type and high.weak_type
    start, stop = convert(lower, dtype, weak), convert(upper, dtype, weak)
    init_tree = tree_structure(init_val)
    paths = ["the loop index", *_leaf_paths(init_tree, "init_val")]

    def step(i, val):
        new_val = body_fun(i, val)
        _check_structure("fori_loop", "the value body_fun returns", tree_structure(new_val), init_tree)
        return i + 1, new_val

    if not isinstance(lower, Tracer) and not isinstance(upper, Tracer):
        length = max(operator.index(upper) - operator.index(lower), 0)
        (_, result), _ = _scan("fori_loop", lambda carry, _: (step(*carry), None), (start, init_val),
                               None, length, False, 1, paths)
        return result
    _, result = _while("fori_loop", lambda carry: ufuncs.less(carry[0], stop),
                       lambda carry: step(*carry), (start, init_val), paths)
    return result


def scan(f: Callable, init: Any, xs: Any = None, length: int | None = None, reverse: bool = False,
         unroll: int | bool = 1) -> tuple[Any, Any]:
    """Scan ``f(carry, x) -> (new_carry, y)`` over the leading axis of ``xs``,
    as one primitive; returns the final carry and the ``y``s stacked along a
    new leading axis.

    ``xs`` is a pytree of arrays with equal leading sizes, or None with
    ``length``.  ``reverse`` scans from the last slice to the first (``ys``
    stay in ``xs``' order).  ``unroll`` (a positive int, or True for all) is a
    hint to the compiler: iterations per compiled loop step.  In Python::

        carry, ys = init, []
        for x in xs:                      # reversed(xs) with reverse=True
            carry, y = f(carry, x)
            ys.append(y)
        return carry, np.stack(ys)

    Example:
        >>> import numpy as np
        >>> scan(lambda total, x: (total + x, total), 0.0, np.arange(1.0, 5.0))
        (array(10.), array([0., 1., 3., 6.]))
    """
    return _scan("scan", f, init, xs, length, reverse, unroll)


def _scan(name: str, f: Callable, init: Any, xs: Any, length: int | None, reverse: bool,
          unroll: int | bool, paths: Sequence[str] | None = None) -> tuple[Any, Any]:
    xs_leaves, xs_tree = tree_flatten(xs)
    xs_paths = _leaf_paths(xs_tree, "xs")
    xs_avals = _avals(name, xs_leaves, xs_paths)
    length = _scan_length(name, xs_paths, xs_avals, length)
    if isinstance(unroll, bool):
        unroll = max(length, 1) if unroll else 1
    if operator.index(unroll) < 1:
        raise ValueError(f"{name}: unroll must be a positive int or a bool, got {unroll}")
    x_avals = [AbstractArray(a.shape[1:], a.dtype, a.weak_type) for a in xs_avals]
    body, consts, init_leaves, out_tree = _loop_body(name, f, init, xs, x_avals, paths)
    outs = primitives.scan.bind(*consts, *init_leaves, *xs_leaves, body=body,
                                num_consts=len(consts), num_carry=len(init_leaves), length=length,
                                reverse=bool(reverse), unroll=int(unroll))
    carry_tree, y_tree = out_tree.children
    return carry_tree.unflatten(outs[:len(init_leaves)]), y_tree.unflatten(outs[len(init_leaves):])


def _scan_length(name: str, paths: Sequence[str], avals: Sequence[AbstractArray],
                 length: int | None) -> int:
    for path, aval in zip(paths, avals):
        if aval.shape == ():
            raise ShapeError(f"{name}: {path} is a scalar {aval!r}, with no leading axis to scan over",
                             "scan over arrays (their leading axis), or close over scalars in f")
    sizes = ", ".join(f"{p} has {a.shape[0]}" for p, a in zip(paths, avals))
    if length is not None:
        length = operator.index(length)
        if length < 0 or any(a.shape[0] != length for a in avals):
            raise ShapeError(f"{name}: length={length} disagrees with the leading axis sizes of "
                             f"xs: {sizes}",
                             "drop length, or give every leaf of xs a leading axis of that size")
        return length
    if not avals:
        raise ShapeError(f"{name}: there are no xs to scan over, so the number of steps is unknown",
                         "pass length=n")
    if len({a.shape[0] for a in avals}) > 1:
        raise ShapeError(f"{name}: the leaves of xs have different leading axis sizes: {sizes}",
                         "give every leaf of xs the same leading size: the number of steps")
    return avals[0].shape[0]


def map(f: Callable, xs: Any) -> Any:  # jax.lax.map's name, shadowing the builtin here
    """``f`` applied to each slice of ``xs`` along its leading axis, the
    results stacked: a ``scan`` without a carry.

    Example:
        >>> import numpy as np
        >>> map(lambda row: row * row, np.arange(3.0))
        array([0., 1., 4.])
    """
    _, ys = _scan("map", lambda carry, x: (carry, f(x)), (), xs, None, False, 1)
    return ys
