"""Every primitive's batching rule, on its sample (tests/primitive_samples.py):
vmap with batch axes drawn at random (including None and negative axes)
equals stacking the results of a Python loop over the batch; nested vmap too."""

import numpy as np
import pytest
from fnp_harness import assert_same
from hypothesis import given, settings
from hypothesis import strategies as st
from primitive_samples import samples

import funcgrad as fg
from funcgrad.primitives import PRIMITIVES

SAMPLES = samples()
BATCH = 3
# Collectives only make sense inside a named vmap: tests/test_vmap.py checks them.
NAMED_AXIS = {name for name, p in PRIMITIVES.items() if getattr(p, "collective", False)}
# A primitive without operands (iota) is never batched: there is nothing to batch.
BATCHABLE = sorted(name for name in set(PRIMITIVES) - NAMED_AXIS if SAMPLES[name][0])


def _member(x, i):
    """The i-th batch member of a sample operand: floats move a little."""
    x = np.asarray(x)
    return x + 0.01 * i if x.dtype.kind == "f" else x


def _apply(name, operands):
    primitive = PRIMITIVES[name]
    params = SAMPLES[name][1]
    out = primitive.bind(*operands, **params)
    return list(out) if primitive.multiple_results else [out]


@pytest.mark.parametrize("name", BATCHABLE)
def test_every_primitive_has_a_batching_rule(name):
    assert PRIMITIVES[name].batch is not None, f"{name} has no batching rule"


@pytest.mark.parametrize("name", BATCHABLE)
@settings(max_examples=8)
@given(data=st.data())
def test_vmap_equals_a_loop(name, data):
    operands = SAMPLES[name][0]
    axes = []
    for x in operands:
        ndim = np.ndim(x)
        axes.append(data.draw(st.one_of(st.none(), st.integers(-ndim - 1, ndim)), label="axis"))
    if all(a is None for a in axes):
        axes[0] = 0
    batched = [x if a is None else np.stack([_member(x, i) for i in range(BATCH)], axis=a)
               for x, a in zip(operands, axes)]
    with np.errstate(all="ignore"):
        expected = [np.stack(outs) for outs in zip(*[
            _apply(name, [x if a is None else _member(x, i) for x, a in zip(operands, axes)])
            for i in range(BATCH)])]
        got = fg.vmap(lambda *xs: _apply(name, xs), in_axes=tuple(axes))(*batched)
    assert_same(got, expected, rtol=1e-10 if expected[0].dtype == np.float64 else None)


@pytest.mark.parametrize("name", ["mul", "reduce_sum", "dot_general", "gather", "transpose",
                                  "cumsum", "sort", "select", "concatenate"])
def test_nested_vmap_equals_nested_loops(name):
    operands = SAMPLES[name][0]
    floats = [np.asarray(x).dtype.kind == "f" for x in operands]

    def member(j, i):
        return [np.asarray(x) + 0.1 * j + 0.01 * i if f else x for x, f in zip(operands, floats)]

    batched = [np.stack([np.stack([member(j, i)[k] for i in range(2)]) for j in range(BATCH)])
               if f else x for k, (x, f) in enumerate(zip(operands, floats))]
    axes = tuple(0 if f else None for f in floats)
    got = fg.vmap(fg.vmap(lambda *xs: _apply(name, xs), in_axes=axes), in_axes=axes)(*batched)
    loops = [[_apply(name, member(j, i)) for i in range(2)] for j in range(BATCH)]
    for k, g in enumerate(got):
        expected = np.stack([np.stack([loops[j][i][k] for i in range(2)]) for j in range(BATCH)])
        np.testing.assert_allclose(g, expected, rtol=1e-10, atol=1e-12)
