"""Derivatives through control flow: cond, switch, scan, fori_loop and
while_loop, against central finite differences and against the same
computation written as a plain Python loop (unrolled, no control-flow
primitive); second order; the shape of the IR reverse mode records; and the
error for reverse mode through a while_loop."""

import numpy as np
import pytest
from fnp_harness import numerical_grad
from hypothesis import given
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.transforms.autodiff import MissingRuleError

RNG = np.random.default_rng(0)




def check_grads(f, reference, args, rtol=1e-6, atol=1e-8):
    """``fg.grad(f)`` for every argument against ``fg.grad(reference)`` (the
    same function without control flow) and against finite differences."""
    argnums = tuple(range(len(args)))
    np.testing.assert_allclose(f(*args), reference(*args), rtol=1e-12)
    grads = fg.grad(f, argnums)(*args)
    expected = fg.grad(reference, argnums)(*args)
    for k, (g, e) in enumerate(zip(grads, expected)):
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-12, err_msg=f"argument {k}")
        np.testing.assert_allclose(g, numerical_grad(of_argument(f, args, k), args[k]), rtol=rtol,
                                   atol=atol, err_msg=f"argument {k}")


def of_argument(f, args, k):
    """``f`` as a function of its argument ``k``, the others fixed to ``args``."""
    return lambda x: f(*args[:k], x, *args[k + 1:])


def primitive_names(ir):
    return [eqn.primitive.name for eqn in ir.eqns]


# ---------------------------------------------------------------- cond and switch


def branchy(x, w):
    """Each branch closes over ``w``; which runs depends on ``x``."""
    return fg.cond(fnp.sum(x) > 0,
                   lambda v: fnp.sum(fnp.sin(v) * w),
                   lambda v: fnp.sum(v ** 2) * w[0], x)


def branchy_reference(x, w):
    return fnp.sum(fnp.sin(x) * w) if np.sum(x) > 0 else fnp.sum(x ** 2) * w[0]


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["true_branch", "false_branch"])
def test_grad_of_cond_takes_the_branch_that_runs(sign):
    x, w = sign * RNG.uniform(0.2, 1.0, 3), RNG.normal(size=3)
    check_grads(branchy, branchy_reference, (x, w))


def test_grad_of_cond_where_one_branch_ignores_the_operands():
    # The constant branch has Zero tangents: the tangent branches still agree.
    def f(x, y):
        return fg.cond(x > 1.0, lambda a, b: a * b + 1.0, lambda a, b: 2.0, x, y)

    for x in (0.5, 3.0):
        g = fg.grad(f, (0, 1))(x, 4.0)
        np.testing.assert_allclose(g, (4.0, x) if x > 1.0 else (0.0, 0.0))


def test_grad_of_cond_over_pytrees_with_an_integer_leaf():
    def f(p):
        out = fg.cond(p["a"][0] < 0,
                      lambda q: {"v": q["a"] * q["b"], "n": fnp.int64(1)},
                      lambda q: {"v": fnp.exp(q["a"]), "n": fnp.int64(2)}, p)
        return fnp.sum(out["v"]) * out["n"]

    p = {"a": np.array([0.3, -0.2]), "b": np.array([2.0, 5.0])}
    g = fg.grad(f)(p)
    np.testing.assert_allclose(g["a"], 2 * np.exp(p["a"]))
    np.testing.assert_allclose(g["b"], [0.0, 0.0])


@pytest.mark.parametrize("index", [-1, 0, 1, 2, 5])
def test_grad_of_switch(index):
    branches = [lambda x: fnp.sum(x ** 3), lambda x: fnp.prod(x), lambda x: fnp.sum(fnp.cos(x))]
    x = RNG.uniform(0.5, 1.5, 4)
    taken = branches[min(max(index, 0), 2)]
    check_grads(lambda v: fg.switch(index, branches, v), taken, (x,))


