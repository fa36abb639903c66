"""vmap of funcgrad.numpy reductions, cumulative ops and sorting (the batching
rules of reduce_*, argmax/argmin, cum*, sort), against a Python loop of
NumPy (fnp on concrete members calls NumPy itself):

- one-array functions with the batch axis anywhere (negative included),
  every ``axis`` form (None, ints, negative, tuples, keepdims) and ``out_axes``;
- several arrays batched at different axes or not at all (sort's operands
  are then moved to the front or broadcast);
- composition: ``vmap(grad(f))`` equals a loop of ``grad(f)``, ``grad`` of a
  function that uses ``vmap`` equals the stacked per-member gradients, and
  nested vmap equals nested loops;
- the rules keep the batch axis where it is (no transposes) and report where
  it ends up.
"""

import numpy as np
import pytest
from fnp_harness import assert_same
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.transforms.batch_dims import BatchContext
from funcgrad.transforms.batching import batch_eval

# Members of at least 2 dimensions, so that axis=0, 1 and -1 all exist.
MEMBER_SHAPES = hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=4)
DTYPES = [np.float64, np.float32, np.int32]

ONE_ARRAY = {
    "sum": fnp.sum,
    "sum_axis0": lambda x: fnp.sum(x, axis=0),
    "sum_axes": lambda x: fnp.sum(x, axis=(0, -1)),
    "sum_keepdims": lambda x: fnp.sum(x, axis=-1, keepdims=True),
    "prod_axis1": lambda x: fnp.prod(x, axis=1),
    "mean_axis1": lambda x: fnp.mean(x, axis=1),
    "var": fnp.var,
    "std_ddof": lambda x: fnp.std(x, axis=0, ddof=1),
    "max": fnp.max,
    "max_last": lambda x: fnp.max(x, axis=-1),
    "min_keepdims": lambda x: fnp.min(x, axis=0, keepdims=True),
    "all": lambda x: fnp.all(x > 1, axis=-1),
    "any": lambda x: fnp.any(x > 2, axis=(0, 1)),
    "argmax": fnp.argmax,
    "argmax_axis0": lambda x: fnp.argmax(x, axis=0),
    "argmin_last_keepdims": lambda x: fnp.argmin(x, axis=-1, keepdims=True),
    "cumsum": fnp.cumsum,
    "cumsum_last": lambda x: fnp.cumsum(x, axis=-1),
    "cumprod_axis0": lambda x: fnp.cumprod(x, axis=0),
    "sort": fnp.sort,
    "sort_axis0": lambda x: fnp.sort(x, axis=0),
    "sort_flat": lambda x: fnp.sort(x, axis=None),
    # kind="stable": NumPy's default argsort may order ties otherwise (fnp's is stable).
    "argsort": lambda x: fnp.argsort(x, kind="stable"),
    "argsort_axis0": lambda x: fnp.argsort(x, axis=0, kind="stable"),
    "median": fnp.median,
    "median_axis": lambda x: fnp.median(x, axis=-1, keepdims=True),
    "quantile": lambda x: fnp.quantile(x, [0.25, 0.8], axis=0),
    "quantile_nearest": lambda x: fnp.quantile(x, 0.3, axis=(0, 1), method="nearest"),
    "percentile": lambda x: fnp.percentile(x, 40.0, axis=1),
}


def _members(data, shape, dtype):
    """Small integer values (as ``dtype``): many ties, to check tie-breaking."""
    return data.draw(hnp.arrays(dtype, shape, elements=st.integers(0, 4)), label="x")


def _loop(fn, batched, in_axes):
    """Stack ``fn`` applied to each member (NumPy through fnp's eager path)."""
    size = next(np.shape(x)[a] for x, a in zip(batched, in_axes) if a is not None)
    with np.errstate(all="ignore"):
        outs = [fn(*[x if a is None else np.take(x, i, axis=a) for x, a in zip(batched, in_axes)])
                for i in range(size)]
    return np.stack(outs)


def _vmap(fn, batched, in_axes, out_axes=0):
    with np.errstate(all="ignore"):
        return fg.vmap(fn, in_axes=in_axes, out_axes=out_axes)(*batched)


@pytest.mark.filterwarnings("ignore:Degrees of freedom:RuntimeWarning")
@pytest.mark.parametrize("name", ONE_ARRAY)
@given(data=st.data(), member=MEMBER_SHAPES, size=st.integers(1, 3),
       dtype=st.sampled_from(DTYPES))
def test_one_array_vmap_equals_a_loop(name, data, member, size, dtype):
    fn = ONE_ARRAY[name]
    ndim = len(member)
    axis = data.draw(st.integers(-ndim - 1, ndim), label="in_axis")
    x = _members(data, member[:axis % (ndim + 1)] + (size,) + member[axis % (ndim + 1):], dtype)
    expected = _loop(fn, [x], (axis,))
    out_axis = data.draw(st.integers(-expected.ndim, expected.ndim - 1), label="out_axis")
    assert_same(_vmap(fn, [x], (axis,), out_axis), np.moveaxis(expected, 0, out_axis))


@pytest.mark.parametrize("fn", [fnp.sum, fnp.max, fnp.cumsum, fnp.median, fnp.argmin],
                         ids=["sum", "max", "cumsum", "median", "argmin"])
