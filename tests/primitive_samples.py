"""One sample application per primitive: operands and params.

The registry tests check every primitive on its samples (abstract evaluation
agrees with the eager result; recording and re-evaluating agrees with the
eager result).  The autodiff, batching and jit issues reuse this table to
check their rules on every primitive.
"""

from __future__ import annotations

import numpy as np

from funcgrad.ir import AbstractArray
from funcgrad.primitives.elementwise import TABLE
from funcgrad.trace import trace_to_ir

RNG = np.random.default_rng(0)
F64 = np.dtype(np.float64)


def _floats(*shape, low=0.1, high=0.9):
    return RNG.uniform(low, high, size=shape)


def _ints(*shape, high=5, dtype=np.int64):
    return RNG.integers(0, high, size=shape).astype(dtype)


def _spd(n=3):
    a = RNG.normal(size=(n, n))
    return a @ a.T + n * np.eye(n)


def _elementwise_operands(row):
    """Operands inside every float function's domain (0.1..0.9 suits acosh after +1)."""
    if row.name in ("and", "or", "xor", "not", "shift_left", "shift_right"):
        return [_ints(2, 3, dtype=np.int32) for _ in range(row.arity)]
    x = _floats(2, 3)
    if row.name == "acosh":
        x = x + 1.0
    return [x] + [_floats(2, 3) for _ in range(row.arity - 1)]


def _sub_ir(fun, *avals):
    ir, captured = trace_to_ir(fun, list(avals))
    assert not captured
    return ir


def _control_flow_samples():
    from funcgrad import numpy as fnp

    scalar = AbstractArray((), F64)
    vector = AbstractArray((3,), F64)
    double = _sub_ir(lambda x: [x * 2.0], vector)
    negate = _sub_ir(lambda x: [-x], vector)
    below = _sub_ir(lambda c: [c < 10.0], scalar)
    grow = _sub_ir(lambda c: [c * 2.0 + 1.0], scalar)
    step = _sub_ir(lambda w, c, x: [c * w + x, fnp.sin(c)], scalar, scalar, scalar)
    return {
        "cond": ([np.int32(1), _floats(3)], dict(branches=(negate, double))),
        "while_loop": ([np.float64(0.5)], dict(cond_ir=below, body_ir=grow, cond_nconsts=0,
                                                body_nconsts=0)),
        "scan": ([np.float64(0.9), np.float64(0.1), _floats(4)],
                 dict(body=step, num_consts=1, num_carry=1, length=4, reverse=False, unroll=1)),
    }


def _custom_derivative_samples():
    from funcgrad import numpy as fnp

    vector = AbstractArray((3,), F64)
    sin_times = _sub_ir(lambda x, y: [fnp.sin(x) * y], vector, vector)

    # The rules over flat lists that funcgrad.transforms.custom_derivatives makes.
    def sin_times_jvp(primals, tangents):
        (x, y), (tx, ty) = primals, tangents
        return [fnp.sin(x) * y], [fnp.cos(x) * y * tx + fnp.sin(x) * ty]

    def sin_times_bwd(residuals, cts):
        (cos_x, sin_x, y), (ct,) = residuals, cts
        return [ct * cos_x * y, ct * sin_x]

    def sin_times_fwd(primals):
        x, y = primals
        return [fnp.sin(x) * y], [fnp.cos(x), fnp.sin(x), y], sin_times_bwd

    x, y = _floats(3), _floats(3)
    return {
        "stop_gradient": ([_ints(3)], {}),  # integers: its zero derivative is no finite difference
        "custom_jvp_call": ([x, y], dict(fun=sin_times, jvp=sin_times_jvp, num_consts=0)),
        "custom_vjp_call": ([x, y], dict(fun=sin_times, fwd=sin_times_fwd, num_consts=0)),
        "custom_vjp_bwd": ([np.cos(x), np.sin(x), y, _floats(3), _floats(3)],
                           dict(bwd=sin_times_bwd, num_res=3, ct_avals=(vector,))),
        "checkpoint": ([x, y], dict(fun=sin_times)),
        "checkpoint_linear": ([x, y, _floats(3), _floats(3)], dict(fun=sin_times, wrt=(True, True))),
    }


