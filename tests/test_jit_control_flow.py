"""jit of control flow: cond, switch, while_loop, fori_loop and scan run
inside the compiled function (no host step), and agree with eager funcgrad
and with a plain Python loop; nested loops, gradients through scan and
fori_loop (against eager grad and finite differences), vmap with a batched
predicate, results that never alias the inputs, and the host-call fallback
for a body that cannot be lowered."""

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.backends.numba_cpu import rules
from funcgrad.backends.numba_cpu.program import Segment
from funcgrad.tree import tree_leaves

# The elementwise functions here are rational: a math function such as tanh
# costs seconds of compilation in a cold cache (only the RNN has one).


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def run_jit(f, *args, compiled=True):
    """``fg.jit(f)(*args)``, checked against eager funcgrad; with ``compiled``,
    also checked to run as one compiled function, without host steps."""
    jitted = fg.jit(f)
    got = jitted(*args)
    with fg.disable_jit():
        want = f(*args)
    for g, w in zip(tree_leaves(got), tree_leaves(want), strict=True):
        w = np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape
        # Sums may round differently in compiled loops (float32 sums accumulate in float64).
        np.testing.assert_allclose(g, w, rtol=1e-5 if w.dtype == np.float32 else 1e-10, atol=1e-12)
    steps = jitted.lower(*args).program.steps
    assert all(isinstance(s, Segment) for s in steps) == compiled, steps
    return got


def assert_tree_close(got, want, rtol=1e-6):
    for g, w in zip(tree_leaves(got), tree_leaves(want), strict=True):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-12)


# ---------------------------------------------------------------- cond and switch


@pytest.mark.parametrize("pred", [True, False])
def test_cond_closes_over_an_outer_array(pred, rng):
    w = rng.normal(size=3)

    def f(p, x):
        return fg.cond(p, lambda x: x * x * w, lambda x: x - w, x)

    x = rng.normal(size=3)
    got = run_jit(f, np.bool_(pred), x)
    np.testing.assert_allclose(got, x * x * w if pred else x - w)


@pytest.mark.parametrize("index", [-3, 0, 1, 2, 7])
def test_switch_clamps_the_index(index, rng):
    branches = [lambda x, n: (x + 1.0, n), lambda x, n: (x * x, n * 2), lambda x, n: (-x, n - 1)]
    x, n = rng.normal(size=(2, 2)).astype(np.float32), np.int32(5)
    got = run_jit(lambda i, x, n: fg.switch(i, branches, x, n), np.int32(index), x, n)
    want = branches[min(max(index, 0), 2)](x, n)
    assert_tree_close(got, want)


def test_cond_results_are_fresh_arrays():
    """A branch that returns its operand, or a constant, still gives a new array."""
    def f(p, x):
        return fg.cond(p, lambda x: (x, fnp.zeros(3)), lambda x: (x, x * 0.0), x)

    x = np.arange(3.0)
    run_jit(f, np.bool_(False), x)
    jitted = fg.jit(f)
    out, zero = jitted(np.bool_(True), x)
    assert not np.shares_memory(out, x)
    zero[:] = 7.0  # not the program's constant: the next call still returns zeros
    np.testing.assert_array_equal(jitted(np.bool_(True), x)[1], np.zeros(3))


# ---------------------------------------------------------------- while_loop and fori_loop


def test_while_loop_with_a_pytree_carry():
    def f(x):
        return fg.while_loop(lambda c: c["x"] < 100.0, lambda c: {"n": c["n"] + 1, "x": c["x"] * 3.0},
                             {"n": np.int32(0), "x": x})

    got = run_jit(f, np.float64(1.5))
    n, x = 0, 1.5
    while x < 100.0:
        n, x = n + 1, x * 3.0
    assert got["n"] == n and got["n"].dtype == np.int32
    np.testing.assert_allclose(got["x"], x)