def test_grad_of_switch_with_a_traced_index():
    def f(x):
        index = fnp.argmax(x)  # an integer computed from the differentiated value
        return fg.switch(index, [lambda v: v[0] * v[1], lambda v: v[1] ** 2, lambda v: -v[2]], x)

    for x in ([3.0, 1.0, 2.0], [1.0, 3.0, 2.0], [1.0, 2.0, 3.0]):
        x = np.array(x)
        np.testing.assert_allclose(fg.grad(f)(x), numerical_grad(f, x), atol=1e-8)


def test_grad_of_grad_through_cond():
    def f(x):
        return fg.cond(x > 0, lambda v: fnp.sin(v) * v ** 2, lambda v: fnp.exp(v), x)

    d2 = fg.grad(fg.grad(f))
    for x in (0.7, -0.4):
        expected = (2 - x ** 2) * np.sin(x) + 4 * x * np.cos(x) if x > 0 else np.exp(x)
        np.testing.assert_allclose(d2(x), expected, rtol=1e-10)


# ---------------------------------------------------------------- scan


def rnn(params, h0, xs, reverse=False):
    """An Elman RNN over ``xs``: the final state's sum plus the outputs' sum of squares."""
    w, u, b = params["w"], params["u"], params["b"]

    def step(h, x):
        h = fnp.tanh(h @ w + x @ u + b)
        return h, fnp.sum(h ** 2)

    h, ys = fg.scan(step, h0, xs, reverse=reverse)
    return fnp.sum(h) + fnp.sum(ys * fnp.arange(1.0, len(xs) + 1))


def rnn_unrolled(params, h0, xs, reverse=False):
    w, u, b = params["w"], params["u"], params["b"]
    h, ys = h0, [None] * len(xs)
    for t in (reversed(range(len(xs))) if reverse else range(len(xs))):
        h = fnp.tanh(h @ w + xs[t] @ u + b)
        ys[t] = fnp.sum(h ** 2)
    return fnp.sum(h) + sum(y * (t + 1.0) for t, y in enumerate(ys))


def rnn_args(hidden=3, inputs=2, length=5):
    params = {"w": RNG.normal(size=(hidden, hidden)) * 0.5, "u": RNG.normal(size=(inputs, hidden)),
              "b": RNG.normal(size=hidden)}
    return params, RNG.normal(size=hidden), RNG.normal(size=(length, inputs))


@pytest.mark.parametrize("reverse", [False, True])
def test_grad_of_an_rnn_scan(reverse):
    params, h0, xs = rnn_args()
    grads = fg.grad(rnn, (0, 1, 2))(params, h0, xs, reverse)
    expected = fg.grad(rnn_unrolled, (0, 1, 2))(params, h0, xs, reverse)
    for g, e in zip(fg.tree_leaves(grads), fg.tree_leaves(expected)):
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-12)
    for name in params:
        def f(x, name=name):
            return rnn({**params, name: x}, h0, xs, reverse)

        np.testing.assert_allclose(grads[0][name], numerical_grad(f, params[name]), rtol=1e-6)
    np.testing.assert_allclose(grads[2], numerical_grad(lambda v: rnn(params, h0, v, reverse), xs),
                               rtol=1e-6, atol=1e-9)


@given(length=st.integers(0, 4), hidden=st.integers(1, 3), reverse=st.booleans(),
       seed=st.integers(0, 2 ** 16))
def test_grad_of_scan_matches_the_unrolled_loop(length, hidden, reverse, seed):
    rng = np.random.default_rng(seed)
    params = {"w": rng.normal(size=(hidden, hidden)) * 0.5, "u": rng.normal(size=(2, hidden)),
              "b": rng.normal(size=hidden)}
    args = (params, rng.normal(size=hidden), rng.normal(size=(length, 2)))
    grads = fg.grad(rnn, (0, 1, 2))(*args, reverse)
    expected = fg.grad(rnn_unrolled, (0, 1, 2))(*args, reverse)
    for g, e in zip(fg.tree_leaves(grads), fg.tree_leaves(expected)):
        assert np.shape(g) == np.shape(e)
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-12)


