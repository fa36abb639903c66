"""A ``fused`` cluster as one loop nest.

The nest runs over the cluster's shape.  Elementwise members become scalar
assignments in the innermost body; views (broadcasts, transposes, unit
reshapes, iota) become index arithmetic on the loads; only the cluster's
outputs are stored.  Reductions accumulate in a scalar when their axes are
the innermost loops (kept dimensions outside), else in an array in loop
order.  The outermost loop is a ``prange`` when the nest is big enough to
pay for threads and its iterations write disjoint elements.

Example (the source for ``sum(x * 2)`` over rows):
    >>> import numpy as np, funcgrad as fg, funcgrad.numpy as fnp
    >>> from funcgrad.transforms.passes import optimize
    >>> from funcgrad.backends.numba_cpu.emitter import Emitter
    >>> ir = optimize(fg.make_ir(lambda x: fnp.sum(x * 2, axis=1))(np.ones((2, 3), np.float32)))
    >>> em = Emitter()
    >>> em.name_as_printed(ir)
    >>> lower_fused(em, ir.eqns[0])
    >>> print("\\n".join(em.lines))
    b = np.empty((2,), np.float32)
    for i0 in range(2):
        acc_b = np.float64(0.0)
        for i1 in range(3):
            d_s = np.float32(a[i0, i1] * np.float32(2.0))
            acc_b = acc_b + d_s
        b[i0] = np.float32(acc_b)
"""

from __future__ import annotations

from contextlib import ExitStack

import numpy as np

from funcgrad.backends import numba_math
from funcgrad.backends.numba_cpu.emitter import Emitter, dtype_expr, typed_constant
from funcgrad.backends.numba_cpu.scalar_ops import helpers_used, scalar_expression
from funcgrad.ir import Atom, Eqn, Literal, Var
from funcgrad.transforms.passes import REDUCTIONS, is_view

# Numba's parallel pass adds seconds of compilation and threads add microseconds per call:
# only loops this big pay for both.
PARALLEL_MIN_ELEMENTS = 1 << 22

MATH_AVAILABLE = frozenset(numba_math.__all__)  # vectorizable exp_f32, log_f64, ...

# How an accumulator takes in a value, per reduction (also the cumulative rules).
COMBINE = {"reduce_sum": "{acc} + {v}", "reduce_prod": "{acc} * {v}",
            "reduce_max": "fmax({acc}, {v})", "reduce_min": "fmin({acc}, {v})",
            "reduce_and": "{acc} and {v}", "reduce_or": "{acc} or {v}"}
_BOOL_COMBINE = {"reduce_max": "{acc} or {v}", "reduce_min": "{acc} and {v}"}


def _identity(name: str, dtype: np.dtype):
    if name in ("reduce_sum", "reduce_or"):
        return 0
    if name in ("reduce_prod", "reduce_and"):
        return 1
    low = name == "reduce_max"
    if dtype == np.bool_:
        return not low
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return info.min if low else info.max
    return -np.inf if low else np.inf


def _acc_dtype(name: str, dtype: np.dtype) -> np.dtype:
    # Sums of low-precision floats accumulate in float64, more accurately than NumPy's pairwise sum.
    if name in ("reduce_sum", "reduce_prod") and dtype.kind == "f" and dtype.itemsize < 8:
        return np.dtype(np.float64)
    return dtype


def _index(idx) -> str:
    return ", ".join(idx) if idx else "()"


class _Nest:
    def __init__(self, em: Emitter, body_eqns: list[Eqn], shape: tuple[int, ...]):
        self.em = em
        self.shape = shape
        self.loop_index = tuple(f"i{d}" for d in range(len(shape)))
        self.producer: dict[Var, Eqn] = {v: e for e in body_eqns for v in e.outputs}
        self.locals: dict[Var, str] = {}

    def load(self, atom: Atom, idx: tuple[str, ...]) -> str:
        """A scalar expression for ``atom`` at index ``idx``."""
        if isinstance(atom, Literal):
            if atom.aval.shape == ():
                return typed_constant(atom.value, atom.aval.dtype)
            return f"{self.em.name(atom)}[{_index(idx)}]"
        if atom in self.locals and idx == self.loop_index:
            return self.locals[atom]
        eqn = self.producer.get(atom)
        if eqn is None:  # an input of the cluster: in memory
            return f"{self.em.name(atom)}[{_index(idx)}]"
        name = eqn.primitive.name
        if name == "iota":
            return f"{dtype_expr(atom.aval.dtype)}({idx[eqn.params['dimension']]})"
        operand = eqn.inputs[0]
        return self.load(operand, _operand_index(eqn, operand.aval.shape, idx))


def _operand_index(eqn: Eqn, operand_shape: tuple[int, ...], idx: tuple[str, ...]):
    """Map an index of a view's output to the index of its operand."""
    name = eqn.primitive.name
    out_shape = eqn.outputs[0].aval.shape
    if name == "broadcast_in_dim":
        dims = eqn.params["broadcast_dimensions"]
        return tuple("0" if size == 1 and out_shape[d] != 1 else idx[d]
                     for size, d in zip(operand_shape, dims))
    if name == "transpose":
        result = [""] * len(idx)
        for i, p in enumerate(eqn.params["permutation"]):
            result[int(p)] = idx[i]
        return tuple(result)
    # a reshape inserting or dropping unit dimensions: non-unit dimensions correspond in order
    big = iter(i for i, size in zip(idx, out_shape) if size != 1)
    return tuple("0" if size == 1 else next(big) for size in operand_shape)


