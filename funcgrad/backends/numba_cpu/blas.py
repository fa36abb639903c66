"""The threads of the BLAS that compiled code calls (SciPy's OpenBLAS).

NumPy and SciPy each bring an OpenBLAS with its own thread pool, and an
OpenBLAS thread spins while it waits for work: on a machine with other work
(or both pools awake) a multithreaded product can run ten times slower than
a single-threaded one (measured: an MLP step 11 ms with one thread, 85-170
ms with two, on two busy cores).  So compiled code uses
``fg.config.blas_threads`` threads, one by default.

Example:
    >>> set_blas_threads(1) in (True, False)
    True
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os


@functools.cache
def _openblas() -> ctypes.CDLL | None:
    import scipy

    folder = os.path.join(os.path.dirname(os.path.dirname(scipy.__file__)), "scipy.libs")
    for path in glob.glob(os.path.join(folder, "libscipy_openblas*.so*")):
        try:
            return ctypes.CDLL(path)  # already loaded by SciPy: the same library
        except OSError:
            continue
    return None


def set_blas_threads(threads: int) -> bool:
    """Use ``threads`` threads in SciPy's OpenBLAS; False if SciPy brings
    another BLAS (then its own settings apply)."""
    library = _openblas()
    setter = getattr(library, "scipy_openblas_set_num_threads", None) if library else None
    if setter is None:
        return False
    setter(int(threads))
    return True