def test_grad_of_scan_closing_over_a_differentiated_value():
    # ``a`` is a const of the scan: its cotangent is accumulated over the steps.
    def f(a, xs):
        carry, ys = fg.scan(lambda c, x: (c * a + x, fnp.sin(c * x)), 1.0, xs)
        return carry + fnp.sum(ys)

    def reference(a, xs):
        c, total = 1.0, 0.0
        for x in xs:
            total = total + fnp.sin(c * x)
            c = c * a + x
        return c + total

    check_grads(f, reference, (0.9, RNG.normal(size=6)))


def test_grad_of_scan_with_pytree_carry_and_integer_counter():
    def f(x, xs):
        def step(carry, x_t):
            n, (s, p) = carry["n"], carry["sp"]
            return {"n": n + 1, "sp": (s + x_t * p, p * x)}, n * x_t

        out, ys = fg.scan(step, {"n": 0, "sp": (0.0, 1.0)}, xs)
        return out["sp"][0] + out["sp"][1] + fnp.sum(ys)

    def reference(x, xs):
        s, p = 0.0, 1.0
        for x_t in xs:
            s, p = s + x_t * p, p * x
        return s + p + fnp.sum(xs * fnp.arange(len(xs)))

    check_grads(f, reference, (1.3, RNG.normal(size=4)))


def test_grad_of_scan_in_float32():
    xs = RNG.normal(size=(4, 2)).astype(np.float32)
    w = np.float32(0.5)

    def f(w, xs):
        carry, _ = fg.scan(lambda c, x: (fnp.tanh(c * w + x), None), fnp.zeros(2, xs.dtype), xs)
        return fnp.sum(carry)

    g = fg.grad(f, (0, 1))(w, xs)
    assert [a.dtype for a in g] == [np.float32, np.float32]
    expected = fg.grad(f, (0, 1))(w.astype(np.float64), xs.astype(np.float64))
    for a, e in zip(g, expected):
        np.testing.assert_allclose(a, e, rtol=1e-5)


def test_grad_of_scan_with_unused_outputs_and_zero_length():
    def f(x, xs):
        _, ys = fg.scan(lambda c, v: (c * x, v * x), x, xs)
        return fnp.sum(ys)  # the carry is not used

    xs = RNG.normal(size=3)
    np.testing.assert_allclose(fg.grad(f)(2.0, xs), np.sum(xs))
    np.testing.assert_allclose(fg.grad(f, 1)(2.0, xs), [2.0, 2.0, 2.0])
    np.testing.assert_allclose(fg.grad(lambda x: fg.scan(lambda c, v: (c * v, c), x, np.ones(0))[0])(
        2.0), 1.0)


def test_grad_of_grad_through_scan():
    def f(x, xs):
        carry, ys = fg.scan(lambda c, v: (fnp.sin(c * v), c * c), x, xs)
        return carry + fnp.sum(ys)

    def reference(x, xs):
        total, c = 0.0, x
        for v in xs:
            total = total + c * c
            c = fnp.sin(c * v)
        return c + total

    xs = RNG.uniform(0.5, 1.5, 4)
    d2 = fg.grad(fg.grad(f), (0, 1))(0.8, xs)
    expected = fg.grad(fg.grad(reference), (0, 1))(0.8, xs)
    for a, e in zip(d2, expected):
        np.testing.assert_allclose(a, e, rtol=1e-9, atol=1e-12)
    df = fg.grad(f)
    np.testing.assert_allclose(d2[0], numerical_grad(lambda x: df(x, xs), 0.8), rtol=1e-6)


