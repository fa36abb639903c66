"""Transforms of the IR: autodiff (and, later, batching and jit)."""
