"""vmap through control flow and collectives.

- ``cond``/``switch``, ``while_loop``/``fori_loop`` and ``scan`` under vmap
  against a Python loop over the members: batched operands, consts, carries
  and xs (at any axis); a predicate or index that varies per member (members
  taking different branches, loops whose members finish at different steps,
  indices out of range); carries that start unbatched and become batched;
- derivatives: ``vmap(grad(f))`` against a loop of ``grad(f)``, ``grad`` of a
  function that uses ``vmap`` against the stacked per-member gradients;
- collectives (``psum``, ``pmean``, ``pmax``, ``pmin``, ``all_gather``,
  ``psum_scatter``, ``axis_index``) against their NumPy equivalents over the
  batch, nested vmaps with different names, collectives inside control flow,
  their derivatives against finite differences, and their errors.
"""

import numpy as np
import pytest
from fnp_harness import assert_same, numerical_grad
from hypothesis import given, settings
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp
import funcgrad.primitives.collectives as collective_primitives
from funcgrad.errors import AxisError, DtypeError, ShapeError
from funcgrad.ir import AbstractArray
from funcgrad.transforms import collectives as C
from funcgrad.transforms.batching import BatchingError, axis_frame

RNG = np.random.default_rng(0)
F64 = np.dtype(np.float64)


def loop(f, args, in_axes):
    """The reference: ``f`` on each member, the results stacked along axis 0."""
    size = next(np.shape(a)[ax] for a, ax in zip(args, in_axes) if ax is not None)
    outs = [f(*[a if ax is None else np.take(a, i, axis=ax) for a, ax in zip(args, in_axes)])
            for i in range(size)]
    return fg.tree_map(lambda *leaves: np.stack([np.asarray(v) for v in leaves]), *outs)


def check_vmap(f, *args, in_axes=0, rtol=1e-12):
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
    assert_same(fg.vmap(f, in_axes=axes)(*args), loop(f, args, axes), rtol=rtol)


# ---------------------------------------------------------------- cond and switch


def two_outputs(p, x, w):
    """The true branch's first output depends on the operand, the false one's on
    ``w`` only: with ``w`` shared, the branches disagree on what is batched."""
    return fg.cond(p > 0, lambda v: (fnp.sin(v) * w, v.sum()), lambda v: (w * 2.0, -v.sum()), x)


def constant_branch(p, x):
    """Outputs that are constants in a branch (literals of the branch IRs)."""
    return fg.cond(p > 0, lambda v: (fnp.sum(v), v, 1.0), lambda v: (np.float32(0.0), -v, 2.0), x)


def three_way(k, x, w):
    return fg.switch(k, [lambda v: v + w, lambda v: v * w, lambda v: fnp.cos(v) - w], x)


X = RNG.normal(size=(4, 3))
W = RNG.normal(size=3)
P = np.array([1.0, -1.0, 2.0, -0.5])
K = np.array([-3, 0, 1, 7])  # out of range on both sides: switch clamps

COND_CASES = {
    "shared predicate, batched operand": (two_outputs, (1.0, X, W), (None, 0, None)),
    "shared predicate (false), batched consts": (two_outputs, (-1.0, X[0], X), (None, None, 0)),
    "batched predicate": (two_outputs, (P, X, W), (0, 0, None)),
    "batched predicate only": (two_outputs, (P, X[0], W), (0, None, None)),
    "operand at axis 1": (two_outputs, (P, X.T, W), (0, 1, None)),
    "constant branch, shared predicate": (constant_branch, (-1.0, X.astype(np.float32)), (None, 0)),
    "constant branch, batched predicate": (constant_branch, (P, X.astype(np.float32)), (0, 0)),
    "switch, batched index": (three_way, (K, X, W), (0, 0, None)),
    "switch, batched index and consts": (three_way, (K, X[0], X), (0, None, -2)),
    "switch, shared index": (three_way, (2, X, W), (None, 0, None)),
}


