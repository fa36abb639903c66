"""Array backends: the backend follows the input arrays.

NumPy arrays compute with ``numpy``; CuPy arrays (when CuPy is installed)
with ``cupy``.  Importing funcgrad never imports CuPy.

Example:
    >>> import numpy as np
    >>> array_namespace([np.ones(2), 1.0]) is np
    True
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from types import ModuleType

import numpy


def array_namespace(values: Iterable) -> ModuleType:
    """``cupy`` if any value is a CuPy array, else ``numpy``."""
    for value in values:
        if type(value).__module__.startswith("cupy"):
            return sys.modules["cupy"]
    return numpy
