"""funcgrad.special against the standard library and finite differences."""

import math

import numpy as np
import pytest

import funcgrad as fg
from funcgrad.special import erf


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erf_matches_math_erf(dtype):
    x = np.concatenate([np.linspace(-30, 30, 601), [-np.inf, np.inf, 0.5, -0.99, 7.9, 8.1]])
    expected = np.array([math.erf(v) for v in x])
    got = erf(x.astype(dtype))
    assert got.dtype == dtype
    np.testing.assert_allclose(got, expected.astype(dtype), rtol=4 * np.finfo(dtype).eps, atol=1e-300)


def test_erf_derivative_is_the_gaussian():
    x = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(fg.vmap(fg.grad(erf))(x), 2 / math.sqrt(math.pi) * np.exp(-x * x),
                               rtol=1e-12)
