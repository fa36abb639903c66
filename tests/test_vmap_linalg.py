"""vmap through contractions, decompositions, convolutions and custom
derivatives: funcgrad.numpy functions and the transforms that compose with
vmap (grad, jvp, jacfwd, jacrev, nested vmap), each against a Python loop."""

import functools

import numpy as np
import pytest
from fnp_harness import assert_same
from hypothesis import given, settings
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.primitives.convolution import conv_general_dilated
from funcgrad.primitives.linalg import triangular_solve
from funcgrad.transforms.autodiff import MissingRuleError
from funcgrad.transforms.batch_dims import BatchContext

BATCH = 3
RTOL = 1e-9


def _floats(*shape, seed=0):
    return np.random.default_rng(seed + len(shape)).normal(size=shape)


def _spd(*batch, n=3):
    a = _floats(*batch, n, n, seed=1)
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def _member(x, i):
    """The i-th member of the batch: adding a constant keeps a matrix SPD."""
    return x + 0.01 * i


def _stack(results):
    if isinstance(results[0], (tuple, list)):
        return tuple(np.stack(r) for r in zip(*results))
    return np.stack(results)


def _vmap_vs_loop(fn, operands, axes, rtol=RTOL):
    batched = [x if a is None else np.stack([_member(x, i) for i in range(BATCH)], axis=a)
               for x, a in zip(operands, axes)]
    expected = _stack([fn(*[x if a is None else _member(x, i) for x, a in zip(operands, axes)])
                       for i in range(BATCH)])
    got = fg.vmap(fn, in_axes=tuple(axes))(*batched)
    assert_same(got, expected, rtol=rtol)


def _draw_axes(data, operands):
    axes = [data.draw(st.one_of(st.none(), st.integers(-np.ndim(x) - 1, np.ndim(x))), label="axis")
            for x in operands]
    return [0] + axes[1:] if all(a is None for a in axes) else axes


def _tuple(fn):
    return lambda *args: tuple(fn(*args))


FNP_CASES = {
    "matmul": (fnp.matmul, [_floats(2, 3), _floats(3, 4)]),
    "matmul_stacks": (fnp.matmul, [_floats(2, 2, 3), _floats(3, 2)]),
    "vector_matrix": (fnp.matmul, [_floats(3), _floats(3, 4)]),
    "matrix_vector": (lambda a, b: a @ b, [_floats(2, 3), _floats(3)]),
    "dot": (fnp.dot, [_floats(3), _floats(3)]),
    "einsum_batched": (functools.partial(fnp.einsum, "bij,bjk->bik"), [_floats(2, 2, 3), _floats(2, 3, 2)]),
    "einsum_trace": (functools.partial(fnp.einsum, "ij,ji->"), [_floats(3, 3), _floats(3, 3)]),
    "tensordot": (lambda a, b: fnp.tensordot(a, b, axes=([0, 1], [1, 0])), [_floats(2, 3), _floats(3, 2, 4)]),
    "solve": (fnp.linalg.solve, [_spd(), _floats(3, 2)]),
    "solve_vector": (fnp.linalg.solve, [_spd(), _floats(3)]),
    "solve_stacks": (fnp.linalg.solve, [_spd(2), _floats(2, 3, 2)]),
    "inv": (fnp.linalg.inv, [_spd()]),
    "inv_stacks": (fnp.linalg.inv, [_spd(2)]),
    "cholesky": (fnp.linalg.cholesky, [_spd()]),
    "det": (fnp.linalg.det, [_spd()]),
    "slogdet": (_tuple(fnp.linalg.slogdet), [_spd()]),
    "svd": (_tuple(functools.partial(fnp.linalg.svd, full_matrices=False)), [_floats(4, 3)]),
    "svdvals": (functools.partial(fnp.linalg.svd, compute_uv=False), [_floats(2, 3)]),
    "eigh": (_tuple(fnp.linalg.eigh), [_spd()]),
    "qr": (_tuple(fnp.linalg.qr), [_floats(4, 3)]),
}


@pytest.mark.parametrize("name", sorted(FNP_CASES))
@settings(max_examples=6)
@given(data=st.data())
def test_fnp_vmap_equals_a_loop(name, data):
    fn, operands = FNP_CASES[name]
    _vmap_vs_loop(fn, operands, _draw_axes(data, operands), rtol=1e-8)


TRIANGULAR = [dict(left_side=left, lower=lower, transpose_a=transpose, unit_diagonal=unit)
              for left, lower, transpose, unit in [(True, True, False, False), (False, True, True, False),
                                                   (False, False, False, True), (True, False, True, True)]]


