"""vmap: automatic batching over the IR.

``vmap(f)`` traces ``f`` for one member of the batch (the inputs' shapes
without their batch axis), then ``batch_eval`` runs that IR on the batched
inputs, applying each primitive's batching rule (``primitive.batch``), which
moves batch dimensions only when it must.  The result is one batched pass
over whole arrays, with no Python loop over the batch.

Named axes: ``vmap(f, axis_name="i")`` lets collectives inside ``f``
(``psum``, ``pmean``, ``pmax``, ``pmin``, ``all_gather``, ``axis_index``)
combine values across the batch; while ``f`` is traced, the name and size
are in the *axis environment* that the collectives' abstract evaluation
reads.

Example:
    >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
    >>> fg.vmap(lambda row: fnp.sum(row ** 2))(np.arange(6.0).reshape(2, 3))
    array([ 5., 50.])
"""

from __future__ import annotations

import functools
import inspect
import threading
import weakref
from collections.abc import Callable, Hashable, Sequence
from contextlib import contextmanager
from typing import Any

from funcgrad.errors import AxisError, FuncgradError
from funcgrad.ir import IR, AbstractArray, Literal, Var, abstractify
from funcgrad.trace import bind, trace_to_ir
from funcgrad.transforms.batch_dims import BatchContext, moveaxis_to
from funcgrad.tree import PyTreeDef, tree_flatten, tree_unflatten


class BatchingError(FuncgradError, ValueError):
    """vmap was given arguments it cannot batch, or met a primitive it cannot."""


# ---------------------------------------------------------------- axis environment


class _AxisEnv(threading.local):
    def __init__(self):
        self.frames: list[tuple[Hashable, int]] = []


_axis_env = _AxisEnv()


@contextmanager
def axis_frame(name: Hashable | None, size: int):
    """Make ``name`` (of ``size``) known to collectives traced inside."""
    _axis_env.frames.append((name, size))
    try:
        yield
    finally:
        _axis_env.frames.pop()


def axis_size(name: Hashable) -> int:
    """The size of the innermost vmap named ``name``, or a clear error."""
    for frame_name, size in reversed(_axis_env.frames):
        if frame_name == name:
            return size
    known = [n for n, _ in _axis_env.frames if n is not None]
    raise BatchingError(f"unknown axis name {name!r}: no enclosing vmap has axis_name={name!r}"
                        + (f" (the enclosing ones: {known})" if known else ""),
                        f"wrap the function in fg.vmap(..., axis_name={name!r})")


# ---------------------------------------------------------------- the batching pass


def batch_eval(ir: IR, args: Sequence[Any], dims: Sequence[int | None], ctx: BatchContext
               ) -> tuple[list[Any], list[int | None]]:
    """Run ``ir`` on ``args`` that carry a batch dimension ``dims`` (None:
    unbatched), returning the batched outputs and their batch dimensions."""
    values: dict[Var, Any] = dict(zip(ir.inputs, args))
    batch_dims: dict[Var, int | None] = dict(zip(ir.inputs, dims))

    def read(atom):
        return (atom, None) if isinstance(atom, Literal) else (values[atom], batch_dims[atom])

    for eqn in ir.eqns:
        prim = eqn.primitive
        in_values, in_dims = zip(*map(read, eqn.inputs)) if eqn.inputs else ((), ())
        if all(d is None for d in in_dims) and not _uses_collective(eqn):
            out = bind(prim, *in_values, **eqn.params)
            outs = out if prim.multiple_results else [out]
            out_dims = [None] * len(outs)
        else:
            if prim.batch is None:
                raise BatchingError(f"{prim.name} has no batching rule yet, so vmap cannot "
                                    "batch it", "use a Python loop over the batch meanwhile")
            out, out_dim = prim.batch(ctx, list(in_values), list(in_dims), **eqn.params)
            outs = out if prim.multiple_results else [out]
            out_dims = list(out_dim) if prim.multiple_results else [out_dim]
        values.update(zip(eqn.outputs, outs))
        batch_dims.update(zip(eqn.outputs, out_dims))
    # Literal outputs stay Literals (exact types) for batch_ir; vmap unwraps them.
    results = [read(a) for a in ir.outputs]
    return [v for v, _ in results], [d for _, d in results]


_COLLECTIVE_IRS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _uses_collective(eqn) -> bool:
    """Whether ``eqn`` is a collective or holds one in a sub-IR (a loop body
    summing over the axis must be batched even if its operands are not)."""
    if getattr(eqn.primitive, "collective", False):
        return True
    for value in eqn.params.values():
        for sub in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(sub, IR):
                if sub not in _COLLECTIVE_IRS:
                    _COLLECTIVE_IRS[sub] = any(map(_uses_collective, sub.eqns))
                if _COLLECTIVE_IRS[sub]:
                    return True
    return False


