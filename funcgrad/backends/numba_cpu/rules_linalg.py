"""Lowering rules for the matrix decompositions and ``conv_general_dilated``.

Decompositions: the leading batch dimensions become a loop over 2-D slices,
each handed to Numba's ``np.linalg``, which calls the LAPACK routines NumPy's
eager implementations call (``potrf``, ``gesv``, ``getrf``, ``geqrf`` +
``orgqr``, ``gesdd``, ``syevd``), so results follow the same conventions
(signs of the ``qr`` / ``svd`` / ``eigh`` vectors included).  Where Numba
differs from NumPy the rules make up for it:

- ``inv`` solves against the identity, as NumPy does (Numba's uses ``getri``).
- Numba raises on a non-finite matrix where NumPy's LAPACK returns NaNs: a
  matrix with an inf or NaN in what is read gives NaN results instead (in every
  element, where NumPy's pattern of NaNs is LAPACK's).  ``cholesky`` (Numba
  does not check) and ``svd`` (NumPy raises too) need no such guard.
- ``eigh`` is passed a copy of the lower triangle (the rest zero), so a NaN
  above the diagonal is ignored as in NumPy.  Numba's reads the lower triangle
  only, and ``syevd`` on the upper triangle gives other signs than on the
  transposed lower one, so ``lower=False`` stays a host call.
- ``qr(full_matrices=True)`` of a tall matrix factors it padded with zero
  columns: their reflectors are identities, so ``q`` is NumPy's complete one.
- ``svd(compute_uv=False)`` keeps the values of a reduced ``svd`` (NumPy asks
  ``gesdd`` for values only: equal to rounding).
- Matrices with a zero dimension stay host calls (Numba's ``qr`` / ``svd`` raise).

``conv_general_dilated`` is im2col: per example and feature group, explicit
loops copy the windows into a C-contiguous ``(I * window, positions)``
buffer, and one ``np.dot`` (BLAS; ``matmul_loops`` for integers) multiplies
the group's kernel with it, straight into the output.

Numba compiles each lowered equation in about a second (the first use of an
``np.linalg`` function per dtype costs more); the disk cache makes a second
process start warm.

Example:
    >>> import numpy as np, funcgrad as fg
    >>> from funcgrad.primitives.linalg import cholesky
    >>> fg.jit(cholesky.bind)(np.array([[4.0, 2.0], [2.0, 5.0]]))
    array([[2., 0.],
           [1., 2.]])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import ExitStack

import numpy as np

from funcgrad.backends.numba_cpu.emitter import Emitter, dtype_expr
from funcgrad.backends.numba_cpu.rules import CONDITIONS, _tuple, rule
from funcgrad.ir import Eqn

# ---------------------------------------------------------------- decompositions

Compute = Callable[[Emitter, list[str]], list[str]]


def _lower_matrices(em: Emitter, eqn: Eqn, compute: Compute, *, prepare: Compute | None = None,
                    finite: bool = True) -> None:
    """Loop over the stacked matrices of the operands: ``prepare`` turns their
    2-D slices into the matrices LAPACK reads, ``compute`` emits the calls and
    returns a name per output (a matrix, vector or scalar, possibly with more
    columns than the output takes).  With ``finite``, an operand with an inf
    or NaN gives NaN outputs instead."""
    batch_shape = eqn.inputs[0].aval.shape[:-2]
    batch = math.prod(batch_shape)
    stacks = []
    for atom in eqn.inputs:
        stacks.append(_bind(em, f"{em.name(atom)}_stack",
                            f"{em.name(atom)}.reshape({(batch, *atom.aval.shape[-2:])!r})"))
    results = []
    for out in eqn.outputs:
        tail = out.aval.shape[len(batch_shape):]
        results.append(_bind(em, f"{em.name(out)}_stack",
                             f"np.empty({(batch, *tail)!r}, {dtype_expr(out.aval.dtype)})"))
    i = em.fresh("matrix")
    with em.block(f"for {i} in range({batch}):"):
        operands = [_bind(em, em.name(atom), f"{stack}[{i}]") for atom, stack in zip(eqn.inputs, stacks)]
        if prepare is not None:
            operands = prepare(em, operands)
        with ExitStack() as guard:
            if finite:
                guard.enter_context(em.block(f"if {_all_finite(operands, eqn.inputs[0].aval.dtype)}:"))
            for out, result, value in zip(eqn.outputs, results, compute(em, operands)):
                _copy(em, result, value, out.aval.shape[len(batch_shape):], lead=(i,))
        if finite:
            with em.block("else:"):
                for result in results:
                    em.line(f"{result}[{i}] = np.nan")
    for out, result in zip(eqn.outputs, results):
        em.line(f"{em.name(out)} = {result}.reshape({_tuple(map(str, out.aval.shape))})")


def _all_finite(arrays: list[str], dtype: np.dtype) -> str:
    """An expression: whether every element of ``arrays`` is finite.  Max and
    min propagate NaN (in real arrays), and each is one function compiled
    once, where ``np.isfinite(x).all()`` compiles a loop at every use."""
    parts = [f"{x}{part}" for x in arrays for part in ((".real", ".imag") if dtype.kind == "c" else ("",))]
    return " and ".join(f"np.isfinite({p}.max()) and np.isfinite({p}.min())" for p in parts)


def _copy(em: Emitter, target: str, source: str, shape: tuple[int, ...], *, lead: tuple[str, ...] = (),
          transpose: bool = False) -> None:
    """``target[*lead, *index] = source[*index]`` (``source[*reversed(index)]``
    if ``transpose``) for every index of ``shape``: loops, since Numba's first
    array assignment of a kind costs seconds to compile."""
    index = [em.fresh("k") for _ in shape]
    with ExitStack() as loops:
        for k, size in zip(index, shape):
            loops.enter_context(em.block(f"for {k} in range({size}):"))
        read = f"{source}[{', '.join(index[::-1] if transpose else index)}]" if shape else source
        em.line(f"{target}[{', '.join((*lead, *index))}] = {read}")


def _bind(em: Emitter, stem: str, expr: str) -> str:
    name = em.fresh(stem)
    em.line(f"{name} = {expr}")
    return name


def _unpack(em: Emitter, call: str, count: int) -> list[str]:
    """Names bound to the ``count`` results of ``call``."""
    names = [em.fresh("part") for _ in range(count)]
    em.line(f"{', '.join(names)} = {call}")
    return names


def _triangle(em: Emitter, x: str, n: int, dtype: np.dtype, *, lower: bool, transpose: bool = False,
              unit_diagonal: bool = False) -> str:
    """A C-contiguous copy of the lower (or upper) triangle of ``x``, the rest
    zero; optionally with ones on the diagonal, or transposed."""
    t = _bind(em, "triangle", f"np.zeros(({n}, {n}), {dtype_expr(dtype)})")
    r, c = em.fresh("row"), em.fresh("col")
    with em.block(f"for {r} in range({n}):"):
        with em.block(f"for {c} in range({r} + 1):" if lower else f"for {c} in range({r}, {n}):"):
            em.line(f"{t}[{c}, {r}] = {x}[{r}, {c}]" if transpose else f"{t}[{r}, {c}] = {x}[{r}, {c}]")
        if unit_diagonal:
            em.line(f"{t}[{r}, {r}] = 1")
    return t


def _call(function: str, count: int = 1) -> Compute:
    """Compute the results of ``np.linalg.<function>(*operands)``."""
    return lambda em, xs: _unpack(em, f"np.linalg.{function}({', '.join(xs)})", count)


def _decomposition(name: str, compute: Compute, finite: bool = True) -> None:
    rule(name)(lambda em, eqn: _lower_matrices(em, eqn, compute, finite=finite))


_decomposition("cholesky", _call("cholesky"), finite=False)
_decomposition("det", _call("det"))
_decomposition("slogdet", _call("slogdet", 2))
_decomposition("solve", _call("solve"))


@rule("inv")
def _inv(em, eqn):
    a = eqn.inputs[0].aval
    eye = f"np.eye({a.shape[-1]}, {a.shape[-1]}, 0, {dtype_expr(a.dtype)})"
    _lower_matrices(em, eqn, lambda em, xs: _unpack(em, f"np.linalg.solve({xs[0]}, {eye})", 1))


@rule("eigh")
def _eigh(em, eqn):
    a = eqn.inputs[0].aval
    _lower_matrices(em, eqn, _call("eigh", 2),
                    prepare=lambda em, xs: [_triangle(em, xs[0], a.shape[-1], a.dtype, lower=True)])


@rule("qr")
def _qr(em, eqn):
    m, n = eqn.inputs[0].aval.shape[-2:]
    dtype = dtype_expr(eqn.inputs[0].aval.dtype)

    def prepare(em, xs):
        if not (eqn.params["full_matrices"] and m > n):
            return xs
        padded = _bind(em, "padded", f"np.zeros(({m}, {m}), {dtype})")
        _copy(em, padded, xs[0], (m, n))
        return [padded]

    # r has m columns when padded: the copy into the output takes the first n.
    _lower_matrices(em, eqn, _call("qr", 2), prepare=prepare)


@rule("svd")
def _svd(em, eqn):
    compute_uv = eqn.params["compute_uv"]
    full = eqn.params["full_matrices"] and compute_uv  # the smallest u and vh when they are dropped

    def compute(em, xs):
        u, s, vh = _unpack(em, f"np.linalg.svd({xs[0]}, {full})", 3)
        return [u, s, vh] if compute_uv else [s]

    _lower_matrices(em, eqn, compute, finite=False)


@rule("triangular_solve")
def _triangular_solve(em, eqn):
    p = eqn.params
    a, b = (atom.aval for atom in eqn.inputs)
    left = p["left_side"]

    def prepare(em, xs):
        # The eager implementation: a general solve on the masked triangle t, with op(t) on the
        # left and op(t).T on the right (x @ op(t) = b  <=>  op(t).T @ x.T = b.T).
        t = _triangle(em, xs[0], a.shape[-1], a.dtype, lower=p["lower"],
                      transpose=p["transpose_a"] == left, unit_diagonal=p["unit_diagonal"])
        if left:
            return [t, xs[1]]
        rhs = _bind(em, "rhs", f"np.empty({b.shape[:-3:-1]!r}, {dtype_expr(b.dtype)})")
        _copy(em, rhs, xs[1], b.shape[:-3:-1], transpose=True)
        return [t, rhs]

    def compute(em, xs):
        x = _unpack(em, f"np.linalg.solve({xs[0]}, {xs[1]})", 1)[0]
        return [x if left else _bind(em, "solution", f"{x}.T")]

    _lower_matrices(em, eqn, compute, prepare=prepare)


def _matrices_not_empty(eqn: Eqn) -> bool:
    return all(0 not in atom.aval.shape[-2:] for atom in eqn.inputs)


for _name in ("cholesky", "inv", "det", "slogdet", "qr", "svd", "solve", "triangular_solve"):
    CONDITIONS[_name] = _matrices_not_empty
CONDITIONS["eigh"] = lambda eqn: eqn.params["lower"] and _matrices_not_empty(eqn)

# ---------------------------------------------------------------- convolution


def _dilated(size: int, dilation: int) -> int:
    return (size - 1) * dilation + 1


@rule("conv_general_dilated")
def _conv(em, eqn):
    lhs, rhs = eqn.inputs
    p = eqn.params
    aval = eqn.outputs[0].aval
    out = em.name(eqn.outputs[0])
    dtype = dtype_expr(aval.dtype)
    n, o, *out_spatial = aval.shape
    spatial, (features, *window) = lhs.aval.shape[2:], rhs.aval.shape[1:]
    groups = p["feature_group_count"]
    per_group = o // groups
    depth, positions = features * math.prod(window), math.prod(out_spatial)
    if math.prod(aval.shape) == 0 or depth == 0:
        em.line(f"{out} = np.zeros({aval.shape!r}, {dtype})")
        return
    kernel = _bind(em, "kernel", f"{em.name(rhs)}.reshape(({groups}, {per_group}, {depth}))")
    # Taps that read padding or lhs_dilation holes read it for every example and feature: their
    # entries of the buffer stay zero, and the copies write only the others.
    columns = _bind(em, "columns", f"np.zeros(({depth}, {positions}), {dtype})")
    blas = aval.dtype.kind in "fc"
    allocate = "np.empty" if blas else "np.zeros"  # matmul_loops adds to its output
    result = _bind(em, "conv", f"{allocate}(({n}, {groups}, {per_group}, {positions}), {dtype})")
    taps = _tap_tables(em, spatial, window, out_spatial, p)
    e, g = em.fresh("example"), em.fresh("group")
    with em.block(f"for {e} in range({n}):"), em.block(f"for {g} in range({groups}):"):
        _im2col(em, em.name(lhs), columns, e, f"{g} * {features}", features, window, out_spatial, taps)
        # Each GEMM writes its block of the (examples, outputs, positions) result in place.
        if blas:
            em.line(f"np.dot({kernel}[{g}], {columns}, {result}[{e}, {g}])")
        else:
            em.use("matmul_loops")
            em.line(f"matmul_loops({kernel}[{g}], {columns}, {result}[{e}, {g}])")
    em.line(f"{out} = {result}.reshape({aval.shape!r})")


def _tap_tables(em: Emitter, spatial, window, out_spatial, p) -> list[str]:
    """Per spatial dimension, a table ``[tap, position]`` of the input index
    the tap reads at each output position, or -1 where it reads padding or a
    hole of ``lhs_dilation``."""
    tables = []
    for d, (size, k, count) in enumerate(zip(spatial, window, out_spatial)):
        stride, (low, _), l_dil, r_dil = (p["window_strides"][d], p["padding"][d],
                                          p["lhs_dilation"][d], p["rhs_dilation"][d])
        table, tap, q, at = em.fresh(f"taps{d}"), em.fresh("tap"), em.fresh("position"), em.fresh("at")
        em.line(f"{table} = np.empty(({k}, {count}), np.int64)")
        with em.block(f"for {tap} in range({k}):"), em.block(f"for {q} in range({count}):"):
            # The position in the padded, dilated input; then the input element there, if any.
            em.line(f"{at} = {q} * {stride} + {tap} * {r_dil} {'-' if low >= 0 else '+'} {abs(low)}")
            inside = f"0 <= {at} < {_dilated(size, l_dil)}"
            if l_dil == 1:
                em.line(f"{table}[{tap}, {q}] = {at} if {inside} else -1")
            else:
                em.line(f"{table}[{tap}, {q}] = {at} // {l_dil} if {inside} and {at} % {l_dil} == 0 else -1")
        tables.append(table)
    return tables


def _flat(index: str, size: int, inner: str) -> str:
    """The flat index of ``(index, inner)`` with ``inner`` in ``range(size)``."""
    return f"({index}) * {size} + {inner}" if " " in index else f"{index} * {size} + {inner}"


def _im2col(em: Emitter, x: str, columns: str, example: str, first: str, features: int, window,
            out_spatial, taps: list[str]) -> None:
    """``columns[(feature, *tap), position] = x[example, first + feature, *input index]``
    where the tap reads an input element."""
    with ExitStack() as loops:
        f = em.fresh("feature")
        loops.enter_context(em.block(f"for {f} in range({features}):"))
        row, index = f, [example, f"{first} + {f}"]
        tap_vars = []
        for k in window:
            tap = em.fresh("tap")
            loops.enter_context(em.block(f"for {tap} in range({k}):"))
            row = _flat(row, k, tap)
            tap_vars.append(tap)
        col = ""
        for count, table, tap in zip(out_spatial, taps, tap_vars):
            q, source = em.fresh("position"), em.fresh("source")
            loops.enter_context(em.block(f"for {q} in range({count}):"))
            col = _flat(col, count, q) if col else q
            em.line(f"{source} = {table}[{tap}, {q}]")
            loops.enter_context(em.block(f"if {source} >= 0:"))
            index.append(source)
        em.line(f"{columns}[{row}, {col}] = {x}[{', '.join(index)}]")


# float16 has no BLAS and Numba does no float16 arithmetic.
CONDITIONS["conv_general_dilated"] = lambda eqn: (eqn.outputs[0].aval.dtype.kind in "iu"
                                                   or eqn.outputs[0].aval.dtype.itemsize >= 4)
