"""Each jit pass on its own: it removes or regroups what it should, and the
IR still computes the same values (checked by evaluating both eagerly)."""

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.ir import typecheck
from funcgrad.trace import eval_ir
from funcgrad.transforms import passes


def _names(ir):
    return [e.primitive.name for e in ir.eqns]


def _same_values(before, after, *args):
    typecheck(after)
    for x, y in zip(eval_ir(before, *args), eval_ir(after, *args)):
        # (a jit_call runs compiled: its tanh may differ from NumPy's in the last bit)
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-14, atol=1e-15)


X = np.linspace(-1.0, 1.0, 6).reshape(2, 3)


def test_dead_code_is_removed():
    def f(x):
        unused = fnp.exp(x) * 3.0  # noqa: F841
        return fnp.sin(x)

    ir = fg.make_ir(f)(X)
    after = passes.eliminate_dead_code(ir)
    assert _names(after) == ["sin"] and "exp" in _names(ir)
    _same_values(ir, after, X)


def test_common_subexpressions_are_merged():
    ir = fg.make_ir(lambda x: fnp.sin(x) * 2.0 + fnp.sin(x) * 2.0)(X)
    after = passes.eliminate_dead_code(passes.eliminate_common_subexpressions(ir))
    assert _names(ir).count("sin") == 2 and _names(after).count("sin") == 1
    assert _names(after).count("mul") == 1
    _same_values(ir, after, X)


def test_literals_with_different_types_are_not_merged():
    ir = fg.make_ir(lambda x: (x.astype(np.float32) * 2.0, x * 2.0))(X)
    after = passes.eliminate_common_subexpressions(ir)
    assert _names(after).count("mul") == 2
    _same_values(ir, after, X)


def test_constants_are_folded():
    ir = fg.make_ir(lambda x: x * (fnp.float64(2.0) * fnp.float64(3.0)))(X)
    after = passes.eliminate_dead_code(passes.fold_constants(ir))
    assert _names(after).count("mul") == 1
    _same_values(ir, after, X)


def test_views_of_constants_are_not_folded():
    ir = fg.make_ir(lambda x: x * 2.0)(X)  # broadcast_in_dim of 2.0: free inside a loop
    assert _names(passes.fold_constants(ir)) == _names(ir)


def test_identities_are_forwarded():
    ir = fg.make_ir(lambda x: fg.stop_gradient(x).reshape(2, 3).astype(np.float64) + 1.0)(X)
    after = passes.eliminate_dead_code(passes.forward_identities(ir))
    assert "stop_gradient" not in _names(after) and "reshape" not in _names(after)
    _same_values(ir, after, X)


def test_nested_jit_calls_are_inlined():
    inner = fg.jit(lambda x: fnp.tanh(x) * 2.0)
    ir = fg.make_ir(lambda x: inner(inner(x)) + 1.0)(X)
    assert _names(ir).count("jit_call") == 2
    after = passes.inline_calls(ir)
    assert "jit_call" not in _names(after) and _names(after).count("tanh") == 2
    _same_values(ir, after, X)


def test_custom_derivative_wrappers_are_inlined():
    @fg.custom_jvp
    def f(x):
        return fnp.sin(x)

    f.defjvp(lambda primals, tangents: (f(*primals), fnp.cos(primals[0]) * tangents[0]))
    ir = fg.make_ir(lambda x: fg.checkpoint(f)(x) * 2.0)(X)
    after = passes.inline_calls(ir)
    assert {"custom_jvp_call", "checkpoint"} & set(_names(ir))
    assert not {"custom_jvp_call", "checkpoint"} & set(_names(after))
    _same_values(ir, after, X)


def test_fusion_makes_one_cluster_of_a_chain_and_its_reduction():
    ir = passes.optimize(fg.make_ir(lambda x: fnp.sum(fnp.exp(x * 2.0) - x, axis=1))(X))
    assert _names(ir) == ["fused"]
    body = ir.eqns[0].params["ir"]
    assert [e.primitive.name for e in body.eqns].count("reduce_sum") == 1
    assert [o.aval.shape for o in ir.eqns[0].outputs] == [(2,)]  # nothing else materialized


def test_fusion_stops_at_a_value_read_by_a_matmul():
    w = np.ones((3, 4))
    ir = passes.optimize(fg.make_ir(lambda x: fnp.tanh(fnp.tanh(x) @ w) + 1.0)(X))
    assert _names(ir) == ["fused", "dot_general", "fused"]


def test_a_value_read_outside_its_cluster_is_an_output_of_it():
    def f(x):
        y = fnp.exp(x)
        total = y.sum()
        return y @ np.ones((3, 3)), total

    ir = fg.make_ir(f)(X)
    after = passes.optimize(ir)
    _same_values(ir, after, X)
    first = after.eqns[0]
    assert first.primitive.name == "fused" and len(first.outputs) == 2


@pytest.mark.parametrize("fun", [
    lambda x: (x[:, None, :] * x[None, :, :]).sum(axis=(0, 2), keepdims=True),
    lambda x: fnp.where(x > 0, x, 0.0).max(axis=0) - x.T.min(axis=1),
    lambda x: (x.reshape(3, 2) + 1.0).T * fnp.arange(3.0),
    lambda x: fnp.mean(x, axis=0) * fnp.std(x),
])
def test_fused_programs_compute_the_same_values(fun):
    ir = fg.make_ir(fun)(X)
    _same_values(ir, passes.optimize(ir), X)
