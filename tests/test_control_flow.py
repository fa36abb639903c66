"""Control flow: cond, switch, while_loop, fori_loop, scan and map, each eager
and traced (make_ir + eval_ir) against a plain Python loop; closures over
outer values and tracers; nested loops; the primitives' abstract evaluation;
and every bad input with its message."""

import collections
import dataclasses

import numpy as np
import pytest
from fnp_harness import arrays, assert_same, shapes
from hypothesis import given
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp
import funcgrad.primitives.control_flow as prims
from funcgrad.control_flow import cond, fori_loop, scan, switch, while_loop
from funcgrad.control_flow import map as cf_map
from funcgrad.errors import DtypeError, ShapeError, StructureError
from funcgrad.ir import AbstractArray
from funcgrad.trace import eval_ir, trace_pytree, trace_to_ir
from funcgrad.tree import tree_leaves, tree_unflatten

F32, F64, I32, I64 = (np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64))


def check(fn, reference, *args):
    """``fn(*args)`` eager and traced (every leaf of ``args`` an IR input, Python
    scalars weak) equals ``reference(*args)``: structure, shape, dtype, value."""
    expected = reference(*args)
    assert_same(fn(*args), expected, where="eager")
    ir, captured, _, out_tree = trace_pytree(fn, args)
    assert not captured
    assert_same(tree_unflatten(out_tree, eval_ir(ir, *tree_leaves(args))), expected, where="traced")


def primitive_names(ir):
    return [eqn.primitive.name for eqn in ir.eqns]


def error_message(error_type, fn, *args):
    """The message of the error ``fn(*args)`` raises, traced; it names this file's line."""
    with pytest.raises(error_type) as info:
        fg.make_ir(fn)(*args)
    message = str(info.value)
    assert "test_control_flow.py" in message, message
    return message


# ---------------------------------------------------------------- cond and switch


def py_cond(pred, true_fun, false_fun, *operands):
    return true_fun(*operands) if pred else false_fun(*operands)


@pytest.mark.parametrize("pred", [True, False, np.bool_(True), 0, 3, -2, np.int32(0), np.uint8(1)])
def test_cond_picks_the_branch(pred):
    def branches(use_cond):
        def f(p, x, y):
            return use_cond(p, lambda a, b: {"s": a + b, "d": a * 2.0},
                            lambda a, b: {"s": a - b, "d": a}, x, y)
        return f

    x, y = np.arange(3, dtype=np.float32), np.float32(0.5)
    check(branches(cond), branches(py_cond), pred, x, y)


def test_cond_weak_branch_output_takes_the_other_branch_dtype():
    f = lambda p, x: cond(p, lambda x: x * x, lambda x: 0.0, x)  # noqa: E731
    check(f, lambda p, x: x * x if p else np.float32(0.0), False, np.float32(3.0))
    check(f, lambda p, x: x * x if p else np.float32(0.0), True, np.float32(3.0))
    ir = fg.make_ir(f)(True, np.float32(3.0))
    assert ir.out_avals == [AbstractArray((), F32)]
    # Two weak branches join as NumPy joins Python scalars: int and float give float, still weak.
    ir = fg.make_ir(lambda p: cond(p, lambda: 1, lambda: 2.5))(True)
    assert ir.out_avals == [AbstractArray((), F64, True)]


def test_cond_with_no_operands_and_closures_over_tracers():
    def f(p, x, w):
        return cond(p, lambda: x * w, lambda: x + 1.0)

    check(f, lambda p, x, w: x * w if p else x + 1.0, True, np.ones(2), np.full(2, 3.0))
    check(f, lambda p, x, w: x * w if p else x + 1.0, False, np.ones(2), np.full(2, 3.0))
    ir = fg.make_ir(f)(True, np.ones(2), np.ones(2))
    (eqn,) = [e for e in ir.eqns if e.primitive.name == "cond"]
    # x is captured by both branches but passed once; each branch takes all the consts.
    assert len(eqn.inputs) == 1 + 2
    assert all(len(branch.inputs) == 2 for branch in eqn.params["branches"])


