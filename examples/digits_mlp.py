"""Train a small MLP on scikit-learn's handwritten digits with funcgrad.

The 1,797 8x8 images of scikit-learn's digits dataset ship inside the
package (no download). The script standardizes them, holds out a fifth for
testing, and trains a 64-128-128-10 float32 MLP with adam (its learning rate
decaying along a cosine) on shuffled minibatches. It prints a progress bar
per epoch and the test accuracy, saves the loss and accuracy curves to
``digits_mlp.png``, and saves a checkpoint to ``digits_mlp.npz``, then
reloads it to check that it predicts the same.

The training step is one pure function ``step(params, opt_state, x, y)``,
compiled with ``fg.jit``: forward pass, gradients and the adam update run as
one Numba function (``--no-jit`` runs it op by op instead).

Run: python examples/digits_mlp.py [--epochs 20] [--out DIR] [--no-jit]
(needs scikit-learn and matplotlib: pip install -e ".[examples]")
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp
import funcgrad.random as random
from funcgrad import nn
from funcgrad.nn import optim
from funcgrad.nn.checkpoint import load, save

MLP = [nn.Dense(128), nn.Relu, nn.Dense(128), nn.Relu, nn.Dense(10)]


def load_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The digits as ``(x_train, y_train, x_test, y_test)``: a stratified
    80/20 split fixed by ``seed``, and 64 float32 features standardized by the
    training set's mean and standard deviation."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.2, random_state=seed, stratify=digits.target)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    # Pixel values run from 0 to 16. A floor of 1 on the deviation keeps the
    # border pixels, blank in nearly every image, from being scaled up into noise.
    std = np.maximum(std, 1.0)
    x_train, x_test = ((x - mean) / std for x in (x_train, x_test))
    return x_train.astype(np.float32), y_train, x_test.astype(np.float32), y_test


def accuracy(logits: Any, labels: Any) -> Any:
    """The fraction of rows of ``logits`` whose largest entry is at the label."""
    return fnp.mean(fnp.argmax(logits, axis=-1) == labels)


def make_step(apply: Callable, opt: optim.GradientTransformation) -> Callable:
    """The training step for a model's ``apply`` and an optimizer: a pure
    function ``step(params, opt_state, x, y) -> (params, opt_state, loss, accuracy)``."""

    def loss(params, x, y):
        logits = apply(params, x)
        return fnp.mean(nn.softmax_cross_entropy(logits, y)), logits

    loss_and_grads = fg.value_and_grad(loss, has_aux=True)

    def step(params, opt_state, x, y):
        (value, logits), grads = loss_and_grads(params, x, y)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optim.apply_updates(params, updates), opt_state, value, accuracy(logits, y)

    return step


def progress(epoch: int, epochs: int, done: int, total: int, loss: float, acc: float,
             width: int = 20) -> None:
    """Redraw the current epoch's progress bar in place."""
    bar = "#" * (width * done // total) + "-" * (width - width * done // total)
    sys.stdout.write(f"\repoch {epoch + 1:>{len(str(epochs))}}/{epochs} [{bar}] {done}/{total}"
                     f"  loss {loss:.4f}  acc {acc:.1%}")
    sys.stdout.flush()


def train(model: Sequence[Any], data: tuple, epochs: int, batch_size: int, learning_rate: float,
          seed: int, jit: bool = True) -> tuple[Any, dict[str, list[float]]]:
    """Train ``model`` (a list of layers) with adam, its learning rate
    decaying from ``learning_rate`` to 0 along a cosine; returns the
    parameters and the history: the loss of each step, and per epoch the
    mean training loss and accuracy and the test accuracy."""
    x_train, y_train, x_test, y_test = data
    init, apply = nn.serial(*model)
    init_key, shuffle_key = random.split(random.key(seed))
    _, params = init(init_key, (batch_size, *x_train.shape[1:]))
    # Full batches only, so every step sees the same shapes (one compilation
    # under jit); a new order each epoch leaves out different examples.
    batches = len(x_train) // batch_size
    opt = optim.adam(optim.cosine_decay(learning_rate, decay_steps=epochs * batches))
    opt_state = opt.init(params)
    step = make_step(apply, opt)
    if jit:
        step = fg.jit(step)

    history: dict[str, list[float]] = {"step_loss": [], "loss": [], "train_accuracy": [], "test_accuracy": []}
    for epoch in range(epochs):
        order = np.asarray(random.permutation(random.fold_in(shuffle_key, epoch), len(x_train)))
        losses, accuracies = [], []
        for b in range(batches):
            batch = order[b * batch_size:(b + 1) * batch_size]
            params, opt_state, loss, acc = step(params, opt_state, x_train[batch], y_train[batch])
            losses.append(float(loss))
            accuracies.append(float(acc))
            progress(epoch, epochs, b + 1, batches, np.mean(losses), np.mean(accuracies))
        history["step_loss"].extend(losses)
        history["loss"].append(float(np.mean(losses)))
        history["train_accuracy"].append(float(np.mean(accuracies)))
        history["test_accuracy"].append(float(accuracy(apply(params, x_test), y_test)))
        print(f"  test acc {history['test_accuracy'][-1]:.1%}")
    return params, history


def plot(history: dict[str, list[float]], path: str, title: str) -> None:
    """Save the loss and accuracy curves to a PNG at ``path``."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, renders with Agg
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(9, 3.5), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    epochs = np.arange(1, len(history["loss"]) + 1)
    steps = np.arange(1, len(history["step_loss"]) + 1) * len(epochs) / len(history["step_loss"])
    loss_ax.plot(steps, history["step_loss"], linewidth=0.5, alpha=0.6, label="batch")
    loss_ax.plot(epochs, history["loss"], marker="o", label="epoch mean")
    loss_ax.set(xlabel="epoch", ylabel="training loss", yscale="log", title="loss")
    loss_ax.legend()
    acc_ax.plot(epochs, history["train_accuracy"], marker="o", label="train")
    acc_ax.plot(epochs, history["test_accuracy"], marker="o", label="test")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    acc_ax.legend()
    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title)
    fig.savefig(path, dpi=100)


def parse_args(argv: Sequence[str] | None, description: str, epochs: int, batch_size: int,
               learning_rate: float, jit: bool = True) -> argparse.Namespace:
    """The command line shared by the digits examples, with their defaults."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--lr", type=float, default=learning_rate, help="adam's initial learning rate")
    parser.add_argument("--seed", type=int, default=0, help="seeds the split, the init, the shuffles")
    parser.add_argument("--out", default=".", help="the folder for the plot and the checkpoint")
    parser.add_argument("--jit", action=argparse.BooleanOptionalAction, default=jit,
                        help="compile the training step with fg.jit (--no-jit: op by op)")
    return parser.parse_args(argv)


