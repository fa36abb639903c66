"""funcgrad.backends.numba_math: accuracy against NumPy, special values, dtypes,
vectorization, and on-disk caching of callers.

The functions are exercised the way generated code uses them: inlined in a
loop compiled with the backend's fast-math flags; a scalar kernel without
fast-math checks the dtypes and spot-checks accuracy.  One kernel per dtype
applies every function, which keeps the compile time to a few seconds.
"""

import functools
import importlib.util
import re
import sys
import warnings

import numba
import numpy as np
import pytest

from funcgrad.backends import numba_math as nm

FASTMATH = {"contract", "arcp", "nsz", "afn", "reassoc"}
NAMES = ["exp", "expm1", "log", "log1p", "tanh", "logistic", "sin", "cos"]
DTYPES = [np.float32, np.float64]
IDS = ["f32", "f64"]

# The maximum ulp errors measured in the module docstring (x86-64 with FMA),
# plus a margin for CPUs that round some steps differently (no FMA).
MEASURED = {
    "exp": (0.88, 0.86), "expm1": (1.51, 1.62), "log": (0.94, 1.20), "log1p": (1.44, 1.45),
    "tanh": (1.43, 1.41), "logistic": (0.51, 2.39), "sin": (0.51, 1.22), "cos": (0.51, 1.23),
}
BOUNDS = {(name, dtype): bound + 0.25
          for name, pair in MEASURED.items() for dtype, bound in zip(DTYPES, pair)}

# f64 against long double where it is wider than double (x86-64 Linux); else
# against float64, whose own error needs a looser bound
WIDE = np.longdouble if np.finfo(np.longdouble).nmant > np.finfo(np.float64).nmant else np.float64
SLACK = {np.float32: 0.0, np.float64: 0.0 if WIDE is np.longdouble else 1.0}


def functions(dtype):
    suffix = "f32" if dtype == np.float32 else "f64"
    return [getattr(nm, f"{name}_{suffix}") for name in NAMES]


@functools.cache
def kernel(dtype):
    """A fast-math loop applying every function: row j of out is NAMES[j]."""
    exp, expm1, log, log1p, tanh, logistic, sin, cos = functions(dtype)

    @numba.njit(error_model="numpy", fastmath=FASTMATH)
    def apply(x, out):
        for i in range(x.shape[0]):
            v = x[i]
            out[0, i] = exp(v)
            out[1, i] = expm1(v)
            out[2, i] = log(v)
            out[3, i] = log1p(v)
            out[4, i] = tanh(v)
            out[5, i] = logistic(v)
            out[6, i] = sin(v)
            out[7, i] = cos(v)

    return apply


@functools.cache
def scalar_kernel(dtype):
    """Every function on one scalar, without fast-math."""
    exp, expm1, log, log1p, tanh, logistic, sin, cos = functions(dtype)

    @numba.njit(error_model="numpy")
    def scalar(v):
        return exp(v), expm1(v), log(v), log1p(v), tanh(v), logistic(v), sin(v), cos(v)

    return scalar


def run(name, x):
    out = np.empty((len(NAMES), x.size), x.dtype)
    kernel(x.dtype.type)(x, out)
    return out[NAMES.index(name)]


def run_scalar(name, x):
    scalar = scalar_kernel(x.dtype.type)
    return np.array([scalar(v)[NAMES.index(name)] for v in x], x.dtype)


def reference(name, x):
    with np.errstate(all="ignore"):
        x = x.astype(np.float64 if x.dtype == np.float32 else WIDE)
        return 1 / (1 + np.exp(-x)) if name == "logistic" else getattr(np, name)(x)


def ulp_errors(y, ref):
    """|y - ref| in ulps of y's dtype, ref being more precise.  Where y or ref
    rounded to y's dtype is not finite: 0 if they agree (NaN with NaN), else inf."""
    info = np.finfo(y.dtype)
    with np.errstate(all="ignore"):
        rounded = ref.astype(y.dtype)
        exponent = np.frexp(ref)[1]
        ulp = np.ldexp(ref.dtype.type(1), np.maximum(exponent - 1, info.minexp) - info.nmant)
        err = np.abs(y.astype(ref.dtype) - ref) / ulp
    special = ~np.isfinite(rounded) | ~np.isfinite(y)
    same = (y == rounded) | (np.isnan(y) & np.isnan(rounded))
    return np.where(special, np.where(same, 0.0, np.inf), err)


