"""Per-example gradients with vmap, and the DP-SGD step built on them.

``fg.grad(example_loss)`` is the gradient of one example's loss;
``fg.vmap(..., in_axes=(None, 0, 0))`` maps it over a batch, sharing the
parameters, so one call gives every example's gradient, with a leading batch
axis on each parameter's gradient. The script prints the statistics of their
norms on a batch of scikit-learn's digits, checks them against a Python loop
of ``fg.grad`` calls, then trains an MLP with DP-SGD (Abadi et al., 2016):
clip each example's gradient to a norm of at most ``--clip``, average, and
add Gaussian noise of standard deviation ``--noise * --clip / batch size``.
It does not compute the privacy budget (epsilon) that this buys.

The step is a pure function of the parameters, the optimizer's state, a
batch and a random key, ready to be wrapped in ``fg.jit``.

Run: python examples/per_example_grads.py [--steps 300] [--clip 1.0] [--noise 1.0]
(needs scikit-learn: pip install -e ".[examples]")
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from digits_mlp import accuracy, load_data

import funcgrad as fg
import funcgrad.numpy as fnp
import funcgrad.random as random
from funcgrad import nn
from funcgrad.nn import optim

init_model, apply_model = nn.serial(nn.Dense(32), nn.Tanh, nn.Dense(10))


def example_loss(params: Any, x: Any, y: Any) -> Any:
    """The loss of one example: ``x`` of shape (64,), ``y`` an integer label."""
    return nn.softmax_cross_entropy(apply_model(params, x), y)


# One gradient per example: params shared (None), x and y mapped over axis 0.
per_example_grads = fg.vmap(fg.grad(example_loss), in_axes=(None, 0, 0))


def global_norms(grads: Any) -> Any:
    """Each example's gradient norm over all parameters: shape (batch,)."""
    return fnp.sqrt(sum(fnp.sum(fnp.reshape(g, (g.shape[0], -1)) ** 2, axis=1)
                        for g in fg.tree_leaves(grads)))


def private_gradient(params: Any, x: Any, y: Any, key: Any, clip: float, noise: float) -> tuple[Any, Any]:
    """DP-SGD's gradient: the mean of the per-example gradients clipped to
    norm ``clip``, plus Gaussian noise of deviation ``noise * clip / batch``;
    also returns the norms before clipping."""
    grads = per_example_grads(params, x, y)
    norms = global_norms(grads)
    scale = fnp.minimum(1.0, clip / fnp.maximum(norms, 1e-12))
    batch = x.shape[0]
    leaves, treedef = fg.tree_flatten(grads)
    keys = random.split(key, len(leaves))
    noisy = [fnp.tensordot(scale, g, axes=1) / batch
             + noise * clip / batch * random.normal(k, g.shape[1:], g.dtype)
             for g, k in zip(leaves, keys)]
    return fg.tree_unflatten(treedef, noisy), norms


def make_step(opt: optim.GradientTransformation, clip: float, noise: float) -> Callable:
    """The DP-SGD training step: a pure function
    ``step(params, opt_state, x, y, key) -> (params, opt_state, norms)``."""

    def step(params, opt_state, x, y, key):
        grads, norms = private_gradient(params, x, y, key, clip, noise)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optim.apply_updates(params, updates), opt_state, norms

    return step


def norm_stats(norms: np.ndarray) -> dict[str, float]:
    """The summary printed for a batch of gradient norms."""
    return {"min": float(norms.min()), "median": float(np.median(norms)), "mean": float(norms.mean()),
            "max": float(norms.max())}


