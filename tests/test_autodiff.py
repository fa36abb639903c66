"""The autodiff API: closed forms, composition, closures, value-dependent
Python control flow, plain NumPy code, pytrees, and the error messages."""

import dataclasses

import numpy as np
import pytest
from fnp_harness import numerical_grad

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import errors

RNG = np.random.default_rng(0)




# ---------------------------------------------------------------- closed forms


def rosenbrock(x):
    return fnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def rosenbrock_hessian(x):
    n = len(x)
    h = np.zeros((n, n))
    for i in range(n - 1):
        h[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        h[i, i + 1] = h[i + 1, i] = -400 * x[i]
        h[i + 1, i + 1] += 200
    return h


def test_hessian_of_rosenbrock():
    x = RNG.normal(size=5)
    np.testing.assert_allclose(fg.hessian(rosenbrock)(x), rosenbrock_hessian(x), rtol=1e-10)


def test_tanh_derivatives_to_third_order():
    x = np.linspace(-2, 2, 7)
    t = np.tanh(x)
    d1 = fg.grad(lambda v: fnp.sum(fnp.tanh(v)))
    d2 = fg.grad(lambda v: fnp.sum(d1(v)))
    d3 = fg.grad(lambda v: fnp.sum(d2(v)))
    np.testing.assert_allclose(d1(x), 1 - t ** 2, rtol=1e-12)
    np.testing.assert_allclose(d2(x), -2 * t * (1 - t ** 2), rtol=1e-12)
    np.testing.assert_allclose(d3(x), -2 * (1 - t ** 2) * (1 - 3 * t ** 2), rtol=1e-10, atol=1e-12)


def test_softmax_cross_entropy_gradient():
    logits = RNG.normal(size=(4, 5))
    labels = np.array([0, 3, 1, 4])

    def loss(z):
        z = z - fnp.max(z, axis=1, keepdims=True)
        log_p = z - fnp.log(fnp.sum(fnp.exp(z), axis=1, keepdims=True))
        return -fnp.mean(log_p[np.arange(4), labels])

    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = (p - np.eye(5)[labels]) / 4
    np.testing.assert_allclose(fg.grad(loss)(logits), expected, rtol=1e-10)


def test_linear_regression_normal_equations():
    x, y = RNG.normal(size=(20, 3)), RNG.normal(size=20)
    w_star = np.linalg.solve(x.T @ x, x.T @ y)
    loss = lambda w: fnp.sum((x @ w - y) ** 2)  # noqa: E731
    np.testing.assert_allclose(fg.grad(loss)(w_star), np.zeros(3), atol=1e-10)
    np.testing.assert_allclose(fg.hessian(loss)(w_star), 2 * x.T @ x, rtol=1e-12)


# ---------------------------------------------------------------- transforms agree


def test_jacfwd_equals_jacrev_and_finite_differences():
    def f(x):
        return fnp.stack([fnp.sin(x[0]) * x[1], fnp.exp(x[1] - x[2]), x[0] * x[2] ** 2])

    x = RNG.normal(size=3)
    forward, reverse = fg.jacfwd(f)(x), fg.jacrev(f)(x)
    np.testing.assert_allclose(forward, reverse, rtol=1e-12)
    numeric = np.stack([numerical_grad(lambda v, i=i: f(v)[i], x) for i in range(3)])
    np.testing.assert_allclose(forward, numeric, rtol=1e-6)


def test_jacobian_shapes_and_pytrees():
    f = lambda p: {"y": p["w"] @ p["x"], "s": fnp.sum(p["w"])}  # noqa: E731
    p = {"w": RNG.normal(size=(2, 3)), "x": RNG.normal(size=3)}
    jf, jr = fg.jacfwd(f)(p), fg.jacrev(f)(p)
    assert jf["y"]["w"].shape == (2, 2, 3) and jf["y"]["x"].shape == (2, 3)
    assert jf["s"]["w"].shape == (2, 3) and jf["s"]["x"].shape == (3,)
    for out in ("y", "s"):
        for arg in ("w", "x"):
            np.testing.assert_allclose(jf[out][arg], jr[out][arg], rtol=1e-12)


def test_jvp_and_vjp_agree():
    f = lambda x, y: (fnp.tanh(x) * y, fnp.sum(x * y))  # noqa: E731
    x, y = RNG.normal(size=3), RNG.normal(size=3)
    tx, ty = RNG.normal(size=3), RNG.normal(size=3)
    _out, (t1, t2) = fg.jvp(f, (x, y), (tx, ty))
    _, vjp_fun = fg.vjp(f, x, y)
    u1, u2 = RNG.normal(size=3), 0.7
    gx, gy = vjp_fun((u1, np.float64(u2)))
    np.testing.assert_allclose(np.vdot(u1, t1) + u2 * t2, np.vdot(gx, tx) + np.vdot(gy, ty))


def test_linearize_reuses_the_linear_map():
    _y, f_jvp = fg.linearize(lambda x: fnp.sin(x) * x, np.array([0.5, 1.0]))
    np.testing.assert_allclose(f_jvp(np.array([1.0, 0.0])), [np.cos(0.5) * 0.5 + np.sin(0.5), 0.0])
    np.testing.assert_allclose(f_jvp(np.array([0.0, 2.0])), [0.0, 2 * (np.cos(1.0) + np.sin(1.0))])


def test_linear_transpose():
    f_t = fg.linear_transpose(lambda x: fnp.cumsum(x) * 2.0, np.ones(3))
    np.testing.assert_allclose(f_t(np.array([1.0, 0.0, 0.0]))[0], [2.0, 0.0, 0.0])
    np.testing.assert_allclose(f_t(np.array([0.0, 0.0, 1.0]))[0], [2.0, 2.0, 2.0])


# ---------------------------------------------------------------- composition


def test_grad_of_grad_of_grad():
    f = lambda x: x ** 4  # noqa: E731
    assert fg.grad(fg.grad(fg.grad(f)))(2.0) == pytest.approx(24 * 2.0)


def test_jacfwd_of_jacrev_is_the_hessian():
    x = RNG.normal(size=4)
    np.testing.assert_allclose(fg.jacfwd(fg.jacrev(rosenbrock))(x), rosenbrock_hessian(x),
                               rtol=1e-10)


def test_grad_of_a_function_that_calls_grad():
    def f(x):
        inner = fg.grad(lambda y: fnp.sum(fnp.sin(y) * x))(x)  # d/dy at y = x: cos(x) * x
        return fnp.sum(inner)

    x = np.array([0.3, 1.2])
    np.testing.assert_allclose(fg.grad(f)(x), np.cos(x) - x * np.sin(x), rtol=1e-12)


def test_no_perturbation_confusion():
    # d/dx [x * d/dy (x + y)] = d/dx [x * 1] = 1 (a confused AD gives 2).
    f = lambda x: x * fg.grad(lambda y: x + y)(1.0)  # noqa: E731
    assert fg.grad(f)(1.0) == pytest.approx(1.0)


def test_closure_over_outer_traced_values():
    def outer(w):
        loss = lambda x: fnp.sum((w * x) ** 2)  # noqa: E731
        return fnp.sum(fg.grad(loss)(np.array([1.0, 2.0])))  # 2 w^2 x summed

    w = np.array(0.5)
    np.testing.assert_allclose(fg.grad(outer)(w), 4 * w * 3.0)


# ---------------------------------------------------------------- Python control flow


def test_value_dependent_python_if():
    def f(x):
        if fnp.sum(x) > 0:
            return fnp.sum(x ** 2)
        return fnp.sum(-x)

    np.testing.assert_allclose(fg.grad(f)(np.array([1.0, 2.0])), [2.0, 4.0])
    np.testing.assert_allclose(fg.grad(f)(np.array([-1.0, -2.0])), [-1.0, -1.0])


def test_while_loop_that_tests_convergence():
    def sqrt_newton(a):
        x = a
        while abs(float(x * x - a)) > 1e-12:
            x = 0.5 * (x + a / x)
        return x

    assert fg.grad(sqrt_newton)(4.0) == pytest.approx(0.25, rel=1e-9)


def test_boolean_mask_indexing_under_grad():
    x = np.array([-1.0, 2.0, -3.0, 4.0])
    np.testing.assert_allclose(fg.grad(lambda v: fnp.sum(v[v > 0] ** 2))(x), [0, 4.0, 0, 8.0])


def test_python_if_under_an_abstract_trace_is_a_clear_error():
    def f(x):
        if x > 0:
            return x
        return -x

    with pytest.raises(errors.ConcretizationError, match=r"fnp\.where"):
        fg.make_ir(fg.grad(f))(1.0)


# ---------------------------------------------------------------- plain NumPy, pytrees


def test_unmodified_numpy_code():
    f = lambda x: np.sum(np.tanh(x) ** 2)  # noqa: E731
    x = RNG.normal(size=4)
    np.testing.assert_allclose(fg.grad(f)(x), 2 * np.tanh(x) * (1 - np.tanh(x) ** 2), rtol=1e-12)


@dataclasses.dataclass
class Params:
    w: np.ndarray
    b: np.ndarray


def test_pytree_arguments_argnums_and_aux():
    def loss(params, x, scale):
        pred = x @ params["layers"][0].w + params["layers"][0].b
        return scale * fnp.sum(pred ** 2), {"pred": pred}

    params = {"layers": [Params(RNG.normal(size=(3, 2)), np.zeros(2))]}
    x = RNG.normal(size=(4, 3))
    (value, aux), grads = fg.value_and_grad(loss, has_aux=True)(params, x, 0.5)
    assert isinstance(grads["layers"][0], Params)
    expected_w = 0.5 * 2 * x.T @ aux["pred"]
    np.testing.assert_allclose(grads["layers"][0].w, expected_w, rtol=1e-12)
    _g_params, g_x = fg.grad(lambda p, v, s: loss(p, v, s)[0], argnums=(0, 1))(params, x, 0.5)
    np.testing.assert_allclose(g_x, 0.5 * 2 * aux["pred"] @ params["layers"][0].w.T, rtol=1e-12)
    assert value == pytest.approx(0.5 * np.sum(aux["pred"] ** 2))


def test_float32_stays_float32():
    g = fg.grad(lambda x: fnp.sum(fnp.exp(x) * 2.0))(np.ones(3, np.float32))
    assert g.dtype == np.float32


# ---------------------------------------------------------------- errors


def test_non_scalar_output_suggests_jacrev():
    with pytest.raises(errors.ShapeError, match="jacrev"):
        fg.grad(lambda x: x * 2)(np.ones(3))


def test_integer_argument_names_the_argument():
    with pytest.raises(errors.DtypeError, match="argument 1"):
        fg.grad(lambda x, n: x * n, argnums=(0, 1))(1.0, np.int32(3))


def test_argnums_out_of_range():
    with pytest.raises(ValueError, match="argnums"):
        fg.grad(lambda x: x, argnums=2)(1.0)


def test_has_aux_output_not_a_pair():
    with pytest.raises(errors.ShapeError, match="pair"):
        fg.grad(lambda x: x * 2, has_aux=True)(1.0)


def test_jvp_tangent_mismatch():
    with pytest.raises(errors.ShapeError, match="tangent 0"):
        fg.jvp(fnp.sin, (np.ones(3),), (np.ones(2),))
    with pytest.raises(errors.ShapeError, match="tangent 0"):
        fg.jvp(fnp.sin, (np.ones(3),), (np.ones(3, np.float32),))
