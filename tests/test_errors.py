"""The catalogue of bad inputs: each error names the problem, the user's
line (this file), and where it can, the fix."""

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import errors
from funcgrad.primitives import PRIMITIVES


def _message(error_type, fn, *args):
    with pytest.raises(error_type) as info:
        fg.make_ir(fn)(*args)
    message = str(info.value)
    assert "test_errors.py" in message, f"the user's line is missing from: {message}"
    return message


def test_incompatible_shapes():
    message = _message(errors.ShapeError, lambda x: x + np.ones(4), np.ones(3))
    assert "add" in message and "(3,)" in message and "(4,)" in message
    assert "lambda x: x + np.ones(4)" in message  # the user's source line
    # also a ValueError, as NumPy raises
    with pytest.raises(ValueError):
        fg.make_ir(lambda x, y: fnp.multiply(x, y))(np.ones((2, 3)), np.ones((3, 2)))


def test_bad_axis():
    message = _message(errors.AxisError, lambda x: fnp.sum(x, axis=2), np.ones((2, 3)))
    assert "axis 2" in message and "dimension 2" in message


def test_unknown_numpy_function_is_named():
    message = _message(errors.UnsupportedNumpyFunctionError, lambda x: np.fft.fft(x), np.ones(4))
    assert "numpy.fft.fft" in message and "funcgrad.numpy" in message


def test_unknown_ufunc_method_is_named():
    message = _message(errors.UnsupportedNumpyFunctionError, lambda x: np.add.outer(x, x),
                       np.ones(2))
    assert "numpy.add.outer" in message


def test_tracer_to_numpy_array_conversion():
    message = _message(errors.TracerArrayConversionError, lambda x: np.asarray(x), np.ones(2))
    assert "cannot be converted to a NumPy array" in message and "gradient" in message


def test_in_place_assignment_points_to_at():
    def f(x):
        x[0] = 1.0
        return x

    message = _message(errors.InPlaceUpdateError, f, np.ones(2))
    assert "x.at[index].set(value)" in message


def test_sort_method_is_in_place():
    with pytest.raises(TypeError, match=r"fnp\.sort"):
        fg.make_ir(lambda x: x.sort())(np.ones(3))


def test_python_if_on_abstract_tracer():
    def f(x):
        if x.sum() > 0:
            return x
        return -x

    message = _message(errors.ConcretizationError, f, np.ones(2))
    assert "if x.sum() > 0:" in message and "fnp.where" in message


def test_primitive_dtype_mismatch_names_the_primitive():
    mul = PRIMITIVES["mul"]
    message = _message(errors.DtypeError, lambda x, y: mul.bind(x, y),
                       np.ones(2, np.float32), np.ones(2))
    assert "mul" in message and "float32" in message and "float64" in message


def test_primitive_without_a_loop_for_the_dtype():
    message = _message(errors.DtypeError, lambda x: PRIMITIVES["sin"].bind(x), np.ones(2, np.int32))
    assert "sin: not defined for int32" in message


def test_reshape_to_the_wrong_size():
    message = _message(errors.ShapeError, lambda x: fnp.reshape(x, (4, 2)), np.ones(6))
    assert "reshape" in message and "(6,)" in message and "(4, 2)" in message


def test_errors_are_also_builtin_exceptions():
    assert issubclass(errors.ShapeError, ValueError)
    assert issubclass(errors.DtypeError, TypeError)
    assert issubclass(errors.ConcretizationError, TypeError)
    assert issubclass(errors.AxisError, IndexError)
