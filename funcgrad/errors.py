"""Errors that name the problem, the user's line, and a fix.

Every error funcgrad raises on bad input is a ``FuncgradError``; each also
subclasses the built-in exception a NumPy user would expect (``TypeError``
for dtypes, ``ValueError`` for shapes), so ``except ValueError`` still works.

Example:
    >>> import funcgrad as fg, numpy as np
    >>> try:
    ...     fg.make_ir(lambda x: x + np.ones(4))(np.ones(3))
    ... except fg.errors.ShapeError as e:
    ...     print(str(e).splitlines()[0])
    add: operands could not be broadcast together with shapes (3,) (4,)
"""

from __future__ import annotations

import functools
import linecache
import os
import sys

import numpy

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_NUMPY_DIR = os.path.dirname(os.path.abspath(numpy.__file__))


@functools.lru_cache(maxsize=1024)
def _is_internal(filename: str) -> bool:
    path = os.path.abspath(filename)
    return path.startswith((_PACKAGE_DIR, _NUMPY_DIR)) or filename.startswith("<frozen")


def user_frame() -> tuple[str, int] | None:
    """The innermost stack frame outside funcgrad and NumPy: the user's line."""
    frame = sys._getframe(1)
    while frame is not None:
        if not _is_internal(frame.f_code.co_filename):
            return frame.f_code.co_filename, frame.f_lineno
        frame = frame.f_back
    return None


def user_location() -> str | None:
    """``file:line`` of the user's code that is calling into funcgrad."""
    found = user_frame()
    return None if found is None else f"{found[0]}:{found[1]}"


def _where() -> str:
    found = user_frame()
    if found is None:
        return ""
    filename, lineno = found
    code = linecache.getline(filename, lineno).strip()
    return f"\n  at {filename}:{lineno}" + (f"\n      {code}" if code else "")


class FuncgradError(Exception):
    """Base class: a message, then the user's line, then how to fix it."""

    def __init__(self, message: str, fix: str | None = None):
        text = message + _where()
        if fix:
            text += f"\n  fix: {fix}"
        super().__init__(text)


class ShapeError(FuncgradError, ValueError):
    """Operands whose shapes do not fit the operation."""


class DtypeError(FuncgradError, TypeError):
    """Operands whose dtypes do not fit the operation."""


class AxisError(FuncgradError, numpy.exceptions.AxisError):
    """An axis out of range for the array's rank: also NumPy's own AxisError
    (so a ValueError and an IndexError), caught by the same ``except``."""


class IndexingError(FuncgradError, IndexError):
    """A bad index (NumPy raises ``IndexError`` too)."""


class ConcretizationError(FuncgradError, TypeError):
    """A Python value (bool, int, float, a data-dependent shape) was needed
    from a traced array whose value is not known while tracing."""


class TracerArrayConversionError(FuncgradError, TypeError):
    """A traced value was converted to a NumPy array, which would drop it
    from the trace (and its gradient)."""


class InPlaceUpdateError(FuncgradError, TypeError):
    """Item assignment on a traced value; traced arrays are immutable."""


class UnsupportedNumpyFunctionError(FuncgradError, NotImplementedError):
    """A NumPy function funcgrad cannot trace was called on a traced value."""


class EscapedTracerError(FuncgradError, RuntimeError):
    """A traced value was used after the transform that made it returned."""


class StructureError(FuncgradError, TypeError):
    """Pytrees whose structures must agree differ (a loop carry, cond branches)."""


class NaNError(FuncgradError, FloatingPointError):
    """``fg.config.debug_nans`` found an operation whose result holds a NaN."""


def check_nans(primitive_name: str, results, source: str | None = None) -> None:
    """Raise NaNError if a floating-point array among ``results`` holds a NaN."""
    for result in results:
        if isinstance(result, (numpy.ndarray, numpy.generic)) and result.dtype.kind in "fc" \
                and numpy.isnan(result).any():
            where = f" (recorded at {source})" if source else ""
            raise NaNError(f"debug_nans: {primitive_name} produced a NaN{where}",
                           "check the operation's inputs (log or sqrt of a negative, 0/0, "
                           "inf - inf); turn the check off with fg.config.update('debug_nans', False)")