@pytest.mark.parametrize("case", COND_CASES)
def test_cond_equals_a_loop(case):
    f, args, in_axes = COND_CASES[case]
    check_vmap(f, *args, in_axes=in_axes)


def test_a_shared_index_stays_one_cond():
    ir = fg.make_ir(fg.vmap(two_outputs, in_axes=(None, 0, None)))(1.0, X, W)
    assert [e.primitive.name for e in ir.eqns if e.primitive.name in ("cond", "select")] == ["cond"]


# ---------------------------------------------------------------- while_loop and fori_loop


def double_until(limit, x):
    """How many doublings take ``x`` past ``limit``: members finish at different steps."""
    return fg.while_loop(lambda c: c[1] < limit, lambda c: (c[0] + 1, c[1] * 2.0), (0, x))


def counted(n, x):
    """A predicate on an unbatched counter: every member runs ``n`` steps."""
    return fg.while_loop(lambda c: c[0] < n, lambda c: (c[0] + 1, fnp.cos(c[1]) + c[2], c[2]),
                         (0, x, 0.5))


def collatz_steps(n):
    def step(c):
        k, steps = c
        return fnp.where(k % 2 == 0, k // 2, 3 * k + 1), steps + 1

    return fg.while_loop(lambda c: c[0] != 1, step, (n, 0))


def power_fori(n, x):
    return fg.fori_loop(0, n, lambda i, v: v * 1.5 + i, x)


STARTS = np.array([1.0, 5.0, 20.0, 300.0, 0.7])
WHILE_CASES = {
    "batched carry": (double_until, (100.0, STARTS), (None, 0)),
    "batched limit, shared start": (double_until, (np.array([1.0, 10.0, 1000.0]), 1.5), (0, None)),
    "batched limit and carry": (double_until, (STARTS * 7, STARTS), (0, 0)),
    "shared predicate": (counted, (4, X), (None, 0)),
    "batched trip count": (counted, (np.array([0, 1, 5, 2]), X), (0, 0)),
    "collatz": (lambda n: collatz_steps(n), (np.array([1, 6, 7, 27, 97]),), (0,)),
    "fori_loop, traced bounds": (power_fori, (np.array([3, 0, 6]), np.array([1.0, 2.0, 3.0])), (0, 0)),
    "fori_loop, static bounds": (lambda x: power_fori(4, x), (STARTS,), (0,)),
}


@pytest.mark.parametrize("case", WHILE_CASES)
def test_while_loop_equals_a_loop(case):
    f, args, in_axes = WHILE_CASES[case]
    check_vmap(f, *args, in_axes=in_axes)


@settings(max_examples=15)
@given(starts=st.lists(st.floats(0.01, 200.0), min_size=1, max_size=6),
       limit_batched=st.booleans(), k=st.integers(-2, 4))
def test_members_finishing_at_drawn_steps(starts, limit_batched, k):
    starts = np.array(starts)
    limits = np.sqrt(starts) * 20 if limit_batched else 50.0
    check_vmap(double_until, limits, starts, in_axes=(0 if limit_batched else None, 0))
    indices = (np.arange(len(starts)) + k).astype(np.int32)  # some out of range
    check_vmap(three_way, indices, np.stack([starts] * 3, axis=1), W, in_axes=(0, 0, None))


def test_a_shared_predicate_keeps_a_plain_loop():
    ir = fg.make_ir(fg.vmap(counted, in_axes=(None, 0)))(4, X)
    (loop_eqn,) = [e for e in ir.eqns if e.primitive.name == "while_loop"]
    # The counter stays unbatched, and nothing selects between old and new carries.
    assert [v.aval.shape for v in loop_eqn.outputs] == [(), (4, 3), ()]
    assert "select" not in [e.primitive.name for e in loop_eqn.params["body_ir"].eqns]


# ---------------------------------------------------------------- scan


def recurrence(w, c0, xs):
    return fg.scan(lambda c, x: (c * w + x, (fnp.sin(c), c.sum())), c0, xs)


def two_carries(c0, xs):
    """A counter carry that no member changes differently, and a batched one."""
    return fg.scan(lambda c, x: ((c[0] + 1, c[1] * 0.5 + x), c[0] * x), (0, c0), xs, reverse=True)


XS = RNG.normal(size=(4, 5, 3))  # 4 members, 5 steps, 3 values
SCAN_CASES = {
    "batched xs": (recurrence, (0.9, np.zeros(3), XS), (None, None, 0)),
    "xs batched at axis 1": (recurrence, (0.9, np.zeros(3), XS.transpose(1, 0, 2)), (None, None, 1)),
    "xs batched at the last axis": (recurrence, (0.9, np.zeros(3), XS.transpose(1, 2, 0)),
                                    (None, None, -1)),
    "batched init": (recurrence, (0.9, X, XS[0]), (None, 0, None)),
    "batched consts": (recurrence, (np.array([0.1, 0.5, 0.9, 1.1]), np.zeros(3), XS[0]),
                       (0, None, None)),
    "everything batched": (recurrence, (np.array([0.1, 0.5, 0.9, 1.1]), X, XS), (0, 0, 0)),
    "unbatched counter carry, reverse": (two_carries, (X, XS), (0, 0)),
    "no xs": (lambda w: fg.scan(lambda c, _: (c * w, c), 1.0, None, length=4), (P,), (0,)),
    "map": (lambda xs: fg.map(lambda row: row * row.sum(), xs), (XS,), (0,)),
}


@pytest.mark.parametrize("case", SCAN_CASES)
def test_scan_equals_a_loop(case):
    f, args, in_axes = SCAN_CASES[case]
    check_vmap(f, *args, in_axes=in_axes)


@settings(max_examples=10)
@given(axes=st.tuples(st.sampled_from([None, 0, -1]), st.sampled_from([None, 0, 1]),
                      st.sampled_from([None, 0, 1, 2])))
def test_scan_with_drawn_batch_axes(axes):
    axes = axes if any(a is not None for a in axes) else (0, 0, 0)
    w = np.array([0.1, 0.5, 0.9, 1.1])
    args = [w if axes[0] is not None else 0.7,
            np.moveaxis(X, 0, axes[1]) if axes[1] is not None else X[0],
            np.moveaxis(XS, 0, axes[2]) if axes[2] is not None else XS[0]]
    check_vmap(recurrence, *args, in_axes=axes)


def test_ys_batch_axis_is_second_inside_the_scan():
    ir = fg.make_ir(fg.vmap(recurrence, in_axes=(None, None, 0)))(0.9, np.zeros(3), XS)
    (scan_eqn,) = [e for e in ir.eqns if e.primitive.name == "scan"]
    assert [v.aval.shape for v in scan_eqn.outputs] == [(4, 3), (5, 4, 3), (5, 4)]


def test_nested_vmap_of_control_flow():
    xs = RNG.normal(size=(2, 4, 5, 3))
    limits = np.array([[1.0, 5.0, 50.0, 2.0], [3.0, 0.1, 9.0, 30.0]])

    def f(limit, xs):
        total, _ = recurrence(0.8, np.zeros(3), xs)
        return double_until(limit, fnp.abs(total).sum() + 0.1)

    expected = loop(lambda lim, x: loop(f, (lim, x), (0, 0)), (limits, xs), (0, 0))
    assert_same(fg.vmap(fg.vmap(f))(limits, xs), expected, rtol=1e-12)


# ---------------------------------------------------------------- derivatives


def scan_loss(w, xs):
    carry, ys = recurrence(w, fnp.zeros(3), xs)
    return fnp.sum(carry ** 2) + fnp.sum(ys[0])


def cond_loss(x, w):
    return fnp.sum(fg.cond(fnp.sum(x) > 0, lambda v: fnp.sin(v) * w, lambda v: v ** 2 * w[0], x))


def while_value(x):
    return fnp.sum(double_until(10.0, x * x)[1])


@pytest.mark.parametrize("f, args, in_axes", [
    (scan_loss, (np.array([0.3, 0.6, 0.9, 1.2]), XS), (0, 0)),
    (scan_loss, (0.7, XS), (None, 0)),
    (cond_loss, (X, W), (0, None)),
    (cond_loss, (X[0], X), (None, 0)),
])
def test_vmap_of_grad_equals_a_loop(f, args, in_axes):
    grad = fg.grad(f, argnums=(0, 1))
    assert_same(fg.vmap(grad, in_axes=in_axes)(*args), loop(grad, args, in_axes), rtol=1e-10)


def test_vmap_of_forward_mode_through_a_while_loop():
    x = np.array([0.5, 1.0, 2.0, 4.0])
    got = fg.vmap(fg.jacfwd(while_value))(x)
    np.testing.assert_allclose(got, [fg.jacfwd(while_value)(v) for v in x], rtol=1e-12)


@pytest.mark.parametrize("f, args, in_axes", [
    (scan_loss, (np.array([0.3, 0.6, 0.9, 1.2]), XS), (0, 0)),
    (cond_loss, (X, W), (0, None)),
])
def test_grad_of_vmap_equals_stacked_gradients(f, args, in_axes):
    grads = fg.grad(lambda *a: fnp.sum(fg.vmap(f, in_axes=in_axes)(*a)), argnums=(0, 1))(*args)
    per_member = loop(fg.grad(f, argnums=(0, 1)), args, in_axes)
    for g, per, ax in zip(grads, per_member, in_axes):
        np.testing.assert_allclose(g, per if ax == 0 else per.sum(0), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- collectives

V = RNG.normal(size=(5, 2, 3))  # 5 members of shape (2, 3)

COLLECTIVES = {  # the collective over "i", and its value for every member from the batch
    "psum": (lambda x: C.psum(x, "i"), lambda b: b.sum(0)),
    "pmean": (lambda x: C.pmean(x, "i"), lambda b: b.mean(0)),
    "pmax": (lambda x: C.pmax(x, "i"), lambda b: b.max(0)),
    "pmin": (lambda x: C.pmin(x, "i"), lambda b: b.min(0)),
    "all_gather": (lambda x: C.all_gather(x, "i"), lambda b: b),
    "all_gather axis 1": (lambda x: C.all_gather(x, "i", axis=1), lambda b: np.moveaxis(b, 0, 1)),
    "all_gather axis -1": (lambda x: C.all_gather(x, "i", axis=-1), lambda b: np.moveaxis(b, 0, -1)),
}


@pytest.mark.parametrize("name", COLLECTIVES)
@pytest.mark.parametrize("in_axis", [0, 1, -1, None])
def test_collective_equals_numpy_over_the_batch(name, in_axis):
    f, reference = COLLECTIVES[name]
    if in_axis is None:  # shared by all members: the batch is its copies
        got = fg.vmap(f, in_axes=None, axis_size=5, axis_name="i")(V[0])
        batch = np.stack([V[0]] * 5)
    else:
        got = fg.vmap(f, in_axes=in_axis, axis_name="i")(np.moveaxis(V, 0, in_axis))
        batch = V
    assert_same(got, np.stack([reference(batch)] * 5))


@pytest.mark.parametrize("dtype", [np.int32, np.float32])
def test_collective_dtypes(dtype):
    batch = (V * 10).astype(dtype)
    f = fg.vmap(lambda x: (C.psum(x, "i"), C.pmax(x, "i"), C.pmean(x, "i")), axis_name="i")
    total, largest, mean = f(batch)
    assert_same(total[0], batch.sum(0, dtype=dtype))
    assert_same(largest[0], batch.max(0))
    assert_same(mean[0], batch.mean(0) if dtype == np.float32 else batch.mean(0, dtype=np.float64))


def test_axis_index_and_psum_scatter():
    got = fg.vmap(lambda x: (x * C.axis_index("i"), C.psum_scatter(x, "i", scatter_dimension=-1)),
                  axis_name="i")(V[:3])
    assert_same(got[0], V[:3] * np.arange(3)[:, None, None])
    assert_same(got[1], np.moveaxis(V[:3].sum(0), -1, 0))
    assert_same(fg.vmap(lambda _: C.axis_index("i"), axis_name="i")(np.zeros(4)),
                np.arange(4, dtype=np.int32))


def test_collectives_over_pytrees_and_scalars():
    got = fg.vmap(lambda t: C.psum({"a": t, "b": (t * 2, 1)}, "i"), axis_name="i")(np.arange(4.0))
    assert_same(got, {"a": np.full(4, 6.0), "b": (np.full(4, 12.0), np.full(4, 4))})


@pytest.mark.parametrize("over", ["inner", "outer"])
def test_nested_vmaps_with_different_names(over):
    batch = RNG.normal(size=(3, 4, 2))  # 3 outer members of 4 inner members

    def f(x):
        return x / C.psum(x, over) + C.axis_index(over) + C.all_gather(x, over).sum()

    got = fg.vmap(fg.vmap(f, axis_name="inner"), axis_name="outer")(batch)
    axis = 1 if over == "inner" else 0
    index = np.arange(batch.shape[axis]).reshape((-1, 1, 1) if axis == 0 else (1, -1, 1))
    gathered = batch.sum(axis=(axis, 2), keepdims=True)
    assert_same(got, batch / batch.sum(axis, keepdims=True) + index + gathered, rtol=1e-12)


def test_collectives_inside_control_flow():
    def normalize_until_small(x):
        # A loop whose predicate is the same for all members: a psum of their values.
        return fg.while_loop(lambda v: C.psum(fnp.sum(v * v), "i") > 1.0, lambda v: v * 0.5, x)

    def running_share(xs):
        return fg.scan(lambda c, x: (c + x / C.psum(x, "i"), C.pmax(x, "i")), 0.0, xs)

    x = V[:, 0]
    got = fg.vmap(normalize_until_small, axis_name="i")(x)
    expected = x.copy()
    while (expected ** 2).sum() > 1.0:
        expected = expected * 0.5
    assert_same(got, expected, rtol=1e-12)
    xs = np.abs(V[:, :, 0]) + 0.1  # 5 members, 2 steps
    carry, ys = fg.vmap(running_share, axis_name="i")(xs)
    assert_same(carry, (xs / xs.sum(0)).sum(1), rtol=1e-12)
    assert_same(ys, np.stack([xs.max(0)] * 5), rtol=1e-12)


def test_collectives_inside_control_flow_on_shared_operands():
    def f(x):
        steps = fg.scan(lambda c, _: (c + C.axis_index("i"), None), 0, None, length=3)[0]
        return x + steps

    assert_same(fg.vmap(f, axis_name="i")(np.zeros(4)), np.arange(4) * 3.0)




PER_MEMBER_LOSSES = {  # functions of one member that combine all of them
    "psum": lambda x: fnp.sum(fnp.sin(x) * C.psum(x, "i")),
    "pmean": lambda x: fnp.sum((x - C.pmean(x, "i")) ** 2),
    "pmax": lambda x: fnp.sum(x * C.pmax(x ** 2, "i")),
    "pmin": lambda x: fnp.sum(fnp.exp(C.pmin(x, "i")) * x),
    "all_gather": lambda x: fnp.sum(C.all_gather(x, "i", axis=1) * fnp.cos(x)[:, None]),
    "psum_scatter": lambda x: fnp.sum(C.psum_scatter(fnp.outer(x, x)[:5], "i") ** 2),
    "axis_index": lambda x: fnp.sum(x ** 2) * C.axis_index("i"),
}


@pytest.mark.parametrize("name", PER_MEMBER_LOSSES)
def test_derivatives_of_collectives(name):
    """Members are a loop whose outputs are summed: ``vmap(grad(f))`` is the
    gradient of that sum, as ``grad`` of the vmapped function computes it; both
    match finite differences of the batched function."""
    f = PER_MEMBER_LOSSES[name]
    x = RNG.normal(size=(5, 6))

    def total(batch):
        return fnp.sum(fg.vmap(f, axis_name="i")(batch))

    numerical = numerical_grad(total, x)
    np.testing.assert_allclose(fg.grad(total)(x), numerical, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(fg.vmap(fg.grad(f), axis_name="i")(x), numerical, rtol=1e-6, atol=1e-8)


def test_forward_mode_of_collectives():
    x, t = RNG.normal(size=(5, 3)), RNG.normal(size=(5, 3))
    f = fg.vmap(lambda v: C.pmax(v, "i") + C.psum(v * v, "i"), axis_name="i")
    _, tangent = fg.jvp(f, (x,), (t,))
    top = x.argmax(0)
    expected = t[top, np.arange(3)] + (2 * x * t).sum(0)
    assert_same(tangent, np.stack([expected] * 5), rtol=1e-12)


# ---------------------------------------------------------------- collective errors


def test_unknown_axis_name():
    with pytest.raises(BatchingError, match=r"unknown axis name 'j'.*the enclosing ones: \['i'\]"):
        fg.vmap(lambda x: C.psum(x, "j"), axis_name="i")(np.ones(3))


@pytest.mark.parametrize("call", [lambda: C.psum(np.ones(3), "i"), lambda: C.axis_index("i"),
                                  lambda: C.all_gather(np.ones(2), "i")])
def test_collective_outside_any_vmap(call):
    with pytest.raises(BatchingError, match="unknown axis name 'i': no enclosing vmap"):
        call()
    with pytest.raises(BatchingError, match="unknown axis name 'i'"):
        fg.make_ir(lambda x: C.psum(x, "i"))(np.ones(3))


def test_axis_name_none():
    with pytest.raises(BatchingError, match="psum: axis_name is None"):
        fg.vmap(lambda x: C.psum(x, None))(np.ones(3))


def _aval(shape, dtype=F64):
    return AbstractArray(shape, np.dtype(dtype))


def test_abstract_eval():
    P = collective_primitives
    with axis_frame("i", 4):
        assert P.psum.abstract_eval(_aval((2, 3), np.int32), axis_name="i") == _aval((2, 3), np.int32)
        weak = AbstractArray((), F64, True)
        assert P.pmean.abstract_eval(weak, axis_name="i") == _aval(())
        assert P.all_gather.abstract_eval(_aval((2, 3)), axis_name="i", axis=1) == _aval((2, 4, 3))
        assert P.psum_scatter.abstract_eval(_aval((2, 4)), axis_name="i",
                                            scatter_dimension=1) == _aval((2,))
        assert P.axis_index.abstract_eval(axis_name="i") == _aval((), np.int32)
        assert all(p.collective for p in P.COLLECTIVES)


@pytest.mark.parametrize("prim, aval, params, error, message", [
    ("pmean", _aval((2,), np.int64), {}, DtypeError, "pmean: defined for inexact numbers"),
    ("psum", _aval((2,), np.bool_), {}, DtypeError, "psum: defined for numbers, not bool"),
    ("pmax", _aval((2,), np.complex128), {}, DtypeError, "pmax: defined for real numbers"),
    ("all_gather", _aval((2,)), {"axis": 2}, AxisError, "all_gather: axis 2 is out of range"),
    ("psum_scatter", _aval((2, 3)), {"scatter_dimension": 1}, ShapeError,
     "psum_scatter: axis 1 of f64.2,3. must have one entry per member"),
    ("psum_scatter", _aval((4,)), {"scatter_dimension": 1}, AxisError, "out of range"),
])
def test_bad_operands(prim, aval, params, error, message):
    with axis_frame("i", 4), pytest.raises(error, match=message):
        getattr(collective_primitives, prim).abstract_eval(aval, axis_name="i", **params)


def test_unhashable_axis_name():
    with axis_frame("i", 4), pytest.raises(BatchingError, match="axis_name must be hashable"):
        collective_primitives.psum.abstract_eval(_aval(()), axis_name=["i"])
