"""Branch-free scalar math that LLVM vectorizes inside Numba loops.

In a Numba loop, ``np.exp(x[i])`` is a libm call per element, which LLVM
cannot vectorize (pip's llvmlite has no SVML).  The functions here are plain
arithmetic, bit casts and selects, so a loop such as ::

    for i in range(n):
        out[i] = exp_f32(x[i])

compiles to packed SIMD code.  Each function exists per dtype and takes and
returns that dtype: ``exp``, ``expm1``, ``log``, ``log1p``, ``tanh``,
``logistic`` (``1 / (1 + exp(-x))``), ``sin``, ``cos``, as ``exp_f32``,
``exp_f64``, and so on.

How they are built:

* A public function is a one-line ``inline="always"`` wrapper around a body
  compiled once per signature (and cached on disk) with ``forceinline`` and
  its own flags, FMA contraction only.  LLVM inlines the body into the
  caller's loop and vectorizes it; the caller's fast-math flags (funcgrad's
  generated loops use ``{"contract", "arcp", "nsz", "afn", "reassoc"}``) do
  not reach it, so results do not depend on them, and callers do not
  recompile the bodies.
* Range reductions are Cody-Waite splits written with ``llvm.fmuladd``
  (fused where the CPU has FMA; the leading constants are short enough that
  the products are exact without FMA too), which keep their order even under
  ``reassoc``.
* Scaling by ``2**k`` adds to the exponent field and then multiplies once by a
  power of two: subnormal results are rounded once, not flushed to 0, and
  overflow gives inf.
* NaN, infinities, zeros and subnormal arguments give what NumPy gives (up to
  the sign of a zero result), through selects rather than branches.
* Polynomials are minimax fits derived for this module (Lawson's algorithm in
  long double, coefficients rounded to the dtype one at a time, refitting the
  rest).  f32 ``logistic``, ``sin`` and ``cos`` compute in f64 and round once.

Maximum error measured in ulps of the result's dtype, against NumPy: f32
exhaustively over all 2**32 inputs (for sin and cos, all with |x| within the
range below), against float64; f64 on 1.6e7 to 2.4e7
inputs per function (dense grids, uniform samples, random bit patterns over
the whole range, subnormals), against long double.  x86-64 with FMA:

==========  =====  =====
function    f32    f64
==========  =====  =====
exp         0.88   0.86
expm1       1.51   1.62
log         0.94   1.20
log1p       1.44   1.45
tanh        1.43   1.41
logistic    0.51   2.39
sin         0.51   1.22
cos         0.51   1.23
==========  =====  =====

``sin`` and ``cos`` hold these bounds for ``|x| <= 2**20 * pi / 2`` (about
1.6e6), where the reduction by multiples of pi/2 is exact enough without FMA
(f64 adds the reduction's rounding error back, so arguments next to a
multiple of pi/2 are accurate too).  Beyond, accuracy degrades (f32 with FMA
stays within 0.51 ulp up to 1e9; f64 is off by thousands of ulps by 1e7) and
results stay within [-1, 1].

A caller cached on disk (``cache=True``) holds the inlined code: Numba does not
invalidate it when this module changes.  ``benchmarks/numba_math.py`` times the
functions against ``np.*`` in the same loops and against NumPy's ufuncs.

Example:
    >>> import numba
    >>> import numpy as np
    >>> from funcgrad.backends.numba_math import exp_f32, log_f64, tanh_f32
    >>> exp_f32(np.float32(1.0))  # a float32 result, boxed as a Python float
    2.7182817459106445
    >>> log_f64(np.e)
    1.0
    >>> @numba.njit(fastmath={"contract", "arcp", "nsz", "afn", "reassoc"})
    ... def tanh_loop(x, out):
    ...     for i in range(x.shape[0]):
    ...         out[i] = tanh_f32(x[i])
    >>> x = np.linspace(-3, 3, 7, dtype=np.float32)
    >>> out = np.empty_like(x)
    >>> tanh_loop(x, out)
    >>> bool(np.allclose(out, np.tanh(x), rtol=1e-6, atol=0))
    True
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = [
    "cos_f32", "cos_f64", "exp_f32", "exp_f64", "expm1_f32", "expm1_f64", "log1p_f32", "log1p_f64",
    "log_f32", "log_f64", "logistic_f32", "logistic_f64", "sin_f32", "sin_f64", "tanh_f32", "tanh_f64",
]


# -- intrinsics (module level, so callers compiled with cache=True can pickle them) --

def _from_bits_intrinsic(numba_float, llvm_float, int_type):
    def impl(typingctx, i):
        if not isinstance(i, types.Integer):
            return None

        def codegen(context, builder, sig, args):
            return builder.bitcast(context.cast(builder, args[0], sig.args[0], int_type), llvm_float)

        return numba_float(i), codegen

    return impl


def _bits_intrinsic(numba_float, int_type, width):
    def impl(typingctx, x):
        if x != numba_float:
            return None

        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], ir.IntType(width))

        return int_type(x), codegen

    return impl


# The bits of a float32 (float64), as an int32 (int64).
_f32_bits = intrinsic(_bits_intrinsic(types.float32, types.int32, 32))
_f64_bits = intrinsic(_bits_intrinsic(types.float64, types.int64, 64))
# The float whose bits are the low 32 (64) bits of an integer.
_f32_from_bits = intrinsic(_from_bits_intrinsic(types.float32, ir.FloatType(), types.int32))
_f64_from_bits = intrinsic(_from_bits_intrinsic(types.float64, ir.DoubleType(), types.int64))


@intrinsic
def _fmuladd(typingctx, a, b, c):
    """a * b + c, fused where the CPU has FMA.  An opaque call, so the order of
    operations built from it holds even under ``reassoc`` (which would fold
    ``x - k*c1 - k*c2`` to ``x - k*(c1+c2)``)."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, sig, args):
        lty = args[0].type
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(lty, [lty] * 3), f"llvm.fmuladd.{lty.intrinsic_name}")
        return builder.call(fn, args)

    return a(a, b, c), codegen