@pytest.mark.parametrize("index", [-3, 0, 1, 2, 9, np.int32(1), np.uint8(200)])
def test_switch_clamps_the_index(index):
    funs = [lambda x: x + 1, lambda x: x * x, lambda x: -x]

    def reference(i, x):
        return funs[min(max(int(i), 0), 2)](x)

    check(lambda i, x: switch(i, funs, x), reference, index, np.arange(4.0))


def test_cond_eager_on_concrete_values_returns_arrays():
    assert_same(cond(True, lambda x: x + 1, lambda x: x - 1, 1), np.int64(2))
    assert_same(switch(1, [lambda: 1.0, lambda: np.float32(2.0)]), np.float32(2.0))


# ---------------------------------------------------------------- while_loop and fori_loop


def py_while(cond_fun, body_fun, value):
    while cond_fun(value):
        value = body_fun(value)
    return value


def test_while_loop_over_a_pytree_carry():
    def make(loop):
        def f(x, limit):
            return loop(lambda c: c["total"] < limit,
                        lambda c: {"total": c["total"] + c["step"], "step": c["step"] * x},
                        {"total": np.float32(0.0), "step": np.float32(1.0)})
        return f

    check(make(while_loop), make(py_while), np.float32(2.0), np.float32(100.0))
    check(make(while_loop), make(py_while), np.float32(2.0), np.float32(-1.0))  # no iteration


def py_fori(lower, upper, body_fun, value):
    index_type = type(lower + upper)  # the bounds' type: a Python int for Python ints
    for i in range(int(lower), int(upper)):
        value = body_fun(index_type(i), value)
    return value


def fori_polynomial(loop):
    def f(x, lower, upper):
        return loop(lower, upper, lambda i, acc: (acc[0] * x + 1.0, acc[1] + i * i),
                    (np.float32(0.0), 0))
    return f


@pytest.mark.parametrize("lower,upper", [(0, 5), (2, 6), (3, 3), (5, 2), (np.int32(1), np.int32(4))])
def test_fori_loop_with_known_bounds_is_a_scan(lower, upper):
    f = fori_polynomial(fori_loop)
    assert_same(f(np.float32(1.5), lower, upper), fori_polynomial(py_fori)(np.float32(1.5), lower, upper))
    ir = fg.make_ir(f, static_argnums=(1, 2))(np.float32(1.5), lower, upper)
    assert primitive_names(ir) == ["scan"]
    assert ir.eqns[0].params["length"] == max(int(upper) - int(lower), 0)


@pytest.mark.parametrize("lower,upper", [(0, 5), (5, 2), (np.int32(1), np.int32(4)), (1, np.int32(4))])
def test_fori_loop_with_traced_bounds_is_a_while_loop(lower, upper):
    check(fori_polynomial(fori_loop), fori_polynomial(py_fori), np.float32(1.5), lower, upper)
    ir = fg.make_ir(fori_polynomial(fori_loop))(np.float32(1.5), lower, upper)
    assert "while_loop" in primitive_names(ir)


def test_fori_loop_index_has_the_bounds_dtype():
    seen = []
    fori_loop(np.int32(0), 2, lambda i, x: seen.append(i.aval) or x, 0.0)
    fori_loop(0, 2, lambda i, x: seen.append(i.aval) or x, 0.0)
    assert seen == [AbstractArray((), I32), AbstractArray((), I64, True)]


# ---------------------------------------------------------------- scan and map


def py_scan(f, init, xs=None, length=None, reverse=False):
    n = length if xs is None else len(tree_leaves(xs)[0])
    carry, ys = init, [None] * n
    for i in reversed(range(n)) if reverse else range(n):
        x = None if xs is None else tree_unflatten(fg.tree_structure(xs), [a[i] for a in tree_leaves(xs)])
        carry, ys[i] = f(carry, x)
    return carry, fg.tree_map(lambda *y: np.stack(y), *ys)


def running_stats(carry, x):
    new = {"sum": carry["sum"] + x["a"], "max": fnp.maximum(carry["max"], x["b"])}
    return new, (new["sum"] * x["b"], carry["max"])


