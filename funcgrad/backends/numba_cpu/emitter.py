"""Writing Python source for Numba: names, typed constants, indented blocks.

Every IR variable becomes a Python name (the IR printer's, so the generated
code reads like the IR in its comments); every array it holds is
C-contiguous, which the rules may rely on (``reshape`` is then a view and
``np.dot`` gets BLAS-ready operands).  Array constants become arguments of
the generated function, since source cannot hold them.

Example:
    >>> import numpy as np
    >>> from funcgrad.ir import Literal
    >>> Emitter().scalar(Literal(np.float32(0.5)))
    'np.float32(0.5)'
"""

from __future__ import annotations

import keyword
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from funcgrad.ir import Atom, Eqn, Literal, Var, _IRPrinter

_RESERVED = {"np", "njit", "prange", "numba", "kernel", "math"}


def dtype_expr(dtype: np.dtype) -> str:
    """The NumPy scalar type of ``dtype`` as source (also its cast function)."""
    return "np.bool_" if dtype == np.bool_ else f"np.{np.dtype(dtype).name}"


def typed_constant(value, dtype: np.dtype) -> str:
    """Source for a scalar of exactly ``dtype`` (Numba would otherwise widen
    a Python float to float64 and an int to int64)."""
    dtype = np.dtype(dtype)
    value = np.asarray(value).astype(dtype)[()]
    if dtype == np.bool_:
        return repr(bool(value))
    if dtype.kind == "f":
        if np.isnan(value):
            text = "np.nan"
        elif np.isinf(value):
            text = "np.inf" if value > 0 else "-np.inf"
        else:
            text = repr(float(value))  # exact: every float32 is a float64
        return f"{dtype_expr(dtype)}({text})"
    if dtype.kind == "c":
        return f"{dtype_expr(dtype)}({complex(value)!r})"
    return f"{dtype_expr(dtype)}({int(value)})"


class Emitter:
    """Lines of source with indentation, and the names of values."""

    def __init__(self, printer: _IRPrinter | None = None):
        self.printer = printer or _IRPrinter()
        self.lines: list[str] = []
        self.depth = 0
        self.const_values: list[np.ndarray] = []
        self.const_names: dict[int, str] = {}
        self.taken: set[str] = set(_RESERVED)
        self.names: dict[Var, str] = {}
        self.line_eqns: list[Eqn | None] = []  # the equation each line lowers, for errors
        self.current: Eqn | None = None
        self.imports: set[str] = set()
        self.parallel = False  # whether the function being written uses prange

    def name_as_printed(self, ir) -> None:
        """Name every variable of ``ir`` as ``str(ir)`` does, so the source
        reads like the printed IR."""
        self.printer.format(ir)

    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)
        self.line_eqns.append(self.current)

    @contextmanager
    def block(self, header: str) -> Iterator[None]:
        self.line(header)
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def fresh(self, stem: str) -> str:
        name, n = stem, 0
        while name in self.taken:  # "_n": never a loop index (i0, i1, ...) or an IR name
            n += 1
            name = f"{stem}_{n}"
        self.taken.add(name)
        return name

    def name(self, atom: Atom) -> str:
        """An array expression for ``atom``: its variable, or a constant argument."""
        if isinstance(atom, Literal):
            key = id(atom.value) if atom.aval.shape else None
            if key is None:  # a scalar literal used as an array: a 0-d constant
                value = np.asarray(atom.value, atom.aval.dtype)
                key = ("scalar", atom.aval.dtype.str, value.tobytes())
            if key not in self.const_names:
                self.const_names[key] = self.fresh(f"const{len(self.const_values)}")
                self.const_values.append(np.asarray(atom.value, atom.aval.dtype, order="C"))
            return self.const_names[key]
        if atom not in self.names:
            base = self.printer.name(atom)
            self.names[atom] = self.fresh(base + "_" if keyword.iskeyword(base) else base)
        return self.names[atom]

    def scalar(self, atom: Atom) -> str:
        """A scalar expression for a 0-d ``atom``."""
        if isinstance(atom, Literal) and atom.aval.shape == ():
            return typed_constant(atom.value, atom.aval.dtype)
        return f"{self.name(atom)}[()]"

    def comment(self, eqn: Eqn) -> None:
        """The equation, as the IR printer shows it, above its source."""
        self.current = eqn
        text = self.printer.format_eqn(eqn, 0).split("\n")[0]
        where = f"  ({eqn.source})" if eqn.source else ""
        self.line(f"# {text}{where}")

    def use(self, *names: str) -> None:
        """Import helpers from ``funcgrad.backends.numba_cpu.runtime``."""
        self.imports.update(names)
