"""The primitive declaration and the registry of all primitives.

A primitive is declared once, with abstract evaluation and the eager
implementation; the transforms attach their own rules (``jvp``,
``transpose``, ``batch``) to the same object, so a reader finds all of a
primitive's behaviour in one place.  Compiler backends keep their lowering
rules in their own tables (``funcgrad.backends.numba_cpu.rules``), since a
lowering is written in the backend's terms.

Example:
    >>> from funcgrad.primitives import PRIMITIVES
    >>> import numpy as np
    >>> PRIMITIVES["sin"].impl(np, np.zeros(2))
    array([0., 0.])
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

PRIMITIVES: dict[str, Primitive] = {}


class Primitive:
    """An operation of the closed set the IR is made of.

    ``abstract_eval(*avals, **params)`` returns the output AbstractArray (or a
    list of them when ``multiple_results``) and raises on bad operands.
    ``impl(xp, *arrays, **params)`` computes the result with the array
    namespace ``xp`` (``numpy`` or ``cupy``).
    """

    def __init__(self, name: str, abstract_eval: Callable, impl: Callable, *,
                 multiple_results: bool = False):
        if name in PRIMITIVES:
            raise ValueError(f"primitive {name!r} is declared twice")
        self.name = name
        self.abstract_eval = abstract_eval
        self.impl = impl
        self.multiple_results = multiple_results
        # Rules attached by the transforms (autodiff, batching).
        self.jvp: Callable | None = None
        self.transpose: Callable | None = None
        self.batch: Callable | None = None
        # What to tell a user whose reverse-mode derivative needs a missing transpose.
        self.reverse_mode_fix: str = "use forward mode (fg.jvp, fg.jacfwd)"
        PRIMITIVES[name] = self

    def bind(self, *args: Any, **params: Any) -> Any:
        """Apply the primitive: record it under a trace, compute it otherwise."""
        from funcgrad.trace import bind

        return bind(self, *args, **params)

    def __repr__(self) -> str:
        return f"Primitive({self.name})"


def primitive(name: str, abstract_eval: Callable, *, multiple_results: bool = False):
    """Decorator form: the decorated function is the eager implementation.

    Example:
        >>> @primitive("my_identity_example", lambda x: x)
        ... def my_identity_example(xp, x):
        ...     return x
        >>> my_identity_example.name
        'my_identity_example'
        >>> del PRIMITIVES["my_identity_example"]
    """

    def declare(impl: Callable) -> Primitive:
        return Primitive(name, abstract_eval, impl, multiple_results=multiple_results)

    return declare


class _LazyModule:
    """A module imported on first use, so that rules in the primitive modules
    can call ``fnp.cos(x)`` although ``funcgrad.numpy`` imports them."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        value = getattr(importlib.import_module(self._name), attr)
        setattr(self, attr, value)  # later lookups skip __getattr__
        return value


fnp = _LazyModule("funcgrad.numpy")  # for derivative rules: NumPy semantics, traceable
