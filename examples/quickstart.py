"""funcgrad in one screen: trace NumPy code into readable IR, differentiate it,
batch it, and train a tiny network with plain gradient descent.

Run: python examples/quickstart.py
"""

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp


def predict(params, x):
    """A tiny two-layer network written with funcgrad.numpy."""
    hidden = fnp.tanh(x @ params["w1"] + params["b1"])
    return hidden @ params["w2"]


def loss(params, x, y):
    return fnp.mean((predict(params, x) - y) ** 2)


def plain_numpy(x):
    """Unmodified NumPy code traces too, through NumPy's own protocols."""
    return np.sum(np.sin(x) ** 2)


def main() -> None:
    rng = np.random.default_rng(0)
    params = {
        "w1": rng.normal(size=(3, 8)).astype(np.float32),
        "b1": np.zeros(8, np.float32),
        "w2": rng.normal(size=(8, 1)).astype(np.float32),
    }
    x = rng.normal(size=(16, 3)).astype(np.float32)
    y = np.sum(x, axis=1, keepdims=True)

    ir = fg.make_ir(loss)(params, x, y)
    print("The IR of loss(params, x, y):")
    print(ir)

    leaves = fg.tree_leaves((params, x, y))
    (traced,) = fg.eval_ir(ir, *leaves)
    eager = loss(params, x, y)
    print(f"\nloss, evaluated from the IR: {traced:.6f} ({traced.dtype})")
    print(f"loss, eager funcgrad.numpy:  {eager:.6f} ({eager.dtype})")
    assert np.allclose(traced, eager)

    print("\nThe IR of plain NumPy code, np.sum(np.sin(x) ** 2):")
    print(fg.make_ir(plain_numpy)(np.ones(4)))

    value_and_grad = fg.value_and_grad(loss)
    print("\nTraining with fg.value_and_grad and plain gradient descent:")
    for step in range(201):
        value, grads = value_and_grad(params, x, y)
        params = fg.tree_map(lambda p, g: p - 0.05 * g, params, grads)
        if step % 50 == 0:
            print(f"  step {step:3d}  loss {value:.5f}")

    per_example = fg.vmap(fg.grad(loss), in_axes=(None, 0, 0))(params, x[:, None], y[:, None])
    norms = np.sqrt(sum(np.sum(g.reshape(len(x), -1) ** 2, axis=1) for g in fg.tree_leaves(per_example)))
    print(f"\nPer-example gradient norms with fg.vmap(fg.grad(loss)): {np.round(norms[:4], 4)} ...")


if __name__ == "__main__":
    main()