def run(name: str, model: Sequence[Any], data: tuple, args: argparse.Namespace) -> dict[str, Any]:
    """Train, report, plot and checkpoint ``model`` on ``data``; returns the
    final metrics, with the paths of the plot and the checkpoint."""
    x_train, _, x_test, _ = data
    print(f"{name}: {len(x_train)} training and {len(x_test)} test examples of shape {x_train.shape[1:]}")
    print(nn.summary(model, (args.batch_size, *x_train.shape[1:])))
    start = time.perf_counter()
    params, history = train(model, data, args.epochs, args.batch_size, args.lr, args.seed,
                            jit=args.jit)
    seconds = time.perf_counter() - start
    test_accuracy = history["test_accuracy"][-1]
    print(f"{args.epochs} epochs in {seconds:.1f} s: test accuracy {test_accuracy:.2%}")

    os.makedirs(args.out, exist_ok=True)
    plot_path = os.path.join(args.out, f"{name}.png")
    plot(history, plot_path, f"{name}: test accuracy {test_accuracy:.2%}")
    checkpoint_path = os.path.join(args.out, f"{name}.npz")
    save(checkpoint_path, {"params": params, "epochs": args.epochs})
    apply = nn.serial(*model).apply
    if not np.array_equal(apply(load(checkpoint_path)["params"], x_test), apply(params, x_test)):
        raise RuntimeError(f"{checkpoint_path} does not predict what the trained model does")
    print(f"saved {plot_path} and {checkpoint_path} (reloaded: same predictions)")
    return {"epochs": args.epochs, "seconds": seconds, "test_accuracy": test_accuracy,
            "final_loss": history["loss"][-1], "history": history, "plot": plot_path,
            "checkpoint": checkpoint_path}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train the MLP; ``argv`` defaults to the command line."""
    args = parse_args(argv, __doc__.splitlines()[0], epochs=20, batch_size=32, learning_rate=1e-3)
    return run("digits_mlp", MLP, load_data(args.seed), args)


if __name__ == "__main__":
    main()
