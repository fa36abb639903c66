"""fg.jit: every primitive compiled equals eager; fusion keeps dtypes; the
cache retraces exactly when it should; composition with grad and vmap;
debugging aids; the disk cache across processes."""

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from primitive_samples import samples

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.backends.numba_cpu import JitCompilationError, rules
from funcgrad.backends.numba_cpu.program import Segment
from funcgrad.primitives import PRIMITIVES

SAMPLES = samples()
COMPILED = sorted(name for name, p in PRIMITIVES.items() if not getattr(p, "collective", False))


def assert_jit_equals(got, want, rtol=1e-6):
    """Same dtype and shape; bitwise for integers and booleans."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype,
                                                                   got.shape, want.shape)
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-12)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", COMPILED)
def test_every_primitive_compiled_equals_eager(name):
    primitive = PRIMITIVES[name]
    operands, params = SAMPLES[name]
    f = fg.jit(lambda *ops: primitive.bind(*ops, **params))
    got = f(*operands)
    want = primitive.impl(np, *operands, **params)
    pairs = zip(got, want) if primitive.multiple_results else [(got, want)]
    for g, w in pairs:
        assert_jit_equals(g, w)
    steps = f.lower(*operands).program.steps
    assert len(steps) == 1 and isinstance(steps[0], Segment), "a host call: no lowering"


CHAINS = {
    "broadcast and keepdims": lambda x, y: (x * y[:, None] - 1.0).sum(axis=1, keepdims=True) / x,
    "mixed dtypes": lambda x, y: (x > 0.5).astype(np.int32) * 3 + fnp.arange(x.shape[1]),
    "float32 stays float32": lambda x, y: fnp.tanh(x.astype(np.float32) * 2.0 + 1).max(axis=0),
    "transcendental": lambda x, y: fnp.exp(-x) * fnp.log1p(x) + fnp.sin(x) * fnp.cos(y[:, None]),
    "reduce over the first axis": lambda x, y: fnp.mean(x * x, axis=0) - fnp.var(x, axis=0),
    "transposed operand": lambda x, y: x.T * fnp.arange(x.shape[0]) + x.T.sum(axis=0),
    "integer arithmetic": lambda x, y: (fnp.arange(12, dtype=np.int32).reshape(3, 4) // 3) % 2 - 1,
}


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_fused_clusters_equal_eager(name):
    x = np.random.default_rng(0).uniform(0.1, 1.0, (3, 4))
    y = np.linspace(0.0, 1.0, 3)
    fun = CHAINS[name]
    assert_jit_equals(fg.jit(fun)(x, y), fun(x, y), rtol=1e-6)


@settings(max_examples=6)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.integers(0, 2))
def test_broadcasting_reductions_over_drawn_shapes(shape, axis):
    axis = axis % len(shape)
    x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    fun = lambda x: (x - x.max(axis=axis, keepdims=True)) * fnp.float32(0.5)  # noqa: E731
    assert_jit_equals(fg.jit(fun)(x), fun(x))


# ---------------------------------------------------------------- the cache


def test_a_new_shape_dtype_or_static_value_retraces_and_a_scalar_does_not():
    f = fg.jit(lambda x, s, n: x * s + n, static_argnums=2)
    x = np.ones(3, np.float32)
    f(x, 2.0, 1)
    f(x, 5.0, 1)  # a new Python scalar value: no retrace
    assert f.cache_info()["traces"] == 1 and f.cache_info()["hits"] == 1
    assert_jit_equals(f(x, 5.0, 1), x * 5.0 + 1)
    f(np.ones(4, np.float32), 2.0, 1)
    f(np.ones(3, np.float64), 2.0, 1)
    f(x, 2.0, 2)
    assert f.cache_info()["traces"] == 4


def test_python_scalars_are_weakly_typed():
    f = fg.jit(lambda x, s: x * s)
    assert f(np.ones(2, np.float32), 3.0).dtype == np.float32
    assert f(np.ones(2, np.int32), 3).dtype == np.int32


def test_the_cache_is_bounded_lru():
    f = fg.jit(lambda x: x + 1, cache_size=2)
    for n in (1, 2, 1, 3):  # 1 is used again, so 2 is the least recently used
        f(np.ones(n))
    assert f.cache_info()["size"] == 2
    f(np.ones(1))
    assert f.cache_info()["traces"] == 3
    f(np.ones(2))
    assert f.cache_info()["traces"] == 4


def test_threads_calling_one_function_get_correct_results():
    f = fg.jit(lambda x, s: fnp.tanh(x) * s)
    x = np.linspace(-1, 1, 1000)
    errors = []

    def work(seed):
        for k in range(50):
            s = float(seed * 100 + k)
            if not np.allclose(f(x, s), np.tanh(x) * s):
                errors.append((seed, k))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and f.cache_info()["traces"] == 1


def test_static_argnames_and_dynamic_keywords():
    f = fg.jit(lambda x, *, power, scale: x ** power * scale, static_argnames="power")
    assert_jit_equals(f(np.arange(3.0), power=3, scale=2.0), np.arange(3.0) ** 3 * 2.0)
    with pytest.raises(TypeError, match="hashable"):
        fg.jit(lambda x, n: x, static_argnums=1)(np.ones(2), [1, 2])
    with pytest.raises(TypeError, match=r"not an array.*static"):
        fg.jit(lambda x, mode: x)(np.ones(2), "fast")


def test_outputs_are_fresh_arrays():
    x = np.ones(3)
    y, c = fg.jit(lambda x: (x, 2.0))(x)
    assert y is not x and not np.shares_memory(x, y)
    assert_jit_equals(c, np.array(2.0))


# ---------------------------------------------------------------- composition


def _loss(w, x):
    return fnp.sum(fnp.tanh(x @ w) ** 2)


W = np.random.default_rng(2).normal(size=(3, 2))
XS = np.random.default_rng(3).normal(size=(4, 3))


@pytest.mark.parametrize("name, make", [
    ("jit(grad)", lambda: (fg.jit(fg.grad(_loss)), fg.grad(_loss))),
    ("grad(jit)", lambda: (fg.grad(fg.jit(_loss)), fg.grad(_loss))),
    ("jit(jit)", lambda: (fg.jit(lambda w, x: fg.jit(_loss)(w, x) * 2), lambda w, x: _loss(w, x) * 2)),
    ("jit(vmap)", lambda: (fg.jit(fg.vmap(_loss, (None, 0))), fg.vmap(_loss, (None, 0)))),
    ("vmap(jit)", lambda: (fg.vmap(fg.jit(_loss), (None, 0)), fg.vmap(_loss, (None, 0)))),
    ("jit(vmap(grad))", lambda: (fg.jit(fg.vmap(fg.grad(_loss), (None, 0))),
                                 fg.vmap(fg.grad(_loss), (None, 0)))),
])
def test_jit_composes_with_the_other_transforms(name, make):
    compiled, reference = make()
    assert_jit_equals(compiled(W, XS), reference(W, XS), rtol=1e-10)


def test_value_dependent_python_control_flow_names_the_users_line():
    def f(x):
        if x.sum() > 0:  # the line the error must show
            return x
        return -x

    with pytest.raises(fg.ConcretizationError, match=r"(?s)inside fg.jit.*test_jit.py.*if x.sum"):
        fg.jit(f)(np.ones(2))


# ---------------------------------------------------------------- debugging


def test_disable_jit_runs_the_python_function():
    seen = []
    f = fg.jit(lambda x: seen.append(type(x)) or x * 2)
    with fg.disable_jit():
        f(np.ones(2))
    assert seen == [np.ndarray]


@pytest.mark.parametrize("compiled", [False, True])
def test_debug_nans_names_the_operation(compiled):
    def f(x):
        return fnp.log(x) * 2.0

    f = fg.jit(f) if compiled else f
    fg.config.update("debug_nans", True)
    try:
        with pytest.raises(FloatingPointError, match="log produced a NaN"):
            f(np.array([1.0, -1.0]))
    finally:
        fg.config.update("debug_nans", False)
    assert np.isnan(f(np.array([-1.0]))[0])


def test_lower_shows_the_ir_and_the_source_and_compiles():
    lowered = fg.jit(lambda x: fnp.sum(x * 2.0)).lower(np.ones(3, np.float32))
    assert "fused" in str(lowered.ir)
    assert "# b:f32[] = fused a" in lowered.source and "def kernel(a" in lowered.source
    compiled = lowered.compile()
    assert_jit_equals(compiled(np.arange(3, dtype=np.float32)), np.float32(6.0))
    with pytest.raises(TypeError, match="do not match"):
        compiled(np.ones(4, np.float32))


def test_a_compilation_error_names_the_primitive_and_the_users_line(monkeypatch):
    monkeypatch.setitem(rules.RULES, "rev", lambda em, eqn: em.line(
        f"{em.name(eqn.outputs[0])} = undefined_helper({em.name(eqn.inputs[0])})"))
    with pytest.raises(JitCompilationError, match=r"(?s)rev recorded at .*test_jit.py"):
        fg.jit(lambda x: fnp.flip(x) * 1.5)(np.arange(3.0))


def test_every_primitive_in_the_mlp_step_is_compiled():
    def step(w, x):
        return fg.value_and_grad(lambda w: fnp.mean(fnp.maximum(x @ w, 0.0) ** 2))(w)

    steps = fg.jit(step).lower(W, XS).program.steps
    assert len(steps) == 1 and isinstance(steps[0], Segment)


# ---------------------------------------------------------------- the disk cache

SCRIPT = textwrap.dedent("""
    import numpy as np, funcgrad as fg, funcgrad.numpy as fnp
    f = fg.jit(lambda x: fnp.tanh(x) * 3.0 + x.sum())
    print(float(f(np.arange(4.0)).sum()))
    entry = next(iter(f._cache.values()))
    print(sum(entry.executable.single.stats.cache_hits.values()))