def assert_ulps(name, x, y):
    err = ulp_errors(y, reference(name, x))
    worst = int(np.argmax(err))
    bound = BOUNDS[name, x.dtype.type] + SLACK[x.dtype.type]
    assert err[worst] <= bound, f"{name}({x[worst]!r}) = {y[worst]!r}: {err[worst]} ulp"


GRIDS = {  # dense grids (start, stop), besides the random bit patterns
    "exp": [(-1, 1), (-110, 90), (-750, 712)],
    "expm1": [(-1e-3, 1e-3), (-1, 1), (-40, 40), (-110, 90), (-750, 712)],
    "log1p": [(-1e-3, 1e-3), (-1, 1), (-1, 1e5)],
    "log": [(0, 3), (0, 1e-30), (0.5, 2), (1, 1e300)],
    "tanh": [(-1, 1), (-25, 25)],
    "logistic": [(-5, 5), (-750, 750)],
    "sin": [(-4, 4), (-1e5, 1e5), (-1.6e6, 1.6e6)],
    "cos": [(-4, 4), (-1e5, 1e5), (-1.6e6, 1.6e6)],
}
SIN_COS_RANGE = 2**20 * np.pi / 2  # the documented range of accuracy


def sample(name, dtype, n=20_000):
    rng = np.random.default_rng(sum(map(ord, name)))
    info = np.finfo(dtype)
    grids = [np.linspace(a, b, n) for a, b in GRIDS[name]]
    grids.append(np.geomspace(float(info.smallest_subnormal), 1e4, n))  # tiny to moderate
    grids.append(-grids[-1])
    itype = np.uint32 if dtype == np.float32 else np.uint64
    bits = rng.integers(0, np.iinfo(itype).max, 4 * n, dtype=np.uint64, endpoint=True).astype(itype)
    with np.errstate(invalid="ignore"):
        random = bits.view(dtype).astype(np.float64)  # every binade, subnormals, inf, NaN
    if name in ("sin", "cos"):
        random = random[~(np.abs(random) > SIN_COS_RANGE)]
        # next to multiples of pi/2, where the reduction cancels the most
        k = rng.integers(1, SIN_COS_RANGE / (np.pi / 2), n)
        near = (k * np.longdouble("1.57079632679489661923132169163975144")).astype(dtype)
        grids += [near, np.nextafter(near, dtype(0)), np.nextafter(near, dtype(np.inf))]
    with np.errstate(over="ignore"):
        return np.concatenate([*grids, random]).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("name", NAMES)
def test_ulp_error(name, dtype):
    x = sample(name, dtype)
    assert_ulps(name, x, run(name, x))


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("name", NAMES)
def test_ulp_error_without_fastmath(name, dtype):
    x = np.random.default_rng(1).choice(sample(name, dtype), 1000)
    assert_ulps(name, x, run_scalar(name, x))