def check_against_loop(params: Any, x: np.ndarray, y: np.ndarray, grads: Any, count: int
                       ) -> tuple[float, float]:
    """The largest difference between the vmapped gradients of the first
    ``count`` examples and ``fg.grad`` called on each in a Python loop, and
    the loop's seconds per example."""
    single = fg.grad(example_loss)
    worst = 0.0
    start = time.perf_counter()
    for i in range(count):
        expected = fg.tree_leaves(single(params, x[i], y[i]))
        got = [g[i] for g in fg.tree_leaves(grads)]
        worst = max(worst, *(float(np.max(np.abs(a - b))) for a, b in zip(got, expected)))
    return worst, (time.perf_counter() - start) / count


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=300, help="DP-SGD steps")
    parser.add_argument("--clip", type=float, default=1.0, help="the largest per-example gradient norm")
    parser.add_argument("--noise", type=float, default=1.0, help="the noise multiplier")
    parser.add_argument("--lr", type=float, default=0.5, help="SGD's learning rate")
    parser.add_argument("--check", type=int, default=5, help="examples to check against a loop")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Per-example norms, the check against a loop, then DP-SGD training;
    ``argv`` defaults to the command line."""
    args = parse_args(argv)
    x_train, y_train, x_test, y_test = load_data(args.seed)
    init_key, sample_key, noise_key = random.split(random.key(args.seed), 3)
    _, params = init_model(init_key, (args.batch_size, x_train.shape[1]))
    x, y = x_train[:args.batch_size], y_train[:args.batch_size]

    start = time.perf_counter()
    grads = per_example_grads(params, x, y)
    vmap_seconds = time.perf_counter() - start
    norms = np.asarray(global_norms(grads))
    stats = norm_stats(norms)
    print(f"per-example gradients of {args.batch_size} examples in {vmap_seconds * 1e3:.0f} ms; "
          f"the first layer's w {params[0]['w'].shape} has gradients {grads[0]['w'].shape}")
    print("their norms at init: " + ", ".join(f"{k} {v:.3f}" for k, v in stats.items())
          + f"; {np.mean(norms > args.clip):.0%} above the clip {args.clip}")

    difference, loop_seconds = check_against_loop(params, x, y, grads, args.check)
    batch_grads = fg.grad(lambda p: fnp.mean(fg.vmap(example_loss, in_axes=(None, 0, 0))(p, x, y)))(params)
    mean_difference = max(float(np.max(np.abs(np.mean(g, axis=0) - b)))
                          for g, b in zip(fg.tree_leaves(grads), fg.tree_leaves(batch_grads)))
    print(f"vs a loop of fg.grad on {args.check} examples ({loop_seconds * 1e3:.1f} ms each): largest "
          f"difference {difference:.1e}; their mean vs the batch gradient: {mean_difference:.1e}")
    if max(difference, mean_difference) > 1e-5:
        raise RuntimeError("the vmapped per-example gradients differ from fg.grad's")

    opt = optim.sgd(args.lr)
    opt_state = opt.init(params)
    step = make_step(opt, args.clip, args.noise)  # fg.jit(make_step(...)) once jit exists
    start = time.perf_counter()
    for i in range(args.steps):
        batch = np.asarray(random.choice(random.fold_in(sample_key, i), len(x_train), (args.batch_size,),
                                         replace=False))
        params, opt_state, norms = step(params, opt_state, x_train[batch], y_train[batch],
                                        random.fold_in(noise_key, i))
        if (i + 1) % max(1, args.steps // 5) == 0 or i + 1 == args.steps:
            norms = np.asarray(norms)
            print(f"step {i + 1:>4}: median norm {np.median(norms):.3f}, {np.mean(norms > args.clip):.0%} "
                  f"clipped, test accuracy {float(accuracy(apply_model(params, x_test), y_test)):.1%}")
    seconds = time.perf_counter() - start
    test_accuracy = float(accuracy(apply_model(params, x_test), y_test))
    print(f"DP-SGD (clip {args.clip}, noise multiplier {args.noise}): {args.steps} steps in {seconds:.1f} s, "
          f"test accuracy {test_accuracy:.2%}")
    return {"norms": stats, "loop_difference": difference, "mean_difference": mean_difference,
            "steps": args.steps, "seconds": seconds, "test_accuracy": test_accuracy}


if __name__ == "__main__":
    main()
