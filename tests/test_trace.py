"""The IR and tracing: printing, make_ir over pytrees, eval_ir (compute and
re-record), closure capture across nested traces, concrete values."""

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.errors import ConcretizationError, EscapedTracerError
from funcgrad.ir import AbstractArray, Literal
from funcgrad.trace import Tracer, eval_ir, trace_pytree, trace_to_ir


def test_ir_prints_one_equation_per_line():
    ir = fg.make_ir(lambda x, y: fnp.exp(x) * y)(np.ones(2, np.float32), np.ones(2, np.float32))
    assert str(ir) == (
        "{ lambda a:f32[2] b:f32[2] .\n"
        "  c:f32[2] = exp a\n"
        "  d:f32[2] = mul c b\n"
        "  in (d) }")


def test_make_ir_takes_and_returns_pytrees():
    params = {"w": np.ones((3, 2)), "b": np.zeros(2)}
    ir = fg.make_ir(lambda p, x: {"out": x @ p["w"] + p["b"], "x": x})(params, np.ones(3))
    # Leaves in pytree order: dict keys sorted, so b before w.
    assert [v.aval.shape for v in ir.inputs] == [(2,), (3, 2), (3,)]
    assert [a.aval.shape for a in ir.outputs] == [(2,), (3,)]


def test_make_ir_static_argnums_bakes_values_in():
    ir = fg.make_ir(lambda x, n: x * n, static_argnums=1)(np.ones(2), 3)
    assert len(ir.inputs) == 1
    (out,) = eval_ir(ir, np.ones(2))
    np.testing.assert_array_equal(out, [3.0, 3.0])


def test_python_scalar_arguments_are_weak():
    ir = fg.make_ir(lambda x: x)(2.0)
    assert ir.in_avals == [AbstractArray((), np.dtype(np.float64), True)]


def test_eval_ir_computes_on_arrays():
    f = lambda x: fnp.sin(x) ** 2 + fnp.cos(x) ** 2  # noqa: E731
    x = np.linspace(0, 3, 5)
    ir = fg.make_ir(f)(x)
    np.testing.assert_allclose(eval_ir(ir, x)[0], np.ones(5))


def test_eval_ir_under_a_trace_re_records():
    inner = fg.make_ir(lambda x: fnp.exp(x) + 1.0)(np.ones(2))
    outer = fg.make_ir(lambda x: eval_ir(inner, x * 2.0)[0])(np.ones(2))
    names = [e.primitive.name for e in outer.eqns]
    assert names.count("exp") == 1 and names.count("add") == 1
    # Weak literals keep their type when re-recorded.
    assert str(outer).count("1.0:f64[]~") == 1


def test_literal_output_and_constant_arrays():
    w = np.arange(3.0)
    ir = fg.make_ir(lambda x: (x * w, w))(np.ones(3))
    assert isinstance(ir.outputs[1], Literal)
    out, const = eval_ir(ir, np.ones(3))
    np.testing.assert_array_equal(out, w)
    np.testing.assert_array_equal(const, w)


def test_closure_capture_of_outer_tracers():
    def outer(x):
        def inner(y):
            return [y * x]  # x belongs to the outer trace
        ir, captured = trace_to_ir(inner, [AbstractArray((2,), np.dtype(np.float64))])
        assert len(captured) == 1 and captured[0] is x
        assert len(ir.inputs) == 2  # explicit input, then the captured one
        return eval_ir(ir, x + 1.0, *captured)[0]

    ir = fg.make_ir(outer)(np.ones(2))
    np.testing.assert_array_equal(eval_ir(ir, np.array([2.0, 3.0]))[0], [6.0, 12.0])


def test_capture_through_two_levels():
    def level1(x):
        def level2(y):
            def level3(z):
                return [z + x]  # skips the middle trace
            ir3, cap3 = trace_to_ir(level3, [y])
            return eval_ir(ir3, y, *cap3)
        ir2, cap2 = trace_to_ir(level2, [x * 10.0])
        return eval_ir(ir2, x * 10.0, *cap2)[0]

    ir = fg.make_ir(level1)(np.ones(1))
    np.testing.assert_array_equal(eval_ir(ir, np.array([2.0]))[0], [22.0])


def test_concrete_trace_answers_python_control_flow():
    def f(x):
        y = fnp.sin(x)
        if y.sum() > 0:  # Python control flow on traced values
            y = y * float(x.max())
        return y[int(fnp.argmax(x))]

    x = np.array([0.5, 2.0, 1.0])
    ir, *_ = trace_pytree(f, (x,), concrete=True)
    np.testing.assert_allclose(eval_ir(ir, x)[0], np.sin(2.0) * 2.0)