# The bodies: compiled once per signature (and cached on disk) with their own
# flags, FMA contraction only, so a caller's fast-math flags never reach them;
# LLVM inlines them (forceinline), so a caller's loop still vectorizes.
_body = numba.njit(forceinline=True, error_model="numpy", fastmath={"contract"}, cache=True)
# The public functions: one-line wrappers inlined into the caller by Numba.
_public = numba.njit(inline="always", error_model="numpy")

F32, F64 = np.float32, np.float64

# -- constants.  Splits of ln2 and pi/2: the high parts have enough trailing zero
# bits that k * high is exact for the k each reduction meets, even without FMA.

_INF_F32, _INF_F64 = F32(np.inf), F64(np.inf)
_NAN_F32, _NAN_F64 = F32(np.nan), F64(np.nan)
_ZERO_F32, _ZERO_F64 = F32(0.0), F64(0.0)
_HALF_F32, _HALF_F64 = F32(0.5), F64(0.5)
_ONE_F32, _ONE_F64 = F32(1.0), F64(1.0)
_TWO_F32, _TWO_F64 = F32(2.0), F64(2.0)

_LOG2E_F32, _LOG2E_F64 = F32(1.4426950408889634), F64(1.4426950408889634)
_LN2_HI_F32 = F32(0.693145751953125)  # 15 significant bits: |k| <= 152 needs 8 more
_LN2_LO_F32 = F32(1.428606765330187e-06)
_LN2_HI_F64 = F64(0.6931471803691238)  # 32 significant bits: |k| <= 1080 needs 11 more
_LN2_LO_F64 = F64(1.9082149292705877e-10)

_TWO_OVER_PI = F64(0.6366197723675814)
_PIO2_1 = F64(1.5707963267341256)  # 31 significant bits: exact products for |k| < 2**20
_PIO2_1T = F64(6.077100506506192e-11)  # pi/2 - _PIO2_1 (the f32 two-part split)
_PIO2_2 = F64(6.077100506303966e-11)  # 32 significant bits
_PIO2_2T = F64(2.0222662487959506e-21)  # pi/2 - _PIO2_1 - _PIO2_2
_LN2_F64 = F64(0.6931471805599453)
_R_MAX = F64(0.7854)  # just above pi/4: bounds a reduced argument gone wrong (huge |x|)
_LO_MAX = F64(1e-12)  # ditto for its tail, at most ~2e-15 in range

