"""Random bits: the Threefry-2x32 block cipher, as JAX's ``threefry2x32``.

Counter-based random numbers (Salmon et al., "Parallel Random Numbers: As
Easy as 1, 2, 3", SC 2011): encrypting counters ``(x0, x1)`` under a key
``(key0, key1)`` gives bits that are a pure function of key and counter, so
the same key gives the same numbers eager or compiled, batched or not.

Example (a Random123 known-answer vector):
    >>> zero = np.zeros((), np.uint32)
    >>> [hex(int(v)) for v in threefry2x32.impl(np, zero, zero, zero, zero)]
    ['0x6b200159', '0x99ba4efe']
"""

from __future__ import annotations

import numpy as np

from funcgrad.errors import DtypeError, ShapeError
from funcgrad.ir import AbstractArray
from funcgrad.primitives.registry import primitive
from funcgrad.transforms.batch_dims import elementwise_batch
from funcgrad.transforms.tangents import Zero, aval_of, tangent_aval

ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))  # alternate between the two every 4 rounds
KEY_PARITY = 0x1BD11BDA  # Skein's key-schedule constant


def _threefry_aval(key0, key1, x0, x1):
    avals = (key0, key1, x0, x1)
    if any(a.dtype != np.uint32 for a in avals):
        raise DtypeError("threefry2x32: needs uint32 operands, got " + " ".join(map(repr, avals)))
    if any(a.shape != x0.shape for a in avals):
        raise ShapeError("threefry2x32: operands must have equal shapes, got "
                         + " ".join(str(a.shape) for a in avals))
    out = AbstractArray(x0.shape, np.dtype(np.uint32))
    return [out, out]


@primitive("threefry2x32", _threefry_aval, multiple_results=True)
def threefry2x32(xp, key0, key1, x0, x1):
    """Threefry-2x32 with 20 rounds: the encrypted counters ``(y0, y1)``."""
    shape = xp.shape(x0)
    # 1-d arrays wrap around silently; NumPy scalars would warn on overflow.
    key0, key1, x0, x1 = (xp.asarray(v, dtype=xp.uint32).reshape(-1) for v in (key0, key1, x0, x1))
    keys = (key0, key1, key0 ^ key1 ^ xp.uint32(KEY_PARITY))
    x0, x1 = x0 + keys[0], x1 + keys[1]
    for i in range(5):
        for r in ROTATIONS[i % 2]:
            x0 += x1
            x1 = (x1 << r) | (x1 >> (32 - r))
            x1 ^= x0
        # key injection
        x0 += keys[(i + 1) % 3]
        x1 += keys[(i + 2) % 3] + xp.uint32(i + 1)
    return x0.reshape(shape), x1.reshape(shape)


def _threefry_jvp(primals, tangents):
    """Integer bits: no tangent."""
    outs = threefry2x32.bind(*primals)
    return outs, [Zero(tangent_aval(aval_of(o))) for o in outs]


threefry2x32.jvp = _threefry_jvp
# Elementwise over its four operands: one batched application.
threefry2x32.batch = elementwise_batch(threefry2x32)
