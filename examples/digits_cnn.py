"""Train a small convolutional network on scikit-learn's digits with funcgrad.

The same data, training loop, plot and checkpoint as ``digits_mlp.py``, with
the images kept as 8x8x1 arrays (channels last) and a model of two 3x3
convolutions with max pooling before two dense layers. Writes
``digits_cnn.png`` and ``digits_cnn.npz``.

Run: python examples/digits_cnn.py [--epochs 20] [--out DIR]
(needs scikit-learn and matplotlib: pip install -e ".[examples]")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from digits_mlp import load_data, parse_args, run

from funcgrad import nn

CNN = [nn.Conv(32, (3, 3), padding="SAME"), nn.Relu, nn.MaxPool((2, 2)),   # 8x8x32 -> 4x4x32
       nn.Conv(64, (3, 3), padding="SAME"), nn.Relu, nn.MaxPool((2, 2)),   # 4x4x64 -> 2x2x64
       nn.Flatten, nn.Dense(128), nn.Relu, nn.Dense(10)]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train the CNN; ``argv`` defaults to the command line."""
    # Eager by default: compiling this step (five convolutions and their gradients) takes
    # about 50 s on two cores, longer than the whole training op by op; --jit compiles it.
    args = parse_args(argv, __doc__.splitlines()[0], epochs=20, batch_size=64, learning_rate=1e-2,
                      jit=False)
    x_train, y_train, x_test, y_test = load_data(args.seed)
    images = (x_train.reshape(-1, 8, 8, 1), y_train, x_test.reshape(-1, 8, 8, 1), y_test)
    return run("digits_cnn", CNN, images, args)


if __name__ == "__main__":
    main()