@pytest.mark.parametrize("reverse", [False, True])
@given(data=st.data())
def test_scan_over_pytrees_matches_a_python_loop(reverse, data):
    n = data.draw(st.integers(1, 5))
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    shape = data.draw(shapes(max_dims=2))
    xs = {"a": data.draw(arrays(dtype, (n, *shape))), "b": data.draw(arrays(dtype, (n, *shape)))}
    init = {"sum": np.zeros(shape, dtype), "max": np.full(shape, -np.inf, dtype)}
    check(lambda init, xs: scan(running_stats, init, xs, reverse=reverse),
          lambda init, xs: py_scan(running_stats, init, xs, reverse=reverse), init, xs)


def test_scan_without_xs_and_with_empty_xs():
    fib = lambda c, _: ((c[1], c[0] + c[1]), c[0])  # noqa: E731
    check(lambda init: scan(fib, init, length=8), lambda init: py_scan(fib, init, length=8), (0, 1))
    carry, ys = scan(lambda c, x: (c + x, x * 2), np.float32(1), np.zeros((0, 3), np.float32)[:, 0])
    assert_same((carry, ys), (np.float32(1), np.zeros(0, np.float32)))
    carry, ys = scan(lambda c, x: (c, (x, x > 0)), 0, np.zeros((0, 2)))
    assert ys[0].shape == (0, 2) and ys[1].dtype == np.bool_


def test_scan_unroll_is_a_recorded_hint():
    ir = fg.make_ir(lambda xs: scan(lambda c, x: (c + x, c), 0.0, xs, unroll=True))(np.ones(4))
    assert ir.eqns[0].params["unroll"] == 4
    assert_same(scan(lambda c, x: (c + x, c), 0.0, np.ones(4), unroll=3)[1], np.arange(4.0))


def test_map():
    f = lambda x: {"sq": x["v"] * x["v"], "neg": -x["w"]}  # noqa: E731
    xs = {"v": np.arange(6.0).reshape(3, 2), "w": np.arange(3, dtype=np.int32)}
    check(lambda xs: cf_map(f, xs), lambda xs: {"sq": xs["v"] ** 2, "neg": -xs["w"]}, xs)


def test_scan_ir_prints_its_body():
    ir = fg.make_ir(lambda w, xs: scan(lambda c, x: (c * w + x, fnp.sin(c)), 0.0, xs))(
        np.float32(0.5), np.ones(3, np.float32))
    assert str(ir) == (
        "{ lambda a:f32[] b:f32[3] .\n"
        "  c:f32[] d:f32[3] = scan[length=3 num_carry=1 num_consts=1 reverse=False unroll=1] a 0.0:f32[] b\n"
        "      body=\n"
        "        { lambda e:f32[] f:f32[] g:f32[] .\n"
        "          h:f32[] = mul f e\n"
        "          i:f32[] = add h g\n"
        "          j:f32[] = sin f\n"
        "          in (i j) }\n"
        "  in (c d) }")


# ---------------------------------------------------------------- weak carries


def test_weak_initial_carry_is_promoted_to_what_the_body_returns():
    # 0.0 is weak; the body makes it float32: the carry runs in float32, as in JAX.
    ir = fg.make_ir(lambda x: fori_loop(0, 3, lambda i, c: c + x, 0.0))(np.float32(1.0))
    assert ir.out_avals == [AbstractArray((), F32)]
    assert_same(fori_loop(0, 3, lambda i, c: c + np.float32(1.0), 0.0), np.float32(3.0))
    # A weak int carry meeting a weak float becomes a weak float.
    assert_same(scan(lambda c, x: (c + 0.5, c), 0, None, length=2)[1], np.array([0.0, 0.5]))


def test_weak_body_value_takes_the_carry_dtype():
    ir = fg.make_ir(lambda x: while_loop(lambda c: c < 10, lambda c: c + 1, x))(np.int32(0))
    assert ir.out_avals == [AbstractArray((), I32)]
    assert_same(scan(lambda c, x: (0.0, c), np.float32(1.0), None, length=2)[1],
                np.array([1.0, 0.0], np.float32))