""")


def _run(script, cache_dir, **env):
    env = {**os.environ, "FUNCGRAD_CACHE_DIR": str(cache_dir), **env}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          timeout=240)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_second_process_reuses_the_disk_cache(tmp_path):
    first = _run(SCRIPT, tmp_path)
    second = _run(SCRIPT, tmp_path)
    assert first[0] == second[0]
    assert first[1] == "0" and second[1] == "1"  # the second one loaded Numba's cached code


def test_a_corrupted_cache_entry_is_recompiled(tmp_path):
    expected = _run(SCRIPT, tmp_path)[0]
    generated = tmp_path / "generated"
    for path in list(generated.glob("*.py")) + list((generated / "__pycache__").glob("*")):
        path.write_bytes(b"\x00garbage")
    assert _run(SCRIPT, tmp_path)[0] == expected


def test_generated_code_runs_as_plain_python_without_numba(tmp_path):
    # (numba_math's bit casts are LLVM intrinsics, which need Numba: no transcendentals here)
    script = SCRIPT.split("entry =")[0].replace("fnp.tanh(x)", "fnp.maximum(x, 1.5)")
    with_numba = _run(script, tmp_path)
    without = _run(script, tmp_path, NUMBA_DISABLE_JIT="1", FUNCGRAD_DISK_CACHE="0")
    assert np.isclose(float(with_numba[0]), float(without[0]), rtol=1e-12)
