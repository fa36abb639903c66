"""Eager autodiff: funcgrad against hand-written NumPy gradients (the floor)
and against HIPS autograd, JAX (eager, no jit) and PyTorch when installed.

Run: python benchmarks/autodiff.py
The peers are optional; install them in a separate virtual environment
(`pip install "jax[cpu]" autograd torch==2.13.0`), never as dependencies.
Each figure is the median of several runs, all measured in this one run.
"""

from __future__ import annotations

import itertools

import numpy as np
from timing import have, median_seconds

import funcgrad as fg
import funcgrad.numpy as fnp

# ---------------------------------------------------------------- 1. a small function


def small_problem(rng):
    w, b, x = rng.normal(size=(10, 10)), rng.normal(size=10), rng.normal(size=10)

    def numpy_grad(x):
        h = np.tanh(w @ x + b)
        return w.T @ (2 * h * (1 - h * h))

    def f(x):
        return fnp.sum(fnp.tanh(w @ x + b) ** 2)

    runs = {"numpy (by hand)": lambda: numpy_grad(x), "funcgrad": lambda: fg.grad(f)(x)}
    if have("autograd"):
        import autograd
        import autograd.numpy as anp

        g = autograd.grad(lambda v: anp.sum(anp.tanh(anp.dot(w, v) + b) ** 2))
        runs["autograd"] = lambda: g(x)
    if have("jax"):
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        g_jax = jax.grad(lambda v: jnp.sum(jnp.tanh(w @ v + b) ** 2))
        x_jax = jnp.asarray(x)
        runs["jax (eager)"] = lambda: g_jax(x_jax).block_until_ready()
    if have("torch"):
        import torch

        wt, bt = torch.tensor(w), torch.tensor(b)

        def torch_grad():
            v = torch.tensor(x, requires_grad=True)
            torch.sum(torch.tanh(wt @ v + bt) ** 2).backward()
            return v.grad

        runs["pytorch"] = torch_grad
    np.testing.assert_allclose(fg.grad(f)(x), numpy_grad(x), rtol=1e-10)
    return "grad of sum(tanh(W x + b)^2), W 10x10, per call", runs, 30, 20


# ---------------------------------------------------------------- 2. an MLP step


def mlp_problem(rng):
    sizes = [784, 512, 512, 10]
    params = [((rng.normal(size=(m, n)) / np.sqrt(m)).astype(np.float32), np.zeros(n, np.float32))
              for m, n in itertools.pairwise(sizes)]
    x = rng.normal(size=(128, 784)).astype(np.float32)
    labels = rng.integers(0, 10, size=128)
    onehot = np.eye(10, dtype=np.float32)[labels]

    def loss(params, x):
        h = x
        for w, b in params[:-1]:
            h = fnp.maximum(h @ w + b, 0.0)
        w, b = params[-1]
        logits = h @ w + b
        logits = logits - fnp.max(logits, axis=1, keepdims=True)
        log_p = logits - fnp.log(fnp.sum(fnp.exp(logits), axis=1, keepdims=True))
        return -fnp.mean(fnp.sum(log_p * onehot, axis=1))

    def numpy_step(params, x):
        hs, h = [x], x
        for w, b in params[:-1]:
            h = np.maximum(h @ w + b, 0.0)
            hs.append(h)
        w, b = params[-1]
        logits = h @ w + b
        logits = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        value = -np.mean(np.sum((logits - np.log(np.exp(logits).sum(1, keepdims=True))) * onehot, 1))
        g = (p - onehot) / len(x)
        grads = []
        for i in reversed(range(len(params))):
            w, _ = params[i]
            grads.append((hs[i].T @ g, g.sum(0)))
            if i:
                g = (g @ w.T) * (hs[i] > 0)
        return value, grads[::-1]

    vg = fg.value_and_grad(loss)
    runs = {"numpy (by hand)": lambda: numpy_step(params, x), "funcgrad": lambda: vg(params, x)}
    if have("autograd"):
        import autograd
        import autograd.numpy as anp

        def a_loss(params, x):
            h = x
            for w, b in params[:-1]:
                h = anp.maximum(anp.dot(h, w) + b, 0.0)
            w, b = params[-1]
            logits = anp.dot(h, w) + b
            logits = logits - anp.max(logits, axis=1, keepdims=True)
            log_p = logits - anp.log(anp.sum(anp.exp(logits), axis=1, keepdims=True))
            return -anp.mean(anp.sum(log_p * onehot, axis=1))

        a_vg = autograd.value_and_grad(a_loss)
        runs["autograd"] = lambda: a_vg(params, x)
    if have("jax"):
        import jax
        import jax.numpy as jnp

        def j_loss(params, x):
            h = x
            for w, b in params[:-1]:
                h = jnp.maximum(h @ w + b, 0.0)
            w, b = params[-1]
            return -jnp.mean(jnp.sum(jax.nn.log_softmax(h @ w + b) * onehot, axis=1))

        j_vg = jax.value_and_grad(j_loss)
        j_params = jax.tree_util.tree_map(jnp.asarray, params)
        j_x = jnp.asarray(x)
        runs["jax (eager)"] = lambda: jax.block_until_ready(j_vg(j_params, j_x))
    if have("torch"):
        import torch

        t_params = [(torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True))
                    for w, b in params]
        t_x, t_labels = torch.tensor(x), torch.tensor(labels)

        def torch_step():
            for w, b in t_params:
                w.grad = b.grad = None
            h = t_x
            for w, b in t_params[:-1]:
                h = torch.relu(h @ w + b)
            w, b = t_params[-1]
            loss = torch.nn.functional.cross_entropy(h @ w + b, t_labels)
            loss.backward()
            return loss

        runs["pytorch"] = torch_step
    value, grads = vg(params, x)
    np_value, np_grads = numpy_step(params, x)
    np.testing.assert_allclose(value, np_value, rtol=1e-4)
    np.testing.assert_allclose(grads[0][0], np_grads[0][0], rtol=1e-3, atol=1e-6)
    return "value_and_grad, MLP 784-512-512-10, float32, batch 128", runs, 15, 1