def test_hessian_through_scan():
    def f(x):
        carry, _ = fg.scan(lambda c, v: (c * fnp.cos(v) + v ** 2, None), 0.0, x)
        return carry

    def reference(x):
        c = 0.0
        for v in x:
            c = c * fnp.cos(v) + v ** 2
        return c

    x = RNG.normal(size=3)
    np.testing.assert_allclose(fg.hessian(f)(x), fg.hessian(reference)(x), rtol=1e-9, atol=1e-12)


def test_linear_transpose_of_a_scan():
    def cumulative(xs):  # linear in xs: a running sum
        return fg.scan(lambda c, x: (c + x, c + x), np.zeros(()), xs)[1]

    f_t = fg.linear_transpose(cumulative, np.ones(4))
    ct = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(f_t(ct)[0], np.triu(np.ones((4, 4))) @ ct)


def nested(w, xs):
    """A scan in a scan, with a cond on the inner carry: every rule inside another's body."""
    def outer(c, x):
        def inner(d, y):
            d = fg.cond(d > 0.5, lambda v: fnp.sin(v * w), lambda v: v * v + w, d + y)
            return d, d * x
        d, ys = fg.scan(inner, c, xs)
        return d * 0.5 + fnp.sum(ys) * 0.1, fnp.sum(ys * fnp.arange(len(xs)))

    c, zs = fg.scan(outer, 0.3, xs)
    return c + fnp.sum(zs)


def nested_unrolled(w, xs):
    c, total = 0.3, 0.0
    for x in xs:
        d, ys = c, []
        for y in xs:
            d = fnp.sin((d + y) * w) if d > 0.5 else (d + y) ** 2 + w
            ys.append(d * x)
        total = total + sum(k * y for k, y in enumerate(ys))
        c = d * 0.5 + sum(ys) * 0.1
    return c + total