# exp: clamp so k stays small; exp(lo) rounds to 0 and exp(hi) to inf.
_EXP_LO_F32, _EXP_HI_F32 = F32(-104.0), F32(89.0)
_EXP_LO_F64, _EXP_HI_F64 = F64(-746.0), F64(710.0)
_EXPM1_K_F32, _EXPM1_K_F64 = F32(24.0), F64(53.0)  # 2**k - 1 exact up to here

# exp(r) = 1 + r + r^2 * P(r) on |r| <= ln2/2
_E0, _E1, _E2, _E3, _E4 = (F32(c) for c in (
    0.4999999403953552, 0.1666652113199234, 0.041668254882097244, 0.008368662558495998,
    0.0013821481261402369))
_D0, _D1, _D2, _D3, _D4, _D5, _D6, _D7, _D8, _D9 = (F64(c) for c in (
    0.5000000000000011, 0.16666666666666463, 0.041666666666528684, 0.008333333333471412,
    0.001388888894374355, 0.0001984126954439038, 2.4801493119671746e-05, 2.7557559690116236e-06,
    2.7630214408905053e-07, 2.5006935461783856e-08))

# the same to 2**-34, for logistic_f32 (evaluated in f64)
_X0, _X1, _X2, _X3, _X4, _X5 = (F64(c) for c in (
    0.5000000067666942, 0.16666665869136807, 0.04166629500369942, 0.00833349704558886,
    0.0013944655361255158, 0.00019790347674183463))
_LOGISTIC_BIG_F32 = F64(104.0)  # logistic(-104) rounds to 0 in f32

# log(1 + f) = f - f^2/2 + f^3 * P(f) on [sqrt(1/2) - 1, sqrt(2) - 1]
_L0, _L1, _L2, _L3, _L4, _L5, _L6, _L7 = (F32(c) for c in (
    0.3333333134651184, -0.2500081956386566, 0.2000124156475067, -0.166234090924263,
    0.14201579988002777, -0.13159610331058502, 0.12762217223644257, -0.07636439055204391))
# log(1 + f) = f - f^2/2 + s * (f^2/2 + z * P(z)),  s = f / (2 + f),  z = s^2
_G0, _G1, _G2, _G3, _G4, _G5, _G6 = (F64(c) for c in (
    0.6666666666666734, 0.39999999999416525, 0.28571428742071864, 0.2222219859917633,
    0.18183563216498863, 0.15314074179459625, 0.14795751779704805))
_MIN_NORMAL_F32, _MIN_NORMAL_F64 = F32(2.0**-126), F64(2.0**-1022)
_SUBNORMAL_SCALE_F32, _SUBNORMAL_SCALE_F64 = F32(2.0**25), F64(2.0**54)
_SQRT_HALF_BITS_F32 = 0x3F3504F3
_SQRT_HALF_BITS_F64 = 0x3FE6A09E667F3BCD

# tanh(x) = x + x^3 * P(x^2) on |x| < 0.55; above, 1 - 2 / (exp(2|x|) + 1)
_TANH_SMALL_F32, _TANH_SMALL_F64 = F32(0.55), F64(0.55)
_TANH_BIG_F32, _TANH_BIG_F64 = F32(9.5), F64(20.0)  # tanh rounds to 1 beyond
_T0, _T1, _T2, _T3, _T4 = (F32(c) for c in (
    -0.33333319425582886, 0.13332636654376984, -0.053856849670410156, 0.02108830399811268,
    -0.006295636761933565))
_U0, _U1, _U2, _U3, _U4, _U5, _U6, _U7, _U8, _U9, _U10 = (F64(c) for c in (
    -0.333333333333333, 0.13333333333326597, -0.05396825396374618, 0.021869488385260684,
    -0.008863232587530164, 0.0035920918440487015, -0.0014555413481597108, 0.0005884371295637285,
    -0.00023335991094796817, 8.328136009924241e-05, -1.9470619736863036e-05))

