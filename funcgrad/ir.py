"""The intermediate representation: typed SSA, printed like a jaxpr.

An ``IR`` is a list of equations over variables.  Every ``Var`` carries an
abstract value (shape, dtype, weak-type flag); constants are ``Literal``s.
Control-flow primitives keep sub-IRs in their params.

Example:
    >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
    >>> print(fg.make_ir(lambda x: fnp.sin(x) * 2.0)(np.ones(3, np.float32)))
    { lambda a:f32[3] .
      b:f32[3] = sin a
      c:f32[3]~ = broadcast_in_dim[broadcast_dimensions=() shape=(3,)] 2.0:f32[]~
      d:f32[3] = mul b c
      in (d) }
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

_SHORT_DTYPE = {
    "bool": "bool", "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
    "uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64",
    "float16": "f16", "float32": "f32", "float64": "f64",
    "complex64": "c64", "complex128": "c128",
}


@dataclass(frozen=True)
class AbstractArray:
    """What the IR knows of an array: its shape, dtype and weak-type flag.

    A weak type marks a value that came from a Python scalar: under NEP 50 it
    adopts the dtype of the array it meets (``f32 array * 2.0`` stays f32).

    Example:
        >>> AbstractArray((2, 3), np.dtype("float32"))
        f32[2,3]
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    weak_type: bool = False

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def strong(self) -> AbstractArray:
        return AbstractArray(self.shape, self.dtype) if self.weak_type else self

    def __repr__(self) -> str:
        dims = ",".join(map(str, self.shape))
        return f"{_SHORT_DTYPE.get(self.dtype.name, self.dtype.name)}[{dims}]" + ("~" * self.weak_type)


_WEAK_DTYPES = {bool: np.dtype(bool), int: np.dtype(np.int64), float: np.dtype(np.float64),
                complex: np.dtype(np.complex128)}


def abstractify(value: Any) -> AbstractArray:
    """The abstract value of a concrete array, Python scalar, tracer or literal.

    Python scalars are weakly typed, with NumPy's defaults (int64, float64);
    NumPy scalars are not.

    Example:
        >>> abstractify(1.5), abstractify(np.float64(1.5))
        (f64[]~, f64[])
    """
    weak_dtype = _WEAK_DTYPES.get(type(value))  # exact types: np.float64 is a float, but strong
    if weak_dtype is not None:
        return AbstractArray((), weak_dtype, True)
    if isinstance(value, AbstractArray):
        return value
    aval = getattr(value, "aval", None)
    if isinstance(aval, AbstractArray):
        return aval
    return AbstractArray(tuple(value.shape), np.dtype(value.dtype))


class Var:
    """An SSA variable: defined once, by an IR input or an equation output."""

    __slots__ = ("aval",)

    def __init__(self, aval: AbstractArray):
        self.aval = aval

    def __repr__(self) -> str:
        return f"Var({self.aval!r})"


class Literal:
    """A constant operand: a Python scalar or a concrete array."""

    __slots__ = ("value", "aval")

    def __init__(self, value: Any, aval: AbstractArray | None = None):
        self.value = value
        self.aval = aval if aval is not None else abstractify(value)

    def __repr__(self) -> str:
        if self.aval.shape == ():
            return f"{_scalar_str(self.value)}:{self.aval!r}"
        return f"const<{self.aval!r}>"


def _scalar_str(value: Any) -> str:
    if isinstance(value, np.ndarray):
        value = value[()]
    # NumPy's str is the shortest text that round-trips in the value's own dtype (f32 1e-05).
    return str(value) if isinstance(value, np.generic) else repr(value)


Atom = Var | Literal


@dataclass(eq=False)
class Eqn:
    """One equation: ``outputs = primitive[params](*inputs)``.

    ``source`` is the user's ``file:line`` that recorded it, for error messages.
    """

    primitive: Any
    inputs: list[Atom]
    outputs: list[Var]
    params: dict[str, Any]
    source: str | None = None


@dataclass(eq=False)  # compared and hashed by identity: IRs are params of other equations
class IR:
    """A function in SSA form: inputs, equations in order, outputs.

    Example:
        >>> import funcgrad as fg, numpy as np
        >>> ir = fg.make_ir(lambda x: x + x)(np.zeros(2))
        >>> len(ir.eqns), [v.aval for v in ir.inputs]
        (1, [f64[2]])
    """

    inputs: list[Var]
    eqns: list[Eqn]
    outputs: list[Atom]

    @property
    def in_avals(self) -> list[AbstractArray]:
        return [v.aval for v in self.inputs]

    @property
    def out_avals(self) -> list[AbstractArray]:
        return [a.aval for a in self.outputs]

    def __str__(self) -> str:
        return _IRPrinter().format(self)

    def _repr_pretty_(self, p, cycle):  # IPython shows the IR, not the dataclass
        p.text(str(self))