# ---------------------------------------------------------------- nesting and closures


def nested(loop_scan, loop_fori, cond_fn):
    def f(m, v):
        def row(carry, r):
            inner = loop_fori(0, 3, lambda i, acc: acc + r * v[0] * i, carry)
            y = cond_fn(inner[0] > 10.0, lambda: inner - 10.0, lambda: inner * 2.0)
            return inner, y
        return loop_scan(row, np.zeros(2), m)
    return f


def test_nested_loops_and_conds():
    m, v = np.arange(6.0).reshape(3, 2), np.array([0.5, 2.0])
    check(nested(scan, fori_loop, cond), nested(py_scan, py_fori, py_cond), m, v)
    ir = fg.make_ir(nested(scan, fori_loop, cond))(m, v)
    body = ir.eqns[0].params["body"]
    assert primitive_names(ir) == ["scan"] and "scan" in primitive_names(body)


def test_body_closing_over_a_tracer_two_traces_out():
    def f(w, xs):
        def outer(c, x):
            # w belongs to make_ir's trace: captured by the inner body, then by the outer one.
            inner = lambda d, y: (d + y * w, d)  # noqa: E731
            return scan(inner, c, x)[0], c
        return scan(outer, 0.0, xs)

    def reference(w, xs):
        return py_scan(lambda c, x: (py_scan(lambda d, y: (d + y * w, d), c, x)[0], c), 0.0, xs)

    check(f, reference, 2.0, np.arange(6.0).reshape(2, 3))
    ir = fg.make_ir(f)(2.0, np.ones((2, 3)))
    assert ir.eqns[0].params["num_consts"] == 1
    assert ir.eqns[0].inputs[0] is ir.inputs[0]


def test_body_closing_over_arrays_inlines_them():
    table = np.arange(4.0)
    ir = fg.make_ir(lambda x: fori_loop(0, 2, lambda i, c: c + table * x, np.zeros(4)))(1.0)
    assert ir.eqns[0].params["num_consts"] == 1  # x; the table is a literal of the body
    assert "const<f64[4]>" in str(ir)


def test_while_loop_under_a_concrete_trace_can_be_inspected():
    # The eager implementation also serves a concrete trace's bool()/float().
    def f(x):
        y = while_loop(lambda c: c < 50.0, lambda c: c * x, 1.0)
        return y + 1.0 if y > 60.0 else y

    ir, _ = trace_to_ir(lambda x: [f(x)], [np.float64(3.0)], concrete=True)
    assert eval_ir(ir, np.float64(3.0)) == [np.float64(82.0)]


# ---------------------------------------------------------------- primitives


def test_scan_primitive_abstract_eval():
    body, _ = trace_to_ir(lambda k, c, x: [c + x * k, x.astype(np.int32)],
                          [np.float32(1), np.zeros(2, np.float32), np.zeros(2, np.float32)])
    avals = [AbstractArray((), F32), AbstractArray((2,), F32), AbstractArray((5, 2), F32)]
    params = dict(body=body, num_consts=1, num_carry=1, length=5, reverse=False, unroll=1)
    assert prims.scan.abstract_eval(*avals, **params) == [
        AbstractArray((2,), F32), AbstractArray((5, 2), I32)]
    with pytest.raises(ShapeError, match=r"scan: xs 0 is f32\[5,2\].*length 4"):
        prims.scan.abstract_eval(*avals, **{**params, "length": 4})
    with pytest.raises(DtypeError, match=r"scan: body input 1 is f32\[2\] where f32\[2\]~"):
        prims.scan.abstract_eval(avals[0], AbstractArray((2,), F32, True), avals[2], **params)
    bad_carry, _ = trace_to_ir(lambda c, x: [c.astype(np.float64), x], [np.float32(1), np.float32(1)])
    with pytest.raises(DtypeError, match="scan: carry output 0 is f64"):
        prims.scan.abstract_eval(AbstractArray((), F32), AbstractArray((3,), F32), body=bad_carry,
                                 num_consts=0, num_carry=1, length=3, reverse=False, unroll=1)


