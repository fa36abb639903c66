"""Every primitive's derivative rules, on its sample (tests/primitive_samples.py):

- the JVP against central finite differences, in float64;
- reverse mode against forward mode: <u, J v> == <J^T u, v>;
- second order: the JVP of the JVP, and the VJP of the VJP, against finite
  differences of the first-order derivative;
- every primitive has a JVP rule, and every primitive that the linear part of
  a JVP can contain has a transpose rule.
"""

import numpy as np
import pytest
from primitive_samples import samples

import funcgrad as fg
from funcgrad.primitives import PRIMITIVES
from funcgrad.transforms.tangents import has_tangent

SAMPLES = samples()
EPS = 1e-6
RNG = np.random.default_rng(1)

# Linear in (some of) their operands: the rules of other primitives emit them on tangents.
LINEAR = {
    "add", "sub", "neg", "mul", "div", "convert_element_type", "broadcast_in_dim", "reshape",
    "transpose", "rev", "slice", "pad", "concatenate", "select", "reduce_sum", "cumsum",
    "dot_general", "conv_general_dilated", "gather", "scatter_add", "scatter", "dynamic_slice",
    "dynamic_update_slice", "triangular_solve", "cond", "scan",
    "psum", "pmean", "all_gather", "psum_scatter",
    "custom_jvp_call", "custom_vjp_call", "custom_vjp_bwd", "checkpoint", "checkpoint_linear",
}


def _differentiable(name):
    """The sample as a function of its float operands (others fixed)."""
    primitive = PRIMITIVES[name]
    operands, params = SAMPLES[name]
    float_positions = [i for i, x in enumerate(operands)
                       if has_tangent(fg.ir.abstractify(x))]

    def f(*xs):
        args = list(operands)
        for i, x in zip(float_positions, xs):
            args[i] = x
        out = primitive.bind(*args, **params)
        outs = list(out) if primitive.multiple_results else [out]
        return [o for o in outs if has_tangent(fg.ir.abstractify(o))]

    return f, [np.asarray(operands[i], np.float64) for i in float_positions]


def _central_difference(f, xs, vs):
    plus = f(*[x + EPS * v for x, v in zip(xs, vs)])
    minus = f(*[x - EPS * v for x, v in zip(xs, vs)])
    return [(p - m) / (2 * EPS) for p, m in zip(plus, minus)]


def _random_like(xs):
    return [RNG.normal(size=np.shape(x)) for x in xs]


# Collectives run only inside a named vmap: tests/test_vmap_control_flow.py checks their derivatives.
DIFFERENTIABLE = sorted(name for name, p in PRIMITIVES.items()
                        if not getattr(p, "collective", False) and _differentiable(name)[1])
# Reverse mode needs a static trip count (as in JAX): forward mode only.
FORWARD_ONLY = {"while_loop"}
REVERSE = [name for name in DIFFERENTIABLE if name not in FORWARD_ONLY]


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_every_primitive_has_a_jvp_rule(name):
    assert PRIMITIVES[name].jvp is not None, f"{name} has no JVP rule"


@pytest.mark.parametrize("name", sorted(LINEAR))
def test_every_linear_primitive_has_a_transpose_rule(name):
    assert PRIMITIVES[name].transpose is not None, f"{name} has no transpose rule"


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_jvp_matches_finite_differences(name):
    f, xs = _differentiable(name)
    vs = _random_like(xs)
    with np.errstate(all="ignore"):
        _, tangents = fg.jvp(f, xs, vs)
        expected = _central_difference(f, xs, vs)
    for t, e in zip(tangents, expected):
        np.testing.assert_allclose(t, e, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("name", sorted(FORWARD_ONLY))
def test_forward_only_primitives_refuse_reverse_mode_clearly(name):
    from funcgrad.transforms.autodiff import MissingRuleError

    f, xs = _differentiable(name)
    with pytest.raises(MissingRuleError, match=name):
        fg.vjp(f, *xs)[1](_random_like(f(*xs)))


@pytest.mark.parametrize("name", REVERSE)
def test_reverse_mode_agrees_with_forward_mode(name):
    f, xs = _differentiable(name)
    vs = _random_like(xs)
    outs, jv = fg.jvp(f, xs, vs)
    us = _random_like(outs)
    _, vjp_fun = fg.vjp(f, *xs)
    jtu = vjp_fun(us)
    lhs = sum(np.vdot(u, t) for u, t in zip(us, jv))
    rhs = sum(np.vdot(g, v) for g, v in zip(jtu, vs))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("name", REVERSE)
def test_second_order_forward_and_reverse(name):
    f, xs = _differentiable(name)
    vs, ws = _random_like(xs), _random_like(xs)

    def first_forward(*ys):
        return fg.jvp(f, ys, vs)[1]

    with np.errstate(all="ignore"):
        _, second = fg.jvp(first_forward, xs, ws)
        expected = _central_difference(first_forward, xs, ws)
    for s, e in zip(second, expected):
        np.testing.assert_allclose(s, e, rtol=1e-4, atol=1e-5, err_msg=f"{name} forward-forward")

    us = _random_like(f(*xs))

    def first_reverse(*ys):
        return list(fg.vjp(f, *ys)[1](us))

    with np.errstate(all="ignore"):
        _, second = fg.jvp(first_reverse, xs, ws)
        _, vjp_of_vjp = fg.vjp(first_reverse, *xs)
        expected = _central_difference(first_reverse, xs, ws)
    for s, e in zip(second, expected):
        np.testing.assert_allclose(s, e, rtol=1e-4, atol=1e-5, err_msg=f"{name} reverse-forward")
    # The VJP of the VJP agrees with forward-over-reverse: <z, H w> both ways.
    zs = _random_like(xs)
    hz = vjp_of_vjp(zs)
    lhs = sum(np.vdot(z, s) for z, s in zip(zs, second))
    rhs = sum(np.vdot(h, w) for h, w in zip(hz, ws))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-7, atol=1e-8, err_msg=f"{name} reverse-reverse")