@pytest.mark.parametrize("params", TRIANGULAR)
@pytest.mark.parametrize("axes", [(None, 0), (None, 1), (None, -1), (0, None), (2, 0)])
def test_triangular_solve_vmap_equals_a_loop(params, axes):
    b = _floats(3, 2) if params["left_side"] else _floats(2, 3)
    _vmap_vs_loop(functools.partial(triangular_solve.bind, **params), [_spd(), b], axes)


def test_shared_matrix_is_factored_once():
    """With ``a`` shared, every member's right-hand side goes to one solve of ``a``."""
    ir = fg.make_ir(fg.vmap(fnp.linalg.solve, in_axes=(None, 0)))(_spd(), _floats(4, 3, 2))
    solves = [e for e in ir.eqns if e.primitive.name == "solve"]
    assert len(solves) == 1 and solves[0].inputs[0].aval.shape == (3, 3)


@pytest.mark.parametrize("rhs_axis", [None, 0])
def test_matmul_moves_no_axis(rhs_axis):
    """The batch axis is a free dimension of lhs, or a batch dimension of dot_general."""
    rhs = _floats(3, 5) if rhs_axis is None else _floats(4, 3, 5)
    ir = fg.make_ir(fg.vmap(fnp.matmul, in_axes=(0, rhs_axis)))(_floats(4, 2, 3), rhs)
    assert [e.primitive.name for e in ir.eqns] == ["dot_general"]


# ---------------------------------------------------------------- convolution

CONV_CASES = {
    "1d_grouped": ([_floats(2, 4, 6), _floats(6, 2, 3)],
                   dict(window_strides=(2,), padding=((1, 0),), lhs_dilation=(1,), rhs_dilation=(2,),
                        feature_group_count=2)),
    "2d": ([_floats(1, 2, 5, 5), _floats(4, 2, 3, 3)],
           dict(window_strides=(1, 2), padding=((1, 1), (0, 1)), lhs_dilation=(1, 1),
                rhs_dilation=(1, 1), feature_group_count=1)),
    "2d_dilated_grouped": ([_floats(2, 6, 4, 5), _floats(6, 2, 2, 3)],
                           dict(window_strides=(2, 1), padding=((0, 1), (1, 1)), lhs_dilation=(2, 1),
                                rhs_dilation=(1, 2), feature_group_count=3)),
}
CONV_AXES = [(0, None), (1, None), (-1, None), (None, 0), (None, 1), (None, 3), (0, 0), (-1, 2), (2, -1)]


@pytest.mark.parametrize("axes", CONV_AXES)
@pytest.mark.parametrize("name", sorted(CONV_CASES))
def test_conv_vmap_equals_a_loop(name, axes):
    operands, params = CONV_CASES[name]
    _vmap_vs_loop(functools.partial(conv_general_dilated.bind, **params), operands, axes)


@pytest.mark.parametrize("name, dims, out_dim, groups", [
    ("1d_grouped", (0, None), 0, 2),  # (B, N) examples
    ("1d_grouped", (1, None), 1, 2),  # (N, B) examples
    ("1d_grouped", (None, 1), 2, 2),  # (O, B) outputs: each group's outputs stay together
    ("2d", (None, 0), 1, 1),  # (B, O) outputs: one group
    ("1d_grouped", (1, 0), 1, 2 * BATCH),  # a group per member and group
])
def test_conv_rule_folds_the_batch_without_transposes(name, dims, out_dim, groups):
    operands, params = CONV_CASES[name]
    batched = [x if d is None else np.stack([x] * BATCH, axis=d) for x, d in zip(operands, dims)]
    dims_out = []

    def rule(*args):
        out, dim = conv_general_dilated.batch(BatchContext(BATCH), list(args), list(dims), **params)
        dims_out.append(dim)
        return out

    ir = fg.make_ir(rule)(*batched)
    assert dims_out == [out_dim]
    assert "transpose" not in [e.primitive.name for e in ir.eqns]
    (conv,) = [e for e in ir.eqns if e.primitive.name == "conv_general_dilated"]
    assert conv.params["feature_group_count"] == groups


@pytest.mark.parametrize("argnums", [0, 1])
def test_per_example_conv_gradients(argnums):
    """vmap(grad) over examples: the transposes are convolutions with batched operands."""
    (x, w), params = CONV_CASES["2d_dilated_grouped"]

    def loss(x, w):
        return fnp.sum(fnp.tanh(conv_general_dilated.bind(x, w, **params)) ** 2)

    xs = np.stack([_member(x, i) for i in range(BATCH)])
    got = fg.vmap(fg.grad(loss, argnums=argnums), in_axes=(0, None))(xs, w)
    assert_same(got, np.stack([fg.grad(loss, argnums=argnums)(m, w) for m in xs]), rtol=RTOL)


