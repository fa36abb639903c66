"""Per-call cost of funcgrad.numpy on concrete arrays, against NumPy itself.

On concrete arrays an fnp function is NumPy's own function behind one check
for tracers, so the target is: within 1.05x of NumPy at 1e6 elements, and
under 2 microseconds added per call on small arrays.

Run: python benchmarks/eager_overhead.py
Each figure is the median of several repeats, both sides measured in one run.
"""

from __future__ import annotations

import statistics
import timeit

import numpy as np

import funcgrad.numpy as fnp

CASES = [
    ("sin(x)", lambda m, x, y: m.sin(x)),
    ("add(x, y)", lambda m, x, y: m.add(x, y)),
    ("multiply(x, 2.0)", lambda m, x, y: m.multiply(x, 2.0)),
    ("sum(x)", lambda m, x, y: m.sum(x)),
    ("mean(x, axis=0)", lambda m, x, y: m.mean(x, axis=0)),
    ("where(x > 0, x, y)", lambda m, x, y: m.where(x > 0, x, y)),
    ("reshape(x, (-1, 1))", lambda m, x, y: m.reshape(x, (-1, 1))),
    ("concatenate([x, y])", lambda m, x, y: m.concatenate([x, y])),
]


def per_call_seconds(numpy_call, funcgrad_call, number: int, repeat: int = 9) -> tuple[float, float]:
    """Median seconds per call of each, measured alternately so that drifts in
    the machine's load hit both sides alike."""
    numpy_times, funcgrad_times = [], []
    for _ in range(repeat):
        numpy_times.append(timeit.timeit(numpy_call, number=number))
        funcgrad_times.append(timeit.timeit(funcgrad_call, number=number))
    return statistics.median(numpy_times) / number, statistics.median(funcgrad_times) / number


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'operation':<24}{'size':>9}{'numpy':>12}{'funcgrad':>12}{'ratio':>8}{'added':>12}")
    for size, number in ((4, 20000), (1_000_000, 20)):
        x, y = rng.normal(size=size), rng.normal(size=size)
        for name, op in CASES:
            t_np, t_fg = per_call_seconds(lambda op=op, x=x, y=y: op(np, x, y),
                                          lambda op=op, x=x, y=y: op(fnp, x, y), number)
            print(f"{name:<24}{size:>9}{t_np * 1e6:>10.2f}us{t_fg * 1e6:>10.2f}us"
                  f"{t_fg / t_np:>8.3f}{(t_fg - t_np) * 1e6:>10.2f}us")


if __name__ == "__main__":
    main()
