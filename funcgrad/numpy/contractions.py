"""NumPy's contractions, traceable: ``matmul``, ``dot``, ``einsum`` and friends.

Every sum of products is one ``dot_general`` equation; broadcast batch
dimensions become ``broadcast_in_dim`` only where an operand lacks them.
Dtypes follow NumPy: ``matmul`` and the other gufuncs promote as ufuncs do
(NEP 50), while ``dot``, ``inner``, ``tensordot`` and ``einsum`` first turn
Python scalars into arrays (``np.dot(2, x32)`` is float64).

Example:
    >>> import funcgrad as fg, funcgrad.numpy as fnp
    >>> print(fg.make_ir(lambda a, b: fnp.einsum("bij,bjk->bik", a, b))(np.ones((2, 3, 4)),
    ...                                                                  np.ones((2, 4, 5))))
    { lambda a:f64[2,3,4] b:f64[2,4,5] .
      c:f64[2,3,5] = dot_general[dimension_numbers=(((2,), (1,)), ((0,), (0,)))] a b
      in (c) }
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from funcgrad.errors import ShapeError
from funcgrad.numpy import ufuncs
from funcgrad.numpy._core import (
    aval_of,
    broadcast_shapes,
    broadcast_to,
    convert,
    implements,
    ndim_of,
    normalize_axis,
    reshape,
    resolve_ufunc,
    result_dtype,
    shape_of,
)
from funcgrad.primitives import linalg as linalg_primitives
from funcgrad.primitives import reductions, structural
from funcgrad.trace import Tracer

__all__ = ["dot", "einsum", "inner", "kron", "matmul", "matvec", "outer", "tensordot", "trace",
           "vdot", "vecdot", "vecmat"]


# ---------------------------------------------------------------- helpers


def as_array(x: Any) -> Any:
    """``x`` as NumPy's contractions see it: scalars and lists become arrays (strong dtypes)."""
    return x if isinstance(x, Tracer) else np.asarray(x)


def _common(*xs: Any) -> list[Any]:
    """The operands as arrays of their common dtype (``np.result_type``)."""
    arrays = [as_array(x) for x in xs]
    dtype = result_dtype(*arrays)
    return [convert(x, dtype) for x in arrays]


def reject_out(name: str, out: Any) -> None:
    """Traced arrays have no ``out=``: an error that says to use the result."""
    if out is not None:
        raise TypeError(f"{name}: out= writes in place, which traced arrays cannot do; "
                        "use the returned value instead")


def conj_if_complex(x: Any) -> Any:
    """``x.conj()``, with no equation for real ``x``."""
    if aval_of(x).dtype.kind != "c":
        return x
    from funcgrad.numpy import math as fnp_math

    return fnp_math.conjugate(x)


def permute(x: Any, permutation: Sequence[int]) -> Any:
    """``x`` with its axes permuted, skipping the identity."""
    permutation = tuple(permutation)
    if permutation == tuple(range(len(permutation))):
        return x
    return structural.transpose.bind(x, permutation=permutation)


def dot_general(lhs: Any, rhs: Any, lhs_contract: Sequence[int], rhs_contract: Sequence[int],
                lhs_batch: Sequence[int] = (), rhs_batch: Sequence[int] = ()) -> Any:
    """Bind ``dot_general`` (operands of one dtype): batch dims, then free dims of each.

    Example:
        >>> dot_general(np.ones((2, 3)), np.ones((3, 4)), (1,), (0,)).shape
        (2, 4)
    """
    numbers = ((tuple(lhs_contract), tuple(rhs_contract)), (tuple(lhs_batch), tuple(rhs_batch)))
    return linalg_primitives.dot_general.bind(lhs, rhs, dimension_numbers=numbers)


def _reduce_sum(x: Any, axes: Sequence[int]) -> Any:
    return reductions.reduce_sum.bind(x, axes=tuple(sorted(axes))) if axes else x