def samples() -> dict[str, tuple[list, dict]]:
    """``{primitive name: (operands, params)}`` for every primitive."""
    table = {row.name: (_elementwise_operands(row), {}) for row in TABLE}
    x = _floats(2, 3)
    table.update({
        # structural
        "convert_element_type": ([x], dict(new_dtype=np.dtype(np.float64), weak_type=True)),
        "broadcast_in_dim": ([_floats(3)], dict(shape=(2, 3), broadcast_dimensions=(1,))),
        "reshape": ([x], dict(new_sizes=(3, 2))),
        "transpose": ([x], dict(permutation=(1, 0))),
        "rev": ([x], dict(dimensions=(1,))),
        "slice": ([x], dict(start_indices=(0, 1), limit_indices=(2, 3), strides=(1, 2))),
        "pad": ([x, np.float64(0.0)], dict(padding_config=((1, 0, 1), (0, 2, 0)))),
        "concatenate": ([x, _floats(2, 2)], dict(dimension=1)),
        "select": ([x > 0.5, x, _floats(2, 3)], {}),
        "iota": ([], dict(dtype=np.dtype(np.int32), shape=(2, 3), dimension=1)),
        # indexing
        "gather": ([x, _ints(4, 1, high=2)], dict(axes=(0,))),
        "dynamic_slice": ([x, np.int64(1), np.int64(1)], dict(slice_sizes=(1, 2))),
        "dynamic_update_slice": ([x, _floats(1, 2), np.int64(1), np.int64(0)], {}),
        # reductions
        **{name: ([x], dict(axes=(1,))) for name in ("reduce_sum", "reduce_prod", "reduce_max",
                                                      "reduce_min")},
        **{name: ([x > 0.5], dict(axes=(0,))) for name in ("reduce_and", "reduce_or")},
        **{name: ([x], dict(axis=1, reverse=False)) for name in ("cumsum", "cumprod", "cummax",
                                                                  "cummin")},
        **{name: ([x], dict(axis=1, index_dtype=np.dtype(np.int64))) for name in ("argmax", "argmin")},
        "sort": ([x, _floats(2, 3)], dict(dimension=1, num_keys=1)),
        # linear algebra
        "dot_general": ([x, _floats(3, 4)], dict(dimension_numbers=(((1,), (0,)), ((), ())))),
        "cholesky": ([_spd()], {}),
        "inv": ([_spd()], {}),
        "det": ([_spd()], {}),
        "slogdet": ([_spd()], {}),
        "qr": ([_floats(4, 3)], dict(full_matrices=False)),
        "svd": ([_floats(4, 3)], dict(full_matrices=False, compute_uv=True)),
        "eigh": ([_spd()], dict(lower=True)),
        "solve": ([_spd(), _floats(3, 2)], {}),
        "triangular_solve": ([np.tril(_spd()), _floats(3, 2)],
                             dict(left_side=True, lower=True, transpose_a=False, unit_diagonal=False)),
        "conv_general_dilated": ([_floats(1, 2, 5, 5), _floats(4, 2, 3, 3)],
                                 dict(window_strides=(1, 2), padding=((1, 1), (0, 1)),
                                      lhs_dilation=(1, 1), rhs_dilation=(1, 1), feature_group_count=1)),
        "threefry2x32": ([_ints(3, dtype=np.uint32) for _ in range(4)], {}),
    })
    for name in ("scatter", "scatter_add", "scatter_mul", "scatter_min", "scatter_max"):
        table[name] = ([x, _ints(4, 1, high=2), _floats(4, 3)], dict(axes=(0,)))
    table.update(_control_flow_samples())
    body = _sub_ir(lambda x, y: [x * y + 1.0, (x * y).sum(axis=1)], AbstractArray((2, 3), F64),
                   AbstractArray((2, 3), F64))
    table["jit_call"] = ([x, _floats(2, 3)], dict(ir=body, name="sample"))
    table["fused"] = ([x, _floats(2, 3)], dict(ir=body))
    table.update(_custom_derivative_samples())
    return table
