"""Golden snapshots of the printed IR of canonical functions, so that a
change to tracing, to a funcgrad.numpy function or to the printer shows up
in review.  Regenerate after an intended change with
``FUNCGRAD_UPDATE_GOLDEN=1 python -m pytest tests/test_golden_ir.py``."""

import os
import pathlib

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp

GOLDEN = pathlib.Path(__file__).parent / "golden"
f32 = np.float32


def mlp_loss(params, x, y):
    h = fnp.tanh(x @ params["w1"] + params["b1"])
    logits = h @ params["w2"]
    return fnp.mean((logits - y) ** 2)


def softmax_cross_entropy(logits, labels):
    shifted = logits - fnp.max(logits, axis=-1, keepdims=True)
    log_probs = shifted - fnp.log(fnp.sum(fnp.exp(shifted), axis=-1, keepdims=True))
    return -fnp.mean(fnp.take_along_axis(log_probs, labels[:, None], axis=-1))


def layer_norm(x, scale, offset):
    mean = fnp.mean(x, axis=-1, keepdims=True)
    var = fnp.var(x, axis=-1, keepdims=True)
    return (x - mean) / fnp.sqrt(var + 1e-5) * scale + offset


def attention(q, k, v):
    scores = fnp.einsum("qd,kd->qk", q, k) / np.sqrt(q.shape[-1])
    weights = fnp.exp(scores - fnp.max(scores, axis=-1, keepdims=True))
    return (weights / fnp.sum(weights, axis=-1, keepdims=True)) @ v


def relu_where(x):
    return fnp.where(x > 0, x, 0.0)


def plain_numpy(x):
    return np.sum(np.sin(x) ** 2) / x.size


def indexing(x, i):
    return x[1:, ::-1][i] + x[0, :3].sum()


def functional_update(x):
    return x.at[0].set(1.0).at[1:].add(2.0)


def rnn_scan(w, h0, xs):
    def step(h, x):
        h = fnp.tanh(h @ w + x)
        return h, h.sum()
    return fg.scan(step, h0, xs)


def sort_and_cumsum(x):
    return fnp.cumsum(fnp.sort(x))


def promotion(x_int, s):
    return x_int * 2.5 + s


def batched_matmul(a, b):
    return fnp.matmul(a, b)


CASES = {
    "mlp_loss": (mlp_loss, ({"w1": np.ones((3, 4), f32), "b1": np.ones(4, f32),
                             "w2": np.ones((4, 2), f32)}, np.ones((5, 3), f32), np.ones((5, 2), f32))),
    "softmax_cross_entropy": (softmax_cross_entropy, (np.ones((4, 3), f32), np.zeros(4, np.int32))),
    "layer_norm": (layer_norm, (np.ones((2, 3), f32), np.ones(3, f32), np.zeros(3, f32))),
    "attention": (attention, (np.ones((2, 4), f32), np.ones((3, 4), f32), np.ones((3, 4), f32))),
    "relu_where": (relu_where, (np.ones(3, f32),)),
    "plain_numpy": (plain_numpy, (np.ones(4),)),
    "indexing": (indexing, (np.ones((3, 4)), np.int32(1))),
    "functional_update": (functional_update, (np.ones(3, f32),)),
    "rnn_scan": (rnn_scan, (np.ones((2, 2), f32), np.zeros(2, f32), np.ones((5, 2), f32))),
    "sort_and_cumsum": (sort_and_cumsum, (np.ones(4, np.int32),)),
    "promotion": (promotion, (np.ones(2, np.int32), 1.0)),
    "batched_matmul": (batched_matmul, (np.ones((2, 3, 4), f32), np.ones((4, 5), f32))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_ir_matches_its_golden_snapshot(name):
    fn, args = CASES[name]
    text = str(fg.make_ir(fn)(*args)) + "\n"
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("FUNCGRAD_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"no snapshot yet: run with FUNCGRAD_UPDATE_GOLDEN=1 to write {path}"
    assert text == path.read_text(), f"the IR of {name} changed (see {path})"