def test_cond_primitive_abstract_eval():
    one, _ = trace_to_ir(lambda x: [x + 1], [np.float32(1)])
    wide, _ = trace_to_ir(lambda x: [x.astype(np.float64)], [np.float32(1)])
    f32 = AbstractArray((), F32)
    assert prims.cond.abstract_eval(AbstractArray((), I32), f32, branches=(one, one)) == [f32]
    with pytest.raises(DtypeError, match="cond: the branch index must be an int32 scalar"):
        prims.cond.abstract_eval(AbstractArray((), I64), f32, branches=(one, one))
    with pytest.raises(DtypeError, match="cond: branch 1 output 0 is f64"):
        prims.cond.abstract_eval(AbstractArray((), I32), f32, branches=(one, wide))
    with pytest.raises(ShapeError, match=r"cond: branch 0 input 0 is f32\[\] where f32\[2\]"):
        prims.cond.abstract_eval(AbstractArray((), I32), AbstractArray((2,), F32), branches=(one,))


def test_while_loop_primitive_abstract_eval_and_impl():
    below, _ = trace_to_ir(lambda c: [c < 10], [np.int64(0)])
    double, _ = trace_to_ir(lambda c: [c * 2], [np.int64(0)])
    params = dict(cond_ir=below, body_ir=double, cond_nconsts=0, body_nconsts=0)
    i64 = AbstractArray((), I64)
    assert prims.while_loop.abstract_eval(i64, **params) == [i64]
    assert prims.while_loop.impl(np, np.int64(1), **params) == (16,)
    with pytest.raises(DtypeError, match="while_loop: cond_ir must return one boolean scalar"):
        prims.while_loop.abstract_eval(i64, **{**params, "cond_ir": double})
    with pytest.raises(DtypeError, match=r"while_loop: cond_ir input 0 is i64\[\] where i32"):
        prims.while_loop.abstract_eval(AbstractArray((), I32), **params)


# ---------------------------------------------------------------- bad input


def test_carry_dtype_change_names_the_leaf_and_both_types():
    message = error_message(
        DtypeError, lambda x: scan(lambda c, x: ({"n": c["n"], "s": c["s"] * x}, None),
                                   {"n": 0, "s": np.float32(0)}, x), np.ones(3))
    assert "carry['s']: the initial value is f32[], the body returns f64[]" in message
    assert "x.astype(init.dtype)" in message


def test_carry_shape_change():
    message = error_message(ShapeError, lambda x: while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, x),
                                                             (np.int32(0), np.ones(2))), np.ones(3))
    assert "while_loop: the carry must keep its shape and dtype" in message
    assert "carry[1]: the initial value is f64[2], the body returns f64[3]" in message


def test_strong_carry_meeting_a_weak_value_it_cannot_take():
    # A weak complex cannot become float32 (NumPy would not cast it either).
    message = error_message(DtypeError, lambda x: fori_loop(0, 2, lambda i, c: 1j, x),
                            np.float32(1))
    assert "init_val: the initial value is f32[], the body returns c128[]~" in message


def test_weak_carry_that_cannot_be_promoted():
    message = error_message(ShapeError, lambda x: fori_loop(0, 2, lambda i, c: c * x, 0.0), np.ones(2))
    assert "init_val: the initial value is f64[]~, the body returns f64[2]" in message


def test_carry_structure_change():
    message = error_message(StructureError, lambda x: scan(lambda c, x: ((c, c), x), x[0], x), np.ones(2))
    assert "scan: the carry the body returns must have the structure" in message and "(*, *)" in message
    message = error_message(StructureError, lambda x: fori_loop(0, 2, lambda i, c: [c], x), np.ones(2))
    assert "fori_loop: the value body_fun returns" in message
    message = error_message(StructureError, lambda x: scan(lambda c, x: c, x[0], x), np.ones(2))
    assert "must return a pair (new_carry, y)" in message


