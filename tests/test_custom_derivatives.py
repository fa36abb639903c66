"""stop_gradient, custom_jvp, custom_vjp and checkpoint: derivatives against
closed forms and against the plain functions, in every mode and to second
order; pytrees, nondiff_argnums, closures; the residuals a checkpoint keeps;
the primitives' abstract evaluation; and every bad input with its message."""

import functools
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp
import funcgrad.primitives.custom_derivatives as prims
from funcgrad.errors import ConcretizationError, DtypeError, EscapedTracerError, ShapeError, StructureError
from funcgrad.ir import AbstractArray, Literal
from funcgrad.trace import trace_to_ir
from funcgrad.transforms.autodiff import MissingRuleError, linearize_ir
from funcgrad.transforms.custom_derivatives import checkpoint, custom_jvp, custom_vjp, stop_gradient

F32, F64, I64 = (np.dtype(t) for t in (np.float32, np.float64, np.int64))
RNG = np.random.default_rng(0)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_derivative(x):
    e = np.exp(-np.abs(x))
    return e / (1 + e) ** 2


def names(ir):
    return [eqn.primitive.name for eqn in ir.eqns]


# ---------------------------------------------------------------- stop_gradient


def test_stop_gradient_is_the_identity_with_a_zero_derivative():
    x = np.array([1.0, -2.0, 3.0])
    assert stop_gradient(x) is x
    np.testing.assert_allclose(fg.grad(lambda x: fnp.sum(x * stop_gradient(x)))(x), x)
    _, tangent = fg.jvp(stop_gradient, (x,), (np.ones(3),))
    np.testing.assert_array_equal(tangent, np.zeros(3))
    assert names(fg.make_ir(stop_gradient)(x)) == ["stop_gradient"]


def test_stop_gradient_over_a_pytree_leaves_integers_alone():
    tree = {"w": np.ones(2), "n": np.arange(3), "b": (2.0,)}
    ir = fg.make_ir(stop_gradient)(tree)
    assert names(ir) == ["stop_gradient", "stop_gradient"]  # b and w, not the integers
    grads = fg.grad(lambda t: fnp.sum(stop_gradient(t)["w"]) + t["b"][0] * 2.0)({"w": np.ones(2),
                                                                                 "b": (1.0,)})
    np.testing.assert_array_equal(grads["w"], np.zeros(2))
    assert grads["b"][0] == 2.0


def test_stop_gradient_in_a_loss_holds_the_target_fixed():
    # A temporal-difference style loss: the target is not differentiated.
    x, y = RNG.normal(size=4), RNG.normal(size=4)

    def loss(w):
        return fnp.sum((w * x - stop_gradient(0.9 * w * y)) ** 2)

    w = 0.7
    expected = np.sum(2 * (w * x - 0.9 * w * y) * x)
    np.testing.assert_allclose(fg.grad(loss)(w), expected, rtol=1e-12)
    np.testing.assert_allclose(fg.hessian(loss)(w), np.sum(2 * x * x), rtol=1e-12)


# ---------------------------------------------------------------- custom_jvp


@custom_jvp
def log1pexp(x):
    return fnp.log1p(fnp.exp(x))


@log1pexp.defjvp
def log1pexp_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return log1pexp(x), t / (1 + fnp.exp(-x))


X = np.array([-30.0, -3.0, 0.0, 5.0, 100.0, 1000.0])


def test_custom_jvp_runs_plain_outside_transforms():
    x = np.array([-1.0, 2.0])
    np.testing.assert_allclose(log1pexp(x), np.log1p(np.exp(x)))


def test_custom_jvp_gives_a_stable_gradient_where_the_plain_one_is_nan():
    def total(f):
        return lambda x: fnp.sum(f(x))

    with np.errstate(all="ignore"):  # exp(1000) overflows, in the value too
        plain = fg.grad(total(log1pexp.fun))(X)
        custom = fg.grad(total(log1pexp))(X)
        _, tangent = fg.jvp(log1pexp, (X,), (np.ones(6),))
    assert np.isnan(plain[-1])
    np.testing.assert_allclose(custom, sigmoid(X), rtol=1e-12)
    np.testing.assert_allclose(tangent, sigmoid(X), rtol=1e-12)
    np.testing.assert_allclose(fg.jacrev(log1pexp)(X[:3]), np.diag(sigmoid(X[:3])), rtol=1e-12)


