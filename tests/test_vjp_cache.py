"""The cache of derived reverse-mode programs behind eager grad: reused for
the same IR structure, never reused when anything that matters differs."""

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.transforms import vjp_cache


@pytest.fixture(autouse=True)
def empty_cache():
    vjp_cache._cache.clear()
    yield
    vjp_cache._cache.clear()


def test_the_same_structure_reuses_one_program():
    g = fg.grad(lambda x: fnp.sum(fnp.tanh(x) ** 2))
    for _ in range(3):
        g(np.ones(3))
    assert len(vjp_cache._cache) == 1
    g(np.ones(4))  # a new shape is a new structure
    assert len(vjp_cache._cache) == 2


def test_array_constants_are_inputs_not_baked_in():
    weights = np.array([1.0, 2.0])
    g = fg.grad(lambda x: fnp.sum(x * weights))
    np.testing.assert_array_equal(g(np.ones(2)), [1.0, 2.0])
    weights[:] = [5.0, 7.0]  # mutated in place between calls
    np.testing.assert_array_equal(g(np.ones(2)), [5.0, 7.0])
    assert len(vjp_cache._cache) == 1


def test_python_branches_are_different_structures():
    def f(x):
        return fnp.sum(x ** 2) if fnp.sum(x) > 0 else fnp.sum(fnp.sin(x))

    g = fg.grad(f)
    np.testing.assert_allclose(g(np.ones(2)), [2.0, 2.0])
    np.testing.assert_allclose(g(-np.ones(2)), np.cos(-np.ones(2)))
    np.testing.assert_allclose(g(np.ones(2)), [2.0, 2.0])
    assert len(vjp_cache._cache) == 2


def test_scalar_constants_compare_by_their_bits():
    scale = [0.0]
    g = fg.grad(lambda x: 1.0 / (x * scale[0] + 1.0))
    plus = g(1.0)
    scale[0] = -0.0
    minus = g(1.0)
    assert np.signbit(plus) != np.signbit(minus)  # -0.0 and 0.0 are different programs


def test_global_python_scalars_are_read_on_every_call():
    state = {"k": 2.0}
    g = fg.grad(lambda x: x * state["k"])
    assert g(1.0) == 2.0
    state["k"] = 3.0
    assert g(1.0) == 3.0


def test_sub_irs_are_not_cached_but_work():
    g = fg.grad(lambda x: fg.scan(lambda c, v: (c * v, None), x, np.arange(1.0, 4.0))[0])
    assert g(2.0) == 6.0 and g(2.0) == 6.0
    assert len(vjp_cache._cache) == 0


def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(vjp_cache, "MAX_ENTRIES", 2)
    g = fg.grad(lambda x: fnp.sum(x))
    for n in range(1, 5):
        g(np.ones(n))
    assert len(vjp_cache._cache) == 2