def test_while_loop_of_no_step_returns_a_copy():
    x = np.ones(4)
    got = run_jit(lambda x: fg.while_loop(lambda c: fnp.sum(c) < 0.0, lambda c: c + 1.0, x), x)
    np.testing.assert_array_equal(got, x)
    assert not np.shares_memory(got, x)


@pytest.mark.parametrize("upper", [0, 1, 5])
def test_fori_loop_with_static_and_traced_bounds(upper, rng):
    """Python bounds make a scan; array bounds a while_loop."""
    a = rng.normal(size=(3, 3)) / 3

    def body(i, v):
        return a @ v + i

    def reference(v):
        for i in range(upper):
            v = a @ v + i
        return v

    v = rng.normal(size=3)
    np.testing.assert_allclose(run_jit(lambda v: fg.fori_loop(0, upper, body, v), v), reference(v))
    traced = run_jit(lambda n, v: fg.fori_loop(0, n, body, v), np.int32(upper), v)
    np.testing.assert_allclose(traced, reference(v))
    assert not np.shares_memory(traced, v)


# ---------------------------------------------------------------- scan


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_pytree_carry_ys_and_closure(reverse, rng):
    """A dict carry, scalar and matrix xs, a pair of ys, and an outer array."""
    w = rng.normal(size=(2, 2)).astype(np.float32)

    def step(c, x):
        scale, m = x
        h = (c["h"] @ w + m) * scale / (1.0 + fnp.abs(c["h"]))
        return {"h": h, "k": c["k"] + 1}, (fnp.sum(h), c["h"])

    def f(h, scales, ms):
        return fg.scan(step, {"h": h, "k": np.int32(0)}, (scales, ms), reverse=reverse)

    h = rng.normal(size=(2, 2)).astype(np.float32)
    scales = rng.normal(size=6).astype(np.float32)
    ms = rng.normal(size=(6, 2, 2)).astype(np.float32)
    carry, (sums, hs) = run_jit(f, h, scales, ms)
    c, want_sums, want_hs = h, [0.0] * 6, [None] * 6
    for i in reversed(range(6)) if reverse else range(6):
        want_hs[i] = c
        c = (c @ w + ms[i]) * scales[i] / (1 + np.abs(c))
        want_sums[i] = c.sum()
    np.testing.assert_allclose(carry["h"], c, rtol=1e-5)
    assert carry["k"] == 6
    np.testing.assert_allclose(sums, want_sums, rtol=1e-5)
    np.testing.assert_allclose(hs, np.stack(want_hs), rtol=1e-5)


def test_scan_without_xs_and_with_a_swapped_carry():
    """A body returning its inputs in another order (aliases), with a fixed length."""
    def f(a, b):
        return fg.scan(lambda c, _: ((c[1], c[0] + c[1]), c[0]), (a, b), None, length=10)

    (a, b), ys = run_jit(f, np.int64(0), np.int64(1))
    fib = [0, 1]
    while len(fib) < 12:
        fib.append(fib[-1] + fib[-2])
    assert (a, b) == (fib[10], fib[11])
    np.testing.assert_array_equal(ys, fib[:10])


def test_carries_passed_through_are_not_the_inputs():
    x, y = np.ones(3), np.arange(3.0)
    scanned = run_jit(lambda x, y: fg.scan(lambda c, _: ((c[0], c[1] + c[0]), None), (x, y), None,
                                           length=2)[0], x, y)
    looped = run_jit(lambda x, y: fg.while_loop(lambda c: c[1][0] < 2.0,
                                                lambda c: (c[0], c[1] + c[0]), (x, y)), x, y)
    for a, b in (scanned, looped):
        np.testing.assert_array_equal(a, x)
        np.testing.assert_array_equal(b, y + 2.0)
        assert not np.shares_memory(a, x)


def test_scan_of_no_step():
    x = np.ones(2)
    carry, ys = run_jit(lambda x, xs: fg.scan(lambda c, v: (c + v, c), x, xs), x, np.zeros((0, 2)))
    np.testing.assert_array_equal(carry, x)
    assert ys.shape == (0, 2) and not np.shares_memory(carry, x)