SPECIALS = {  # inputs whose NumPy results the functions reproduce exactly
    "exp": [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e4, -1e4, "max", "-max"],
    "expm1": [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e4, -1e4, "max", "-max"],
    "log1p": [np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, -2.0, "-max", "max"],
    "log": [np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, "-min", "-max", 1.0],
    "tanh": [np.nan, np.inf, -np.inf, 0.0, 1e30, -1e30, "max", "-max"],
    "logistic": [np.nan, np.inf, -np.inf, 0.0, 1e30, -1e30, "max", "-max"],
    "sin": [np.nan, np.inf, -np.inf, 0.0],
    "cos": [np.nan, np.inf, -np.inf, 0.0],
}


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("name", NAMES)
def test_special_values(name, dtype):
    info = np.finfo(dtype)
    named = {"max": info.max, "-max": -info.max, "-min": -info.smallest_subnormal}
    x = np.array([named.get(v, v) if isinstance(v, str) else v for v in SPECIALS[name]], dtype)
    with np.errstate(all="ignore"):
        expected = 1 / (1 + np.exp(-x)) if name == "logistic" else getattr(np, name)(x)
    np.testing.assert_array_equal(run(name, x), expected)
    np.testing.assert_array_equal(run_scalar(name, x), expected)


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_tiny_and_subnormal_arguments(dtype):
    info = np.finfo(dtype)
    tiny = np.array([info.smallest_subnormal, info.smallest_normal, 1e-30, 1e-9], dtype)
    tiny = np.concatenate([tiny, -tiny])
    for name in ("tanh", "sin"):  # x itself: no cancellation, no flushing
        np.testing.assert_array_equal(run(name, tiny), tiny)
    np.testing.assert_array_equal(run("cos", tiny), np.ones_like(tiny))
    tiny = tiny[np.abs(tiny) < 1e-20]
    for name in ("expm1", "log1p"):
        np.testing.assert_array_equal(run(name, tiny), tiny)
    np.testing.assert_array_equal(run("exp", tiny), np.ones_like(tiny))
    # log of subnormals: exponent correction after the pre-scaling
    sub = info.smallest_subnormal * np.array([1, 3, 1000, 2**20], dtype)
    assert_ulps("log", sub, run("log", sub))
    # results in the subnormal range are rounded, not flushed to 0
    x = np.log(np.array([3, 1000], dtype) * np.float64(info.smallest_subnormal)).astype(dtype)
    for name in ("exp", "logistic"):
        assert (run(name, x) > 0).all()
        assert_ulps(name, x, run(name, x))


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_dtype_is_preserved(dtype):
    scalar = scalar_kernel(dtype)
    results = scalar(dtype(0.5))
    numba_type = numba.from_dtype(np.dtype(dtype))
    returned = scalar.overloads[(numba_type,)].signature.return_type
    assert returned == numba.types.UniTuple(numba_type, len(NAMES))
    # and the fast-math loop agrees to rounding
    np.testing.assert_allclose([run(name, np.array([0.5], dtype))[0] for name in NAMES], results,
                               rtol=2 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_loop_vectorizes(dtype):
    run("exp", np.ones(4, dtype))
    apply = kernel(dtype)
    ir = apply.inspect_llvm(apply.signatures[0])
    lane = "float" if dtype == np.float32 else "double"
    assert "vector.body" in ir and re.search(rf"<\d+ x {lane}>", ir), "the loop did not vectorize"
    libm = re.findall(r"call [^\n]*@((?:llvm\.)?(?:exp|log|tanh|sin|cos)(?:f|\.\w+)?)\(", ir)
    assert not libm, f"scalar libm calls remain: {libm}"


CALLER = '''
import numba
from funcgrad.backends.numba_math import exp_f32, sin_f64

@numba.njit(cache=True, error_model="numpy", fastmath={"contract", "arcp", "nsz", "afn", "reassoc"})
def kernel(x, y, out):
    for i in range(x.shape[0]):
        out[i] = exp_f32(x[i]) + sin_f64(y[i])
'''


def test_callers_cache_to_disk(tmp_path):
    path = tmp_path / "generated_kernel.py"
    path.write_text(CALLER)
    x, y = np.linspace(-3, 3, 50, dtype=np.float32), np.linspace(-3, 3, 50)
    expected = np.exp(x).astype(np.float64) + np.sin(y)

    def fresh_kernel():
        spec = importlib.util.spec_from_file_location("generated_kernel", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["generated_kernel"] = module
        spec.loader.exec_module(module)
        return module.kernel

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", numba.NumbaWarning)  # such as "cannot cache"
            for hits in (0, 1):  # compiled and saved, then loaded
                kernel_, out = fresh_kernel(), np.empty_like(y)
                kernel_(x, y, out)
                np.testing.assert_allclose(out, expected, rtol=1e-6)
                assert sum(kernel_.stats.cache_hits.values()) == hits
    finally:
        sys.modules.pop("generated_kernel", None)
