"""A compiled loop: the gradient of a tanh RNN's loss w.r.t. its parameters,
``fg.jit(fg.grad(loss))`` over ``fg.scan`` (the loop and its transpose run
inside one Numba function), against eager funcgrad over a Python loop, and
against JAX's ``jax.jit(jax.grad)`` over ``lax.scan`` and PyTorch eager
when installed.

Hidden 128, input 32, 100 steps, batch 16, float32.
Run: python benchmarks/control_flow.py
The peers are optional (a separate virtual environment with ``jax[cpu]`` and
``torch``).  Each figure is the median of several runs, all measured in this
one run; compilation is outside the timings (each function runs once first).
"""

from __future__ import annotations

import numpy as np
from timing import have, median_seconds

import funcgrad as fg
import funcgrad.numpy as fnp

HIDDEN, INPUT, STEPS, BATCH = 128, 32, 100, 16


def scan_loss(params, xs, h0):
    def step(h, x):
        h = fnp.tanh(h @ params["w_h"] + x @ params["w_x"] + params["b"])
        return h, fnp.mean(h * h)

    _, energies = fg.scan(step, h0, xs)
    return fnp.mean(energies)


def loop_loss(params, xs, h0):
    h, total = h0, 0.0
    for x in xs:
        h = fnp.tanh(h @ params["w_h"] + x @ params["w_x"] + params["b"])
        total = total + fnp.mean(h * h)
    return total / len(xs)


def main() -> None:
    rng = np.random.default_rng(0)
    params = {"w_h": (rng.normal(size=(HIDDEN, HIDDEN)) / np.sqrt(HIDDEN)).astype(np.float32),
              "w_x": (rng.normal(size=(INPUT, HIDDEN)) / np.sqrt(INPUT)).astype(np.float32),
              "b": np.zeros(HIDDEN, np.float32)}
    xs = rng.normal(size=(STEPS, BATCH, INPUT)).astype(np.float32)
    h0 = np.zeros((BATCH, HIDDEN), np.float32)
    names = sorted(params)

    jitted = fg.jit(fg.grad(scan_loss))
    eager = fg.grad(loop_loss)
    runs = {"funcgrad jit(grad) over scan": lambda: jitted(params, xs, h0),
            "funcgrad eager grad, Python loop": lambda: eager(params, xs, h0)}
    reference = eager(params, xs, h0)
    results = {"funcgrad jit(grad) over scan": jitted(params, xs, h0)}

    if have("jax"):
        import jax
        import jax.numpy as jnp

        def jax_loss(p, xs, h0):
            def step(h, x):
                h = jnp.tanh(h @ p["w_h"] + x @ p["w_x"] + p["b"])
                return h, jnp.mean(h * h)

            return jnp.mean(jax.lax.scan(step, h0, xs)[1])

        j_grad = jax.jit(jax.grad(jax_loss))
        j_args = jax.tree_util.tree_map(jnp.asarray, (params, xs, h0))
        runs["jax jit(grad) over lax.scan"] = lambda: jax.block_until_ready(j_grad(*j_args))
        results["jax jit(grad) over lax.scan"] = j_grad(*j_args)
    if have("torch"):
        import torch

        t_params = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
        t_xs, t_h0 = torch.tensor(xs), torch.tensor(h0)

        def torch_grad():
            h, total = t_h0, 0.0
            for x in t_xs:
                h = torch.tanh(h @ t_params["w_h"] + x @ t_params["w_x"] + t_params["b"])
                total = total + torch.mean(h * h)
            return torch.autograd.grad(total / STEPS, [t_params[k] for k in names])

        runs["torch eager, Python loop"] = torch_grad
        results["torch eager, Python loop"] = dict(zip(names, torch_grad()))
    for name, grads in results.items():  # every implementation computes the same gradient
        for k in names:
            np.testing.assert_allclose(np.asarray(grads[k]), reference[k], rtol=2e-3, atol=1e-6,
                                       err_msg=f"{name}: {k}")

    times = {name: median_seconds(run, 5 if "eager grad" in name else 30)
             for name, run in runs.items()}
    ours = times["funcgrad jit(grad) over scan"]
    print(f"gradient of a tanh RNN's loss: hidden {HIDDEN}, input {INPUT}, {STEPS} steps, "
          f"batch {BATCH}, float32")
    for name, t in times.items():
        note = "" if t == ours else f"   this / funcgrad jit: {t / ours:7.2f}x"
        print(f"  {name:<34}{t * 1e3:10.3f} ms{note}")


if __name__ == "__main__":
    main()