# sin(r) = r + r^3 * S(r^2), cos(r) = 1 - r^2/2 + r^4 * C(r^2) on |r| <= pi/4
# (f32 variants are evaluated in f64, so need fewer terms)
_S32_0, _S32_1, _S32_2, _S32_3 = (F64(c) for c in (
    -0.1666666664160672, 0.008333329383554654, -0.00019839334074797213, 2.7183041535959474e-06))
_C32_0, _C32_1, _C32_2 = (F64(c) for c in (
    0.041666645670013935, -0.0013887315609849326, 2.4433081938644842e-05))
_S0, _S1, _S2, _S3, _S4, _S5 = (F64(c) for c in (
    -0.16666666666666632, 0.008333333333322484, -0.00019841269829851013, 2.755731370406923e-06,
    -2.5050759720473407e-08, 1.589687642386133e-10))
_C0, _C1, _C2, _C3, _C4, _C5 = (F64(c) for c in (
    0.04166666666666658, -0.001388888888887111, 2.4801587287701955e-05, -2.7557313864393316e-07,
    2.0875660143420975e-09, -1.1356527313305604e-11))


# -- helpers --

@_body
def _clamp(x, lo, hi):
    # NaN fails the first comparison and becomes lo: callers patch NaN back in.
    x = x if x > lo else lo
    return x if x < hi else hi


@_body
def _scale_f32(p, k):
    """p * 2**k for p in [0.5, 2) and integer-valued k in [-152, 128]."""
    ki = np.int32(k)
    k2 = ki >> 1
    # Adding k - k2 to the exponent field is exact; the one multiply by 2**k2
    # then rounds once (into subnormals or to inf) in any association order.
    return _f32_from_bits(_f32_bits(p) + ((ki - k2) << 23)) * _f32_from_bits((k2 + 127) << 23)


@_body
def _scale_f64(p, k):
    """p * 2**k for p in [0.5, 2) and integer-valued k in [-1080, 1026]."""
    ki = np.int64(np.int32(k))
    k2 = ki >> 1
    return _f64_from_bits(_f64_bits(p) + ((ki - k2) << 52)) * _f64_from_bits((k2 + 1023) << 52)


@_body
def _expm1_reduced_f32(x, k):
    """expm1(r) for r = x - k ln2, |r| <= ln2/2 (r = x exactly when k = 0)."""
    r1 = _fmuladd(k, -_LN2_HI_F32, x)  # exact
    r = _fmuladd(k, -_LN2_LO_F32, r1)
    # what rounding r dropped (r1 - r is exact): adding it back to the small
    # terms takes r's rounding error out of the result
    tail = _fmuladd(k, -_LN2_LO_F32, r1 - r)
    p = (((_E4 * r + _E3) * r + _E2) * r + _E1) * r + _E0
    return _fmuladd(r * r, p, tail) + r


@_body
def _expm1_reduced_f64(x, k):
    """expm1(r) for r = x - k ln2, |r| <= ln2/2 (r = x exactly when k = 0)."""
    r1 = _fmuladd(k, -_LN2_HI_F64, x)
    r = _fmuladd(k, -_LN2_LO_F64, r1)
    tail = _fmuladd(k, -_LN2_LO_F64, r1 - r)
    p = (((((((((_D9 * r + _D8) * r + _D7) * r + _D6) * r + _D5) * r + _D4) * r + _D3) * r + _D2) * r
          + _D1) * r + _D0)
    return _fmuladd(r * r, p, tail) + r


@_body
def _exp_core_f32(x):
    """exp(x) for x in [-104, 89], not NaN."""
    k = np.rint(x * _LOG2E_F32)
    return _scale_f32(_ONE_F32 + _expm1_reduced_f32(x, k), k)


@_body
def _exp_core_f64(x):
    """exp(x) for x in [-746, 710], not NaN."""
    k = np.rint(x * _LOG2E_F64)
    return _scale_f64(_ONE_F64 + _expm1_reduced_f64(x, k), k)


# -- exp, expm1 --

