"""Settings a user may change: NaN debugging, the jit caches, disabling jit.

``fg.config`` holds them as attributes; ``fg.config.update(name, value)``
sets one and checks the name.  ``fg.disable_jit()`` is a context manager.

Example:
    >>> import funcgrad as fg
    >>> fg.config.debug_nans
    False
    >>> with fg.disable_jit():
    ...     fg.config.jit_disabled
    True
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def _default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.environ.get("FUNCGRAD_CACHE_DIR") or os.path.join(base, "funcgrad")


class Config:
    """funcgrad's settings.

    - ``debug_nans``: raise at the first operation that produces a NaN,
      naming it and the user's line (eager and jitted code alike).
    - ``jit_cache_size``: compiled versions kept per jitted function (LRU).
    - ``cache_dir``: where jit writes generated code and Numba's compiled
      objects, so a second process starts warm (``FUNCGRAD_CACHE_DIR``, else
      ``$XDG_CACHE_HOME/funcgrad``, else ``~/.cache/funcgrad``).
    - ``disk_cache``: whether jit uses ``cache_dir`` at all.
    - ``blas_threads``: threads of the BLAS that compiled code calls (1: an
      OpenBLAS thread spins while waiting, which is ruinous on a busy machine;
      raise it on an idle multi-core one).
    - ``jit_disabled``: true inside ``fg.disable_jit()`` (per thread: a block
      in one thread does not change another).
    """

    def __init__(self):
        self.debug_nans = False
        self.jit_cache_size = 64
        self.cache_dir = _default_cache_dir()
        self.disk_cache = os.environ.get("FUNCGRAD_DISK_CACHE", "1") != "0"
        self.blas_threads = int(os.environ.get("FUNCGRAD_BLAS_THREADS", "1"))
        self._local = threading.local()
        self._disabled_blocks = 0  # threads inside disable_jit, for a cheap check

    @property
    def jit_disabled(self) -> bool:
        # The thread-local is read only while some thread disables jit: a jitted call checks this.
        return self._disabled_blocks > 0 and getattr(self._local, "jit_disabled", False)

    @jit_disabled.setter
    def jit_disabled(self, value: bool) -> None:
        previous = getattr(self._local, "jit_disabled", False)
        self._local.jit_disabled = value
        with _COUNT_LOCK:
            self._disabled_blocks += bool(value) - bool(previous)

    def update(self, name: str, value: Any) -> None:
        """Set the setting ``name``; an unknown name raises.

        Example:
            >>> import funcgrad as fg
            >>> fg.config.update("jit_cache_size", 32); fg.config.jit_cache_size
            32
            >>> fg.config.update("jit_cache_size", 64)
        """
        names = [n for n in vars(self) if not n.startswith("_")] + ["jit_disabled"]
        if name not in names:
            raise AttributeError(f"funcgrad has no setting {name!r}; settings: "
                                 + ", ".join(sorted(names)))
        setattr(self, name, value)


_COUNT_LOCK = threading.Lock()
config = Config()


@contextmanager
def disable_jit() -> Iterator[None]:
    """Run ``fg.jit`` functions eagerly inside this block, op by op, so that
    prints, breakpoints and NumPy errors happen in the user's own code.

    Example:
        >>> import funcgrad as fg, numpy as np
        >>> @fg.jit
        ... def f(x):
        ...     print("running with", type(x).__name__)
        ...     return x + 1
        >>> with fg.disable_jit():
        ...     _ = f(np.ones(2))
        running with ndarray
    """
    previous = config.jit_disabled
    config.jit_disabled = True
    try:
        yield
    finally:
        config.jit_disabled = previous