def test_custom_jvp_second_order_differentiates_the_rule():
    d1 = fg.grad(lambda x: fnp.sum(log1pexp(x)))
    d2 = fg.grad(lambda x: fnp.sum(d1(x)))
    with np.errstate(over="ignore"):
        second = d2(X)
    np.testing.assert_allclose(second, sigmoid_derivative(X), rtol=1e-10)
    np.testing.assert_allclose(fg.hessian(lambda x: fnp.sum(log1pexp(x)))(X[1:4]),
                               np.diag(sigmoid_derivative(X[1:4])), rtol=1e-10)
    # forward over forward
    first = lambda x: fg.jvp(log1pexp, (x,), (np.ones(3),))[1]  # noqa: E731
    _, second = fg.jvp(first, (X[1:4],), (np.ones(3),))
    np.testing.assert_allclose(second, sigmoid_derivative(X[1:4]), rtol=1e-10)


def test_custom_jvp_is_one_equation_with_the_function_as_a_sub_ir():
    ir = fg.make_ir(log1pexp)(np.zeros(3))
    assert names(ir) == ["custom_jvp_call"]
    assert names(ir.eqns[0].params["fun"]) == ["exp", "log1p"]
    assert "jvp=log1pexp_jvp" in str(ir)
    np.testing.assert_allclose(fg.eval_ir(ir, X[:3])[0], np.log1p(np.exp(X[:3])))


def test_custom_jvp_over_pytrees():
    @custom_jvp
    def norm_and_sum(p):
        return {"norm": fnp.sqrt(fnp.sum(p["w"] ** 2)), "sum": (fnp.sum(p["w"]) * p["s"],)}

    @norm_and_sum.defjvp
    def _(primals, tangents):
        (p,), (t,) = primals, tangents
        out = norm_and_sum(p)
        return out, {"norm": fnp.sum(p["w"] * t["w"]) / out["norm"],
                     "sum": (fnp.sum(t["w"]) * p["s"] + fnp.sum(p["w"]) * t["s"],)}

    p = {"w": np.array([3.0, 4.0]), "s": 2.0}
    grads = fg.grad(lambda p: norm_and_sum(p)["norm"] + norm_and_sum(p)["sum"][0])(p)
    np.testing.assert_allclose(grads["w"], np.array([0.6, 0.8]) + 2.0)
    np.testing.assert_allclose(grads["s"], 7.0)


def test_custom_jvp_integer_arguments_get_zero_tangents():
    @custom_jvp
    def scaled(x, k):
        return x * k

    @scaled.defjvp
    def _(primals, tangents):
        (x, k), (tx, tk) = primals, tangents
        assert tk.dtype == np.int64 and not np.any(tk)
        return scaled(x, k), tx * k

    np.testing.assert_allclose(fg.grad(lambda x: fnp.sum(scaled(x, np.arange(3))))(np.ones(3)),
                               np.arange(3.0))


@pytest.mark.parametrize("call", [lambda f, x: f(3, x), lambda f, x: f(x=x, n=3),
                                  lambda f, x: f(3, x=x)])
def test_custom_jvp_nondiff_argnums_and_keywords(call):
    @functools.partial(custom_jvp, nondiff_argnums=(0,))
    def power(n, x):
        return x ** n

    @power.defjvp
    def _(n, primals, tangents):
        (x,), (t,) = primals, tangents
        return power(n, x), n * x ** (n - 1) * t

    x = np.array([1.0, 2.0])
    np.testing.assert_allclose(fg.grad(lambda x: fnp.sum(call(power, x)))(x), 3 * x ** 2)
    np.testing.assert_allclose(fg.hessian(lambda x: fnp.sum(call(power, x)))(x), np.diag(6 * x))


def test_custom_jvp_nondiff_argument_may_be_a_function():
    @functools.partial(custom_jvp, nondiff_argnums=(0,))
    def apply(f, x):
        return f(x)

    @apply.defjvp
    def _(f, primals, tangents):
        return apply(f, *primals), 10.0 * tangents[0]

    np.testing.assert_allclose(fg.grad(lambda x: apply(fnp.sin, x))(1.0), 10.0)