def _batched_dot(name: str, a: Any, b: Any, a_core: int, b_core: int, a_axis: int, b_axis: int) -> Any:
    """Contract axis ``a_axis`` of ``a``'s last ``a_core`` dims with ``b_axis`` of ``b``'s
    last ``b_core`` dims (negative axes); the dims before the cores broadcast (a gufunc's
    loop dims).  The result is the loop dims, then ``a``'s free core dims, then ``b``'s."""
    a_shape, b_shape = shape_of(a), shape_of(b)
    a_loop, b_loop = a_shape[:len(a_shape) - a_core], b_shape[:len(b_shape) - b_core]
    if a_loop and b_loop:
        loop = broadcast_shapes(name, a_loop, b_loop)
        a = broadcast_to(a, loop + a_shape[len(a_loop):])
        b = broadcast_to(b, loop + b_shape[len(b_loop):])
        batch = range(len(loop))
        return dot_general(a, b, (len(loop) + a_core + a_axis,), (len(loop) + b_core + b_axis,),
                           batch, batch)
    out = dot_general(a, b, (len(a_shape) + a_axis,), (len(b_shape) + b_axis,))
    if not b_loop:
        return out
    # out is (a's free core, b's loop dims, b's free core): move b's loop dims first.
    a_free = a_core - 1
    n_out = a_free + len(b_shape) - 1
    return permute(out, (*range(a_free, a_free + len(b_loop)), *range(a_free),
                         *range(a_free + len(b_loop), n_out)))


def _gufunc_operands(ufunc: np.ufunc, x1: Any, x2: Any, dtype: Any, kwargs: dict) -> list[Any]:
    """``x1, x2`` converted to the loop ``ufunc`` picks (NEP 50, or for ``dtype``)."""
    name = ufunc.__name__
    if kwargs:
        raise TypeError(f"{name}: unsupported keyword arguments {sorted(kwargs)} on traced arrays")
    for i, x in enumerate((x1, x2)):
        if ndim_of(x) == 0:
            raise ShapeError(f"{name}: Input operand {i} does not have enough dimensions (has 0, "
                             f"gufunc core with signature {ufunc.signature} requires 1)")
    if dtype is None:
        loop = resolve_ufunc(ufunc, x1, x2)
    else:
        # dtype= fixes the loop's output dtype (the loop, not a cast of its result).
        loop = ufunc.resolve_dtypes((aval_of(x1).dtype, aval_of(x2).dtype, None),
                                    signature=(None, None, np.dtype(dtype)))
    return [convert(as_array(x), d) for x, d in zip((x1, x2), loop)]


def _check_core(ufunc: np.ufunc, expected: int, got: int) -> None:
    if expected != got:
        raise ShapeError(f"{ufunc.__name__}: Input operand 1 has a mismatch in its core dimension 0, "
                         f"with gufunc signature {ufunc.signature} (size {got} is different from "
                         f"{expected})")


# ---------------------------------------------------------------- gufuncs


@implements(np.matmul)
def matmul(x1: Any, x2: Any, /, out: Any = None, *, dtype: Any = None, **kwargs: Any) -> Any:
    reject_out("matmul", out)
    a, b = _gufunc_operands(np.matmul, x1, x2, dtype, kwargs)
    na, nb = ndim_of(a), ndim_of(b)
    b_axis = -2 if nb > 1 else -1
    _check_core(np.matmul, shape_of(a)[-1], shape_of(b)[b_axis])
    return _batched_dot("matmul", a, b, min(na, 2), min(nb, 2), -1, b_axis)


@implements(np.vecdot)
def vecdot(x1: Any, x2: Any, /, out: Any = None, *, axis: int = -1, dtype: Any = None,
           **kwargs: Any) -> Any:
    reject_out("vecdot", out)
    a, b = _gufunc_operands(np.vecdot, x1, x2, dtype, kwargs)
    a, b = (_move_to_end(x, axis, "vecdot") for x in (a, b))
    _check_core(np.vecdot, shape_of(a)[-1], shape_of(b)[-1])
    return _batched_dot("vecdot", conj_if_complex(a), b, 1, 1, -1, -1)


def _move_to_end(x: Any, axis: int, name: str) -> Any:
    ndim = ndim_of(x)
    axis = normalize_axis(axis, ndim, name)
    return permute(x, (*range(axis), *range(axis + 1, ndim), axis))


