"""Per-example gradients: vmap(grad) against a Python loop of grad, against
the closed-form NumPy gradient (the floor), and against JAX's vmap(grad) and
torch.func's when installed.

Logistic regression, d=100, batch 256, float32.  Run: python benchmarks/vmap.py
Each figure is the median of several runs, all measured in this one run.
"""

from __future__ import annotations

import numpy as np
from timing import have, median_seconds

import funcgrad as fg
import funcgrad.numpy as fnp


def main() -> None:
    rng = np.random.default_rng(0)
    d, n = 100, 256
    w = rng.normal(size=d).astype(np.float32)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = np.sign(rng.normal(size=n)).astype(np.float32)

    def loss(w, xi, yi):
        return fnp.log1p(fnp.exp(-yi * fnp.dot(xi, w)))

    def closed_form():
        margin = -y * (x @ w)
        return (-y / (1 + np.exp(-margin)))[:, None] * x

    per_example = fg.vmap(fg.grad(loss), in_axes=(None, 0, 0))
    grad = fg.grad(loss)
    runs = {
        "numpy closed form": closed_form,
        "funcgrad vmap(grad)": lambda: per_example(w, x, y),
        "funcgrad loop of grad": lambda: np.stack([grad(w, xi, yi) for xi, yi in zip(x, y)]),
    }
    np.testing.assert_allclose(per_example(w, x, y), closed_form(), rtol=1e-4, atol=1e-6)
    if have("jax"):
        import jax
        import jax.numpy as jnp

        j_grad = jax.vmap(jax.grad(lambda w, xi, yi: jnp.log1p(jnp.exp(-yi * jnp.dot(xi, w)))),
                          in_axes=(None, 0, 0))
        jw, jx, jy = map(jnp.asarray, (w, x, y))
        runs["jax vmap(grad) (eager)"] = lambda: j_grad(jw, jx, jy).block_until_ready()
    if have("torch"):
        import torch
        from torch.func import grad as t_grad
        from torch.func import vmap as t_vmap

        t_per = t_vmap(t_grad(lambda w, xi, yi: torch.log1p(torch.exp(-yi * torch.dot(xi, w)))),
                       in_dims=(None, 0, 0))
        tw, tx, ty = map(torch.tensor, (w, x, y))
        runs["torch.func vmap(grad)"] = lambda: t_per(tw, tx, ty)
    times = {name: median_seconds(run, 5 if "loop" in name else 15) for name, run in runs.items()}
    ours = times["funcgrad vmap(grad)"]
    print("per-example gradients, logistic regression, d=100, batch 256, float32")
    for name, t in times.items():
        note = "" if name == "funcgrad vmap(grad)" else f"   vmap(grad) / this: {ours / t:7.3f}x"
        print(f"  {name:<26}{t * 1e3:10.3f} ms{note}")
    print(f"  vmap(grad) is {times['funcgrad loop of grad'] / ours:.1f}x faster than the loop")


if __name__ == "__main__":
    main()