@pytest.mark.parametrize("false_fun,error,expected", [
    (lambda x: x.astype(np.float64), DtypeError, "output is f32[3] in true_fun and f64[3] in false_fun"),
    (lambda x: x[:2], ShapeError, "output is f32[3] in true_fun and f32[2] in false_fun"),
    (lambda x: (x, x), StructureError, "true_fun returns * and false_fun returns (*, *)"),
])
def test_branches_that_differ(false_fun, error, expected):
    message = error_message(error, lambda x: cond(x[0] > 0, lambda x: x, false_fun, x),
                            np.ones(3, np.float32))
    assert expected in message


def test_switch_branches_that_differ_are_named():
    message = error_message(DtypeError, lambda i, x: switch(i, [lambda: x, lambda: x, lambda: 1j]), 0,
                            np.ones((), np.float32))
    assert "output is c128[]~ in branches[2] and f32[] in branches[0]" in message


@pytest.mark.parametrize("pred,error,expected", [
    (np.ones(2, bool), ShapeError, "cond: the predicate must be a scalar, got bool[2]"),
    (np.float32(1), DtypeError, "cond: the predicate must be a boolean or integer scalar, got f32[]"),
    (1.0, DtypeError, "got f64[]~"),
])
def test_bad_predicate(pred, error, expected):
    message = error_message(error, lambda p: cond(p, lambda: 1, lambda: 2), pred)
    assert expected in message


def test_bad_switch_index_and_bounds():
    assert "switch: the index must be an integer scalar, got bool[]" in error_message(
        DtypeError, lambda i: switch(i, [lambda: 1]), True)
    assert "fori_loop: the upper bound must be an integer scalar, got f64[]~" in error_message(
        DtypeError, lambda x: fori_loop(0, 2.0, lambda i, c: c, x), 1.0)


def test_cond_fun_must_return_a_boolean_scalar():
    assert "while_loop: cond_fun must return a boolean scalar, got f64[]" in error_message(
        DtypeError, lambda x: while_loop(lambda c: c, lambda c: c, x), 1.0)
    assert "got bool[2]" in error_message(
        ShapeError, lambda x: while_loop(lambda c: c > 0, lambda c: c, x), np.ones(2))


def test_scan_lengths():
    xs = {"a": np.ones(3), "b": np.ones((4, 2))}
    message = error_message(ShapeError, lambda xs: scan(lambda c, x: (c, x), 0, xs), xs)
    assert "different leading axis sizes: xs['a'] has 3, xs['b'] has 4" in message
    message = error_message(ShapeError, lambda x: scan(lambda c, x: (c, x), 0, x, length=5), np.ones(3))
    assert "length=5 disagrees with the leading axis sizes of xs: xs has 3" in message
    message = error_message(ShapeError, lambda x: scan(lambda c, x: (c, x), x), 1.0)
    assert "no xs to scan over" in message and "length=n" in message
    message = error_message(ShapeError, lambda x: scan(lambda c, x: (c, x), 0, [x, x[0]]), np.ones(3))
    assert "xs[1] is a scalar f64[]" in message


def test_non_array_leaves_are_named():
    with pytest.raises(DtypeError, match=r"scan: carry\[1\] is a str, not an array"):
        scan(lambda c, x: (c, x), (1, "a"), np.ones(2))


def test_namedtuple_and_dataclass_paths():
    State = collections.namedtuple("State", "count value")
    message = error_message(DtypeError, lambda x: while_loop(
        lambda s: s.count < 2, lambda s: State(s.count + 1, s.value.astype(np.int32)),
        State(np.int32(0), x)),
        np.float32(1))
    assert "carry.value: the initial value is f32[], the body returns i32[]" in message

    @dataclasses.dataclass
    class Params:
        w: object
        b: object

    message = error_message(ShapeError, lambda x: scan(
        lambda p, x: (Params(p.w, [p.b[0], p.w]), None), Params(x, [x[0], x[0]]), x), np.ones(2))
    assert "carry.b[1]: the initial value is f64[], the body returns f64[2]" in message