@implements(np.matvec)
def matvec(x1: Any, x2: Any, /, out: Any = None, *, dtype: Any = None, **kwargs: Any) -> Any:
    reject_out("matvec", out)
    a, v = _gufunc_operands(np.matvec, x1, x2, dtype, kwargs)
    if ndim_of(a) < 2:
        raise ShapeError(f"matvec: Input operand 0 does not have enough dimensions (has {ndim_of(a)}, "
                         f"gufunc core with signature {np.matvec.signature} requires 2)")
    _check_core(np.matvec, shape_of(a)[-1], shape_of(v)[-1])
    return _batched_dot("matvec", a, v, 2, 1, -1, -1)


@implements(np.vecmat)
def vecmat(x1: Any, x2: Any, /, out: Any = None, *, dtype: Any = None, **kwargs: Any) -> Any:
    reject_out("vecmat", out)
    v, a = _gufunc_operands(np.vecmat, x1, x2, dtype, kwargs)
    if ndim_of(a) < 2:
        raise ShapeError(f"vecmat: Input operand 1 does not have enough dimensions (has {ndim_of(a)}, "
                         f"gufunc core with signature {np.vecmat.signature} requires 2)")
    _check_core(np.vecmat, shape_of(v)[-1], shape_of(a)[-2])
    return _batched_dot("vecmat", conj_if_complex(v), a, 1, 2, -1, -2)


# ---------------------------------------------------------------- dot and friends


def _check_aligned(name: str, a: Any, b: Any, a_axis: int, b_axis: int) -> None:
    a_shape, b_shape = shape_of(a), shape_of(b)
    if a_shape[a_axis] != b_shape[b_axis]:
        raise ShapeError(f"{name}: shapes {a_shape} and {b_shape} not aligned: {a_shape[a_axis]} "
                         f"(dim {a_axis}) != {b_shape[b_axis]} (dim {b_axis})")


@implements(np.dot)
def dot(a: Any, b: Any, out: Any = None) -> Any:
    reject_out("dot", out)
    a, b = _common(a, b)
    na, nb = ndim_of(a), ndim_of(b)
    if na == 0 or nb == 0:
        return ufuncs.multiply(a, b)
    b_axis = max(nb - 2, 0)
    _check_aligned("dot", a, b, na - 1, b_axis)
    return dot_general(a, b, (na - 1,), (b_axis,))


@implements(np.inner)
def inner(a: Any, b: Any, /) -> Any:
    a, b = _common(a, b)
    na, nb = ndim_of(a), ndim_of(b)
    if na == 0 or nb == 0:
        return ufuncs.multiply(a, b)
    _check_aligned("inner", a, b, na - 1, nb - 1)
    return dot_general(a, b, (na - 1,), (nb - 1,))


@implements(np.vdot)
def vdot(a: Any, b: Any, /) -> Any:
    a, b = _common(a, b)
    sizes = math.prod(shape_of(a)), math.prod(shape_of(b))
    if sizes[0] != sizes[1]:
        raise ShapeError(f"vdot: the operands have different sizes {sizes[0]} and {sizes[1]}")
    return dot_general(conj_if_complex(reshape(a, sizes[:1])), reshape(b, sizes[1:]), (0,), (0,))


@implements(np.outer)
def outer(a: Any, b: Any, out: Any = None) -> Any:
    reject_out("outer", out)
    a, b = as_array(a), as_array(b)
    return ufuncs.multiply(reshape(a, (math.prod(shape_of(a)), 1)), reshape(b, (1, math.prod(shape_of(b)))))


@implements(np.tensordot)
def tensordot(a: Any, b: Any, axes: Any = 2) -> Any:
    a, b = _common(a, b)
    na, nb = ndim_of(a), ndim_of(b)
    try:
        axes_a, axes_b = axes
    except TypeError:
        axes_a, axes_b = range(-axes, 0), range(axes)
    axes_a = list(axes_a) if isinstance(axes_a, (list, tuple, range)) else [axes_a]
    axes_b = list(axes_b) if isinstance(axes_b, (list, tuple, range)) else [axes_b]
    axes_a = [normalize_axis(x, na, "tensordot") for x in axes_a]
    axes_b = [normalize_axis(x, nb, "tensordot") for x in axes_b]
    a_sizes = [shape_of(a)[x] for x in axes_a]
    b_sizes = [shape_of(b)[x] for x in axes_b]
    if a_sizes != b_sizes:
        raise ShapeError(f"tensordot: shape-mismatch for sum: axes {axes_a} of {shape_of(a)} and "
                         f"{axes_b} of {shape_of(b)} have sizes {a_sizes} and {b_sizes}")
    return dot_general(a, b, axes_a, axes_b)