# ---------------------------------------------------------------- compositions with grad


def mlp_loss(params, x, y):
    h = fnp.tanh(x @ params["w1"] + params["b1"])
    return fnp.mean((h @ params["w2"] - y) ** 2)


MLP = {"w1": _floats(3, 4), "b1": _floats(4), "w2": _floats(4, 2)}


@pytest.mark.parametrize("example_shape", [(3,), (5, 3)])  # single examples, or minibatches
def test_per_example_gradients_of_an_mlp(example_shape):
    xs, ys = _floats(BATCH, *example_shape), _floats(BATCH, *example_shape[:-1], 2)
    got = fg.vmap(fg.grad(mlp_loss), in_axes=(None, 0, 0))(MLP, xs, ys)
    loop = [fg.grad(mlp_loss)(MLP, x, y) for x, y in zip(xs, ys)]
    assert_same(got, {k: np.stack([g[k] for g in loop]) for k in MLP}, rtol=RTOL)
    total = fg.grad(lambda p: fnp.sum(fg.vmap(mlp_loss, in_axes=(None, 0, 0))(p, xs, ys)))(MLP)
    assert_same(total, {k: sum(g[k] for g in loop) for k in MLP}, rtol=RTOL)


LINALG_LOSSES = {
    "solve": lambda a, b: fnp.sum(fnp.linalg.solve(a, b) ** 2),
    "inv": lambda a, b: fnp.sum(fnp.linalg.inv(a) @ b),
    "det": lambda a, b: fnp.linalg.det(a) * fnp.sum(b),
    "slogdet": lambda a, b: fnp.linalg.slogdet(a)[1] + fnp.sum(b ** 2),
    "cholesky": lambda a, b: fnp.sum(fnp.linalg.cholesky(a) @ b),
    "eigh": lambda a, b: fnp.sum(fnp.linalg.eigh(a)[0] ** 2) * fnp.sum(b),
    "svdvals": lambda a, b: fnp.sum(fnp.linalg.svd(a + b[:, :1], compute_uv=False)),
}


@pytest.mark.parametrize("axes", [(None, 0), (0, None), (0, 0)])
@pytest.mark.parametrize("name", sorted(LINALG_LOSSES))
def test_vmap_of_grad_of_linalg(name, axes):
    loss = LINALG_LOSSES[name]
    _vmap_vs_loop(fg.grad(loss, argnums=(0, 1)), [_spd(), _floats(3, 2)], axes)


@pytest.mark.parametrize("name", sorted(LINALG_LOSSES))
def test_grad_of_vmap_of_linalg(name):
    loss, a, bs = LINALG_LOSSES[name], _spd(), _floats(BATCH, 3, 2)
    got = fg.grad(lambda a, bs: fnp.sum(fg.vmap(loss, in_axes=(None, 0))(a, bs)), argnums=(0, 1))(a, bs)
    loop = [fg.grad(loss, argnums=(0, 1))(a, b) for b in bs]
    assert_same(got, (sum(g[0] for g in loop), np.stack([g[1] for g in loop])), rtol=RTOL)


# ---------------------------------------------------------------- custom derivatives


@fg.custom_jvp
def jvp_sin_times(x, w):
    return fnp.sin(x) * w


@jvp_sin_times.defjvp
def _jvp_sin_times_jvp(primals, tangents):
    (x, w), (t_x, t_w) = primals, tangents
    return jvp_sin_times(x, w), fnp.cos(x) * w * t_x + fnp.sin(x) * t_w


@fg.custom_vjp
def vjp_sin_times(x, w):
    return fnp.sin(x) * w


vjp_sin_times.defvjp(lambda x, w: (vjp_sin_times(x, w), (fnp.cos(x), fnp.sin(x), w)),
                     lambda res, ct: (ct * res[0] * res[2], ct * res[1]))


@functools.partial(fg.custom_vjp, nondiff_argnums=(0,))
def clip_gradient(bound, x):
    return x


clip_gradient.defvjp(lambda bound, x: (x, None), lambda bound, _, ct: (fnp.clip(ct, -bound, bound),))


def closing_over(x, w):
    """A custom_jvp function made inside, closing over ``w`` (a const of its primitive)."""

    @fg.custom_jvp
    def sin_times(x):
        return fnp.sin(x) * w

    @sin_times.defjvp
    def _(primals, tangents):
        return sin_times(primals[0]), fnp.cos(primals[0]) * w * tangents[0]

    return sin_times(x)


