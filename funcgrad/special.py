"""Special functions NumPy lacks (as ``scipy.special``), traceable and
differentiable.

Example:
    >>> import numpy as np
    >>> from funcgrad.special import erf
    >>> erf(np.array([0.0, 1.0]))
    array([0.        , 0.84270079])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import funcgrad.numpy as fnp
from funcgrad.numpy._core import aval_of
from funcgrad.transforms.custom_derivatives import custom_jvp

# Cephes's erf and erfc in double precision, as rational functions, highest
# degree first: erf(x) = x T(x^2) / U(x^2) for |x| < 1; erfc(x) = exp(-x^2)
# P(|x|) / Q(|x|) for 1 <= |x| < 8 and exp(-x^2) R(|x|) / S(|x|) beyond.
_ERF_T = (9.60497373987051638749E0, 9.00260197203842689217E1, 2.23200534594684319226E3,
          7.00332514112805075473E3, 5.55923013010394962768E4)
_ERF_U = (1.0, 3.35617141647503099647E1, 5.21357949780152679795E2, 4.59432382970980127987E3,
          2.26290000613890934246E4, 4.92673942608635921086E4)
_ERFC_P = (2.46196981473530512524E-10, 5.64189564831068821977E-1, 7.46321056442269912687E0,
           4.86371970985681366614E1, 1.96520832956077098242E2, 5.26445194995477358631E2,
           9.34528527171957607540E2, 1.02755188689515710272E3, 5.57535335369399327526E2)
_ERFC_Q = (1.0, 1.32281951154744992508E1, 8.67072140885989742329E1, 3.54937778887819891062E2,
           9.75708501743205489753E2, 1.82390916687909736289E3, 2.24633760818710981792E3,
           1.65666309194161350182E3, 5.57535340817727675546E2)
_ERFC_R = (5.64189583547755073984E-1, 1.27536670759978104416E0, 5.01905042251180477414E0,
           6.16021097993053585195E0, 7.40974269950448939160E0, 2.97886665372100240670E0)
_MAX_LOG = 7.09782712893383996843E2  # exp(-x^2) underflows past it
_ERFC_S = (1.0, 2.26052863220117276590E0, 9.39603524938001434673E0, 1.20489539808096656605E1,
           1.70814450747565897222E1, 9.60896809063285878198E0, 3.36907645100081516050E0)


def _polynomial(x: Any, coefficients: tuple[float, ...]) -> Any:
    p = coefficients[0]
    for c in coefficients[1:]:
        p = p * x + c
    return p


def _erf_value(x: Any) -> Any:
    """The error function, computed in float64 and returned in ``x``'s dtype."""
    dtype = aval_of(x).dtype
    # Beyond 27, erfc underflows to 0; clipping keeps infinities out of the polynomials.
    x = fnp.clip(x.astype(np.float64), -27.0, 27.0)
    x2, t = x * x, fnp.abs(x)
    small = x * _polynomial(x2, _ERF_T) / _polynomial(x2, _ERF_U)
    near = _polynomial(t, _ERFC_P) / _polynomial(t, _ERFC_Q)
    far = _polynomial(t, _ERFC_R) / _polynomial(t, _ERFC_S)
    erfc = fnp.where(x2 > _MAX_LOG, 0.0, fnp.exp(-x2) * fnp.where(t < 8, near, far))
    return fnp.where(t < 1, small, fnp.copysign(1 - erfc, x)).astype(dtype)


@custom_jvp
def erf(x: Any) -> Any:
    """The error function ``2/sqrt(pi) * integral of exp(-t^2) from 0 to x``,
    accurate to float64 rounding (Cephes' rational approximations).

    Example:
        >>> import funcgrad as fg
        >>> float(fg.grad(erf)(0.0)) == 2 / math.sqrt(math.pi)
        True
    """
    return _erf_value(x)


@erf.defjvp
def _erf_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return erf(x), t * (2 / math.sqrt(math.pi)) * fnp.exp(-x * x)


__all__ = ["erf"]