def test_scalar_members(fn):
    x = np.array([3.0, -1.0, 2.0])
    assert_same(_vmap(fn, [x], (0,)), _loop(fn, [x], (0,)))


MULTI_ARRAY = {
    "weighted_sum": lambda x, w: fnp.sum(x * w, axis=-1),
    "lexsort": lambda a, b: fnp.lexsort((a, b), axis=0),
    "lexsort_3": lambda a, b: fnp.lexsort((b, a, b), axis=-1),
    "median_of_difference": lambda a, b: fnp.median(a - b, axis=1),
}


@pytest.mark.parametrize("name", MULTI_ARRAY)
@given(data=st.data(), member=MEMBER_SHAPES, size=st.integers(1, 3))
def test_several_arrays_batched_at_different_axes(name, data, member, size):
    fn = MULTI_ARRAY[name]
    ndim = len(member)
    in_axes = tuple(data.draw(st.lists(st.one_of(st.none(), st.integers(-ndim - 1, ndim)),
                                       min_size=2, max_size=2), label="in_axes"))
    if in_axes == (None, None):
        in_axes = (None, -1)
    batched = []
    for a in in_axes:
        at = a % (ndim + 1) if a is not None else None
        shape = member if a is None else member[:at] + (size,) + member[at:]
        batched.append(_members(data, shape, np.float64))
    assert_same(_vmap(fn, batched, in_axes), _loop(fn, batched, in_axes))


# ---------------------------------------------------------------- composition


def _loss(w, x):
    """Uses every kind of reduction: sum, mean, max, var, cumsum, sort, median."""
    y = fnp.tanh(x * w)
    ordered = fnp.sort(y, axis=0)
    return (fnp.sum(ordered * fnp.arange(1.0, 1.0 + y.shape[0])[:, None])
            + fnp.max(y, axis=-1).mean() + fnp.var(y) + fnp.cumsum(y, axis=1)[:, -1].sum()
            + fnp.median(y) * fnp.prod(fnp.cos(y), axis=0).sum())


@given(seed=st.integers(0, 2**16), member=MEMBER_SHAPES.filter(lambda s: len(s) == 2),
       size=st.integers(1, 3), x_axis=st.sampled_from([0, 1, -1]))
def test_vmap_of_grad_equals_a_loop_of_grads(seed, member, size, x_axis):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=member)
    xs = np.moveaxis(rng.normal(size=(size, *member)), 0, x_axis)
    for argnums, in_axes in [(0, (None, x_axis)), (1, (None, x_axis))]:
        grad = fg.grad(_loss, argnums=argnums)
        got = fg.vmap(grad, in_axes=in_axes)(w, xs)
        np.testing.assert_allclose(got, _loop(grad, [w, xs], in_axes), rtol=1e-10, atol=1e-12)


@given(seed=st.integers(0, 2**16), member=MEMBER_SHAPES.filter(lambda s: len(s) == 2),
       size=st.integers(1, 3), x_axis=st.sampled_from([0, 2, -2]))
def test_grad_of_a_function_using_vmap(seed, member, size, x_axis):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=member)
    xs = np.moveaxis(rng.normal(size=(size, *member)), 0, x_axis)

    def total(w, xs):
        return fnp.sum(fg.vmap(_loss, in_axes=(None, x_axis))(w, xs))

    grad_w, grad_xs = fg.grad(total, argnums=(0, 1))(w, xs)
    per_member = [fg.grad(_loss, argnums=(0, 1))(w, np.take(xs, i, axis=x_axis))
                  for i in range(size)]
    np.testing.assert_allclose(grad_w, sum(g for g, _ in per_member), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_xs, np.stack([g for _, g in per_member], axis=x_axis),
                               rtol=1e-10, atol=1e-12)


def test_nested_vmap_of_reductions_equals_nested_loops():
    x = np.random.default_rng(0).integers(0, 4, (2, 4, 3, 5)).astype(np.float64)

    def f(m):
        return fnp.sort(m, axis=0)[0] + fnp.argmax(m, axis=0) + fnp.median(m) + fnp.cumsum(m)[-1]

    got = fg.vmap(fg.vmap(f, in_axes=1), in_axes=2)(x)
    expected = np.stack([np.stack([f(x[:, i, j]) for i in range(4)]) for j in range(3)])
    assert_same(got, expected)


def test_the_batch_axis_stays_where_it_is():
    def f(m):
        return fnp.sort(fnp.cumsum(m, axis=-1), axis=0), fnp.argmax(m, axis=0), fnp.sum(m, axis=1)

    member = fg.make_ir(f)(np.ones((3, 5)))
    ctx, dims = BatchContext(4), {}

    def batched(x):  # batched along axis 1
        outs, dims["out"] = batch_eval(member, [x], [1], ctx)
        return outs

    ir = fg.make_ir(batched)(np.ones((3, 4, 5)))
    assert "transpose" not in {eqn.primitive.name for eqn in ir.eqns}, ir
    # argmax over axis 0 moves the batch axis to 0; summing axis 1 (after it) does not.
    assert dims["out"] == [1, 0, 1]