@_body
def _exp_f32(x):
    y = _exp_core_f32(_clamp(x, _EXP_LO_F32, _EXP_HI_F32))
    return y if x == x else x


@_body
def _exp_f64(x):
    y = _exp_core_f64(_clamp(x, _EXP_LO_F64, _EXP_HI_F64))
    return y if x == x else x


@_body
def _expm1_f32(x):
    xc = _clamp(x, _EXP_LO_F32, _EXP_HI_F32)
    k = np.rint(xc * _LOG2E_F32)
    em = _expm1_reduced_f32(xc, k)
    # |k| <= 24: expm1(x) = 2**k em + (2**k - 1), where 2**k - 1 is exact and the
    # product too: no cancellation.  Beyond, exp(x) - 1 loses nothing.
    ks = np.int32(_clamp(k, -_EXPM1_K_F32, _EXPM1_K_F32))
    two_k = _f32_from_bits((ks + 127) << 23)
    small = _fmuladd(two_k, em, two_k - _ONE_F32)
    y = small if abs(k) <= _EXPM1_K_F32 else _scale_f32(_ONE_F32 + em, k) - _ONE_F32
    return y if x == x else x


@_body
def _expm1_f64(x):
    xc = _clamp(x, _EXP_LO_F64, _EXP_HI_F64)
    k = np.rint(xc * _LOG2E_F64)
    em = _expm1_reduced_f64(xc, k)
    ks = np.int64(np.int32(_clamp(k, -_EXPM1_K_F64, _EXPM1_K_F64)))
    two_k = _f64_from_bits((ks + 1023) << 52)
    small = _fmuladd(two_k, em, two_k - _ONE_F64)
    y = small if abs(k) <= _EXPM1_K_F64 else _scale_f64(_ONE_F64 + em, k) - _ONE_F64
    return y if x == x else x


# -- log, log1p --

@_body
def _log_specials(y, x, inf, nan):
    y = y if x < inf else x  # +inf and NaN give themselves
    y = -inf if x == 0 else y
    return nan if x < 0 else y


@_body
def _log_core_f32(x):
    """log(x) for finite x > 0 (garbage elsewhere)."""
    tiny = x < _MIN_NORMAL_F32  # subnormals: scale into the normal range first
    xs = x * _SUBNORMAL_SCALE_F32 if tiny else x
    ix = _f32_bits(xs)
    # xs = m * 2**k with m in [sqrt(1/2), sqrt(2)): the exponent of xs / sqrt(1/2)
    k = (ix - _SQRT_HALF_BITS_F32) >> 23
    f = _f32_from_bits(ix - (k << 23)) - _ONE_F32  # exact
    p = ((((((_L7 * f + _L6) * f + _L5) * f + _L4) * f + _L3) * f + _L2) * f + _L1) * f + _L0
    p = f + f * f * (p * f - _HALF_F32)
    kf = np.float32(k - 25 if tiny else k)
    return _fmuladd(kf, _LN2_HI_F32, _fmuladd(kf, _LN2_LO_F32, p))


@_body
def _log_core_f64(x):
    """log(x) for finite x > 0 (garbage elsewhere)."""
    tiny = x < _MIN_NORMAL_F64
    xs = x * _SUBNORMAL_SCALE_F64 if tiny else x
    ix = _f64_bits(xs)
    k = (ix - _SQRT_HALF_BITS_F64) >> 52
    f = _f64_from_bits(ix - (k << 52)) - _ONE_F64
    # log(1+f) = 2 atanh(s) with s = f/(2+f); written so that f, exact, carries
    # the bulk and the rounding of s only touches a small correction
    s = f / (_TWO_F64 + f)
    z = s * s
    r = z * ((((((_G6 * z + _G5) * z + _G4) * z + _G3) * z + _G2) * z + _G1) * z + _G0)
    hfsq = _HALF_F64 * f * f
    p = f - (hfsq - s * (hfsq + r))
    kf = np.float64(k - 54 if tiny else k)
    return _fmuladd(kf, _LN2_HI_F64, _fmuladd(kf, _LN2_LO_F64, p))


