"""Every public funcgrad.numpy function is checked against NumPy somewhere in
the fnp test tables, and every ndarray method tracers offer exists."""

import pathlib
import re

import numpy as np
import pytest
from fnp_harness import fnp_names

import funcgrad.numpy as fnp
from funcgrad.numpy._core import FUNCTIONS
from funcgrad.numpy.array_methods import METHODS

TESTS = pathlib.Path(__file__).parent
SOURCES = "\n".join(p.read_text() for p in TESTS.glob("test_numpy_*.py"))
# Generated from the ufunc table, so tested by name through getattr.
TABLE_DRIVEN = set(__import__("funcgrad.numpy.ufuncs", fromlist=["UFUNC_NAMES"]).UFUNC_NAMES)


@pytest.mark.parametrize("name", sorted(fnp_names() - TABLE_DRIVEN))
def test_every_fnp_function_is_tested(name):
    assert re.search(rf"\b{name}\b", SOURCES), f"fnp.{name} appears in no tests/test_numpy_*.py"


@pytest.mark.parametrize("name", sorted(fnp.linalg.__all__))
def test_every_fnp_linalg_function_is_tested(name):
    assert re.search(rf"\b{name}\b", (TESTS / "test_numpy_linalg.py").read_text())


@pytest.mark.parametrize("name", METHODS)
def test_tracer_methods_exist(name):
    assert name in FUNCTIONS and hasattr(np.ndarray, name)


def test_every_fnp_function_has_a_docstring():
    missing = [n for n in fnp_names() if not (getattr(fnp, n).__doc__ or "").strip()]
    assert not missing