def batch_ir(ir: IR, dims: Sequence[int | None], ctx: BatchContext, out_dims: Sequence[int | None]
             ) -> IR:
    """The batched version of ``ir`` as an IR: inputs batched along ``dims``,
    outputs moved to ``out_dims`` (unbatched outputs broadcast where an int is
    asked).  For control-flow rules, whose bodies must be IRs."""
    from funcgrad.transforms.batch_dims import at_front

    def batched(*args):
        outs, got = batch_eval(ir, args, dims, ctx)
        result = []
        for x, d, want in zip(outs, got, out_dims):
            if want is None:
                if d is not None:
                    raise BatchingError("batch_ir: an output asked to stay unbatched is batched")
                result.append(x)
            else:
                result.append(moveaxis_to(at_front(x, d, ctx.size), 0, want))
        return result

    avals = [a if d is None else _with_batch(a, d, ctx.size) for a, d in zip(ir.in_avals, dims)]
    body, captured = trace_to_ir(batched, avals)
    if captured:
        raise BatchingError("batch_ir: the IR must be closed (no captured values)")
    return body


def _with_batch(aval: AbstractArray, dim: int, size: int) -> AbstractArray:
    shape = list(aval.shape)
    shape.insert(dim, size)
    return AbstractArray(tuple(shape), aval.dtype, aval.weak_type)


def _without(aval: AbstractArray, dim: int) -> AbstractArray:
    shape = list(aval.shape)
    del shape[dim]
    return AbstractArray(tuple(shape), aval.dtype, aval.weak_type)


# ---------------------------------------------------------------- axes specifications


def _axes_per_leaf(spec: Any, tree: Any, what: str) -> list[int | None]:
    """Broadcast an axes specification (int/None, or a pytree prefix of
    ``tree`` made of them) to one entry per leaf of ``tree``."""
    if spec is None or isinstance(spec, int):
        return [spec] * len(tree_flatten(tree)[0])
    spec_leaves, spec_tree = tree_flatten(spec, is_leaf=lambda s: s is None)
    if not all(s is None or isinstance(s, int) for s in spec_leaves):
        raise BatchingError(f"{what}: entries must be ints or None, got {spec!r}")
    subtrees = _subtrees(tree, spec_tree, what)
    return [axis for axis, sub in zip(spec_leaves, subtrees) for _ in tree_flatten(sub)[0]]


def _subtrees(tree: Any, prefix: PyTreeDef, what: str) -> list[Any]:
    """The subtrees of ``tree`` at the leaves of the structure ``prefix``."""
    if prefix.node is None:
        return [tree]
    leaves, tree_def = tree_flatten(tree, is_leaf=lambda x: x is not tree)
    if tree_def.node is not prefix.node or tree_def.aux != prefix.aux:
        raise BatchingError(f"{what}: its structure {prefix} does not match the arguments' "
                            f"structure {tree_def}",
                            f"give {what} one entry per argument (or a single int / None)")
    return [sub for leaf, child in zip(leaves, prefix.children)
            for sub in _subtrees(leaf, child, what)]


def _normalize(axis: int | None, ndim: int, what: str) -> int | None:
    if axis is None:
        return None
    if not -ndim - (what == "out_axes") <= axis < ndim + (what == "out_axes"):
        raise AxisError(f"vmap: {what} {axis} is out of range for a value with {ndim} dimensions")
    return axis % (ndim + (what == "out_axes"))


# ---------------------------------------------------------------- vmap

_PER_MEMBER = ("under vmap: it can differ from one member of the batch to the next, and vmap "
               "traces the function once for all of them")



