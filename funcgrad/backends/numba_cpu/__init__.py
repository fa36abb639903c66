"""The CPU backend of jit: an optimized IR becomes a Python module of
explicit loops and BLAS calls, compiled by Numba.

- ``emitter``: names, typed constants, indentation.
- ``scalar_ops``: elementwise primitives as scalar expressions (one row each).
- ``loops``: a fused cluster as one loop nest.
- ``rules``: the other primitives' lowerings.
- ``program``: segments, the generated module, compilation, execution.
- ``modules``: generated modules in the disk cache.
- ``runtime``: helpers the generated code calls.

Example:
    >>> import numpy as np, funcgrad as fg
    >>> from funcgrad.transforms.passes import optimize
    >>> run = generate(optimize(fg.make_ir(lambda x: x + 1)(np.ones(2))), "f").compile()
    >>> run(np.ones(2))
    [array([2., 2.])]
"""

import numba

from funcgrad.backends.numba_cpu.program import Executable, JitCompilationError, Program, generate

# A parallel loop called from several Python threads at once aborts under Numba's
# default workqueue layer; OpenMP and TBB allow it.
numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]

__all__ = ["Executable", "JitCompilationError", "Program", "generate"]
