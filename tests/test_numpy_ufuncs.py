"""Every ufunc of funcgrad.numpy against NumPy: values, dtypes, shapes, with
broadcasting, mixed dtypes and NEP 50 weak Python scalars."""

import numpy as np
import pytest
from fnp_harness import DTYPES, arrays, assert_same, broadcastable_pair, check, run_traced, shapes
from hypothesis import given
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.numpy.ufuncs import ALIASES
from funcgrad.primitives.elementwise import TABLE

UNARY = sorted({r.ufunc.__name__ for r in TABLE if r.ufunc.nin == 1 and r.numpy_impl is None}
               | {"logical_not"})
BINARY = sorted({r.ufunc.__name__ for r in TABLE if r.ufunc.nin == 2}
                | {"logical_and", "logical_or", "logical_xor"})


@pytest.mark.parametrize("name", UNARY)
@given(data=st.data())
def test_unary_matches_numpy(name, data):
    dtype = data.draw(st.sampled_from(DTYPES))
    x = data.draw(arrays(dtype, shapes()))
    check(getattr(fnp, name), getattr(np, name), x)


@pytest.mark.parametrize("name", BINARY)
@given(pair=broadcastable_pair(DTYPES))
def test_binary_matches_numpy_with_broadcasting(name, pair):
    check(getattr(fnp, name), getattr(np, name), *pair)


@pytest.mark.parametrize("name", ["add", "multiply", "power", "divide", "maximum", "less",
                                  "floor_divide", "arctan2", "logaddexp", "bitwise_and"])
@given(data=st.data())
def test_binary_with_python_scalars_follows_nep50(name, data):
    dtype = data.draw(st.sampled_from(DTYPES))
    x = data.draw(arrays(dtype, shapes()))
    scalar = data.draw(st.one_of(st.booleans(), st.integers(-3, 3),
                                 st.floats(-3, 3, allow_nan=False)))
    fn = getattr(fnp, name)
    check(lambda a: fn(a, scalar), lambda a: getattr(np, name)(a, scalar), x, protocol=False)
    check(lambda a: fn(scalar, a), lambda a: getattr(np, name)(scalar, a), x, protocol=False)


@pytest.mark.parametrize("alias, target", sorted(ALIASES.items()))
def test_aliases_are_numpy_aliases(alias, target):
    assert getattr(fnp, alias) is getattr(fnp, target)
    x = np.linspace(0.1, 0.9, 4)
    check(getattr(fnp, alias), getattr(np, alias), x, x) if getattr(np, alias).nin == 2 else \
        check(getattr(fnp, alias), getattr(np, alias), x)


@pytest.mark.parametrize("dtype, scalar, expected", [
    (np.float32, 2.0, np.float32),      # weak float adopts the array's float
    (np.float16, 2.0, np.float16),
    (np.int32, 2, np.int32),            # weak int adopts the array's int
    (np.int32, 2.0, np.float64),        # int array * Python float -> default float
    (np.uint8, 3, np.uint8),
    (np.bool_, 1, np.int64),
    (np.bool_, 1.5, np.float64),
    (np.float32, True, np.float32),
    (np.float32, np.float64(2.0), np.float64),  # NumPy scalars are strong
    (np.int8, np.int64(2), np.int64),
])
def test_nep50_promotion_keeps_array_dtype(dtype, scalar, expected):
    x = np.ones(3, dtype)
    ir = fg.make_ir(lambda a: a * scalar)(x)
    assert ir.out_avals[0].dtype == expected
    assert (x * scalar).dtype == expected  # the spec, checked against NumPy itself


def test_python_int_out_of_range_raises_as_numpy():
    x = np.ones(2, np.int8)
    with pytest.raises(OverflowError):
        x + 300
    with pytest.raises(OverflowError):
        fg.make_ir(lambda a: a + 300)(x)


def test_weak_inputs_stay_weak_until_they_meet_an_array():
    ir = fg.make_ir(lambda s, x: (s * 2.0) * x)(1.5, np.ones(2, np.float32))
    assert ir.in_avals[0].weak_type
    assert ir.out_avals[0].dtype == np.float32


