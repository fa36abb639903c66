"""funcgrad: differentiate, batch and compile plain NumPy-style functions.

Example:
    >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
    >>> print(fg.make_ir(lambda x: fnp.sum(x ** 2))(np.ones(3, np.float32)))
    { lambda a:f32[3] .
      b:f32[3] = square a
      c:f32[] = reduce_sum[axes=(0,)] b
      in (c) }
"""

from funcgrad import errors, nn, numpy, primitives, random, tree
from funcgrad.config import config, disable_jit
from funcgrad.control_flow import cond, fori_loop, map, scan, switch, while_loop
from funcgrad.errors import ConcretizationError
from funcgrad.ir import IR, AbstractArray
from funcgrad.trace import eval_ir, make_ir
from funcgrad.transforms.autodiff import (
    grad,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    linear_transpose,
    linearize,
    value_and_grad,
    vjp,
)
from funcgrad.transforms.batching import vmap
from funcgrad.transforms.collectives import (
    all_gather,
    axis_index,
    pmax,
    pmean,
    pmin,
    psum,
    psum_scatter,
)
from funcgrad.transforms.custom_derivatives import checkpoint, custom_jvp, custom_vjp, stop_gradient
from funcgrad.transforms.jit import jit
from funcgrad.tree import (
    register_pytree_node,
    tree_flatten,
    tree_leaves,
    tree_map,
    tree_structure,
    tree_unflatten,
)

__version__ = "0.1.0"

__all__ = [
    "AbstractArray", "all_gather", "axis_index", "checkpoint", "ConcretizationError", "cond",
    "config", "custom_jvp", "custom_vjp", "disable_jit", "errors", "eval_ir", "fori_loop", "grad",
    "hessian", "IR", "jacfwd", "jacrev", "jit", "jvp", "linear_transpose", "linearize", "make_ir",
    "map", "nn", "numpy", "pmax",
    "pmean", "pmin", "primitives", "psum", "psum_scatter", "random", "register_pytree_node", "scan",
    "stop_gradient", "switch", "tree", "tree_flatten", "tree_leaves", "tree_map", "tree_structure",
    "tree_unflatten", "value_and_grad", "vjp", "vmap", "while_loop",
]