# ---------------------------------------------------------------- 3. a Hessian


def hessian_problem(rng):
    x = rng.normal(size=100)

    def rosenbrock(v):
        return fnp.sum(100.0 * (v[1:] - v[:-1] ** 2) ** 2 + (1 - v[:-1]) ** 2)

    def numpy_hessian(v):
        n = len(v)
        h = np.zeros((n, n))
        i = np.arange(n - 1)
        h[i, i] += 1200 * v[:-1] ** 2 - 400 * v[1:] + 2
        h[i + 1, i + 1] += 200
        h[i, i + 1] = h[i + 1, i] = -400 * v[:-1]
        return h

    runs = {"numpy (by hand)": lambda: numpy_hessian(x),
            "funcgrad": lambda: fg.hessian(rosenbrock)(x)}
    if have("autograd"):
        import autograd
        import autograd.numpy as anp

        a_h = autograd.hessian(lambda v: anp.sum(100.0 * (v[1:] - v[:-1] ** 2) ** 2
                                                 + (1 - v[:-1]) ** 2))
        runs["autograd"] = lambda: a_h(x)
    if have("jax"):
        import jax
        import jax.numpy as jnp

        j_h = jax.hessian(lambda v: jnp.sum(100.0 * (v[1:] - v[:-1] ** 2) ** 2 + (1 - v[:-1]) ** 2))
        j_x = jnp.asarray(x)
        runs["jax (eager)"] = lambda: j_h(j_x).block_until_ready()
    if have("torch"):
        import torch

        t_x = torch.tensor(x)
        runs["pytorch"] = lambda: torch.autograd.functional.hessian(
            lambda v: torch.sum(100.0 * (v[1:] - v[:-1] ** 2) ** 2 + (1 - v[:-1]) ** 2), t_x)
    np.testing.assert_allclose(fg.hessian(rosenbrock)(x), numpy_hessian(x), rtol=1e-10)
    return "hessian of the 100-dimensional Rosenbrock function", runs, 5, 1


def main() -> None:
    rng = np.random.default_rng(0)
    for make in (small_problem, mlp_problem, hessian_problem):
        title, runs, repeat, number = make(rng)
        times = {name: median_seconds(run, repeat, number) for name, run in runs.items()}
        floor, ours = times["numpy (by hand)"], times["funcgrad"]
        print(f"\n{title}")
        for name, t in times.items():
            note = "" if name == "funcgrad" else f"   funcgrad / {name}: {ours / t:6.2f}x"
            print(f"  {name:<16}{t * 1e3:10.3f} ms{note}")
        print(f"  (funcgrad is {ours / floor:.2f}x the hand-written NumPy floor)")


if __name__ == "__main__":
    main()