def test_first_and_second_order_through_nested_scans_and_cond():
    w, xs = 0.7, RNG.uniform(-0.5, 0.5, 4)
    check_grads(nested, nested_unrolled, (w, xs))
    second = fg.grad(fg.grad(nested), (0, 1))(w, xs)
    expected = fg.grad(fg.grad(nested_unrolled), (0, 1))(w, xs)
    for a, e in zip(second, expected):
        np.testing.assert_allclose(a, e, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- fori_loop


def test_grad_of_fori_loop_with_python_bounds():
    def f(x, a):
        return fg.fori_loop(0, 5, lambda i, c: c * a + fnp.sin(c) * i, x)

    def reference(x, a):
        for i in range(5):
            x = x * a + fnp.sin(x) * i
        return x

    check_grads(f, reference, (0.3, 0.8))


def test_grad_of_fori_loop_from_a_python_scalar():
    # A weak (Python scalar) index and initial value: the rules keep their types exactly.
    def f(x):
        return fg.fori_loop(1, 4, lambda i, acc: acc * x + i, 1.0)

    np.testing.assert_allclose(fg.grad(f)(2.0), numerical_grad(f, 2.0), rtol=1e-7)
    # f(x) = ((x + 1) x + 2) x + 3, so f''(x) = 6 x + 2.
    np.testing.assert_allclose(fg.grad(fg.grad(f))(2.0), 6 * 2.0 + 2.0)


# ---------------------------------------------------------------- while_loop


def newton_sqrt(a):
    """Newton's iteration for sqrt(a), run until converged: a dynamic trip count."""
    return fg.while_loop(lambda c: fnp.abs(c * c - a) > 1e-12, lambda c: 0.5 * (c + a / c),
                         fnp.maximum(a, 1.0))


def grow(x, scale):
    return fg.while_loop(lambda c: c[0] < 10.0, lambda c: (c[0] * scale + 1.0, c[1] + c[0]),
                         (x, 0.0))


def test_jvp_of_while_loop_matches_finite_differences():
    x, scale = 0.5, 1.7
    (out, tangents) = fg.jvp(grow, (x, scale), (1.0, 0.5))
    eps = 1e-6
    plus, minus = grow(x + eps, scale + 0.5 * eps), grow(x - eps, scale - 0.5 * eps)
    for t, p, m in zip(tangents, plus, minus):
        np.testing.assert_allclose(t, (p - m) / (2 * eps), rtol=1e-6)
    assert float(out[0]) >= 10.0


def test_forward_mode_through_a_converging_while_loop():
    a = np.array(2.0)
    np.testing.assert_allclose(fg.jvp(newton_sqrt, (a,), (np.array(1.0),))[1], 0.5 / np.sqrt(2.0))
    np.testing.assert_allclose(fg.jacfwd(newton_sqrt)(a), 0.5 / np.sqrt(2.0))
    _, f_jvp = fg.linearize(newton_sqrt, a)
    np.testing.assert_allclose(f_jvp(np.array(3.0)), 1.5 / np.sqrt(2.0))


def traced_power(x):
    """x ** 3 by a fori_loop whose bound is traced (computed from x): a while_loop."""
    n = 3 + (x > 1e9).astype(np.int64)
    return fg.fori_loop(0, n, lambda i, c: c * x, 1.0)


def test_jvp_of_fori_loop_with_traced_bounds():
    assert "while_loop" in primitive_names(fg.make_ir(traced_power)(2.0))
    np.testing.assert_allclose(fg.jvp(traced_power, (2.0,), (1.0,))[1], 3 * 2.0 ** 2)
    np.testing.assert_allclose(fg.jacfwd(fg.jacfwd(traced_power))(2.0), 6 * 2.0)


@pytest.mark.parametrize("fun", [
    lambda x: newton_sqrt(x),
    lambda x: grow(x, 1.5)[1],
    traced_power,
], ids=["while_loop", "while_loop_pytree", "fori_loop_traced_bounds"])
def test_reverse_mode_through_while_loop_is_a_clear_error(fun):
    with pytest.raises(MissingRuleError) as info:
        fg.grad(fun)(2.0)
    message = str(info.value)
    assert "while_loop" in message and "reverse mode" in message
    assert "test_autodiff_control_flow.py" in message, message


def test_reverse_mode_through_while_loop_suggests_scan():
    with pytest.raises(MissingRuleError) as info:
        fg.grad(newton_sqrt)(2.0)
    message = str(info.value)
    assert "static trip count" in message
    assert "fg.scan" in message and "fg.fori_loop" in message


def test_grad_ignores_a_while_loop_without_tangents():
    # The loop's carry does not depend on x: no tangent reaches it.
    def f(x):
        n = fg.while_loop(lambda c: c < 7, lambda c: c + 2, 0)
        return x * n

    np.testing.assert_allclose(fg.grad(f)(1.5), 8.0)


# ---------------------------------------------------------------- the recorded IR


def test_reverse_mode_records_a_primal_scan_and_a_reverse_scan():
    params, h0, xs = rnn_args(length=3)
    ir = fg.make_ir(fg.grad(rnn, 2))(params, h0, xs)
    scans = [eqn for eqn in ir.eqns if eqn.primitive.name == "scan"]
    # The primal scan, the residual scan (the carry at every step), the transposed scan.
    assert [eqn.params["reverse"] for eqn in scans] == [False, False, True]
    assert "while_loop" not in primitive_names(ir)


def test_jvp_of_cond_records_a_primal_and_a_tangent_cond():
    ir = fg.make_ir(lambda x, t: fg.jvp(lambda v: branchy(v, np.ones(3)), (x,), (t,)))(
        np.ones(3), np.ones(3))
    conds = [eqn for eqn in ir.eqns if eqn.primitive.name == "cond"]
    assert len(conds) == 2
    primal, tangent = conds
    # The tangent cond reads the tangent; the primal one does not.
    assert ir.inputs[1] in tangent.inputs and ir.inputs[1] not in primal.inputs
