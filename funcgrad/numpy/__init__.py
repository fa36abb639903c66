"""``funcgrad.numpy``: NumPy's API, traceable.

On concrete arrays each function is NumPy's own; on traced arrays it records
primitives with NumPy's semantics (NumPy 2, NEP 50 promotion, float64
default), so ``grad``, ``vmap`` and ``jit`` see through it.

Example:
    >>> import funcgrad.numpy as fnp, numpy as np
    >>> fnp.sum(fnp.sin(np.zeros(3)) + 1.0)
    np.float64(3.0)
"""

from funcgrad.numpy import array_methods
from funcgrad.numpy import linalg as linalg
from funcgrad.numpy.contractions import *  # noqa: F403
from funcgrad.numpy.creation import *  # noqa: F403
from funcgrad.numpy.dtypes import *  # noqa: F403
from funcgrad.numpy.indexing import *  # noqa: F403
from funcgrad.numpy.manipulation import *  # noqa: F403
from funcgrad.numpy.math import *  # noqa: F403
from funcgrad.numpy.reductions import *  # noqa: F403
from funcgrad.numpy.sorting import *  # noqa: F403
from funcgrad.numpy.ufuncs import *  # noqa: F403

array_methods.install()