@_body
def _log_f32(x):
    return _log_specials(_log_core_f32(x), x, _INF_F32, _NAN_F32)


@_body
def _log_f64(x):
    return _log_specials(_log_core_f64(x), x, _INF_F64, _NAN_F64)


@_body
def _log1p_f32(x):
    u = _ONE_F32 + x
    # log(1 + x) = log(u) + c/u with c = x - (u - 1), the part of x lost in u,
    # computed as x + 2 (0.5 - 0.5u) (exact) in an fmuladd that reassoc cannot
    # simplify to 0
    c = _fmuladd(u, -_HALF_F32, _HALF_F32) * _TWO_F32 + x
    return _log_specials(_log_core_f32(u) + c / u, u, _INF_F32, _NAN_F32)


@_body
def _log1p_f64(x):
    u = _ONE_F64 + x
    c = _fmuladd(u, -_HALF_F64, _HALF_F64) * _TWO_F64 + x
    return _log_specials(_log_core_f64(u) + c / u, u, _INF_F64, _NAN_F64)


# -- tanh --

@_body
def _tanh_f32(x):
    a = abs(x)
    z = x * x
    small = x + x * z * ((((_T4 * z + _T3) * z + _T2) * z + _T1) * z + _T0)
    e = _exp_core_f32(_TWO_F32 * (a if a < _TANH_BIG_F32 else _TANH_BIG_F32))
    big = np.copysign(_ONE_F32 - _TWO_F32 / (e + _ONE_F32), x)
    return big if a >= _TANH_SMALL_F32 else small  # NaN takes the small path and stays NaN


@_body
def _tanh_f64(x):
    a = abs(x)
    z = x * x
    p = ((((((((((_U10 * z + _U9) * z + _U8) * z + _U7) * z + _U6) * z + _U5) * z + _U4) * z + _U3) * z
           + _U2) * z + _U1) * z + _U0)
    small = x + x * z * p
    e = _exp_core_f64(_TWO_F64 * (a if a < _TANH_BIG_F64 else _TANH_BIG_F64))
    big = np.copysign(_ONE_F64 - _TWO_F64 / (e + _ONE_F64), x)
    return big if a >= _TANH_SMALL_F64 else small


# -- logistic --

@_body
def _logistic_f32(x):
    # In f64, with a short exp (2**-34 relative): the f32 result is then rounded
    # once, where an f32 exp's error would double in e / (1 + e) below 0.5.
    # exp(-|x|) cannot overflow, and e / (1 + e) for x < 0 keeps relative
    # accuracy down to the subnormal results.
    xd = np.float64(x)
    a = abs(xd)
    a = a if a < _LOGISTIC_BIG_F32 else _LOGISTIC_BIG_F32
    k = np.rint(a * -_LOG2E_F64)
    r = _fmuladd(k, -_LN2_F64, -a)  # |k| <= 151: ln2's rounding costs < 2**-45
    p = ((((_X5 * r + _X4) * r + _X3) * r + _X2) * r + _X1) * r + _X0
    e = (_ONE_F64 + _fmuladd(r * r, p, r)) * _f64_from_bits((np.int64(np.int32(k)) + 1023) << 52)
    y = np.float32((_ONE_F64 if xd >= 0 else e) / (_ONE_F64 + e))
    return y if x == x else x


@_body
def _logistic_f64(x):
    a = abs(x)
    e = _exp_core_f64(-(a if a < -_EXP_LO_F64 else -_EXP_LO_F64))
    y = (_ONE_F64 if x >= 0 else e) / (_ONE_F64 + e)  # one rounding after e's
    return y if x == x else x


# -- sin, cos --

@_body
def _quadrant_select(s, c, k, offset, x):
    """sin(x) from sin(r), cos(r) where x = r + k pi/2 (offset 1 gives cos(x))."""
    j = k + offset
    h = np.floor(j * _HALF_F64)
    y = c if j - _TWO_F64 * h != 0 else s  # odd quadrant: the cosine
    y = -y if h - _TWO_F64 * np.floor(h * _HALF_F64) != 0 else y  # quadrants 2, 3 negate
    return y if abs(x) < _INF_F64 else _NAN_F64


