"""The training examples run, learn, and write their plot and checkpoint:
shortened runs of examples/digits_mlp.py, digits_cnn.py and
per_example_grads.py, called in-process through their ``main(argv)``."""

import importlib
import math
import pathlib

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.random as random
from funcgrad import nn
from funcgrad.backends.numba_cpu.program import Segment
from funcgrad.nn import optim
from funcgrad.nn.checkpoint import load

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def example(monkeypatch):
    """Import an example script by name (they import each other as siblings)."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    return importlib.import_module


def test_digits_mlp_learns_plots_and_checkpoints(example, tmp_path, capsys):
    digits_mlp = example("digits_mlp")
    metrics = digits_mlp.main(["--epochs", "3", "--out", str(tmp_path)])
    printed = capsys.readouterr().out

    # 3 epochs reach 93.1% (the full 20 epochs: 97.5%); the margin absorbs rounding on other machines.
    assert metrics["test_accuracy"] > 0.90
    losses = metrics["history"]["loss"]
    assert len(losses) == 3 and losses[0] > losses[1] > losses[2]
    assert "\repoch 3/3 [####################]" in printed and "test accuracy" in printed

    plot, checkpoint = pathlib.Path(metrics["plot"]), pathlib.Path(metrics["checkpoint"])
    assert plot == tmp_path / "digits_mlp.png" and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert checkpoint == tmp_path / "digits_mlp.npz"
    init, apply = nn.serial(*digits_mlp.MLP)
    template = {"params": init(random.key(0), (1, 64))[1], "epochs": 0}
    restored = load(checkpoint, like=template)
    assert restored["epochs"] == 3
    _, _, x_test, y_test = digits_mlp.load_data(0)
    reloaded = float(digits_mlp.accuracy(apply(restored["params"], x_test), y_test))
    assert reloaded == metrics["test_accuracy"]


def test_digits_cnn_loss_decreases_in_one_epoch(example, tmp_path, capsys):
    metrics = example("digits_cnn").main(["--epochs", "1", "--out", str(tmp_path)])
    step_loss = metrics["history"]["step_loss"]
    assert np.mean(step_loss[-5:]) < np.mean(step_loss[:5]) / 2   # from about log(10) = 2.3
    assert metrics["test_accuracy"] > 0.6                          # 82% after this epoch
    assert (tmp_path / "digits_cnn.png").exists() and (tmp_path / "digits_cnn.npz").exists()


def test_training_step_compiled_matches_eager(example):
    """The step is one pure function: jit compiles it whole, and the compiled
    step computes the eager result."""
    digits_mlp = example("digits_mlp")
    init, apply = nn.serial(*digits_mlp.MLP)
    _, params = init(random.key(1), (8, 64))
    opt = optim.adam(optim.cosine_decay(1e-3, decay_steps=10))
    args = (params, opt.init(params), np.random.default_rng(0).normal(size=(8, 64)).astype(np.float32),
            np.arange(8) % 10)
    step = digits_mlp.make_step(apply, opt)
    compiled = fg.tree_leaves(fg.jit(step)(*args))
    eager = fg.tree_leaves(step(*args))
    assert len(compiled) == len(eager)
    assert all(np.allclose(c, e, atol=1e-6) for c, e in zip(compiled, eager))
    steps = fg.jit(step).lower(*args).program.steps
    assert all(isinstance(s, Segment) for s in steps)  # compiled code only: no host calls


def test_per_example_grads_script(example, capsys):
    metrics = example("per_example_grads").main(["--batch-size", "16", "--steps", "20", "--check", "3"])
    assert metrics["loop_difference"] < 1e-5 and metrics["mean_difference"] < 1e-5
    norms = metrics["norms"]
    assert 0 < norms["min"] <= norms["median"] <= norms["max"]
    assert norms["min"] <= norms["mean"] <= norms["max"]
    assert metrics["test_accuracy"] > 0.3                            # 53% after these 20 noisy steps
    assert "largest difference" in capsys.readouterr().out


@pytest.fixture
def dp_batch(example):
    per_example_grads = example("per_example_grads")
    _, params = per_example_grads.init_model(random.key(2), (12, 64))
    rng = np.random.default_rng(1)
    return per_example_grads, params, rng.normal(size=(12, 64)).astype(np.float32), rng.integers(0, 10, 12)


def test_private_gradient_clips_each_example(dp_batch):
    module, params, x, y = dp_batch
    norms = np.asarray(module.global_norms(module.per_example_grads(params, x, y)))
    clip = float(np.median(norms))
    grads, returned = module.private_gradient(params, x, y, random.key(0), clip=clip, noise=0.0)
    assert np.allclose(returned, norms)
    # Without noise, the result is the mean of vectors of norm at most clip.
    assert float(optim.global_norm(grads)) <= clip * (1 + 1e-6)

    # A clip above every norm changes nothing: the mean of the per-example
    # gradients, which is the gradient of the mean loss.
    unclipped, _ = module.private_gradient(params, x, y, random.key(0), clip=2 * norms.max(), noise=0.0)
    def batch_loss(p):
        return fg.vmap(module.example_loss, in_axes=(None, 0, 0))(p, x, y).mean()

    expected = fg.tree_leaves(fg.grad(batch_loss)(params))
    assert all(np.allclose(u, e, atol=1e-6) for u, e in zip(fg.tree_leaves(unclipped), expected))


def test_private_gradient_noise(dp_batch):
    module, params, x, y = dp_batch
    clean, _ = module.private_gradient(params, x, y, random.key(0), clip=1.0, noise=0.0)
    noisy, _ = module.private_gradient(params, x, y, random.key(0), clip=1.0, noise=3.0)
    again, _ = module.private_gradient(params, x, y, random.key(0), clip=1.0, noise=3.0)
    other, _ = module.private_gradient(params, x, y, random.key(1), clip=1.0, noise=3.0)
    noise = np.concatenate([(n - c).ravel() for n, c in zip(fg.tree_leaves(noisy), fg.tree_leaves(clean))])
    assert all(leaf.dtype == np.float32 for leaf in fg.tree_leaves(noisy))
    assert math.isclose(noise.std(), 3.0 * 1.0 / len(x), rel_tol=0.05)   # 2,410 draws
    assert all(np.array_equal(a, b) for a, b in zip(fg.tree_leaves(noisy), fg.tree_leaves(again)))
    assert not np.allclose(fg.tree_leaves(noisy)[1], fg.tree_leaves(other)[1])


def test_dp_step_traces_and_matches_eager(dp_batch):
    module, params, x, y = dp_batch
    opt = optim.sgd(0.5)
    args = (params, opt.init(params), x, y, random.key(3))
    step = module.make_step(opt, clip=1.0, noise=1.0)
    traced = fg.eval_ir(fg.make_ir(step)(*args), *fg.tree_leaves(args))
    assert all(np.allclose(t, e, atol=1e-6) for t, e in zip(traced, fg.tree_leaves(step(*args))))
