"""The closed set of primitives, one module per family.

Importing this package declares them all in ``PRIMITIVES``.

Example:
    >>> from funcgrad.primitives import PRIMITIVES
    >>> "dot_general" in PRIMITIVES and "sin" in PRIMITIVES
    True
"""

from funcgrad.primitives import (  # noqa: F401  (importing declares the primitives)
    call,
    collectives,
    control_flow,
    convolution,
    custom_derivatives,
    elementwise,
    indexing,
    linalg,
    random_bits,
    reductions,
    sorting,
    structural,
)
from funcgrad.primitives.registry import PRIMITIVES, Primitive, primitive

__all__ = ["PRIMITIVES", "Primitive", "primitive"]
