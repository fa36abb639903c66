"""Every layer compiled: ``jit(apply)`` and ``jit(grad)`` of a loss through
it equal the eager results (floats to rounding: jit's transcendental
functions and float64 accumulation differ from NumPy's in the last bits)."""

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
import funcgrad.random as random
from funcgrad import nn

KEY = random.key(0)

CASES = [
    ("Dense", nn.Dense(4), (3, 5), {}),
    ("Conv1D", nn.Conv(3, (3,), padding="SAME"), (2, 6, 2), {}),
    ("Conv2D strided", nn.Conv(4, (3, 3), strides=(2, 1), padding="VALID"), (2, 6, 5, 3), {}),
    ("Conv2D grouped, dilated", nn.Conv(4, (2, 2), dilation=(2, 1), feature_group_count=2),
     (1, 5, 5, 4), {}),
    ("MaxPool", nn.MaxPool((2, 2)), (2, 4, 4, 3), {}),
    ("AvgPool", nn.AvgPool((2, 2), padding="SAME"), (2, 5, 5, 3), {}),
    ("Flatten", nn.serial(nn.Flatten, nn.Dense(2)), (2, 3, 4), {}),
    ("Dropout", nn.serial(nn.Dense(6), nn.Dropout(0.5)), (4, 3), {"key": random.key(3), "train": True}),
    ("LayerNorm", nn.serial(nn.Dense(6), nn.LayerNorm()), (4, 3), {}),
    ("MultiHeadAttention", nn.MultiHeadAttention(2, 3), (2, 5, 4),
     {"mask": nn.causal_mask(5)}),
    ("parallel and residual", nn.serial(nn.FanOut(2), nn.parallel(nn.Dense(3), nn.Dense(3)),
                                        nn.FanInSum, nn.residual(nn.Dense(3), nn.Gelu)), (4, 2), {}),
]


def _loss(apply, kwargs):
    return lambda params, x: fnp.sum(fnp.tanh(apply(params, x, **kwargs)))


@pytest.mark.parametrize("name, layer, shape, kwargs", CASES, ids=[c[0] for c in CASES])
def test_layer_compiled_equals_eager(name, layer, shape, kwargs):
    init, apply = layer
    _, params = init(KEY, shape)
    x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    np.testing.assert_allclose(fg.jit(lambda p, x: apply(p, x, **kwargs))(params, x),
                               apply(params, x, **kwargs), rtol=2e-5, atol=1e-6)
    compiled = fg.jit(fg.grad(_loss(apply, kwargs)))(params, x)
    eager = fg.grad(_loss(apply, kwargs))(params, x)
    for c, e in zip(fg.tree_leaves(compiled), fg.tree_leaves(eager)):
        assert c.dtype == e.dtype
        np.testing.assert_allclose(c, e, rtol=2e-4, atol=1e-5)


def test_embedding_and_batchnorm_compiled_equal_eager():
    init, apply = nn.Embedding(10, 4)
    _, params = init(KEY, (3,))
    ids = np.array([1, 7, 7])
    np.testing.assert_array_equal(fg.jit(apply)(params, ids), apply(params, ids))

    layer = nn.BatchNorm()
    _, params = layer.init(KEY, (6, 3))
    state = layer.init_state((6, 3))
    x = np.random.default_rng(2).normal(size=(6, 3)).astype(np.float32)
    step = lambda p, s, x: layer.apply(p, x, state=s, train=True)  # noqa: E731
    (y_jit, s_jit), (y, s) = fg.jit(step)(params, state, x), step(params, state, x)
    np.testing.assert_allclose(y_jit, y, rtol=1e-5, atol=1e-6)
    for a, b in zip(fg.tree_leaves(s_jit), fg.tree_leaves(s)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_optimizer_steps_compiled_equal_eager():
    from funcgrad.nn import optim

    params = {"w": np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3), "b": np.zeros(3, np.float32)}
    loss = lambda p: fnp.sum((p["w"] * 2.0 + p["b"]) ** 2)  # noqa: E731
    for opt in (optim.adam(optim.cosine_decay(0.1, 10)), optim.chain(optim.clip_by_global_norm(1.0),
                                                                     optim.sgd(0.1, momentum=0.9))):
        def step(p, s, opt=opt):
            updates, s = opt.update(fg.grad(loss)(p), s, p)
            return optim.apply_updates(p, updates), s

        p_jit, s_jit = fg.jit(step)(params, opt.init(params))
        p_eager, s_eager = step(params, opt.init(params))
        for a, b in zip(fg.tree_leaves((p_jit, s_jit)), fg.tree_leaves((p_eager, s_eager))):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
