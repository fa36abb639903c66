"""funcgrad.nn: activations, losses, initializers and layers against NumPy
reference implementations written here, their gradients against central
differences (float64), vmap against the batched call, shapes and errors."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcgrad as fg
import funcgrad.numpy as fnp
import funcgrad.random as random
from funcgrad import nn
from funcgrad.errors import DtypeError, ShapeError
from funcgrad.nn import initializers as init

RNG = np.random.default_rng(0)


def f64(tree):
    return fg.tree_map(lambda a: np.asarray(a, np.float64), tree)


def assert_grads_match(f, *args, argnums=(0,), directions=2):
    """The reverse-mode gradient of the scalar ``f`` against central
    differences along random directions of each argument in ``argnums``."""
    grads = fg.grad(f, argnums=argnums)(*args)
    rng = np.random.default_rng(1)
    def along(argnum, direction, t):
        moved = list(args)
        moved[argnum] = fg.tree_map(lambda a, d: a + t * d, args[argnum], direction)
        return f(*moved)

    for argnum, grad in zip(argnums, grads):
        for _ in range(directions):
            direction = fg.tree_map(lambda a: rng.normal(size=np.shape(a)), args[argnum])
            eps = 1e-6
            numeric = (along(argnum, direction, eps) - along(argnum, direction, -eps)) / (2 * eps)
            analytic = sum(np.sum(g * d) for g, d in zip(fg.tree_leaves(grad), fg.tree_leaves(direction)))
            np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-6)


def layer_params(layer, input_shape, seed=0):
    out_shape, params = layer.init(random.key(seed), input_shape)
    return out_shape, f64(params)


# ---------------------------------------------------------------- activations


def _erf(x):
    return np.vectorize(math.erf)(x)


def _np_logsumexp(x, axis=None, keepdims=False):
    peak = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - peak), axis=axis, keepdims=True)) + peak
    return out if keepdims else np.squeeze(out, axis=axis)


def _np_softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


ACTIVATIONS = {
    "relu": (nn.relu, lambda x: np.maximum(x, 0)),
    "leaky_relu": (lambda x: nn.leaky_relu(x, 0.2), lambda x: np.where(x >= 0, x, 0.2 * x)),
    "elu": (lambda x: nn.elu(x, 1.5), lambda x: np.where(x > 0, x, 1.5 * np.expm1(np.minimum(x, 0)))),
    "gelu_tanh": (nn.gelu, lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))),
    "gelu_exact": (lambda x: nn.gelu(x, approximate=False), lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2)))),
    "silu": (nn.silu, lambda x: x / (1 + np.exp(-x))),
    "sigmoid": (nn.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "tanh": (nn.tanh, np.tanh),
    "softplus": (nn.softplus, lambda x: np.log1p(np.exp(x))),
    "softmax": (nn.softmax, _np_softmax),
    "log_softmax": (nn.log_softmax, lambda x: np.log(_np_softmax(x))),
    "logsumexp": (lambda x: nn.logsumexp(x, axis=-1), lambda x: _np_logsumexp(x, axis=-1)),
}

moderate = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
                      elements=st.floats(-6, 6))


@pytest.mark.parametrize("name", ACTIVATIONS)
@settings(max_examples=15)
@given(x=moderate)
def test_activation_values(name, x):
    fn, reference = ACTIVATIONS[name]
    np.testing.assert_allclose(fn(x), reference(x), rtol=1e-12, atol=1e-14)
    traced = fg.eval_ir(fg.make_ir(fn)(x), x)[0]
    np.testing.assert_allclose(traced, reference(x), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_gradients_and_float32(name):
    fn, reference = ACTIVATIONS[name]
    x = RNG.normal(size=(3, 4)) * 2
    weights = RNG.normal(size=np.shape(reference(x)))
    assert_grads_match(lambda v: fnp.sum(fn(v) * weights), x)
    y32 = fn(x.astype(np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, reference(x), rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name", ["sigmoid", "softplus", "softmax", "log_softmax", "logsumexp", "silu",
                                  "gelu_exact", "gelu_tanh", "elu"])
def test_activations_are_finite_at_extremes(name):
    fn, _ = ACTIVATIONS[name]
    x = np.array([[-1000.0, 0.0, 1000.0], [800.0, 800.0, -800.0]])
    assert np.all(np.isfinite(fn(x)))
    assert np.all(np.isfinite(fg.grad(lambda v: fnp.sum(fn(v)))(x)))


def test_stable_values_at_extremes():
    np.testing.assert_allclose(nn.softplus(np.array([-1000.0, 1000.0])), [0.0, 1000.0])
    np.testing.assert_allclose(nn.sigmoid(np.array([-1000.0, 1000.0])), [0.0, 1.0])
    np.testing.assert_allclose(nn.logsumexp(np.array([1000.0, 1000.0])), 1000 + np.log(2))
    np.testing.assert_allclose(nn.log_softmax(np.array([0.0, -1000.0])), [0.0, -1000.0])
    # rows of -inf: logsumexp is -inf, not nan
    with np.errstate(divide="ignore"):
        assert nn.logsumexp(np.array([-np.inf, -np.inf])) == -np.inf


def test_relu_derivative_at_zero_is_zero():
    assert fg.grad(nn.relu)(0.0) == 0.0
    np.testing.assert_allclose(fg.vmap(fg.grad(nn.relu))(np.array([-1.0, 0.0, 2.0])), [0.0, 0.0, 1.0])


def test_sigmoid_of_integers_is_float64():
    assert nn.sigmoid(np.array([0, 1])).dtype == np.float64
    assert nn.gelu(np.array([1], np.int32), approximate=False).dtype == np.float64


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_axes(axis, keepdims):
    x = RNG.normal(size=(2, 3, 4))
    expected = _np_logsumexp(x, axis=axis, keepdims=keepdims)
    out = nn.logsumexp(x, axis=axis, keepdims=keepdims)
    assert np.shape(out) == np.shape(expected)
    np.testing.assert_allclose(out, expected)
    traced = fg.eval_ir(fg.make_ir(lambda v: nn.logsumexp(v, axis=axis, keepdims=keepdims))(x), x)[0]
    np.testing.assert_allclose(traced, expected)
    # d logsumexp / dx = softmax
    grad = fg.grad(lambda v: fnp.sum(nn.logsumexp(v, axis=axis)))(x)
    np.testing.assert_allclose(grad, np.exp(x - _np_logsumexp(x, axis=axis, keepdims=True)))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_axis(axis):
    x = RNG.normal(size=(3, 4))
    np.testing.assert_allclose(nn.softmax(x, axis=axis), _np_softmax(x, axis=axis))
    np.testing.assert_allclose(nn.log_softmax(x, axis=axis), np.log(_np_softmax(x, axis=axis)))


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_one_hot(axis):
    labels = np.array([[0, 2], [1, 5]])  # 5 is out of range: a row of zeros
    expected = np.moveaxis(np.stack([labels == c for c in range(3)], axis=-1), -1, axis).astype(np.float32)
    out = nn.one_hot(labels, 3, axis=axis)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)
    traced = fg.vmap(lambda v: nn.one_hot(v, 3, dtype=np.float64))(labels)
    np.testing.assert_array_equal(traced, nn.one_hot(labels, 3, dtype=np.float64))


# ---------------------------------------------------------------- losses


def _np_cross_entropy(logits, labels):
    return -np.sum(labels * np.log(_np_softmax(logits)), axis=-1)


@settings(max_examples=20)
@given(data=st.data(), batch=st.integers(1, 4), classes=st.integers(2, 5))
def test_softmax_cross_entropy_integer_and_one_hot_labels(data, batch, classes):
    logits = data.draw(hnp.arrays(np.float64, (batch, classes), elements=st.floats(-10, 10)))
    labels = data.draw(hnp.arrays(np.int64, (batch,), elements=st.integers(0, classes - 1)))
    one_hot = np.eye(classes)[labels]
    expected = _np_cross_entropy(logits, one_hot)
    np.testing.assert_allclose(nn.softmax_cross_entropy(logits, labels), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(nn.softmax_cross_entropy(logits, one_hot), expected, rtol=1e-10, atol=1e-12)
    # d/dlogits = softmax - one_hot
    grad = fg.grad(lambda v: fnp.sum(nn.softmax_cross_entropy(v, labels)))(logits)
    np.testing.assert_allclose(grad, _np_softmax(logits) - one_hot, atol=1e-12)


def test_softmax_cross_entropy_soft_labels_axis_and_errors():
    logits = RNG.normal(size=(4, 3))
    soft = _np_softmax(RNG.normal(size=(4, 3)))
    np.testing.assert_allclose(nn.softmax_cross_entropy(logits.T, soft.T, axis=0),
                               _np_cross_entropy(logits, soft))
    assert_grads_match(lambda v, s: fnp.sum(nn.softmax_cross_entropy(v, s)), logits, soft, argnums=(0, 1))
    with pytest.raises(ShapeError, match=r"softmax_cross_entropy: integer labels of shape \(3,\)"):
        nn.softmax_cross_entropy(logits, np.zeros(3, int))
    with pytest.raises(ShapeError, match="probability labels of shape"):
        nn.softmax_cross_entropy(logits, np.zeros((4, 2)))
    # extreme logits stay finite
    assert np.isfinite(nn.softmax_cross_entropy(np.array([[1000.0, -1000.0]]), np.array([1]))).all()


def test_binary_cross_entropy_with_logits():
    x, y = RNG.normal(size=(5, 2)) * 3, RNG.uniform(size=(5, 2))
    sig = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(nn.binary_cross_entropy_with_logits(x, y),
                               -(y * np.log(sig) + (1 - y) * np.log(1 - sig)))
    grad = fg.grad(lambda v: fnp.sum(nn.binary_cross_entropy_with_logits(v, y)))(x)
    np.testing.assert_allclose(grad, sig - y, atol=1e-12)
    np.testing.assert_allclose(nn.binary_cross_entropy_with_logits(np.array([1000.0, -1000.0]),
                                                                   np.array([0.0, 0.0])), [1000.0, 0.0])


@pytest.mark.parametrize("axis", [None, 0, -1])
def test_mse_and_huber(axis):
    p, t = RNG.normal(size=(4, 3)) * 2, RNG.normal(size=(4, 3))
    np.testing.assert_allclose(nn.mse(p, t, axis=axis), np.mean((p - t) ** 2, axis=axis))
    e = np.abs(p - t)
    delta = 0.7
    expected = np.mean(np.where(e <= delta, 0.5 * e ** 2, delta * (e - 0.5 * delta)), axis=axis)
    np.testing.assert_allclose(nn.huber(p, t, delta=delta, axis=axis), expected)
    assert_grads_match(lambda a: fnp.sum(nn.huber(a, t, delta, axis)), p)
    assert_grads_match(lambda a: fnp.sum(nn.mse(a, t, axis)), p)


def test_l2_penalty():
    params = {"w": RNG.normal(size=(2, 3)), "layers": [RNG.normal(size=4), ()]}
    expected = 0.5 * (np.sum(params["w"] ** 2) + np.sum(params["layers"][0] ** 2))
    np.testing.assert_allclose(nn.l2_penalty(params), expected)
    grad = fg.grad(nn.l2_penalty)(params)
    np.testing.assert_allclose(grad["w"], params["w"])
    np.testing.assert_allclose(grad["layers"][0], params["layers"][0])


# ---------------------------------------------------------------- initializers


KEY = random.key(42)
VARIANCE_SCALING = [  # initializer, expected variance for shape (fan_in, fan_out)
    (init.glorot_normal, lambda i, o: 2 / (i + o)),
    (init.glorot_uniform, lambda i, o: 2 / (i + o)),
    (init.he_normal, lambda i, o: 2 / i),
    (init.he_uniform, lambda i, o: 2 / i),
    (init.lecun_normal, lambda i, o: 1 / i),
    (init.lecun_uniform, lambda i, o: 1 / i),
]


@pytest.mark.parametrize("factory, variance", VARIANCE_SCALING, ids=lambda v: getattr(v, "__name__", ""))
def test_variance_scaling_family(factory, variance):
    w = factory()(KEY, (200, 300))
    assert w.shape == (200, 300) and w.dtype == np.float32
    np.testing.assert_allclose(w.var(), variance(200, 300), rtol=0.05)
    limit = math.sqrt(3 * variance(200, 300)) if "uniform" in factory.__name__ else \
        2 * math.sqrt(variance(200, 300)) / 0.87962566103423978
    assert np.abs(w).max() <= limit * (1 + 1e-6)
    np.testing.assert_array_equal(w, factory()(KEY, (200, 300)))  # the key decides
    assert factory()(KEY, (3, 4), np.float64).dtype == np.float64


def test_fans_of_a_conv_kernel():
    # (3, 3, 8, 16) HWIO: fan_in = 9 * 8
    w = init.variance_scaling(1.0, "fan_in", "normal")(KEY, (3, 3, 8, 16))
    np.testing.assert_allclose(w.var(), 1 / 72, rtol=0.1)
    w = init.variance_scaling(1.0, "fan_out", "normal", in_axis=0, out_axis=1)(KEY, (50, 400))
    np.testing.assert_allclose(w.var(), 1 / 400, rtol=0.05)


def test_simple_initializers():
    np.testing.assert_array_equal(init.zeros(KEY, (2, 3)), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(init.ones(KEY, [2]), np.ones(2, np.float32))
    np.testing.assert_array_equal(init.constant(3)(KEY, (2,), np.int32), np.array([3, 3], np.int32))
    w = init.normal(0.5)(KEY, (100, 100))
    np.testing.assert_allclose(w.std(), 0.5, rtol=0.05)
    u = init.uniform(2.0)(KEY, (10000,))
    assert 0 <= u.min() and u.max() < 2.0 and abs(u.mean() - 1.0) < 0.05
    t = init.truncated_normal(0.1)(KEY, (10000,))
    assert np.abs(t).max() <= 0.2 + 1e-6


@pytest.mark.parametrize("shape, column_axis", [((5, 3), -1), ((3, 5), -1), ((4, 4), 0), ((3, 3, 4, 8), -1)])
def test_orthogonal(shape, column_axis):
    q = init.orthogonal(scale=2.0, column_axis=column_axis)(KEY, shape, np.float64)
    assert q.shape == shape
    m = np.moveaxis(q, column_axis, -1).reshape(-1, shape[column_axis]) / 2
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, np.eye(len(gram)), atol=1e-12)


def test_initializer_errors():
    with pytest.raises(ShapeError, match="variance_scaling: a shape needs at least 2 dimensions"):
        init.glorot_normal()(KEY, (3,))
    with pytest.raises(ShapeError, match="orthogonal"):
        init.orthogonal()(KEY, (3,))
    with pytest.raises(ValueError, match="mode must be one of"):
        init.variance_scaling(1.0, "fan_sum", "normal")
    with pytest.raises(ValueError, match="distribution must be one of"):
        init.variance_scaling(1.0, "fan_in", "cauchy")


# ---------------------------------------------------------------- NumPy references for layers


def explicit_pads(padding, spatial, window, strides, dilation):
    """TensorFlow's and JAX's rule: 'SAME' gives ceil(size / stride) outputs, the odd pad high."""
    if padding == "VALID":
        return [(0, 0)] * len(spatial)
    if padding != "SAME":
        return padding
    pads = []
    for size, k, s, d in zip(spatial, window, strides, dilation):
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def conv_reference(x, w, b, strides, pads, dilation, groups):
    """Channels-last convolution by a direct loop: x (N, *S, C), w (*K, C/G, O)."""
    n = w.ndim - 2
    x = np.pad(x, [(0, 0), *pads, (0, 0)])
    window, in_group, out = w.shape[:n], w.shape[-2], w.shape[-1]
    out_group = out // groups
    spatial = [(x.shape[1 + i] - (window[i] - 1) * dilation[i] - 1) // strides[i] + 1 for i in range(n)]
    y = np.zeros((x.shape[0], *spatial, out))
    for position in np.ndindex(*spatial):
        for tap in np.ndindex(*window):
            index = tuple(p * s + t * d for p, s, t, d in zip(position, strides, tap, dilation))
            patch = x[(slice(None), *index)]
            for g in range(groups):
                y[(slice(None), *position, slice(g * out_group, (g + 1) * out_group))] += (
                    patch[:, g * in_group:(g + 1) * in_group] @ w[tap][:, g * out_group:(g + 1) * out_group])
    return y + b


def pool_reference(x, window, strides, pads, kind):
    """Pooling by a loop over the windows, each taking its input entries only."""
    n = len(window)
    spatial = x.shape[1:-1]
    out_sizes = [(size + lo + hi - k) // s + 1
                 for size, (lo, hi), k, s in zip(spatial, pads, window, strides)]
    y = np.zeros((x.shape[0], *out_sizes, x.shape[-1]))
    for position in np.ndindex(*out_sizes):
        starts = [p * s - lo for p, s, (lo, _) in zip(position, strides, pads)]
        ranges = tuple(slice(max(a, 0), min(a + k, size)) for a, k, size in zip(starts, window, spatial))
        patch = x[(slice(None), *ranges)].reshape(x.shape[0], -1, x.shape[-1])
        y[(slice(None), *position)] = patch.max(axis=1) if kind == "max" else patch.mean(axis=1)
    assert n == len(strides)
    return y


def attention_reference(params, x, num_heads, mask=None):
    def proj(p, v):
        return v @ p["w"] + p["b"]

    q, k, v = (proj(params[n], x) for n in ("query", "key", "value"))
    size = q.shape[-1] // num_heads
    outs = []
    for h in range(num_heads):
        part = slice(h * size, (h + 1) * size)
        logits = q[..., part] @ np.swapaxes(k[..., part], -1, -2) / np.sqrt(size)
        if mask is not None:
            per_head = np.broadcast_to(mask, (*x.shape[:-2], num_heads, *logits.shape[-2:]))
            logits = np.where(per_head[..., h, :, :], logits, -1e30)
        outs.append(_np_softmax(logits) @ v[..., part])
    return proj(params["out"], np.concatenate(outs, axis=-1))


# ---------------------------------------------------------------- layers


CONV_CASES = [  # filter, strides, padding, dilation, groups, input shape (N, *S, C), out channels
    ((3,), (1,), "VALID", (1,), 1, (2, 7, 3), 4),
    ((3,), (2,), "SAME", (2,), 1, (2, 9, 2), 3),
    ((2,), (1,), [(2, 1)], (1,), 2, (1, 5, 4), 6),
    ((3, 3), (1, 1), "SAME", (1, 1), 1, (2, 5, 6, 2), 3),
    ((2, 3), (2, 1), "VALID", (1, 2), 1, (1, 6, 7, 3), 2),
    ((3, 3), (2, 2), [(1, 0), (0, 2)], (1, 1), 3, (2, 5, 5, 3), 6),
]


@pytest.mark.parametrize("window, strides, padding, dilation, groups, input_shape, out", CONV_CASES)
def test_conv_against_a_direct_loop(window, strides, padding, dilation, groups, input_shape, out):
    layer = nn.Conv(out, window, strides, padding, dilation, groups, b_init=init.normal(1.0))
    out_shape, params = layer_params(layer, input_shape)
    x = RNG.normal(size=input_shape)
    y = layer.apply(params, x)
    assert y.shape == out_shape
    pads = explicit_pads(padding, input_shape[1:-1], window, strides, dilation)
    expected = conv_reference(x, params["w"], params["b"], strides, pads, dilation, groups)
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)
    weights = RNG.normal(size=out_shape)
    assert_grads_match(lambda p, v: fnp.sum(layer.apply(p, v) * weights), params, x, argnums=(0, 1))
    # vmap over examples without a batch axis equals the batched call
    np.testing.assert_allclose(fg.vmap(lambda v: layer.apply(params, v))(x), y, rtol=1e-10, atol=1e-12)


def test_same_padding_keeps_the_size_over_the_stride():
    for size, stride in [(7, 2), (8, 3), (5, 1)]:
        shape, _ = nn.Conv(1, (3,), (stride,), "SAME").init(KEY, (1, size, 1))
        assert shape == (1, -(-size // stride), 1)


def test_conv_float32_params_with_float64_inputs():
    layer = nn.Conv(2, (3,))
    _, params = layer.init(KEY, (1, 5, 1))
    y = layer.apply(params, np.ones((1, 5, 1)))
    assert y.dtype == np.float64
    assert layer.apply(params, np.ones((1, 5, 1), np.float32)).dtype == np.float32


POOL_CASES = [  # window, strides, padding, input shape
    ((2,), None, "VALID", (2, 7, 3)),
    ((3,), (2,), "SAME", (2, 8, 2)),
    ((2, 2), None, "VALID", (2, 4, 6, 3)),
    ((3, 3), (1, 2), "SAME", (1, 5, 5, 2)),
    ((2, 3), (2, 2), [(1, 1), (0, 2)], (2, 5, 4, 1)),
]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("window, strides, padding, input_shape", POOL_CASES)
def test_pools_against_loops(kind, window, strides, padding, input_shape):
    layer = (nn.MaxPool if kind == "max" else nn.AvgPool)(window, strides, padding)
    out_shape, params = layer.init(KEY, input_shape)
    x = RNG.normal(size=input_shape)
    y = layer.apply(params, x)
    assert y.shape == out_shape
    steps = strides or window
    pads = explicit_pads(padding, input_shape[1:-1], window, steps, (1,) * len(window))
    np.testing.assert_allclose(y, pool_reference(x, window, steps, pads, kind), rtol=1e-12)
    weights = RNG.normal(size=out_shape)
    assert_grads_match(lambda v: fnp.sum(layer.apply(params, v) * weights), x)
    np.testing.assert_allclose(fg.vmap(lambda v: layer.apply(params, v))(x), y)


def test_max_pool_of_integers():
    y = nn.MaxPool((2,), padding="SAME").apply((), np.array([[[1], [-5], [-7]]], np.int32))
    np.testing.assert_array_equal(y, [[[1], [-7]]])


def test_dense():
    layer = nn.Dense(3, b_init=init.normal(1.0))
    out_shape, params = layer_params(layer, (4, 2, 5))
    x = RNG.normal(size=(4, 2, 5))
    y = layer.apply(params, x)
    assert out_shape == y.shape == (4, 2, 3)
    np.testing.assert_allclose(y, x @ params["w"] + params["b"])
    assert_grads_match(lambda p, v: fnp.sum(fnp.sin(layer.apply(p, v))), params, x, argnums=(0, 1))
    np.testing.assert_allclose(fg.vmap(lambda v: layer.apply(params, v))(x), y)
    assert layer.init(KEY, (5,))[1]["w"].dtype == np.float32


@pytest.mark.parametrize("axis", [-1, (-2, -1), -2])
def test_layer_norm_against_the_formula(axis):
    layer = nn.LayerNorm(axis, scale_init=init.normal(1.0), bias_init=init.normal(1.0))
    out_shape, params = layer_params(layer, (3, 4, 5))
    x = RNG.normal(size=(3, 4, 5))
    y = layer.apply(params, x)
    mean, var = x.mean(axis=axis, keepdims=True), x.var(axis=axis, keepdims=True)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5) * params["scale"] + params["bias"])
    assert out_shape == y.shape
    weights = RNG.normal(size=y.shape)
    assert_grads_match(lambda p, v: fnp.sum(layer.apply(p, v) * weights), params, x, argnums=(0, 1))
    np.testing.assert_allclose(fg.vmap(lambda v: layer.apply(params, v))(x), y)


def test_layer_norm_rejects_positive_axes():
    with pytest.raises(ValueError, match="negative"):
        nn.LayerNorm(axis=1)


def test_batch_norm_train_and_eval():
    layer = nn.BatchNorm(momentum=0.8, scale_init=init.normal(1.0), bias_init=init.normal(1.0))
    assert layer.stateful
    _, params = layer_params(layer, (6, 2, 3))
    state = layer.init_state((6, 2, 3))
    assert state["mean"].dtype == np.float32 and state["mean"].shape == (3,)
    x = RNG.normal(size=(6, 2, 3)) * 2 + 1
    y, new_state = layer.apply(params, x, state=state, train=True)
    mean, var = x.mean(axis=(0, 1)), x.var(axis=(0, 1))
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5) * params["scale"] + params["bias"])
    np.testing.assert_allclose(new_state["mean"], 0.2 * mean, rtol=1e-6)
    np.testing.assert_allclose(new_state["var"], 0.8 + 0.2 * var, rtol=1e-6)
    assert new_state["var"].dtype == np.float32  # the running statistics keep their dtype
    # eval: the running statistics, unchanged
    y_eval, same = layer.apply(params, x, state=new_state)
    assert same is new_state
    np.testing.assert_allclose(y_eval, (x - new_state["mean"]) / np.sqrt(new_state["var"] + 1e-5)
                               * params["scale"] + params["bias"], rtol=1e-6)
    # state=None is the initial state
    np.testing.assert_allclose(layer.apply(params, x, train=True)[1]["mean"], new_state["mean"])
    weights = RNG.normal(size=x.shape)

    def loss(p, v):
        out, _ = layer.apply(p, v, state=f64(state), train=True)
        return fnp.sum(out * weights)

    assert_grads_match(loss, params, x, argnums=(0, 1))
    # eval mode works per example
    np.testing.assert_allclose(fg.vmap(lambda v: layer.apply(params, v, state=new_state)[0])(x), y_eval)


def test_dropout():
    layer = nn.Dropout(0.25)
    x = RNG.normal(size=(50, 40)) + 3
    assert layer.apply((), x) is x  # inference: the identity
    y = layer.apply((), x, key=KEY, train=True)
    dropped = y == 0
    assert abs(dropped.mean() - 0.25) < 0.03
    np.testing.assert_allclose(y[~dropped], x[~dropped] / 0.75)
    np.testing.assert_array_equal(y, layer.apply((), x, key=KEY, train=True))
    grad = fg.grad(lambda v: fnp.sum(layer.apply((), v, key=KEY, train=True)))(x)
    np.testing.assert_allclose(grad, np.where(dropped, 0, 1 / 0.75))
    with pytest.raises(ValueError, match=r"Dropout\(0.25\): train=True needs a random key"):
        layer.apply((), x, train=True)
    with pytest.raises(ValueError, match="rate"):
        nn.Dropout(1.0)


def test_embedding():
    layer = nn.Embedding(7, 3)
    out_shape, params = layer_params(layer, (2, 4))
    ids = np.array([[0, 6, 2, 2], [1, 1, 0, 5]])
    y = layer.apply(params, ids)
    assert out_shape == y.shape == (2, 4, 3)
    np.testing.assert_allclose(y, params["table"][ids])
    weights = RNG.normal(size=y.shape)
    assert_grads_match(lambda p: fnp.sum(layer.apply(p, ids) * weights), params)
    np.testing.assert_allclose(fg.vmap(lambda i: layer.apply(params, i))(ids), y)
    with pytest.raises(DtypeError, match=r"Embedding\(7, 3\): ids must be integers"):
        layer.apply(params, ids.astype(float))


@pytest.mark.parametrize("num_heads, head_dim, out_dim", [(1, None, None), (2, None, 3), (3, 2, None)])
def test_attention_against_the_formula(num_heads, head_dim, out_dim):
    layer = nn.MultiHeadAttention(num_heads, head_dim, out_dim, b_init=init.normal(0.5))
    out_shape, params = layer_params(layer, (2, 5, 6))
    x = RNG.normal(size=(2, 5, 6))
    mask = RNG.uniform(size=(2, 1, 5, 5)) < 0.7
    mask[..., 0] = True  # every query sees something
    for m in (None, mask, nn.causal_mask(5)):
        y = layer.apply(params, x, mask=m)
        assert y.shape == out_shape == (2, 5, out_dim or 6)
        np.testing.assert_allclose(y, attention_reference(params, x, num_heads, m), rtol=1e-10, atol=1e-12)
    weights = RNG.normal(size=out_shape)
    assert_grads_match(lambda p, v: fnp.sum(layer.apply(p, v, mask=mask) * weights), params, x,
                       argnums=(0, 1))
    causal = nn.causal_mask(5)
    np.testing.assert_allclose(fg.vmap(lambda v: layer.apply(params, v, mask=causal))(x),
                               layer.apply(params, x, mask=causal), rtol=1e-12)


def test_causal_attention_ignores_later_positions():
    layer = nn.MultiHeadAttention(2)
    _, params = layer_params(layer, (4, 4))
    x = RNG.normal(size=(4, 4))
    changed = x.copy()
    changed[3] += 10
    y, y_changed = (layer.apply(params, v, mask=nn.causal_mask(4)) for v in (x, changed))
    np.testing.assert_allclose(y[:3], y_changed[:3], rtol=1e-12)
    assert not np.allclose(y[3], y_changed[3])


def test_attention_mask_errors():
    layer = nn.MultiHeadAttention(2)
    _, params = layer_params(layer, (3, 4))
    with pytest.raises(DtypeError, match="mask must be boolean"):
        layer.apply(params, np.ones((3, 4)), mask=np.ones((3, 3)))
    with pytest.raises(ShapeError, match=r"mask of shape \(2, 2\) does not broadcast"):
        layer.apply(params, np.ones((3, 4)), mask=np.ones((2, 2), bool))
    with pytest.raises(ShapeError, match="3 heads do not divide the 4 features"):
        nn.MultiHeadAttention(3).init(KEY, (3, 4))


ACTIVATION_LAYERS = [(nn.Relu, nn.relu), (nn.Gelu, nn.gelu), (nn.Tanh, nn.tanh), (nn.Sigmoid, nn.sigmoid),
                     (nn.Softplus, nn.softplus), (nn.Silu, nn.silu), (nn.Elu, nn.elu),
                     (nn.LeakyRelu, nn.leaky_relu), (nn.Softmax, nn.softmax), (nn.LogSoftmax, nn.log_softmax)]


@pytest.mark.parametrize("layer, fn", ACTIVATION_LAYERS, ids=lambda v: getattr(v, "name", ""))
def test_activation_layers(layer, fn):
    x = RNG.normal(size=(2, 3))
    assert layer.init(KEY, (2, 3)) == ((2, 3), ())
    np.testing.assert_allclose(layer.apply((), x), fn(x))


def test_flatten():
    assert nn.Flatten.init(KEY, (2, 3, 4)) == ((2, 12), ())
    x = RNG.normal(size=(2, 3, 4))
    np.testing.assert_array_equal(nn.Flatten.apply((), x), x.reshape(2, 12))


# ---------------------------------------------------------------- combinators


def test_serial_and_gradients_of_a_small_cnn():
    model = nn.serial(nn.Conv(3, (3, 3), padding="SAME"), nn.Relu, nn.AvgPool((2, 2)), nn.Flatten,
                      nn.Dense(4), nn.LogSoftmax)
    out_shape, params = layer_params(model, (2, 4, 4, 1))
    assert out_shape == (2, 4) and isinstance(params, list) and len(params) == 6
    x = RNG.normal(size=(2, 4, 4, 1))
    labels = np.array([1, 3])
    assert_grads_match(lambda p, v: fnp.mean(nn.softmax_cross_entropy(model.apply(p, v), labels)),
                       params, x, argnums=(0, 1))


def test_parallel_fan_out_fan_in():
    model = nn.serial(nn.FanOut(2), nn.parallel(nn.Dense(3), nn.Dense(3)), nn.FanInSum)
    _, params = layer_params(model, (4, 2))
    x = RNG.normal(size=(4, 2))
    (w1, w2) = params[1]
    np.testing.assert_allclose(model.apply(params, x), x @ w1["w"] + w1["b"] + x @ w2["w"] + w2["b"])
    concat = nn.serial(nn.FanOut(2), nn.parallel(nn.Dense(3), nn.Tanh), nn.FanInConcat(-1))
    assert concat.init(KEY, (4, 2))[0] == (4, 5)
    assert concat.apply(concat.init(KEY, (4, 2))[1], x).shape == (4, 5)
    with pytest.raises(ShapeError, match="FanInSum: inputs must have one shape"):
        nn.serial(nn.FanOut(2), nn.parallel(nn.Dense(3), nn.Dense(2)), nn.FanInSum).init(KEY, (4, 2))
    with pytest.raises(ValueError, match="parallel: expected inputs for 2 layers, got 3"):
        nn.parallel(nn.Tanh, nn.Tanh).apply([(), ()], (x, x, x))


def test_residual():
    model = nn.residual(nn.Dense(3), nn.Tanh)
    _, params = layer_params(model, (2, 3))
    x = RNG.normal(size=(2, 3))
    np.testing.assert_allclose(model.apply(params, x), x + np.tanh(x @ params[0]["w"] + params[0]["b"]))
    with pytest.raises(ShapeError, match=r"residual: the layers map shape \(2, 3\) to \(2, 4\)"):
        nn.residual(nn.Dense(4)).init(KEY, (2, 3))


def test_keys_and_train_reach_every_layer():
    model = nn.serial(nn.Dropout(0.5), nn.Dropout(0.5))
    x = np.ones((100,))
    y = model.apply([(), ()], x, key=KEY, train=True)
    assert set(np.unique(y)) <= {0.0, 4.0} and (y == 4.0).any()
    np.testing.assert_array_equal(model.apply([(), ()], x), x)


def test_stateful_combinators_thread_the_state():
    model = nn.serial(nn.Dense(3), nn.residual(nn.BatchNorm(), nn.Relu), nn.Dense(2))
    assert model.stateful
    _, params = layer_params(model, (5, 4))
    state = model.init_state((5, 4))
    assert state[0] is None and state[2] is None and state[1][1] is None
    assert state[1][0]["mean"].shape == (3,)
    x = RNG.normal(size=(5, 4))
    y, new_state = model.apply(params, x, state=state, train=True)
    assert y.shape == (5, 2)
    assert fg.tree_structure(new_state) == fg.tree_structure(state)
    assert not np.allclose(new_state[1][0]["mean"], 0)
    _, unchanged = model.apply(params, x, state=new_state)
    assert unchanged[1][0] is new_state[1][0]


def test_plain_init_apply_pairs_compose():
    def scale_init(key, shape):
        return shape, {"s": np.full(shape[-1:], 2.0)}

    def scale_apply(params, x, **kwargs):
        return x * params["s"]

    model = nn.serial(nn.Dense(3), (scale_init, scale_apply))
    out_shape, params = model.init(KEY, (2, 4))
    assert out_shape == (2, 3) and model.output_shape((2, 4)) == (2, 3)
    x = RNG.normal(size=(2, 4))
    np.testing.assert_allclose(model.apply(params, x), 2 * nn.Dense(3).apply(params[0], x), rtol=1e-6)


SHAPE_ERRORS = [  # layer, input shape, message
    (nn.Dense(3), (), r"Dense\(3\): inputs must be \(\.\.\., features\), got shape \(\)"),
    (nn.Conv(2, (3, 3)), (4, 5),
     r"Conv\(2, \(3, 3\)\): inputs must be \(\*batch, 2 spatial axes, channels\)"),
    (nn.Conv(2, (3,), feature_group_count=2), (1, 5, 3), "feature_group_count=2 must divide"),
    (nn.MaxPool((4,)), (1, 3, 1), r"MaxPool\(\(4,\)\): the window \(4,\) does not fit"),
    (nn.serial(nn.Dense(2), nn.AvgPool((2, 2))), (3, 4), r"AvgPool\(\(2, 2\)\): inputs must be"),
    (nn.LayerNorm((-3, -1)), (4, 5), "LayerNorm: inputs must be at least 3-D"),
]


@pytest.mark.parametrize("layer, input_shape, message", SHAPE_ERRORS)
def test_shape_errors_name_the_layer_and_shapes(layer, input_shape, message):
    with pytest.raises(ShapeError, match=message):
        layer.init(KEY, input_shape)


def test_apply_shape_errors():
    _, params = nn.Dense(3).init(KEY, (2, 4))
    with pytest.raises(ShapeError, match=r"Dense\(3\): input of shape \(2, 5\) does not fit .* 4 features"):
        nn.Dense(3).apply(params, np.ones((2, 5)))
    _, params = nn.Conv(2, (2,)).init(KEY, (1, 4, 3))
    with pytest.raises(ShapeError, match="expect 3 channels"):
        nn.Conv(2, (2,)).apply(params, np.ones((1, 4, 2)))
    with pytest.raises(ShapeError, match="LayerNorm: input of shape"):
        nn.LayerNorm().apply(nn.LayerNorm().init(KEY, (2, 3))[1], np.ones((2, 4)))
    with pytest.raises(ValueError, match="serial: expected params for 2 layers, got 1"):
        nn.serial(nn.Tanh, nn.Tanh).apply([()], np.ones(2))


def test_float32_models_differentiate_in_float32():
    model = nn.serial(nn.Dense(4), nn.BatchNorm(), nn.Gelu, nn.MultiHeadAttention(2), nn.LayerNorm(),
                      nn.Dense(2))
    _, params = model.init(KEY, (3, 5, 4))
    x = RNG.normal(size=(3, 5, 4)).astype(np.float32)
    grads = fg.grad(lambda p: fnp.sum(model.apply(p, x, train=True)[0]))(params)
    assert {leaf.dtype for leaf in fg.tree_leaves(grads)} == {np.dtype(np.float32)}


# ---------------------------------------------------------------- inspection


def test_count_params_and_summary():
    model = [nn.Conv(4, (3, 3), padding="SAME"), nn.Relu,
             nn.residual(nn.Conv(4, (3, 3), padding="SAME"), nn.Tanh),
             nn.MaxPool((2, 2)), nn.Flatten, nn.Dense(10)]
    _, params = nn.serial(*model).init(KEY, (2, 8, 8, 3))
    total = (3 * 3 * 3 * 4 + 4) + (3 * 3 * 4 * 4 + 4) + (64 * 10 + 10)
    assert nn.count_params(params) == total
    text = nn.summary(model, (2, 8, 8, 3))
    lines = text.splitlines()
    assert lines[0].split() == ["Layer", "Output", "shape", "Params"]
    assert lines[-1] == f"Total params: {total:,}"
    rows = {line.split("  (")[0].rstrip(): line for line in lines[2:-2]}
    assert list(rows) == ["Conv(4, (3, 3))", "relu", "residual", "  Conv(4, (3, 3))", "  tanh",
                          "MaxPool((2, 2))", "Flatten", "Dense(10)"]
    assert rows["residual"].split()[-1] == "148" and "(2, 8, 8, 4)" in rows["residual"]
    assert "(2, 64)" in rows["Flatten"] and rows["Dense(10)"].endswith("650")
    single = nn.summary(nn.Dense(2), (3,))
    assert "Dense(2)" in single and single.endswith("Total params: 8")