def _closing_over(y):
    @custom_jvp
    def f(x):
        return fnp.sin(x) * y

    @f.defjvp
    def _(primals, tangents):
        (x,), (t,) = primals, tangents
        return f(x), fnp.cos(x) * y * t

    return f


def test_custom_jvp_closing_over_an_outer_tracer():
    # The inner grad uses the rule; the outer one differentiates the inner's result in y.
    x0 = np.array([0.3, 1.2])
    outer = fg.grad(lambda y: fnp.sum(fg.grad(lambda x: fnp.sum(_closing_over(y)(x)))(x0)))
    np.testing.assert_allclose(outer(2.0), np.sum(np.cos(x0)), rtol=1e-12)


def test_custom_jvp_derivative_in_a_closed_over_value_goes_through_the_function():
    x0 = np.array([0.3, 1.2])
    g = fg.grad(lambda y: fnp.sum(_closing_over(y)(x0)))
    np.testing.assert_allclose(g(2.0), np.sum(np.sin(x0)), rtol=1e-12)


def test_custom_jvp_rule_closing_over_a_differentiated_value_is_an_error():
    def loss(x, y):
        return fnp.sum(_closing_over(y)(x))

    with pytest.raises(EscapedTracerError, match="JVP rule of custom_jvp function f uses a traced"):
        fg.grad(loss, argnums=(0, 1))(np.ones(2), 2.0)


def _rule_returning(result):
    @custom_jvp
    def f(x):
        return {"a": x * 2.0}

    f.defjvp(lambda primals, tangents: result(*primals, *tangents))
    return f


JVP_ERRORS = [
    (lambda x, t: {"a": x * 2.0}, StructureError, "must return a pair"),
    (lambda x, t: ([x * 2.0], {"a": t}), StructureError, r"primal_out has the structure \[\*\]"),
    (lambda x, t: ({"a": x * 2.0}, {"b": t}), StructureError, "tangent_out has the structure"),
    (lambda x, t: ({"a": x * 2.0}, {"a": t[:1]}), ShapeError,
     r"tangent_out\['a'\] is f64\[1\], but f64\[2\] is expected"),
    (lambda x, t: ({"a": x * 2.0}, {"a": t.astype(np.float32)}), DtypeError,
     r"tangent_out\['a'\] is f32\[2\], but f64\[2\] is expected"),
    (lambda x, t: ({"a": x * 2.0}, {"a": "zero"}), DtypeError, r"tangent_out\['a'\] is a str"),
]


@pytest.mark.parametrize("result, error, message", JVP_ERRORS)
@pytest.mark.parametrize("mode", ["grad", "jvp"])
def test_custom_jvp_rule_with_a_wrong_output(result, error, message, mode):
    f = _rule_returning(result)
    x = np.ones(2)
    with pytest.raises(error, match=message) as caught:
        if mode == "grad":
            fg.grad(lambda x: fnp.sum(f(x)["a"]))(x)
        else:
            fg.jvp(f, (x,), (x,))
    assert "custom_jvp function f:" in str(caught.value)
    assert f"{__file__}:" in str(caught.value)  # the user's line


def test_custom_jvp_rule_may_return_python_scalars_for_scalars():
    @custom_jvp
    def f(x):
        return fnp.sin(x)

    f.defjvp(lambda primals, tangents: (0.5, tangents[0] * 3.0))
    assert fg.jvp(f, (1.0,), (1.0,)) == (0.5, 3.0)


def test_custom_jvp_bad_definitions():
    f = custom_jvp(lambda x: x)
    with pytest.raises(MissingRuleError, match="custom_jvp function <lambda> has no JVP rule"):
        f(1.0)
    g = functools.partial(custom_jvp, nondiff_argnums=(0,))(lambda n, x: x * n)
    g.defjvp(lambda n, p, t: (g(n, *p), t[0] * n))
    with pytest.raises(ConcretizationError, match=r"nondiff_argnums .* is a traced value"):
        fg.grad(lambda x: g(x, x))(1.0)
    h = functools.partial(custom_jvp, nondiff_argnums=(2,))(lambda x: x)
    h.defjvp(lambda *args: None)
    with pytest.raises(ValueError, match="out of range"):
        fg.grad(h)(1.0)