OPERATORS = [
    ("+", lambda a, b: a + b), ("-", lambda a, b: a - b), ("*", lambda a, b: a * b),
    ("/", lambda a, b: a / b), ("//", lambda a, b: a // b), ("%", lambda a, b: a % b),
    ("**", lambda a, b: a ** b), ("<", lambda a, b: a < b), ("<=", lambda a, b: a <= b),
    (">", lambda a, b: a > b), (">=", lambda a, b: a >= b), ("==", lambda a, b: a == b),
    ("!=", lambda a, b: a != b), ("&", lambda a, b: a & b), ("|", lambda a, b: a | b),
    ("^", lambda a, b: a ^ b), ("<<", lambda a, b: a << b), (">>", lambda a, b: a >> b),
]


@pytest.mark.parametrize("symbol, op", OPERATORS, ids=[s for s, _ in OPERATORS])
@given(pair=broadcastable_pair([np.int32, np.int64], low=0, high=5))
def test_operators_on_tracers(symbol, op, pair):
    a, b = pair
    with np.errstate(all="ignore"):
        expected = op(a, b)
        assert_same(run_traced(op, (a, b), {}), expected, where="tracer op tracer")
        assert_same(run_traced(lambda x: op(x, b), (a,), {}), expected, where="tracer op ndarray")
        assert_same(run_traced(lambda y: op(a, y), (b,), {}), expected, where="ndarray op tracer")
        assert_same(run_traced(lambda x: op(x, 2), (a,), {}), op(a, 2), where="tracer op int")
        assert_same(run_traced(lambda x: op(3, x), (a,), {}), op(3, a), where="int op tracer")


@pytest.mark.parametrize("op", [lambda a: -a, lambda a: +a, abs, lambda a: ~(a > 0)])
def test_unary_operators_on_tracers(op):
    x = np.array([-1.5, 0.0, 2.0])
    assert_same(run_traced(op, (x,), {}), op(x))


def test_divmod_on_tracers():
    x, y = np.array([7, -7, 5]), np.array([2, 2, -3])
    assert_same(run_traced(divmod, (x, y), {}), divmod(x, y))


def test_logistic_primitive_is_stable():
    from funcgrad.primitives import PRIMITIVES

    x = np.array([-1000.0, -1.0, 0.0, 1.0, 1000.0])
    with np.errstate(over="raise", invalid="raise"):
        out = PRIMITIVES["logistic"].impl(np, x)
    np.testing.assert_allclose(out, [0.0, 1 / (1 + np.e), 0.5, 1 / (1 + np.exp(-1)), 1.0])


def test_ufunc_keywords_that_mutate_are_refused():
    x = np.ones(2)
    with pytest.raises(TypeError, match="out="):
        fg.make_ir(lambda a: np.add(a, a, out=x))(x)


EDGE_VALUES = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 1e30, 0.5, -1.0, 1.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", UNARY)
def test_unary_edge_values(name, dtype):
    x = np.array(EDGE_VALUES, dtype)
    check(getattr(fnp, name), getattr(np, name), x)


@pytest.mark.parametrize("name", BINARY)
def test_binary_edge_values(name):
    x = np.array(EDGE_VALUES)
    check(getattr(fnp, name), getattr(np, name), x[:, None], x[None, :])


def test_dtype_keyword_picks_the_loop():
    x = np.arange(3, dtype=np.int32)
    check(lambda a: fnp.add(a, a, dtype=np.float32), lambda a: np.add(a, a, dtype=np.float32), x,
          protocol=False)


@pytest.mark.parametrize("dtype, exponent", [(np.float32, 2), (np.float64, 2.0), (np.int32, 2),
                                             (np.int32, 2.0), (np.float32, 3), (np.int64, 0)])
def test_square_power_matches_numpy(dtype, exponent):
    x = np.arange(-2, 3).astype(dtype)
    assert_same(run_traced(lambda a: a ** exponent, (x,), {}), x ** exponent)


def test_only_weak_operands_keep_the_float_width():
    from funcgrad.trace import trace_to_ir

    ir, _ = trace_to_ir(lambda c: [1 / c], [fg.AbstractArray((3,), np.dtype(np.float32), True)])
    assert ir.out_avals[0].dtype == np.float32 and ir.out_avals[0].weak_type
    ir = fg.make_ir(lambda i: i < 10)(3)
    assert ir.out_avals[0].dtype == np.bool_
