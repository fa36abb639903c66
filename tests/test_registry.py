"""The closed set of primitives: every one is declared with all the rules
this stage of the project needs, and behaves on its sample."""

import numpy as np
import pytest
from fnp_harness import assert_same
from primitive_samples import samples

from funcgrad.ir import abstractify, typecheck
from funcgrad.primitives import PRIMITIVES
from funcgrad.primitives.elementwise import TABLE
from funcgrad.trace import eval_ir, trace_to_ir

FAMILIES = {
    "elementwise": {row.name for row in TABLE},
    "structural": {"convert_element_type", "broadcast_in_dim", "reshape", "transpose", "rev",
                   "slice", "pad", "concatenate", "select", "iota"},
    "indexing": {"gather", "scatter", "scatter_add", "scatter_mul", "scatter_min", "scatter_max",
                 "dynamic_slice", "dynamic_update_slice"},
    "reductions": {"reduce_sum", "reduce_prod", "reduce_max", "reduce_min", "reduce_and",
                   "reduce_or", "argmax", "argmin", "cumsum", "cumprod", "cummax", "cummin"},
    "sorting": {"sort"},
    "linalg": {"dot_general", "cholesky", "qr", "svd", "eigh", "triangular_solve", "solve", "inv",
               "det", "slogdet"},
    "convolution": {"conv_general_dilated"},
    "random_bits": {"threefry2x32"},
    "control_flow": {"cond", "while_loop", "scan"},
    "collectives": {"psum", "pmean", "pmax", "pmin", "all_gather", "psum_scatter", "axis_index"},
    "call": {"jit_call", "fused"},
    "custom_derivatives": {"stop_gradient", "custom_jvp_call", "custom_vjp_call", "custom_vjp_bwd",
                           "checkpoint", "checkpoint_linear"},
}
SAMPLES = samples()
# Collectives run only inside a named vmap: tests/test_vmap_control_flow.py checks them.
EAGER = sorted(name for name, p in PRIMITIVES.items() if not getattr(p, "collective", False))


def test_the_registry_is_the_closed_set():
    declared = set().union(*FAMILIES.values())
    assert set(PRIMITIVES) == declared, (
        f"undocumented: {sorted(set(PRIMITIVES) - declared)}; "
        f"missing: {sorted(declared - set(PRIMITIVES))}")


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_every_primitive_has_its_rules(name):
    primitive = PRIMITIVES[name]
    assert callable(primitive.abstract_eval) and callable(primitive.impl)
    # Slots the later transforms fill in, declared on every primitive.
    assert {"jvp", "transpose", "batch"} <= set(vars(primitive))


@pytest.mark.parametrize("name", EAGER)
def test_abstract_eval_agrees_with_the_eager_result(name):
    primitive = PRIMITIVES[name]
    operands, params = SAMPLES[name]
    with np.errstate(all="ignore"):
        result = primitive.impl(np, *operands, **params)
    avals = primitive.abstract_eval(*map(abstractify, operands), **params)
    results, avals = (result, avals) if primitive.multiple_results else ([result], [avals])
    assert len(results) == len(avals)
    for value, aval in zip(results, avals):
        assert (np.shape(value), np.asarray(value).dtype) == (aval.shape, aval.dtype), name


@pytest.mark.parametrize("name", EAGER)
def test_recorded_equation_evaluates_to_the_eager_result(name):
    primitive = PRIMITIVES[name]
    operands, params = SAMPLES[name]
    ir, _ = trace_to_ir(lambda *xs: _as_list(primitive, primitive.bind(*xs, **params)), operands)
    assert [e.primitive for e in ir.eqns] == [primitive]
    typecheck(ir)
    with np.errstate(all="ignore"):
        expected = _as_list(primitive, primitive.impl(np, *operands, **params))
        assert_same(eval_ir(ir, *operands), expected)


def _as_list(primitive, result):
    return list(result) if primitive.multiple_results else [result]
