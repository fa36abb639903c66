"""The vmap API: axes specifications, composition with grad, closures, and
the error messages."""

from collections import namedtuple

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import errors
from funcgrad.transforms.batching import BatchingError

RNG = np.random.default_rng(0)


def loop(f, *args, in_axes):
    """The reference: a Python loop over the batch, results stacked on axis 0."""
    size = next(np.shape(a)[ax] for a, ax in zip(args, in_axes) if ax is not None)
    outs = [f(*[a if ax is None else np.take(a, i, axis=ax) for a, ax in zip(args, in_axes)])
            for i in range(size)]
    return fg.tree_map(lambda *xs: np.stack(xs), *outs)


def test_in_axes_ints_none_and_negative():
    f = lambda x, y: fnp.tanh(x) * y + fnp.sum(x)  # noqa: E731
    x, y = RNG.normal(size=(3, 4)), RNG.normal(size=4)
    for axes in [(0, None), (-2, None), (1, None)]:
        xx = x if axes[0] != 1 else x.T
        np.testing.assert_allclose(fg.vmap(f, in_axes=axes)(xx, y), loop(f, xx, y, in_axes=axes))


def test_out_axes_and_pytree_outputs():
    f = lambda x: {"a": x * 2.0, "b": (fnp.sum(x), x[::-1])}  # noqa: E731
    x = RNG.normal(size=(3, 4))
    out = fg.vmap(f, out_axes={"a": 1, "b": (0, -1)})(x)
    assert out["a"].shape == (4, 3) and out["b"][0].shape == (3,) and out["b"][1].shape == (4, 3)
    np.testing.assert_allclose(out["b"][1], (x[:, ::-1]).T)


def test_pytree_prefix_in_axes():
    Point = namedtuple("Point", "x y")
    f = lambda p, scale: (p.x - p.y) * scale  # noqa: E731
    p = Point(RNG.normal(size=(5, 2)), RNG.normal(size=2))
    out = fg.vmap(f, in_axes=(Point(0, None), None))(p, 3.0)
    np.testing.assert_allclose(out, (p.x - p.y) * 3.0)


def test_axis_size_and_unbatched_outputs():
    out = fg.vmap(lambda: fnp.ones(2), axis_size=4)()
    assert out.shape == (4, 2)
    np.testing.assert_allclose(fg.vmap(lambda x, y: y, in_axes=(0, None))(np.ones(3), 2.0),
                               [2.0, 2.0, 2.0])


def test_keyword_arguments_are_batched_along_axis_0():
    f = lambda x, *, w: x @ w  # noqa: E731
    x, w = RNG.normal(size=3), RNG.normal(size=(5, 3, 2))
    np.testing.assert_allclose(fg.vmap(f, in_axes=None)(x, w=w), np.stack([x @ wi for wi in w]))


def test_nested_vmap_is_an_outer_product():
    f = fg.vmap(fg.vmap(lambda a, b: a * b, in_axes=(None, 0)), in_axes=(0, None))
    a, b = RNG.normal(size=3), RNG.normal(size=4)
    np.testing.assert_allclose(f(a, b), np.outer(a, b))


def test_per_example_gradients_equal_a_loop_of_grads():
    def loss(w, x, y):
        return fnp.log1p(fnp.exp(-y * fnp.dot(x, w)))

    w, x, y = RNG.normal(size=5), RNG.normal(size=(8, 5)), np.sign(RNG.normal(size=8))
    per_example = fg.vmap(fg.grad(loss), in_axes=(None, 0, 0))(w, x, y)
    np.testing.assert_allclose(per_example, np.stack([fg.grad(loss)(w, xi, yi)
                                                      for xi, yi in zip(x, y)]), rtol=1e-12)


def test_grad_of_vmap():
    f = lambda w, x: fnp.sum(fg.vmap(lambda xi: fnp.tanh(xi @ w))(x))  # noqa: E731
    w, x = RNG.normal(size=(3, 2)), RNG.normal(size=(4, 3))
    expected = fg.grad(lambda w: fnp.sum(fnp.tanh(x @ w)))(w)
    np.testing.assert_allclose(fg.grad(f)(w, x), expected, rtol=1e-12)


def test_vmap_inside_grad_closes_over_the_outer_value():
    def f(s):
        return fnp.sum(fg.vmap(lambda xi: fnp.sin(xi * s))(np.arange(3.0)))

    s = 0.7
    assert fg.grad(f)(s) == pytest.approx(np.sum(np.arange(3.0) * np.cos(np.arange(3.0) * s)))


def test_jacobians_are_batched():
    f = lambda x: fnp.stack([fnp.sum(x ** 2), fnp.prod(x)])  # noqa: E731
    x = RNG.normal(size=4)
    expected = np.stack([2 * x, np.prod(x) / x])
    np.testing.assert_allclose(fg.jacfwd(f)(x), expected, rtol=1e-12)
    np.testing.assert_allclose(fg.jacrev(f)(x), expected, rtol=1e-12)


# ---------------------------------------------------------------- errors


def test_batch_sizes_that_disagree_name_the_arguments():
    def f(images, labels):
        return images.sum() + labels

    with pytest.raises(BatchingError) as info:
        fg.vmap(f)(np.ones((3, 2)), np.ones(4))
    message = str(info.value)
    assert "images" in message and "labels" in message and "3" in message and "4" in message
    assert "test_vmap.py" in message


def test_in_axes_structure_mismatch():
    with pytest.raises(BatchingError, match="in_axes"):
        fg.vmap(lambda a, b: a + b, in_axes=(0, 0, 0))(np.ones(2), np.ones(2))
    with pytest.raises(BatchingError, match="structure"):
        fg.vmap(lambda p: p["a"], in_axes=({"b": 0},))({"a": np.ones(2)})


def test_axis_out_of_range():
    with pytest.raises(errors.AxisError, match="in_axes 2"):
        fg.vmap(lambda a: a, in_axes=2)(np.ones((2, 3)))


def test_bool_of_a_batched_value_suggests_where_and_cond():
    def f(x):
        if x > 0:
            return x
        return -x

    with pytest.raises(errors.ConcretizationError) as info:
        fg.vmap(f)(np.ones(3))
    message = str(info.value)
    assert "fnp.where" in message and "fg.cond" in message and "if x > 0:" in message


def test_no_batched_argument_needs_axis_size():
    with pytest.raises(BatchingError, match="axis_size"):
        fg.vmap(lambda a: a, in_axes=None)(np.ones(2))