# ---------------------------------------------------------------- custom_vjp


@functools.partial(custom_vjp, nondiff_argnums=(0, 1))
def clip_gradient(lo, hi, x):
    return x


clip_gradient.defvjp(lambda lo, hi, x: (x, None),
                     lambda lo, hi, _, ct: (fnp.clip(ct, lo, hi),))


@custom_vjp
def sin_custom(x):
    return fnp.sin(x)


def sin_fwd(x):
    return sin_custom(x), {"cos": fnp.cos(x)}


def sin_bwd(residuals, ct):
    return (residuals["cos"] * ct,)


sin_custom.defvjp(sin_fwd, sin_bwd)


def test_custom_vjp_clips_the_gradient():
    weights = np.array([3.0, 0.1, -2.0, 0.0])
    loss = lambda x: fnp.sum(clip_gradient(-0.5, 0.5, x) * weights)  # noqa: E731
    np.testing.assert_allclose(fg.grad(loss)(np.ones(4)), np.clip(weights, -0.5, 0.5))
    np.testing.assert_allclose(clip_gradient(-0.5, 0.5, np.ones(4)), np.ones(4))
    assert names(fg.make_ir(loss)(np.ones(4)))[0] == "custom_vjp_call"


def test_custom_vjp_gradient_and_second_order():
    x = np.array([0.1, 1.0, 2.5])
    np.testing.assert_allclose(fg.grad(lambda x: fnp.sum(sin_custom(x)))(x), np.cos(x), rtol=1e-12)
    d2 = fg.grad(lambda x: fnp.sum(fg.grad(lambda y: fnp.sum(sin_custom(y)))(x)))
    np.testing.assert_allclose(d2(x), -np.sin(x), rtol=1e-12)
    np.testing.assert_allclose(fg.hessian(lambda x: fnp.sum(sin_custom(x)))(x), np.diag(-np.sin(x)),
                               rtol=1e-12, atol=1e-15)


def test_custom_vjp_forward_mode_transposes_a_linear_bwd():
    x = np.array([0.1, 1.0, 2.5])
    out, tangent = fg.jvp(sin_custom, (x,), (np.array([1.0, 2.0, 3.0]),))
    np.testing.assert_allclose(out, np.sin(x))
    np.testing.assert_allclose(tangent, np.cos(x) * [1, 2, 3], rtol=1e-12)
    np.testing.assert_allclose(fg.jacfwd(sin_custom)(x), np.diag(np.cos(x)), rtol=1e-12)


def test_custom_vjp_forward_mode_with_a_nonlinear_bwd_is_an_error():
    with pytest.raises(MissingRuleError, match="bwd of custom_vjp function clip_gradient applies"):
        fg.jvp(lambda x: clip_gradient(-0.5, 0.5, x), (np.ones(2),), (np.ones(2),))


def test_custom_vjp_over_pytrees_with_none_and_integer_arguments():
    @custom_vjp
    def f(p, idx, y):
        return (p["w"][idx] * p["b"], y)

    def f_fwd(p, idx, y):
        return f(p, idx, y), (p, idx)

    def f_bwd(residuals, ct):
        (p, idx), (ct_out, _) = residuals, ct
        ct_w = fnp.sum(fnp.where(idx[:, None] == np.arange(3), ct_out[:, None] * p["b"], 0.0), axis=0)
        return {"w": ct_w, "b": fnp.sum(ct_out * p["w"][idx])}, None, None

    f.defvjp(f_fwd, f_bwd)
    p, idx = {"w": np.array([1.0, 2.0, 3.0]), "b": 2.0}, np.array([2, 0])
    grads = fg.grad(lambda p, y: fnp.sum(f(p, idx, y)[0]) + fnp.sum(f(p, idx, y)[1]), argnums=(0, 1))(
        p, np.ones(2))
    np.testing.assert_allclose(grads[0]["w"], [2.0, 0.0, 2.0])
    np.testing.assert_allclose(grads[0]["b"], 4.0)
    np.testing.assert_array_equal(grads[1], np.zeros(2))  # bwd says None: zero, not the true 1


