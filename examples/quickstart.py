"""funcgrad in one screen: trace plain NumPy code into readable IR and run it.

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


if __name__ == "__main__":
    main()