def _var_names():
    letters = "abcdefghijklmnopqrstuvwxyz"
    for n in itertools.count(1):
        for chars in itertools.product(letters, repeat=n):
            yield "".join(chars)


class _IRPrinter:
    """Names variables a, b, c, ... in order of definition, across sub-IRs."""

    def __init__(self):
        self.names: dict[Var, str] = {}
        self.fresh = _var_names()

    def name(self, atom: Atom) -> str:
        if isinstance(atom, Literal):
            return repr(atom)
        if atom not in self.names:
            self.names[atom] = next(self.fresh)
        return self.names[atom]

    def binder(self, var: Var) -> str:
        return f"{self.name(var)}:{var.aval!r}"

    def format(self, ir: IR, indent: int = 0) -> str:
        pad = " " * indent
        inputs = " ".join(self.binder(v) for v in ir.inputs)
        lines = [f"{pad}{{ lambda {inputs} ."]
        for eqn in ir.eqns:
            lines.append(self.format_eqn(eqn, indent + 2))
        outputs = " ".join(self.name(a) for a in ir.outputs)
        lines.append(f"{pad}  in ({outputs}) }}")
        return "\n".join(lines)

    def format_eqn(self, eqn: Eqn, indent: int) -> str:
        pad = " " * indent
        outs = " ".join(self.binder(v) for v in eqn.outputs)
        params, sub_irs = [], []
        for key in sorted(eqn.params):
            value = eqn.params[key]
            if isinstance(value, IR):
                sub_irs.append((key, value))
            elif isinstance(value, (tuple, list)) and value and all(isinstance(v, IR) for v in value):
                sub_irs.extend((f"{key}[{i}]", v) for i, v in enumerate(value))
            else:
                params.append(f"{key}={_param_str(value)}")
        head = eqn.primitive.name + (f"[{' '.join(params)}]" if params else "")
        args = " ".join(self.name(a) for a in eqn.inputs)
        line = f"{pad}{outs} = {head} {args}".rstrip()
        for key, sub in sub_irs:
            line += f"\n{pad}    {key}=\n" + self.format(sub, indent + 6)
        return line


def _param_str(value: Any) -> str:
    if isinstance(value, np.dtype):
        return _SHORT_DTYPE.get(value.name, value.name)
    if isinstance(value, type) and issubclass(value, np.generic):
        return _param_str(np.dtype(value))
    return str(value)


def typecheck(ir: IR) -> None:
    """Check that ``ir`` is well formed: SSA (each variable defined once,
    before use) and every equation's outputs exactly what its primitive's
    abstract evaluation gives (shape, dtype, weak type).  Sub-IRs in params
    are checked too.  The tests run it after every transform, so a rule
    that produces a wrong type fails where it is.

    Example:
        >>> import funcgrad as fg, numpy as np
        >>> typecheck(fg.make_ir(lambda x: x * 2)(np.ones(3)))
    """
    defined: set[Var] = set()

    def define(var: Var, where: str) -> None:
        if var in defined:
            raise IRTypeError(f"{where}: {var!r} is defined twice (the IR is not SSA)")
        defined.add(var)

    def use(atom: Atom, where: str) -> None:
        if isinstance(atom, Var) and atom not in defined:
            raise IRTypeError(f"{where}: {atom!r} is used before it is defined")

    for var in ir.inputs:
        define(var, "inputs")
    for number, eqn in enumerate(ir.eqns):
        where = f"equation {number} ({eqn.primitive.name})"
        for atom in eqn.inputs:
            use(atom, where)
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                if isinstance(sub, IR):
                    typecheck(sub)
        expected = eqn.primitive.abstract_eval(*[a.aval for a in eqn.inputs], **eqn.params)
        expected = list(expected) if eqn.primitive.multiple_results else [expected]
        recorded = [v.aval for v in eqn.outputs]
        if expected != recorded:
            raise IRTypeError(f"{where}: outputs are typed {recorded}, but the primitive gives "
                              f"{expected}")
        for var in eqn.outputs:
            define(var, where)
    for atom in ir.outputs:
        use(atom, "outputs")


class IRTypeError(TypeError):
    """An IR that is not well formed: a bug in a transform or a rule."""