def test_custom_vjp_closing_over_an_outer_tracer():
    def inner(y, x0):
        @custom_vjp
        def f(x):
            return x * y

        f.defvjp(lambda x: (f(x), None), lambda _, ct: (ct * y,))
        return fg.grad(lambda x: fnp.sum(f(x) ** 2))(x0)

    x0 = np.array([1.0, 2.0])
    np.testing.assert_allclose(inner(3.0, x0), 2 * x0 * 9.0)
    # d/dy of sum(2 x0 y^2)
    np.testing.assert_allclose(fg.grad(lambda y: fnp.sum(inner(y, x0)))(3.0), np.sum(4 * x0 * 3.0))


def test_custom_vjp_keywords_and_nondiff_argnums():
    np.testing.assert_allclose(
        fg.grad(lambda x: fnp.sum(clip_gradient(-1.0, hi=0.25, x=x) * 2.0))(np.ones(2)), [0.25, 0.25])


def _vjp_returning(bwd_result=None, fwd_result=None):
    @custom_vjp
    def f(x, y):
        return {"a": x * y}

    f.defvjp(fwd_result or (lambda x, y: (f(x, y), (x, y))), bwd_result)
    return lambda x, y: fnp.sum(f(x, y)["a"])


VJP_ERRORS = [
    (lambda res, ct: res[1] * ct["a"], StructureError,
     r"bwd must return a tuple with one cotangent per differentiable argument \(2\), got a ndarray"),
    (lambda res, ct: (res[1] * ct["a"],), StructureError, r"\(2\), got a tuple of 1"),
    (lambda res, ct: ({"x": ct["a"]}, None), StructureError,
     r"bwd's output\[0\] has the structure \{'x': \*\}, but \* is expected"),
    (lambda res, ct: (ct["a"][:1], None), ShapeError, r"bwd's output\[0\] is f64\[1\], but f64\[2\]"),
    (lambda res, ct: (None, ct["a"].astype(np.float32)), DtypeError,
     r"bwd's output\[1\] is f32\[2\], but f64\[2\]"),
]


@pytest.mark.parametrize("bwd, error, message", VJP_ERRORS)
def test_custom_vjp_bwd_with_the_wrong_structure(bwd, error, message):
    with pytest.raises(error, match=message) as caught:
        fg.grad(_vjp_returning(bwd))(np.ones(2), np.ones(2))
    assert "custom_vjp function f:" in str(caught.value)
    assert f"{__file__}:" in str(caught.value)  # the user's line


FWD_ERRORS = [
    (lambda x, y: {"a": x * y}, StructureError, r"fwd must return a pair \(out, residuals\)"),
    (lambda x, y: ((x * y,), None), StructureError, r"fwd's out has the structure \(\*,\)"),
    (lambda x, y: ({"a": x}, "residual"), DtypeError, "residuals is a str"),
]


@pytest.mark.parametrize("fwd, error, message", FWD_ERRORS)
def test_custom_vjp_fwd_with_the_wrong_output(fwd, error, message):
    with pytest.raises(error, match=message):
        fg.grad(_vjp_returning(lambda res, ct: (None, None), fwd))(np.ones(2), np.ones(2))


def test_custom_vjp_without_a_rule():
    f = custom_vjp(lambda x: x)
    with pytest.raises(MissingRuleError, match=r"has no VJP rule\n.*\n.*\n  fix: define one with"):
        fg.grad(f)(1.0)


# ---------------------------------------------------------------- checkpoint


def mlp_layer(p, x):
    return fnp.tanh(x @ p["w"] + p["b"])


def mlp(layer, params, x):
    for p in params:
        x = layer(p, x)
    return fnp.sum(fnp.sin(x) ** 2)


def init(sizes, rng):
    return [{"w": rng.normal(size=(m, n)) / np.sqrt(m), "b": rng.normal(size=n)}
            for m, n in itertools.pairwise(sizes)]


