"""``fg.jit``: trace once per input signature, optimize, compile with Numba.

A call looks up its signature (the pytree structure, each leaf's shape,
dtype and weak type, the static arguments) in the function's LRU cache.  On
a miss the function is traced to an IR, the passes of
``funcgrad.transforms.passes`` optimize it, and the Numba backend compiles
it; on a hit the compiled code runs at once.  Python scalars are traced as
weakly typed scalars, so a new value does not retrace.

Called inside another transform (``grad``, ``vmap``, another ``jit``), a
jitted function records a ``jit_call`` equation instead: differentiating
or batching it transforms its IR, and an enclosing jit inlines it.

Example:
    >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
    >>> @fg.jit
    ... def f(x, scale):
    ...     return fnp.tanh(x) * scale
    >>> f(np.zeros(3, np.float32), 2.0)
    array([0., 0., 0.], dtype=float32)
    >>> f(np.ones(3, np.float32), 3.0).dtype, f.cache_info()["traces"]
    (dtype('float32'), 1)
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from funcgrad.config import config
from funcgrad.errors import NaNError, check_nans, user_location
from funcgrad.ir import IR, AbstractArray, Literal, abstractify
from funcgrad.primitives.call import jit_call
from funcgrad.trace import Tracer, current_builder, trace_to_ir
from funcgrad.tree import LEAF, PyTreeDef, tree_flatten, tree_unflatten

ABSTRACT_REASON = ("inside fg.jit, which compiles one program for every value of an argument "
                   "with the same shape and dtype")


def compile_ir(ir: IR, name: str = "ir") -> Callable[..., list]:
    """Optimize ``ir`` and compile it for the CPU: a function of flat arrays
    returning the flat outputs.

    Example:
        >>> import funcgrad as fg, numpy as np
        >>> compile_ir(fg.make_ir(lambda x: x * 2)(np.ones(2)))(np.arange(2.0))
        [array([0., 2.])]
    """
    return lower_ir(ir, name).compile()


def lower_ir(ir: IR, name: str = "ir"):
    from funcgrad.backends.numba_cpu import generate
    from funcgrad.transforms.passes import optimize

    return generate(optimize(ir), name)


# ---------------------------------------------------------------- signatures

_SCALAR_TYPES = (bool, int, float, complex)


def _leaf_key(leaf: Any) -> Hashable:
    """What a compiled version depends on: shape, dtype and weak type."""
    kind = type(leaf)
    if kind is np.ndarray:
        return leaf.shape, leaf.dtype
    if kind in _SCALAR_TYPES:
        return kind
    return abstractify(_checked_leaf(leaf))


def _checked_leaf(leaf: Any) -> Any:
    if not (hasattr(leaf, "shape") and hasattr(leaf, "dtype")):
        raise TypeError(f"fg.jit: an argument holds {type(leaf).__name__} {leaf!r:.60}, which is "
                        "not an array; mark the argument static (static_argnums / "
                        "static_argnames) if it is configuration")
    return leaf


def _as_input(leaf: Any, aval: AbstractArray) -> np.ndarray:
    if type(leaf) is np.ndarray and leaf.flags.c_contiguous:
        return leaf
    return np.asarray(leaf, aval.dtype, order="C")


@dataclass
class _Entry:
    """A compiled version: the program and the structure of its outputs."""

    executable: Callable[..., list]
    in_avals: list[AbstractArray]
    out_tree: PyTreeDef
    ir: IR
    name: str

    def run(self, leaves) -> Any:
        inputs = [_as_input(x, a) for x, a in zip(leaves, self.in_avals)]
        outs = self.executable(*inputs)
        if config.debug_nans:
            _check_nans(self.ir, inputs, outs, self.name)
        return outs[0] if self.out_tree is LEAF else tree_unflatten(self.out_tree, outs)


class Jitted:
    """A jitted function (what ``fg.jit`` returns).  Call it like the original;
    ``lower(*args)`` shows what runs; ``cache_info()`` counts traces."""

    def __init__(self, fun: Callable, static_argnums: Sequence[int], static_argnames: Sequence[str],
                 cache_size: int | None):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.static_argnums = tuple(static_argnums)
        self.static_argnames = tuple(static_argnames)
        self.cache_size = cache_size
        self._cache: OrderedDict[Hashable, _Entry] = OrderedDict()
        # Calls with positional arrays only, by their shapes and dtypes: no flattening.
        self._by_arrays: dict[tuple, tuple[Hashable, _Entry]] = {}
        self._lock = threading.Lock()
        self._compile_lock = threading.Lock()
        self._stats = {"hits": 0, "misses": 0, "traces": 0}
        try:
            self._parameters = list(inspect.signature(fun).parameters)
        except (TypeError, ValueError):
            self._parameters = []

    # -- calling

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if config.jit_disabled:
            return self.fun(*args, **kwargs)
        arrays_only = not kwargs and all(type(a) is np.ndarray for a in args)
        array_key = tuple([(a.shape, a.dtype) for a in args]) if arrays_only else None
        if arrays_only and current_builder() is None:
            found = self._by_arrays.get(array_key)
            if found is not None:
                key, entry = found
                with self._lock:
                    self._stats["hits"] += 1
                    if key in self._cache:
                        self._cache.move_to_end(key)
                return entry.run(args)
        static, dynamic = self._split(args, kwargs)
        leaves, in_tree = tree_flatten(dynamic)
        if current_builder() is not None or any(isinstance(x, Tracer) for x in leaves):
            return self._call_traced(static, leaves, in_tree)
        key = (in_tree, static, tuple(map(_leaf_key, leaves)))
        entry = self._lookup(key)
        if entry is None:
            entry = self._compile(key, static, leaves, in_tree)
        if arrays_only and not static:
            self._by_arrays[array_key] = key, entry
        return entry.run(leaves)

    def _split(self, args: tuple, kwargs: dict) -> tuple[tuple, tuple]:
        """(hashable static arguments, pytree of the dynamic ones)."""
        if not (self.static_argnums or self.static_argnames):
            return (), (args, kwargs)
        n = len(args)
        static_pos = set()
        for i in self.static_argnums:
            if not -n <= i < n:
                raise ValueError(f"fg.jit({self.__name__}): static_argnums has {i}, but the "
                                 f"call has {n} positional arguments")
            static_pos.add(i % n)
        for name in self.static_argnames:
            if name in self._parameters and self._parameters.index(name) < n:
                static_pos.add(self._parameters.index(name))
        static = tuple((i, args[i]) for i in sorted(static_pos))
        static += tuple(sorted((k, v) for k, v in kwargs.items() if k in self.static_argnames))
        for where, value in static:
            try:
                hash(value)
            except TypeError:
                raise TypeError(
                    f"fg.jit({self.__name__}): static argument {where!r} must be hashable, got "
                    f"{type(value).__name__}; pass a tuple instead of a list, or make it "
                    "a dynamic (array) argument") from None
        dynamic_args = tuple(a for i, a in enumerate(args) if i not in static_pos)
        dynamic_kwargs = {k: v for k, v in kwargs.items() if k not in self.static_argnames}
        return static, (dynamic_args, dynamic_kwargs)

    def _flat_fun(self, static: tuple, in_tree: PyTreeDef, out_tree: list):
        def flat(*leaves):
            dynamic_args, dynamic_kwargs = tree_unflatten(in_tree, leaves)
            positional = dict(s for s in static if isinstance(s[0], int))
            keywords = {k: v for k, v in static if isinstance(k, str)}
            rest = iter(dynamic_args)
            n = len(positional) + len(dynamic_args)
            call_args = [positional[i] if i in positional else next(rest) for i in range(n)]
            result = self.fun(*call_args, **dynamic_kwargs, **keywords)
            flat_out, tree = tree_flatten(result)
            out_tree.append(tree)
            return flat_out

        return flat

    def _trace(self, static: tuple, leaves: list, in_tree: PyTreeDef) -> tuple[IR, list, PyTreeDef]:
        out_tree: list = []
        avals = [abstractify(_checked_leaf(x) if type(x) not in _SCALAR_TYPES else x)
                 for x in leaves]
        ir, captured = trace_to_ir(self._flat_fun(static, in_tree, out_tree), avals,
                                   abstract_reason=ABSTRACT_REASON)
        with self._lock:
            self._stats["traces"] += 1
        return ir, captured, out_tree[0]

    def _call_traced(self, static: tuple, leaves: list, in_tree: PyTreeDef) -> Any:
        ir, captured, out_tree = self._trace(static, leaves, in_tree)
        outs = jit_call.bind(*leaves, *captured, ir=ir, name=self.__name__)
        return tree_unflatten(out_tree, outs)

    # -- the cache

    def _lookup(self, key: Hashable) -> _Entry | None:
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None:
                self._cache.move_to_end(key)
                self._stats["hits"] += 1
            return entry

    def _compile(self, key: Hashable, static: tuple, leaves: list, in_tree: PyTreeDef) -> _Entry:
        with self._compile_lock:  # one thread compiles; the others then find it cached
            entry = self._lookup(key)
            if entry is not None:
                return entry
            ir, _, out_tree = self._trace(static, leaves, in_tree)
            entry = _Entry(compile_ir(ir, self.__name__), ir.in_avals, out_tree, ir, self.__name__)
            with self._lock:
                self._stats["misses"] += 1
                self._cache[key] = entry
                limit = self.cache_size if self.cache_size is not None else config.jit_cache_size
                while len(self._cache) > max(limit, 1):
                    self._cache.popitem(last=False)
                    self._by_arrays.clear()  # it may hold the evicted version
            return entry

    def cache_info(self) -> dict[str, int]:
        """Counts of cache hits, misses and traces, and the versions kept.

        Example:
            >>> import funcgrad as fg, numpy as np
            >>> f = fg.jit(lambda x: x * 2)
            >>> _ = f(np.ones(2)); _ = f(np.ones(2)); _ = f(np.ones(3))
            >>> f.cache_info()
            {'hits': 1, 'misses': 2, 'traces': 2, 'size': 2}
        """
        with self._lock:
            return {**self._stats, "size": len(self._cache)}

    # -- inspection

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """Trace and optimize for these arguments; the result shows the IR
        after the passes and the generated source, and ``.compile()``s.

        Example:
            >>> import funcgrad as fg, numpy as np
            >>> lowered = fg.jit(lambda x: x + 1).lower(np.ones(2))
            >>> print(lowered.ir)
            { lambda a:f64[2] .
              b:f64[2] = fused a
                  ir=
                    { lambda a:f64[2] .
                      c:f64[2]~ = broadcast_in_dim[broadcast_dimensions=() shape=(2,)] 1.0:f64[]~
                      b:f64[2] = add a c
                      in (b) }
              in (b) }
            >>> lowered.compile()(np.ones(2))
            array([2., 2.])
        """
        static, dynamic = self._split(args, kwargs)
        leaves, in_tree = tree_flatten(dynamic)
        ir, _, out_tree = self._trace(static, leaves, in_tree)
        return Lowered(lower_ir(ir, self.__name__), in_tree, out_tree, static, self)


class Lowered:
    """A traced and optimized function: ``.ir`` (after the passes),
    ``.source`` (the generated Python, one line per equation with the
    equation above it), ``.compile()``."""

    def __init__(self, program, in_tree: PyTreeDef, out_tree: PyTreeDef, static: tuple,
                 jitted: Jitted):
        self.program = program
        self.ir = program.ir
        self.source = program.source
        self._trees = (in_tree, out_tree)
        self._static = static
        self._jitted = jitted

    def as_text(self) -> str:
        return f"# IR after the passes\n{self.ir}\n\n# generated source\n{self.source}"

    def __str__(self) -> str:
        return self.as_text()

    def compile(self) -> Callable[..., Any]:
        """The compiled function, for arguments of the same structure, shapes
        and dtypes (and the same static values) as the lowered ones."""
        executable = self.program.compile()
        in_tree, out_tree = self._trees
        avals = self.ir.in_avals

        def compiled(*args: Any, **kwargs: Any) -> Any:
            static, dynamic = self._jitted._split(args, kwargs)
            leaves, tree = tree_flatten(dynamic)
            got = [abstractify(x).strong() for x in leaves]
            if static != self._static or tree != in_tree or got != [a.strong() for a in avals]:
                raise TypeError(f"compiled {self._jitted.__name__}: arguments {got} do not match "
                                f"the lowered ones {avals}; call the jitted function instead")
            return tree_unflatten(out_tree, executable(*(_as_input(x, a)
                                                         for x, a in zip(leaves, avals))))

        return compiled


def jit(fun: Callable | None = None, *, static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = (), cache_size: int | None = None) -> Any:
    """Compile ``fun`` with Numba for the CPU; usable as ``@fg.jit`` or
    ``@fg.jit(static_argnums=...)``.

    Static arguments are hashed into the cache key and may steer Python
    control flow; the others are traced by shape and dtype, so their values
    may not (use ``fnp.where``, ``fg.cond``, ``fg.fori_loop``).
    ``cache_size`` bounds the compiled versions kept (LRU; default
    ``fg.config.jit_cache_size``).

    Example:
        >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
        >>> @fg.jit(static_argnums=1)
        ... def power(x, n):
        ...     for _ in range(n - 1):
        ...         x = x * x
        ...     return x
        >>> power(np.array([2.0]), 3)
        array([16.])
    """
    if isinstance(static_argnums, int):
        static_argnums = (static_argnums,)
    if isinstance(static_argnames, str):
        static_argnames = (static_argnames,)
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums,
                                 static_argnames=static_argnames, cache_size=cache_size)
    if not callable(fun):
        raise TypeError(f"fg.jit expects a function, got {type(fun).__name__}")
    return Jitted(fun, static_argnums, static_argnames, cache_size)


# ---------------------------------------------------------------- debug_nans


def _check_nans(ir: IR, inputs: list, outputs: list, name: str) -> None:
    """If an output holds a NaN, re-run ``ir`` op by op to name the first
    operation that made one."""
    if not any(np.asarray(o).dtype.kind in "fc" and np.isnan(o).any() for o in outputs):
        return
    env = dict(zip(ir.inputs, inputs))
    for eqn in ir.eqns:
        values = [a.value if isinstance(a, Literal) else env[a] for a in eqn.inputs]
        result = eqn.primitive.impl(np, *values, **eqn.params)
        results = result if eqn.primitive.multiple_results else [result]
        check_nans(eqn.primitive.name, results, eqn.source or user_location())
        env.update(zip(eqn.outputs, results))
    raise NaNError(f"debug_nans: {name} returned a NaN")
