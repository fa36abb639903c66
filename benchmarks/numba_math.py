"""Vectorizable scalar math in Numba loops (funcgrad.backends.numba_math)
against the same loop calling np.* (one libm call per element, not
vectorized) and against NumPy's ufuncs.

1e6 elements, float32 and float64.  Two loops per function: ``f(x)`` and the
fused ``f(2x + 1)``, for which NumPy makes temporaries.  The Numba loops
allocate their output like NumPy does, and are compiled with the fast-math
flags of funcgrad's generated code.  Each figure is the median of several runs,
all measured in this one run.  Run: python benchmarks/numba_math.py [exp tanh ...]
"""

from __future__ import annotations

import sys

import numba
import numpy as np
from timing import median_seconds

from funcgrad.backends import numba_math as nm

FASTMATH = {"contract", "arcp", "nsz", "afn", "reassoc"}
N = 1_000_000


def numpy_logistic(x):
    return 1 / (1 + np.exp(-x))


def scalar_logistic(dtype):
    one = dtype(1)

    @numba.njit(inline="always")
    def logistic(v):
        return one / (one + np.exp(-v))

    return logistic


NUMPY = {"exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "tanh": np.tanh,
         "logistic": numpy_logistic, "sin": np.sin, "cos": np.cos}


def median_ms(fn, repeat: int = 15) -> float:
    return 1e3 * median_seconds(fn, repeat)


def loop(f, dtype, fused):
    """out[i] = f(x[i]) or f(2 x[i] + 1), as a fast-math Numba loop."""
    two, one = dtype(2), dtype(1)  # typed constants keep float32 arithmetic in float32

    if fused:
        @numba.njit(error_model="numpy", fastmath=FASTMATH)
        def run(x):
            out = np.empty_like(x)
            for i in range(x.shape[0]):
                out[i] = f(x[i] * two + one)
            return out
    else:
        @numba.njit(error_model="numpy", fastmath=FASTMATH)
        def run(x):
            out = np.empty_like(x)
            for i in range(x.shape[0]):
                out[i] = f(x[i])
            return out
    return run


def vectorized(run) -> bool:
    return "vector.body" in run.inspect_llvm(run.signatures[0])


def main(names: list[str]) -> None:
    rng = np.random.default_rng(0)
    print(f"n = {N:.0e}; medians in ms; ratios = time of the other / time of numba_math")
    print(f"{'function':16s} {'dtype':8s} {'numba_math':>10s} {'np.* loop':>10s} {'NumPy':>8s}"
          f" {'vs np.* loop':>13s} {'vs NumPy':>9s}")
    for name in names:
        for dtype in (np.float32, np.float64):
            np_scalar = scalar_logistic(dtype) if name == "logistic" else NUMPY[name]
            ours_fn = getattr(nm, f"{name}_{'f32' if dtype == np.float32 else 'f64'}")
            low = 0.01 if name in ("log", "log1p") else -5.0
            x = rng.uniform(low, 5.0, N).astype(dtype)
            for fused in (False, True):
                ours, theirs = loop(ours_fn, dtype, fused), loop(np_scalar, dtype, fused)
                two, one = dtype(2), dtype(1)

                def numpy_call(x=x, f=NUMPY[name], fused=fused, two=two, one=one):
                    return f(x * two + one) if fused else f(x)

                with np.errstate(all="ignore"):
                    expected = numpy_call()
                    np.testing.assert_allclose(ours(x), expected, rtol=1e-5 if dtype == np.float32 else 1e-12)
                    t_ours, t_loop, t_numpy = (median_ms(lambda f=f, x=x: f(x))
                                               for f in (ours, theirs, numpy_call))
                label = f"{name}(2x+1)" if fused else f"{name}(x)"
                flag = "" if vectorized(ours) else "  (not vectorized!)"
                print(f"{label:16s} {dtype.__name__:8s} {t_ours:10.3f} {t_loop:10.3f} {t_numpy:8.3f}"
                      f" {t_loop / t_ours:12.1f}x {t_numpy / t_ours:8.2f}x{flag}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or list(NUMPY))