def lower_fused(em: Emitter, eqn: Eqn, parallel_min: int = PARALLEL_MIN_ELEMENTS) -> None:
    """Emit the loop nest of a ``fused`` equation (setting ``em.parallel`` if
    it uses prange)."""
    body = eqn.params["ir"]
    reductions = [e for e in body.eqns if e.primitive.name in REDUCTIONS]
    shape = reductions[0].inputs[0].aval.shape if reductions else body.outputs[0].aval.shape
    axes = tuple(reductions[0].params["axes"]) if reductions else ()
    ndim = len(shape)
    kept = [d for d in range(ndim) if d not in axes]
    scalar_acc = axes == tuple(range(ndim - len(axes), ndim))  # reduced loops innermost
    nest = _Nest(em, body.eqns, shape)
    stored = [v for v in body.outputs if nest.producer[v] not in reductions]
    for var in stored:
        em.line(f"{em.name(var)} = np.empty({var.aval.shape!r}, {dtype_expr(var.aval.dtype)})")
    accs = {}
    for red in reductions:
        out = red.outputs[0]
        dtype = out.aval.dtype
        acc_dtype = _acc_dtype(red.primitive.name, dtype)
        init = typed_constant(_identity(red.primitive.name, dtype), acc_dtype)
        accs[red] = em.fresh(f"acc_{em.name(out)}")
        if scalar_acc:
            em.line(f"{em.name(out)} = np.empty({out.aval.shape!r}, {dtype_expr(dtype)})")
        else:
            em.line(f"{accs[red]} = np.full({out.aval.shape!r}, {init}, {dtype_expr(acc_dtype)})")
    size = int(np.prod(shape, dtype=np.int64))
    parallel = size >= parallel_min and ndim > 0 and 0 not in axes and shape[0] > 1
    em.parallel |= parallel
    kept_index = tuple(f"i{d}" for d in kept)
    outer_dims, inner_dims = (kept, axes) if scalar_acc else (range(ndim), ())
    with ExitStack() as outer:
        for d in outer_dims:
            loop = "prange" if parallel and d == 0 else "range"
            outer.enter_context(em.block(f"for i{d} in {loop}({shape[d]}):"))
        if scalar_acc:
            for red in reductions:
                dtype = red.outputs[0].aval.dtype
                init = typed_constant(_identity(red.primitive.name, dtype),
                                      _acc_dtype(red.primitive.name, dtype))
                em.line(f"{accs[red]} = {init}")
        with ExitStack() as inner:
            for d in inner_dims:
                inner.enter_context(em.block(f"for i{d} in range({shape[d]}):"))
            _emit_body(em, nest, body.eqns, accs, scalar_acc, kept_index)
            for var in stored:
                value = nest.locals.get(var) or nest.load(var, nest.loop_index)  # a view: loaded
                em.line(f"{em.name(var)}[{_index(nest.loop_index)}] = {value}")
        if scalar_acc:
            for red in reductions:
                out = red.outputs[0]
                em.line(f"{em.name(out)}[{_index(kept_index)}] = "
                        f"{dtype_expr(out.aval.dtype)}({accs[red]})")
    if not scalar_acc:
        for red in reductions:
            out = red.outputs[0]
            cast = "" if _acc_dtype(red.primitive.name, out.aval.dtype) == out.aval.dtype else \
                f".astype({dtype_expr(out.aval.dtype)})"
            em.line(f"{em.name(out)} = {accs[red]}{cast}")


def _emit_body(em: Emitter, nest: _Nest, eqns: list[Eqn], accs: dict, scalar_acc: bool,
               kept_index: tuple[str, ...]) -> None:
    here = nest.loop_index
    for eqn in eqns:
        if is_view(eqn):
            continue  # loaded where it is read
        name = eqn.primitive.name
        args = [nest.load(a, here) for a in eqn.inputs]
        out = eqn.outputs[0]
        if name in REDUCTIONS:
            dtype = eqn.inputs[0].aval.dtype
            template = (_BOOL_COMBINE if dtype == np.bool_ else {}).get(name, COMBINE[name])
            acc = accs[eqn] if scalar_acc else f"{accs[eqn]}[{_index(kept_index)}]"
            expr = template.format(acc=acc, v=args[0])
            em.use(*helpers_used(expr))
            em.line(f"{acc} = {expr}")
            continue
        in_dtype = eqn.inputs[-1].aval.dtype if eqn.inputs else out.aval.dtype
        expr = scalar_expression(name, args, in_dtype, out.aval.dtype, MATH_AVAILABLE)
        em.use(*helpers_used(expr), *(m for m in MATH_AVAILABLE if m + "(" in expr))
        local = em.fresh(f"{em.name(out)}_s")
        em.line(f"{local} = {expr}")
        nest.locals[out] = local