@implements(np.kron)
def kron(a: Any, b: Any) -> Any:
    a, b = as_array(a), as_array(b)
    a_shape, b_shape = shape_of(a), shape_of(b)
    if not a_shape or not b_shape:
        return ufuncs.multiply(a, b)
    nd = max(len(a_shape), len(b_shape))
    a_shape = (1,) * (nd - len(a_shape)) + tuple(a_shape)
    b_shape = (1,) * (nd - len(b_shape)) + tuple(b_shape)
    # Interleave: a as (a0, 1, a1, 1, ...) times b as (1, b0, 1, b1, ...).
    a = reshape(a, [s for size in a_shape for s in (size, 1)])
    b = reshape(b, [s for size in b_shape for s in (1, size)])
    return reshape(ufuncs.multiply(a, b), [x * y for x, y in zip(a_shape, b_shape)])


@implements(np.trace)
def trace(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None,
          out: Any = None) -> Any:
    reject_out("trace", out)
    import funcgrad.numpy as fnp

    return fnp.sum(fnp.diagonal(as_array(a), offset, axis1, axis2), axis=-1, dtype=dtype)


# ---------------------------------------------------------------- einsum

# An einsum label: a letter, or for the dims an ellipsis stands for, their
# position counted from the right (so ellipses of different lengths broadcast).
Label = str | int


def _parse_term(term: str, ndim: int | None, where: str) -> list[Label]:
    """The labels of one term; ``ndim`` None for the output (ellipsis length decided later)."""
    letters = term.replace("...", "", 1)  # a second ellipsis is then a stray '.'
    if "." in letters:
        raise ValueError(f"einsum: subscripts {term!r} contain a '.' that is not part of an "
                         f"ellipsis ('...') in {where}")
    bad = [c for c in letters if not (c.isascii() and c.isalpha())]
    if bad:
        raise ValueError(f"einsum: invalid subscript {bad[0]!r} in {where}, subscripts must be letters")
    if "..." not in term:
        if ndim is not None and len(letters) != ndim:
            raise ValueError(f"einsum: {where} has {ndim} dimensions but subscripts {term!r} name "
                             f"{len(letters)} (use '...' for the others)")
        return list(letters)
    head, tail = term.split("...")
    n_ellipsis = -1 if ndim is None else ndim - len(letters)
    if ndim is not None and n_ellipsis < 0:
        raise ValueError(f"einsum: subscripts {term!r} name more dimensions than {where} has ({ndim})")
    return [*head, *(["..."] if ndim is None else range(n_ellipsis - 1, -1, -1)), *tail]


def _parse_einsum(subscripts: str, ndims: list[int]) -> tuple[list[list[Label]], list[Label]]:
    """Input labels per operand and the output labels (NumPy's implicit output if no ``->``)."""
    subscripts = subscripts.replace(" ", "")
    inputs_str, arrow, output_str = subscripts.partition("->")
    terms = inputs_str.split(",")
    if len(terms) != len(ndims):
        raise ValueError(f"einsum: the subscripts {subscripts!r} name {len(terms)} operands, "
                         f"but {len(ndims)} were given")
    inputs = [_parse_term(t, n, f"operand {i}") for i, (t, n) in enumerate(zip(terms, ndims))]
    n_ellipsis = max([lab + 1 for labels in inputs for lab in labels if isinstance(lab, int)], default=0)
    ellipsis = list(range(n_ellipsis - 1, -1, -1))
    if not arrow:
        counts = Counter(lab for labels in inputs for lab in labels if isinstance(lab, str))
        return inputs, ellipsis + sorted(lab for lab, n in counts.items() if n == 1)
    output = _parse_term(output_str, None, "the output")
    if "..." in output:
        at = output.index("...")
        output[at:at + 1] = ellipsis
    elif n_ellipsis:
        raise ValueError("einsum: the operands have dimensions under '...' but the output has no '...'")
    known = {lab for labels in inputs for lab in labels}
    for lab in output:
        if output.count(lab) > 1:
            raise ValueError(f"einsum: output subscript {lab!r} appears more than once")
        if lab not in known:
            raise ValueError(f"einsum: output subscript {lab!r} does not appear in any operand")
    return inputs, output


