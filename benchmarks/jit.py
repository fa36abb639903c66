"""fg.jit against NumPy eager and JAX's jax.jit on the CPU (when installed).

Run: python benchmarks/jit.py
JAX is optional; install it in a separate virtual environment
(`pip install "jax[cpu]"`), never as a dependency.  Each figure is the
median of several runs, all measured in this one run.

1. A chain of 10 elementwise operations on 1e6 and 1e7 float32 elements,
   arithmetic only and with transcendental functions.
2. The call overhead of a jitted ``x + 1`` on a 4-element array.
3. One SGD step of an MLP 784-512-512-10 (float32, batch 128, softmax
   cross-entropy) with ``jit(value_and_grad)``.
4. Time from a fresh process to the first result of that step: cold (empty
   caches) and warm (funcgrad's disk cache from a previous process).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from timing import have, median_seconds

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.backends.numba_cpu.blas import set_blas_threads


def report(title: str, times: dict[str, float], unit: float = 1e-3, unit_name: str = "ms") -> None:
    base = times["funcgrad jit"]
    print(f"\n{title}")
    for name, t in times.items():
        print(f"  {name:<16} {t / unit:10.3f} {unit_name}   {t / base:6.2f}x funcgrad jit")


# ---------------------------------------------------------------- 1. elementwise chains

def arithmetic(xp):
    def chain(x):
        y = x * 1.5 + 0.5
        y = y * y - x
        y = xp.maximum(y, 0.25) / (x + 2.0)
        return xp.abs(y - 0.125) * 3.0 + x
    return chain


def transcendental(xp):
    def chain(x):
        y = xp.exp(-x * x) + xp.tanh(x)
        y = xp.log(1.0 + y * y) * xp.sin(x)
        return xp.cos(y) + 1.0 / (1.0 + xp.exp(-y))
    return chain


def chain_times(make, x, repeat: int) -> dict[str, float]:
    f = fg.jit(make(fnp))
    assert np.allclose(f(x), make(np)(x), rtol=1e-4, atol=1e-5)
    times = {"funcgrad jit": median_seconds(lambda: f(x), repeat),
             "numpy eager": median_seconds(lambda: make(np)(x), repeat)}
    if have("jax"):
        import jax
        import jax.numpy as jnp

        g, xj = jax.jit(make(jnp)), jnp.asarray(x)
        times["jax jit"] = median_seconds(lambda: g(xj).block_until_ready(), repeat)
    return times


def chains():
    rng = np.random.default_rng(0)
    for n in (10**6, 10**7):
        x = rng.uniform(-2, 2, n).astype(np.float32)
        for label, make in (("arithmetic", arithmetic), ("transcendental", transcendental)):
            times = chain_times(make, x, 20 if n == 10**6 else 5)
            report(f"10-op {label} chain, {n:.0e} float32", times)


# ---------------------------------------------------------------- 2. call overhead

def overhead():
    x = np.ones(4, np.float32)
    f = fg.jit(lambda x: x + 1)
    times = {"funcgrad jit": median_seconds(lambda: f(x), 20, number=2000),
             "numpy eager": median_seconds(lambda: x + 1, 20, number=2000)}
    if have("jax"):
        import jax
        import jax.numpy as jnp

        g = jax.jit(lambda x: x + 1)
        xj = jnp.asarray(x)
        times["jax jit"] = median_seconds(lambda: g(xj).block_until_ready(), 20, number=2000)
    report("call overhead of a jitted x + 1 on 4 elements", times, 1e-6, "us")


# ---------------------------------------------------------------- 3. the MLP step

MLP = """
import numpy as np
SIZES = [784, 512, 512, 10]
rng = np.random.default_rng(0)
params = [(rng.normal(0, 0.05, (a, b)).astype(np.float32), np.zeros(b, np.float32))
          for a, b in zip(SIZES[:-1], SIZES[1:])]
x = rng.normal(size=(128, 784)).astype(np.float32)
y = rng.integers(0, 10, 128)
"""

FUNCGRAD_STEP = MLP + """
import funcgrad as fg, funcgrad.numpy as fnp
from funcgrad import nn

def loss(params, x, y):
    h = x
    for w, b in params[:-1]:
        h = nn.relu(h @ w + b)
    w, b = params[-1]
    return fnp.mean(nn.softmax_cross_entropy(h @ w + b, y))

@fg.jit
def step(params, x, y):
    value, grads = fg.value_and_grad(loss)(params, x, y)
    return value, [(w - 0.01 * gw, b - 0.01 * gb) for (w, b), (gw, gb) in zip(params, grads)]
"""

JAX_STEP = MLP + """
import jax, jax.numpy as jnp

def loss(params, x, y):
    h = x
    for w, b in params[:-1]:
        h = jax.nn.relu(h @ w + b)
    w, b = params[-1]
    logits = h @ w + b
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))

@jax.jit
def step(params, x, y):
    value, grads = jax.value_and_grad(loss)(params, x, y)
    return value, [(w - 0.01 * gw, b - 0.01 * gb) for (w, b), (gw, gb) in zip(params, grads)]
params = jax.device_put(params); x = jnp.asarray(x); y = jnp.asarray(y)
"""


def mlp_step():
    space: dict = {}
    exec(FUNCGRAD_STEP, space)
    step, params, x, y = (space[k] for k in ("step", "params", "x", "y"))
    times = {"funcgrad jit": median_seconds(lambda: step(params, x, y), 30)}
    set_blas_threads(os.cpu_count())  # fg.config.blas_threads; 1 by default (see its docs)
    times[f"  {os.cpu_count()} BLAS threads"] = median_seconds(lambda: step(params, x, y), 30)
    set_blas_threads(fg.config.blas_threads)
    if have("jax"):
        jax_space: dict = {}
        exec(JAX_STEP, jax_space)
        jstep, jp, jx, jy = (jax_space[k] for k in ("step", "params", "x", "y"))
        times["jax jit"] = median_seconds(lambda: jstep(jp, jx, jy)[0].block_until_ready(), 30)
        got, want = float(step(params, x, y)[0]), float(jstep(jp, jx, jy)[0])
        assert abs(got - want) < 1e-4 * abs(want), (got, want)
    report("SGD step of an MLP 784-512-512-10, batch 128, jit(value_and_grad)", times)


def time_to_first_result(script: str, env: dict) -> float:
    code = "import time; start = time.perf_counter()\n" + script + \
        "\nfloat(step(params, x, y)[0]); print(time.perf_counter() - start)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, check=True)
    return float(done.stdout.split()[-1])


def startup():
    with tempfile.TemporaryDirectory() as cache:
        env = {"FUNCGRAD_CACHE_DIR": cache}
        times = {"funcgrad jit": time_to_first_result(FUNCGRAD_STEP, env),
                 "funcgrad warm": time_to_first_result(FUNCGRAD_STEP, env)}
    if have("jax"):
        times["jax jit"] = time_to_first_result(JAX_STEP, {})
    report("fresh process to the first result of the MLP step (imports included)", times, 1.0, "s")


if __name__ == "__main__":
    config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    print(f"NumPy {np.__version__} with {config.get('name')} {config.get('version')}; "
          f"{os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}")
    chains()
    overhead()
    mlp_step()
    startup()