@_body
def _sin_cos_f32(x, offset):
    # All in f64: two-part reduction and short polynomials leave ample margin.
    xd = np.float64(x)
    k = np.rint(xd * _TWO_OVER_PI)
    r = _fmuladd(k, -_PIO2_1, xd)
    r = _clamp(_fmuladd(k, -_PIO2_1T, r), -_R_MAX, _R_MAX)
    z = r * r
    s = r + r * z * (((_S32_3 * z + _S32_2) * z + _S32_1) * z + _S32_0)
    c = _ONE_F64 - _HALF_F64 * z + z * z * ((_C32_2 * z + _C32_1) * z + _C32_0)
    return np.float32(_quadrant_select(s, c, k, offset, xd))


@_body
def _sin_cos_f64(x, offset):
    k = np.rint(x * _TWO_OVER_PI)
    r1 = _fmuladd(k, -_PIO2_1, x)  # exact for |k| < 2**20, as is w
    w = k * _PIO2_2
    r = r1 - w
    # x - k pi/2 = r + lo: lo is what rounding r dropped (2Sum, exact whatever
    # the magnitudes), less the last part of pi/2
    v = r - r1
    lo = ((r1 - (r - v)) - (w + v)) - k * _PIO2_2T
    r = _clamp(r, -_R_MAX, _R_MAX)  # both only matter past 2**20 pi/2 (bounded garbage)
    lo = _clamp(lo, -_LO_MAX, _LO_MAX)
    z = r * r
    sp = r * z * (((((_S5 * z + _S4) * z + _S3) * z + _S2) * z + _S1) * z + _S0)  # sin(r) - r
    cp = _fmuladd(z * z, (((((_C5 * z + _C4) * z + _C3) * z + _C2) * z + _C1) * z + _C0), -_HALF_F64 * z)
    # sin(r + lo) ~ sin(r) + lo cos(r), cos(r + lo) ~ cos(r) - lo sin(r) (lo reaches
    # ~2e-15); the small terms are summed before the leading r or 1
    s = r + _fmuladd(lo, _ONE_F64 + cp, sp)
    c = _ONE_F64 + _fmuladd(-lo, r + sp, cp)
    return _quadrant_select(s, c, k, offset, x)


# -- the public functions --


@_public
def exp_f32(x):
    """exp(x) for float32 x."""
    return _exp_f32(x)


@_public
def exp_f64(x):
    """exp(x) for float64 x."""
    return _exp_f64(x)


@_public
def expm1_f32(x):
    """exp(x) - 1 for float32 x."""
    return _expm1_f32(x)


@_public
def expm1_f64(x):
    """exp(x) - 1 for float64 x."""
    return _expm1_f64(x)


@_public
def log_f32(x):
    """Natural log of float32 x."""
    return _log_f32(x)


@_public
def log_f64(x):
    """Natural log of float64 x."""
    return _log_f64(x)


@_public
def log1p_f32(x):
    """log(1 + x) for float32 x."""
    return _log1p_f32(x)


@_public
def log1p_f64(x):
    """log(1 + x) for float64 x."""
    return _log1p_f64(x)


@_public
def tanh_f32(x):
    """tanh(x) for float32 x."""
    return _tanh_f32(x)


@_public
def tanh_f64(x):
    """tanh(x) for float64 x."""
    return _tanh_f64(x)


@_public
def logistic_f32(x):
    """1 / (1 + exp(-x)) for float32 x."""
    return _logistic_f32(x)


@_public
def logistic_f64(x):
    """1 / (1 + exp(-x)) for float64 x."""
    return _logistic_f64(x)


@_public
def sin_f32(x):
    """sin(x) for float32 x."""
    return _sin_cos_f32(x, _ZERO_F64)


@_public
def cos_f32(x):
    """cos(x) for float32 x."""
    return _sin_cos_f32(x, _ONE_F64)


@_public
def sin_f64(x):
    """sin(x) for float64 x."""
    return _sin_cos_f64(x, _ZERO_F64)


@_public
def cos_f64(x):
    """cos(x) for float64 x."""
    return _sin_cos_f64(x, _ONE_F64)