def _take_diagonals(x: Any, labels: list[Label]) -> tuple[Any, list[Label]]:
    """For a label repeated within one operand (``'ii'``), keep its diagonal."""
    import funcgrad.numpy as fnp

    for lab in [lab for lab, n in Counter(labels).items() if n > 1]:
        while labels.count(lab) > 1:
            first = labels.index(lab)
            second = labels.index(lab, first + 1)
            sizes = shape_of(x)[first], shape_of(x)[second]
            if sizes[0] != sizes[1]:
                raise ShapeError(f"einsum: dimensions for the repeated subscript {lab!r} differ "
                                 f"({sizes[0]} != {sizes[1]})")
            x = fnp.diagonal(x, 0, first, second)  # the diagonal becomes the last axis
            labels = [lab_ for k, lab_ in enumerate(labels) if k not in (first, second)] + [lab]
    return x, labels


def _broadcast_labels(terms: list[tuple[Any, list[Label]]]) -> list[tuple[Any, list[Label]]]:
    """Size-1 dims broadcast against the other operands' sizes for the same label."""
    sizes: dict[Label, int] = {}
    for i, (x, labels) in enumerate(terms):
        for lab, size in zip(labels, shape_of(x)):
            known = sizes.get(lab, 1)
            if size != 1 and known not in (1, size):
                raise ShapeError(f"einsum: subscript {lab!r} has size {known} in one operand and "
                                 f"{size} in operand {i}; sizes must match (or be 1)")
            sizes[lab] = size if size != 1 else known
    return [(broadcast_to(x, [sizes[lab] for lab in labels]), labels) for x, labels in terms]


def _einsum(terms: list[tuple[Any, list[Label]]], output: list[Label]) -> Any:
    """Sum labels only one operand has, then ``dot_general`` left to right."""
    counts = Counter(lab for _, labels in terms for lab in labels)
    summed = []
    for x, labels in terms:
        axes = [k for k, lab in enumerate(labels) if counts[lab] == 1 and lab not in output]
        summed.append((_reduce_sum(x, axes), [lab for k, lab in enumerate(labels) if k not in axes]))
    x, labels = summed[0]
    for k, (y, y_labels) in enumerate(summed[1:], start=2):
        needed = set(output).union(*(later for _, later in summed[k:]))
        shared = [lab for lab in labels if lab in y_labels]
        batch = [lab for lab in shared if lab in needed]
        contract = [lab for lab in shared if lab not in needed]
        x = dot_general(x, y, *([lbls.index(lab) for lab in dims]
                                for dims in (contract, batch) for lbls in (labels, y_labels)))
        labels = (batch + [lab for lab in labels if lab not in shared]
                  + [lab for lab in y_labels if lab not in shared])
    return permute(x, [labels.index(lab) for lab in output])


@implements(np.einsum)
def einsum(*operands: Any, out: Any = None, optimize: Any = False, dtype: Any = None,
           order: str = "K", casting: str = "safe") -> Any:
    reject_out("einsum", out)
    if not operands or not isinstance(operands[0], str):
        raise TypeError("einsum: on traced arrays only the subscripts-string form "
                        "einsum('ij,jk->ik', a, b) is supported")
    subscripts, *arrays = operands
    arrays = [as_array(x) for x in arrays]
    inputs, output = _parse_einsum(subscripts, [ndim_of(x) for x in arrays])
    # NumPy returns a single operand's transposes and diagonals as views of it, ignoring dtype=.
    is_view = len(arrays) == 1 and set(inputs[0]) == set(output)
    if dtype is None or is_view:
        dtype = result_dtype(*arrays)
    else:
        dtype = np.dtype(dtype)
        for x in arrays:
            if not np.can_cast(aval_of(x).dtype, dtype, casting):
                raise TypeError(f"einsum: cannot cast an operand from {aval_of(x).dtype} to {dtype} "
                                f"according to the rule {casting!r}")
    terms = [_take_diagonals(convert(x, dtype), labels) for x, labels in zip(arrays, inputs)]
    return _einsum(_broadcast_labels(terms), output)