def test_concrete_values_are_memoized(monkeypatch):
    from funcgrad.primitives import PRIMITIVES

    exp = PRIMITIVES["exp"]
    calls = []
    impl = exp.impl
    monkeypatch.setattr(exp, "impl", lambda xp, x: calls.append(1) or impl(xp, x))

    def f(x):
        y = fnp.exp(x)
        for _ in range(3):
            assert bool(y > 0) and float(y) > 1
        return y

    trace_pytree(f, (np.array(1.0),), concrete=True)
    assert len(calls) == 1


def test_concrete_value_of_inner_trace_reads_the_outer_one():
    def outer(x):
        def inner(y):
            return [y * 2.0 if float(y) > 0 else y]
        ir, captured = trace_to_ir(inner, [x + 1.0])
        return eval_ir(ir, x + 1.0, *captured)[0]

    ir, *_ = trace_pytree(outer, (np.array(1.0),), concrete=True)
    assert [e.primitive.name for e in ir.eqns].count("mul") == 1


def test_abstract_trace_refuses_bool_with_users_line():
    def f(x):
        if x > 0:  # the line the error must name
            return x
        return -x

    with pytest.raises(ConcretizationError) as info:
        fg.make_ir(f)(np.array(1.0))
    message = str(info.value)
    assert "bool()" in message and "fnp.where" in message and "fg.cond" in message
    assert "test_trace.py" in message and "if x > 0:" in message


@pytest.mark.parametrize("convert", [int, float, lambda t: t.item(), range])
def test_abstract_trace_refuses_other_conversions(convert):
    with pytest.raises(ConcretizationError):
        fg.make_ir(lambda x: convert(x))(np.array(3))


def test_escaped_tracer_is_an_error():
    leaked = []
    fg.make_ir(lambda x: leaked.append(x) or x)(np.ones(2))
    with pytest.raises(EscapedTracerError, match="leaked"):
        fnp.sin(leaked[0])
    with pytest.raises(EscapedTracerError):
        fg.make_ir(lambda y: y + leaked[0])(np.ones(2))


def test_tracer_looks_like_an_array():
    seen = {}

    def f(x):
        seen.update(shape=x.shape, dtype=x.dtype, ndim=x.ndim, size=x.size, length=len(x))
        assert isinstance(x, Tracer)
        return x

    fg.make_ir(f)(np.ones((4, 2), np.float32))
    assert seen == dict(shape=(4, 2), dtype=np.float32, ndim=2, size=8, length=4)


def test_nested_sub_ir_printing():
    from funcgrad.ir import IR, Eqn, Var
    from funcgrad.primitives.registry import Primitive

    body = fg.make_ir(lambda x: fnp.exp(x))(np.ones(2))
    call = Primitive("call_for_printing_test", lambda *a, **k: a[0], lambda xp, *a, **k: a[0])
    try:
        x, y = Var(body.in_avals[0]), Var(body.in_avals[0])
        ir = IR([x], [Eqn(call, [x], [y], {"body": body, "n": 2})], [y])
        text = str(ir)
        assert "call_for_printing_test[n=2] a" in text and "body=" in text
        assert "{ lambda c:f64[2] ." in text and "d:f64[2] = exp c" in text
    finally:
        from funcgrad.primitives import PRIMITIVES
        del PRIMITIVES["call_for_printing_test"]


def test_typecheck_catches_malformed_irs():
    from funcgrad.ir import IR, Eqn, IRTypeError, Var, typecheck
    from funcgrad.primitives import PRIMITIVES

    f64, f32 = AbstractArray((2,), np.dtype(np.float64)), AbstractArray((2,), np.dtype(np.float32))
    x, y = Var(f64), Var(f64)
    with pytest.raises(IRTypeError, match="typed"):
        typecheck(IR([x], [Eqn(PRIMITIVES["exp"], [x], [Var(f32)], {})], [x]))
    with pytest.raises(IRTypeError, match="before it is defined"):
        typecheck(IR([x], [Eqn(PRIMITIVES["exp"], [y], [Var(f64)], {})], [x]))
    with pytest.raises(IRTypeError, match="defined twice"):
        typecheck(IR([x], [Eqn(PRIMITIVES["exp"], [x], [x], {})], [x]))
    with pytest.raises(IRTypeError, match="outputs"):
        typecheck(IR([x], [], [y]))