# ---------------------------------------------------------------- nesting


def test_scan_inside_scan(rng):
    def f(xss):
        def outer(total, xs):
            inner, ys = fg.scan(lambda c, x: (c * 0.5 + x, c), 0.0, xs)
            return total + inner, ys

        return fg.scan(outer, 0.0, xss)

    xss = rng.normal(size=(4, 5))
    total, yss = run_jit(f, xss)
    want_total, want_yss = 0.0, np.zeros_like(xss)
    for i, xs in enumerate(xss):
        c = 0.0
        for j, x in enumerate(xs):
            want_yss[i, j], c = c, c * 0.5 + x
        want_total += c
    np.testing.assert_allclose(total, want_total)
    np.testing.assert_allclose(yss, want_yss)


def test_cond_inside_while_loop():
    """The Collatz sequence: a branch per step."""
    def f(n):
        def step(c):
            n, steps = c
            return fg.cond(n % 2 == 0, lambda n: n // 2, lambda n: 3 * n + 1, n), steps + 1

        return fg.while_loop(lambda c: c[0] != 1, step, (n, np.int32(0)))

    n, steps = run_jit(f, np.int32(27))
    assert (n, steps) == (1, 111)


def test_a_body_inlined_twice(rng):
    """A jitted function called twice inside another: two scans of one body IR."""
    inner = fg.jit(lambda c, xs: fg.scan(lambda c, x: (c * x + 1.0, c), c, xs))

    def f(c, xs):
        c1, ys1 = inner(c, xs)
        c2, ys2 = inner(c1, xs[::-1])
        return c2, ys1 + ys2

    run_jit(f, np.float64(0.3), rng.normal(size=7))


# ---------------------------------------------------------------- transforms


def rnn_loss(w, xs):
    h, ys = fg.scan(lambda h, x: (fnp.tanh(w @ h + x), fnp.sum(h * h)), fnp.zeros(3), xs)
    return fnp.sum(h) + fnp.sum(ys)


def power_loss(w, xs):
    return fnp.sum(fg.fori_loop(0, 4, lambda i, v: (w @ v + xs[1] * i) / (1.0 + v * v), xs[0]))


@pytest.mark.parametrize("loss", [rnn_loss, power_loss])
def test_jit_of_grad_through_loops(loss, rng):
    w, xs = rng.normal(size=(3, 3)) / 2, rng.normal(size=(5, 3))
    got = run_jit(fg.grad(loss), w, xs)
    eps, numeric = 1e-6, np.zeros_like(w)
    for k in np.ndindex(w.shape):
        dw = np.zeros_like(w)
        dw[k] = eps
        numeric[k] = (loss(w + dw, xs) - loss(w - dw, xs)) / (2 * eps)
    np.testing.assert_allclose(got, numeric, rtol=1e-5, atol=1e-8)


def test_jit_of_vmap_with_a_batched_predicate():
    """Each member takes its own branch, and its own number of steps."""
    def f(x):
        halved = fg.cond(x > 0.0, lambda x: x / 2.0, lambda x: -x, x)
        return fg.while_loop(lambda c: c[0] < 10.0, lambda c: (c[0] * 2.0, c[1] + 1),
                             (halved, np.int32(0)))

    xs = np.array([0.5, -3.0, 8.0, 100.0, -0.1])
    value, steps = run_jit(fg.vmap(f), xs)
    for x, v, n in zip(xs, value, steps):
        c, k = (x / 2 if x > 0 else -x), 0
        while c < 10.0:
            c, k = c * 2, k + 1
        assert (v, n) == (c, k)


# ---------------------------------------------------------------- fallback


def test_a_body_without_lowering_runs_as_a_host_call(monkeypatch, rng):
    monkeypatch.delitem(rules.RULES, "dot_general")
    w = rng.normal(size=(2, 2))
    f = lambda xs: fg.scan(lambda c, x: (w @ c + x, c), np.ones(2), xs)  # noqa: E731
    run_jit(f, rng.normal(size=(3, 2)), compiled=False)
