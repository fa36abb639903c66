"""Timing helpers shared by the benchmarks: medians measured in one run.

Example:
    >>> median_seconds(lambda: None, repeat=3) >= 0.0
    True
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from collections.abc import Callable


def median_seconds(fn: Callable, repeat: int, number: int = 1) -> float:
    """The median over ``repeat`` runs of the time of one call (``number``
    calls per run), after a warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def have(module: str) -> bool:
    """Whether an optional peer (jax, torch, autograd) is installed."""
    return importlib.util.find_spec(module) is not None