def vmap(fun: Callable, in_axes: Any = 0, out_axes: Any = 0, axis_size: int | None = None,
         axis_name: Hashable | None = None) -> Callable:
    """Vectorize ``fun`` over an axis of its arguments.

    ``in_axes``: an int (negative allowed) or None for all positional
    arguments, or a tuple with one entry per argument, each a pytree prefix
    of the argument made of ints and Nones (None: not batched).  Keyword
    arguments are batched along axis 0.  ``out_axes`` likewise for the
    outputs.  ``axis_size`` is needed when no argument is batched.
    ``axis_name`` names the axis for collectives (``fg.psum``, ...).

    Example:
        >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
        >>> per_example = fg.vmap(fg.grad(lambda w, x: fnp.sum(w * x) ** 2), in_axes=(None, 0))
        >>> per_example(np.ones(2), np.array([[1.0, 0.0], [1.0, 1.0]]))
        array([[2., 0.],
               [4., 4.]])
    """

    @functools.wraps(fun)
    def batched_fun(*args, **kwargs):
        if isinstance(in_axes, list):
            raise BatchingError("vmap: in_axes must be an int, None or a tuple (a list would be "
                                "read as a pytree prefix of a list argument)", "use a tuple")
        spec = in_axes if not isinstance(in_axes, tuple) else tuple(in_axes)
        if isinstance(spec, tuple) and len(spec) != len(args):
            raise BatchingError(f"vmap: in_axes has {len(spec)} entries but the function was "
                                f"called with {len(args)} positional arguments",
                                "give one in_axes entry per positional argument")
        leaves, in_tree = tree_flatten((args, kwargs))
        axes = (_axes_per_leaf(spec, args, "in_axes")
                + [0] * len(tree_flatten(kwargs)[0]))
        avals = [abstractify(x) for x in leaves]
        dims = [_normalize(a, v.ndim, "in_axes") for a, v in zip(axes, avals)]
        size = _batch_size(fun, args, leaves, avals, dims, axis_size)
        ctx = BatchContext(size, axis_name)
        out_store: dict[str, Any] = {}

        def flat_fun(*per_example):
            call_args, call_kwargs = tree_unflatten(in_tree, per_example)
            out_leaves, out_store["tree"] = tree_flatten(fun(*call_args, **call_kwargs))
            out_store["out"] = tree_unflatten(out_store["tree"], out_leaves)
            return out_leaves

        with axis_frame(axis_name, size):
            ir, captured = trace_to_ir(flat_fun, [a if d is None else _without(a, d)
                                                  for a, d in zip(avals, dims)],
                                       abstract_reason=_PER_MEMBER)
            outs, out_dims = batch_eval(ir, list(leaves) + captured,
                                        dims + [None] * len(captured), ctx)
        wanted = _axes_per_leaf(out_axes, out_store["out"], "out_axes")
        results = [_place(x, d, want, size) for x, d, want in zip(outs, out_dims, wanted)]
        return tree_unflatten(out_store["tree"], results)

    return batched_fun


def _place(x: Any, dim: int | None, want: int | None, size: int) -> Any:
    """Move a batched output's batch dimension to ``want`` (broadcasting an
    unbatched output, which is the same for every member)."""
    from funcgrad.transforms.batch_dims import at_front

    if want is None:
        if dim is not None:
            raise BatchingError("vmap: out_axes=None for an output that varies over the batch",
                                "give that output an int out_axes")
        return x.value if isinstance(x, Literal) else x
    ndim = len(abstractify(x).shape) + (dim is None)
    want = _normalize(want, ndim - 1, "out_axes")
    if dim == want:
        return x
    return moveaxis_to(at_front(x, dim, size), 0, want)


def _batch_size(fun: Callable, args: tuple, leaves: list, avals: list, dims: list,
                axis_size: int | None) -> int:
    sizes = {}
    for i, (aval, d) in enumerate(zip(avals, dims)):
        if d is not None:
            sizes.setdefault(aval.shape[d], []).append(i)
    if len(sizes) > 1:
        names = _leaf_names(fun, args, len(leaves))
        listed = "; ".join(f"{names[i]} has size {size} on its batch axis"
                           for size, where in sizes.items() for i in where[:3])
        raise BatchingError(f"vmap: the batched arguments disagree on the batch size: {listed}",
                            "batch every argument along axes of the same size, or pass "
                            "in_axes=None for the ones that are shared")
    if sizes:
        size = next(iter(sizes))
        if axis_size is not None and axis_size != size:
            raise BatchingError(f"vmap: axis_size={axis_size} but the arguments' batch size is "
                                f"{size}")
        return size
    if axis_size is None:
        raise BatchingError("vmap: no argument is batched, so the batch size is unknown",
                            "pass axis_size=..., or batch an argument with in_axes")
    return axis_size


def _leaf_names(fun: Callable, args: tuple, n_leaves: int) -> list[str]:
    """Readable names for the leaves of the positional arguments."""
    try:
        params = list(inspect.signature(fun).parameters)
    except (TypeError, ValueError):
        params = []
    names = []
    for i, arg in enumerate(args):
        label = f"argument {i}" + (f" ({params[i]})" if i < len(params) else "")
        count = len(tree_flatten(arg)[0])
        names += [label if count == 1 else f"{label}, leaf {k}" for k in range(count)]
    return names + [f"keyword leaf {k}" for k in range(n_leaves - len(names))]


__all__ = ["BatchingError", "axis_frame", "axis_size", "batch_eval", "batch_ir", "vmap"]