CUSTOM = {
    "custom_jvp": jvp_sin_times,
    "custom_vjp": vjp_sin_times,
    "checkpoint": fg.checkpoint(lambda x, w: fnp.sin(x) * w),
    "clip_gradient": lambda x, w: clip_gradient(0.3, fnp.sin(x) * w) * 4.0,
    "closing_over": closing_over,
    "stop_gradient": lambda x, w: fnp.sin(x) * w * fg.stop_gradient(w + x),
}
X, W = _floats(BATCH, 3), _floats(3, seed=5)


def _loss(fun):
    return lambda w, x: fnp.sum(fun(x, w) ** 2)


def _loop(fn, xs):
    return _stack([fn(x) for x in xs])


COMPOSITIONS = {
    "vmap_of_grad": lambda f: (fg.vmap(fg.grad(_loss(f)), in_axes=(None, 0))(W, X),
                               _loop(lambda x: fg.grad(_loss(f))(W, x), X)),
    "grad_of_vmap_shared": lambda f: (
        fg.grad(lambda w: fnp.sum(fg.vmap(_loss(f), in_axes=(None, 0))(w, X)))(W),
        sum(fg.grad(_loss(f))(W, x) for x in X)),
    "grad_of_vmap_batched": lambda f: (
        fg.grad(lambda xs: fnp.sum(fg.vmap(lambda x: _loss(f)(W, x))(xs)))(X),
        _loop(lambda x: fg.grad(_loss(f), argnums=1)(W, x), X)),
    "jvp_of_vmap": lambda f: (
        fg.jvp(fg.vmap(lambda x: f(x, W)), (X,), (X ** 2,))[1],
        _loop(lambda x: fg.jvp(lambda x: f(x, W), (x,), (x ** 2,))[1], X)),
    "vmap_of_jacfwd": lambda f: (fg.vmap(fg.jacfwd(f), in_axes=(0, None))(X, W),
                                 _loop(lambda x: fg.jacfwd(f)(x, W), X)),
    "vmap_of_jacrev": lambda f: (fg.vmap(fg.jacrev(f, argnums=1), in_axes=(0, None))(X, W),
                                 _loop(lambda x: fg.jacrev(f, argnums=1)(x, W), X)),
    "nested_vmap_of_grad": lambda f: (
        fg.vmap(fg.vmap(fg.grad(_loss(f)), in_axes=(None, 0)), in_axes=(0, None))(X, X),
        _stack([_loop(functools.partial(fg.grad(_loss(f)), w), X) for w in X])),
    "grad_of_vmap_of_grad": lambda f: (
        fg.grad(lambda w: fnp.sum(fg.vmap(fg.grad(_loss(f)), in_axes=(None, 0))(w, X) ** 2))(W),
        sum(fg.grad(lambda w, x: fnp.sum(fg.grad(_loss(f))(w, x) ** 2))(W, x) for x in X)),
}


# Forward mode transposes a custom_vjp's bwd, which clip_gradient's is not (linear).
FORWARD_MODE = {"jvp_of_vmap", "vmap_of_jacfwd"}


@pytest.mark.parametrize("kind, composition", [
    (kind, composition) for kind in sorted(CUSTOM) for composition in sorted(COMPOSITIONS)
    if not (kind == "clip_gradient" and composition in FORWARD_MODE)])
def test_custom_derivatives_compose_with_vmap(kind, composition):
    got, expected = COMPOSITIONS[composition](CUSTOM[kind])
    assert_same(got, expected, rtol=RTOL)


def test_forward_mode_through_a_vmapped_nonlinear_bwd_names_it():
    with pytest.raises(MissingRuleError, match="vmap of the bwd of custom_vjp function "
                                                         "clip_gradient applies min"):
        COMPOSITIONS["jvp_of_vmap"](CUSTOM["clip_gradient"])


def test_a_rule_closing_over_a_value_of_the_vmapped_function_is_an_error():
    """As under grad: a rule may not close over values computed (here: traced)
    by the function being transformed; it says to pass them as arguments."""
    per_example = fg.vmap(closing_over, in_axes=(0, None))
    with pytest.raises(fg.errors.EscapedTracerError, match="pass the value to the custom function"):
        fg.grad(lambda xs: fnp.sum(per_example(xs, W)))(X)


def test_vmapped_rules_print_as_vmaps():
    ir = fg.make_ir(fg.vmap(jvp_sin_times, in_axes=(0, None)))(X, W)
    assert "jvp=vmap(_jvp_sin_times_jvp)" in str(ir)
