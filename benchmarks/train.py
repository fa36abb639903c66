"""One training epoch of the digits examples: funcgrad against PyTorch (CPU)
and JAX when installed.

Run: python benchmarks/train.py
The peers are optional; install them in a separate virtual environment
(`pip install "jax[cpu]" torch==2.13.0`), never as dependencies.  An epoch
is 44 adam steps over scikit-learn's digits (batch 32 for the MLP, 64 for the
CNN); each figure is the median of several epochs after a warm-up epoch
(compilation excluded), all measured in this one run.
"""

from __future__ import annotations

import os
import sys

import numpy as np
from timing import have, median_seconds

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))

import digits_cnn
import digits_mlp

import funcgrad as fg
import funcgrad.random as random
from funcgrad import nn
from funcgrad.nn import optim


def batches(x, y, batch_size):
    n = len(x) // batch_size
    return [(x[b * batch_size:(b + 1) * batch_size], y[b * batch_size:(b + 1) * batch_size])
            for b in range(n)]


def funcgrad_epoch(model, data, jit: bool):
    init, apply = nn.serial(*model)
    _, params = init(random.key(0), data[0][0].shape)
    opt = optim.adam(1e-3)
    step = digits_mlp.make_step(apply, opt)
    step = fg.jit(step) if jit else step
    state = [params, opt.init(params)]

    def epoch():
        for x, y in data:
            state[0], state[1], loss, _ = step(state[0], state[1], x, y)
        return float(loss)

    return epoch


def torch_epoch(kind, data):
    import torch

    torch.manual_seed(0)
    if kind == "mlp":
        model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 128),
                                    torch.nn.ReLU(), torch.nn.Linear(128, 10))
    else:
        model = torch.nn.Sequential(
            torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Flatten(), torch.nn.Linear(256, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    tensors = [(torch.from_numpy(x if kind == "mlp" else x.transpose(0, 3, 1, 2).copy()),
                torch.from_numpy(y)) for x, y in data]

    def epoch():
        for x, y in tensors:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        return loss.item()

    return epoch


def jax_epoch(kind, data):
    import jax
    import jax.numpy as jnp

    def dense(key, n_in, n_out):
        return {"w": jax.random.normal(key, (n_in, n_out)) * (2 / n_in) ** 0.5, "b": jnp.zeros(n_out)}

    def conv(key, c_in, c_out):
        return {"w": jax.random.normal(key, (3, 3, c_in, c_out)) * (2 / (9 * c_in)) ** 0.5,
                "b": jnp.zeros(c_out)}

    keys = jax.random.split(jax.random.key(0), 4)
    if kind == "mlp":
        params = [dense(keys[0], 64, 128), dense(keys[1], 128, 128), dense(keys[2], 128, 10)]
    else:
        params = [conv(keys[0], 1, 32), conv(keys[1], 32, 64), dense(keys[2], 256, 128),
                  dense(keys[3], 128, 10)]

    def forward(params, x):
        if kind == "cnn":
            for layer in params[:2]:
                x = jax.lax.conv_general_dilated(x, layer["w"], (1, 1), "SAME",
                                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))
                x = jax.nn.relu(x + layer["b"])
                x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
            x = x.reshape(x.shape[0], -1)
            params = params[2:]
        for layer in params[:-1]:
            x = jax.nn.relu(x @ layer["w"] + layer["b"])
        return x @ params[-1]["w"] + params[-1]["b"]

    def loss(params, x, y):
        logits = forward(params, x)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))

    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8

    @jax.jit
    def step(params, m, v, t, x, y):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
        v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
        t = t + 1
        def update(p, m, v):
            return p - lr * (m / (1 - b1 ** t)) / (jnp.sqrt(v / (1 - b2 ** t)) + eps)

        params = jax.tree.map(update, params, m, v)
        return params, m, v, t, value

    zeros = jax.tree.map(jnp.zeros_like, params)
    state = [params, zeros, zeros, 0]
    arrays = [(jnp.asarray(x), jnp.asarray(y)) for x, y in data]

    def epoch():
        for x, y in arrays:
            *state[:], value = step(*state, x, y)
        return float(value)

    return epoch


def report(title, epochs):
    times = {name: median_seconds(run, 5) for name, run in epochs.items()}
    base = times["funcgrad jit"]
    print(f"\n{title}")
    for name, t in times.items():
        print(f"  {name:<16} {t * 1e3:9.1f} ms   {t / base:6.2f}x funcgrad jit")


if __name__ == "__main__":
    x_train, y_train, _, _ = digits_mlp.load_data(0)
    y_train = y_train.astype(np.int64)
    for kind, model, shape, batch_size in (("mlp", digits_mlp.MLP, (-1, 64), 32),
                                           ("cnn", digits_cnn.CNN, (-1, 8, 8, 1), 64)):
        data = batches(x_train.reshape(shape).astype(np.float32), y_train, batch_size)
        epochs = {"funcgrad jit": funcgrad_epoch(model, data, jit=True),
                  "funcgrad eager": funcgrad_epoch(model, data, jit=False)}
        if have("torch"):
            epochs["torch eager"] = torch_epoch(kind, data)
        if have("jax"):
            epochs["jax jit"] = jax_epoch(kind, data)
        report(f"one epoch of digits_{kind} ({len(data)} steps of batch {batch_size})", epochs)