@given(st.lists(st.integers(1, 4), min_size=2, max_size=4), st.integers(1, 3), st.integers(0, 99))
def test_checkpoint_gradient_equals_the_plain_one(sizes, batch, seed):
    rng = np.random.default_rng(seed)
    params, x = init(sizes, rng), rng.normal(size=(batch, sizes[0]))
    plain = fg.value_and_grad(lambda p, x: mlp(mlp_layer, p, x), argnums=(0, 1))(params, x)
    remat = fg.value_and_grad(lambda p, x: mlp(checkpoint(mlp_layer), p, x), argnums=(0, 1))(params, x)
    np.testing.assert_allclose(remat[0], plain[0], rtol=1e-12)
    for got, expected in zip(fg.tree_leaves(remat[1]), fg.tree_leaves(plain[1])):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def block(w, x):
    return fnp.sin(fnp.cos(x * w)) * w


def twice(f):
    return lambda w, x: f(w, f(w, x))


@pytest.mark.parametrize("remat, plain", [
    (checkpoint(block), block),
    (checkpoint(twice(checkpoint(block))), twice(block)),  # nested
    (twice(checkpoint(checkpoint(block))), twice(block)),
])
def test_checkpoint_derivatives_of_every_order(remat, plain):
    x = np.array([0.3, -1.2, 2.0])
    w = np.array([0.7, 1.1, -0.4])
    loss = lambda w: fnp.sum(remat(w, remat(w, x)) ** 2)  # noqa: E731
    reference = lambda w: fnp.sum(plain(w, plain(w, x)) ** 2)  # noqa: E731
    np.testing.assert_allclose(fg.grad(loss)(w), fg.grad(reference)(w), rtol=1e-10)
    np.testing.assert_allclose(fg.hessian(loss)(w), fg.hessian(reference)(w), rtol=1e-9)
    np.testing.assert_allclose(fg.jacrev(fg.grad(loss))(w), fg.jacrev(fg.grad(reference))(w),
                               rtol=1e-9)
    _, tangent = fg.jvp(loss, (w,), (np.ones(3),))
    np.testing.assert_allclose(tangent, fg.jvp(reference, (w,), (np.ones(3),))[1], rtol=1e-10)


def _residuals_read(lin):
    """The known values the linear part reads."""
    return [a.value if isinstance(a, Literal) else lin.residuals[a]
            for e in lin.linear_eqns for a in e.inputs if isinstance(a, Literal) or a in lin.residuals]


def test_checkpoint_keeps_only_its_inputs_as_residuals():
    x = np.array([0.3, -1.2, 2.0])
    remat = fg.make_ir(lambda w: fnp.sum(checkpoint(block)(w, x)))(x)
    plain = fg.make_ir(lambda w: fnp.sum(block(w, x)))(x)
    lin = linearize_ir(remat, [x], [True])
    assert names(fg.IR([], lin.linear_eqns, [])) == ["checkpoint_linear", "reduce_sum"]
    read = _residuals_read(lin)
    assert len(read) == 2 and all(r is x for r in read)  # w and x, no intermediate value
    lin_plain = linearize_ir(plain, [x], [True])
    assert any(np.shape(r) == (3,) and r is not x for r in _residuals_read(lin_plain))  # cos(x w)
    # The backward pass runs the body again: its forward operations appear outside the sub-IR.
    grad_ir = fg.make_ir(fg.grad(lambda w: fnp.sum(checkpoint(block)(w, x))))(x)
    assert names(grad_ir)[0] == "checkpoint" and "cos" in names(grad_ir)


def test_checkpoint_forms_static_arguments_closures_and_integers():
    x = np.array([0.5, 1.5, 2.5])

    @checkpoint(static_argnums=1)
    def power(x, n, *, scale=1.0):
        return x ** n * scale

    np.testing.assert_allclose(fg.grad(lambda x: fnp.sum(power(x, 3, scale=2.0)))(x), 6 * x ** 2)
    np.testing.assert_allclose(power(x, 2), x ** 2)  # outside transforms it just runs

    @checkpoint
    def take(v, idx):
        return v[idx] * v[idx]

    np.testing.assert_allclose(fg.grad(lambda v: fnp.sum(take(v, np.array([0, 2]))))(x),
                               [1.0, 0.0, 5.0])

    def with_closure(y):  # the checkpointed function closes over y: differentiated too
        return fnp.sum(checkpoint(lambda v: fnp.sin(v * y))(x))

    np.testing.assert_allclose(fg.grad(with_closure)(0.3), np.sum(np.cos(x * 0.3) * x), rtol=1e-12)


def test_calls_applied_to_tangents_transpose_their_function():
    x = np.array([1.0, 2.0])
    doubled = custom_jvp(lambda v: v * 2.0)
    doubled.defjvp(lambda p, t: (doubled(*p), t[0] * 2.0))
    for f in (checkpoint(lambda v: v * 2.0), doubled):
        (ct,) = fg.linear_transpose(f, x)(np.array([1.0, 3.0]))
        np.testing.assert_allclose(ct, [2.0, 6.0])


def test_custom_functions_compose_under_checkpoint():
    def f(x):
        return fnp.sum(log1pexp(sin_custom(x)) * clip_gradient(-9.0, 9.0, x))

    def plain(x):
        return fnp.sum(fnp.log1p(fnp.exp(fnp.sin(x))) * x)

    x = np.array([0.2, 0.9])
    np.testing.assert_allclose(fg.grad(checkpoint(f))(x), fg.grad(plain)(x), rtol=1e-12)
    smooth = checkpoint(lambda x: fnp.sum(log1pexp(sin_custom(x)) * x))
    np.testing.assert_allclose(fg.hessian(smooth)(x), fg.hessian(plain)(x), rtol=1e-10)


# ---------------------------------------------------------------- the primitives


VEC, VEC32 = AbstractArray((3,), F64), AbstractArray((3,), F32)
SIN_TIMES, _ = trace_to_ir(lambda x, y: [fnp.sin(x) * y], [VEC, VEC])


@pytest.mark.parametrize("primitive, operands, params, expected", [
    (prims.stop_gradient, [AbstractArray((2,), F32, True)], {}, AbstractArray((2,), F32, True)),
    (prims.checkpoint, [VEC, VEC], dict(fun=SIN_TIMES), [VEC]),
    (prims.custom_jvp_call, [VEC, VEC], dict(fun=SIN_TIMES, jvp=None, num_consts=1), [VEC]),
    (prims.custom_vjp_call, [VEC, VEC], dict(fun=SIN_TIMES, fwd=None, num_consts=0), [VEC]),
    (prims.checkpoint_linear, [VEC, VEC, VEC], dict(fun=SIN_TIMES, wrt=(False, True)), [VEC]),
    (prims.custom_vjp_bwd, [VEC, VEC], dict(bwd=None, num_res=1, ct_avals=(VEC32,)), [VEC32]),
])
def test_abstract_eval(primitive, operands, params, expected):
    assert primitive.abstract_eval(*operands, **params) == expected


@pytest.mark.parametrize("primitive, operands, params, error, message", [
    (prims.checkpoint, [VEC], dict(fun=SIN_TIMES), ShapeError, "1 operands where the function takes 2"),
    (prims.checkpoint, [VEC, AbstractArray((2,), F64)], dict(fun=SIN_TIMES), ShapeError,
     r"checkpoint: operand 1 is f64\[2\] where the function takes f64\[3\]"),
    (prims.custom_jvp_call, [VEC32, VEC], dict(fun=SIN_TIMES, jvp=None, num_consts=0), DtypeError,
     r"custom_jvp_call: operand 0 is f32\[3\]"),
    (prims.custom_vjp_call, [VEC, VEC32], dict(fun=SIN_TIMES, fwd=None, num_consts=0), DtypeError,
     r"custom_vjp_call: operand 1 is f32\[3\]"),
    (prims.checkpoint_linear, [VEC, VEC, VEC], dict(fun=SIN_TIMES, wrt=(True,)), ShapeError,
     "wrt has 1 entries for 2 inputs"),
    (prims.checkpoint_linear, [VEC, VEC, VEC32], dict(fun=SIN_TIMES, wrt=(True, False)), DtypeError,
     r"checkpoint_linear: operand 0 is f32\[3\]"),
])
def test_abstract_eval_rejects_operands_that_do_not_fit(primitive, operands, params, error, message):
    with pytest.raises(error, match=message):
        primitive.abstract_eval(*operands, **params)
