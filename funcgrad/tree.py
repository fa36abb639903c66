"""Pytrees: nested containers whose leaves are arrays.

Dicts (keys sorted, as in JAX), lists, tuples, namedtuples, dataclasses and
``None`` (a node with no children) are containers; so is any type registered
with ``register_pytree_node``.  Everything else is a leaf.

Example:
    >>> leaves, treedef = tree_flatten({"w": 1, "b": (2, None)})
    >>> leaves
    [2, 1]
    >>> tree_unflatten(treedef, [20, 10])
    {'b': (20, None), 'w': 10}
    >>> tree_map(lambda x: x * 2, [1, {"a": 3}])
    [2, {'a': 6}]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Iterable
from typing import Any, NamedTuple


class _NodeType(NamedTuple):
    flatten: Callable[[Any], tuple[Iterable[Any], Hashable]]
    unflatten: Callable[[Hashable, list[Any]], Any]


_REGISTRY: dict[type, _NodeType] = {}
_LEAF_TYPES: set[type] = set()  # types seen to be leaves: the common case, checked first


def register_pytree_node(cls: type, flatten: Callable, unflatten: Callable) -> None:
    """Make ``cls`` a container: ``flatten(x) -> (children, aux)`` and
    ``unflatten(aux, children) -> x``; ``aux`` must be hashable.

    Example:
        >>> class Pair:
        ...     def __init__(self, a, b): self.a, self.b = a, b
        >>> register_pytree_node(Pair, lambda p: ((p.a, p.b), None),
        ...                      lambda aux, ch: Pair(*ch))
        >>> tree_leaves(Pair(1, [2, 3]))
        [1, 2, 3]
    """
    if cls in _REGISTRY:
        raise ValueError(f"{cls.__name__} is already registered as a pytree node")
    _REGISTRY[cls] = _NodeType(flatten, unflatten)
    _LEAF_TYPES.discard(cls)


def _sorted_keys(d: dict) -> list:
    try:
        return sorted(d)
    except TypeError:  # keys of mixed types: keep insertion order
        return list(d)


register_pytree_node(tuple, lambda t: (t, None), lambda _, ch: tuple(ch))
register_pytree_node(list, lambda x: (x, None), lambda _, ch: list(ch))
register_pytree_node(type(None), lambda _: ((), None), lambda _a, _c: None)
register_pytree_node(
    dict,
    lambda d: ([d[k] for k in _sorted_keys(d)], tuple(_sorted_keys(d))),
    lambda keys, ch: dict(zip(keys, ch)),
)


def _children(x: Any) -> tuple[type, Iterable[Any], Hashable] | None:
    """``(type, children, aux)`` for a container, None for a leaf."""
    cls = type(x)
    if cls in _LEAF_TYPES:
        return None
    node = _REGISTRY.get(cls)
    if node is not None:
        children, aux = node.flatten(x)
        return cls, children, aux
    if isinstance(x, tuple) and hasattr(cls, "_fields"):  # namedtuple
        return cls, x, None
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        names = tuple(f.name for f in dataclasses.fields(x) if f.init)
        return cls, [getattr(x, name) for name in names], names
    _LEAF_TYPES.add(cls)
    return None


class PyTreeDef:
    """The structure of a pytree, without its leaves: hashable and comparable
    (a jit cache key), and able to rebuild the tree from a list of leaves."""

    __slots__ = ("node", "aux", "children", "num_leaves", "_hash")

    def __init__(self, node: type | None, aux: Hashable, children: tuple[PyTreeDef, ...]):
        self.node = node  # None for a leaf
        self.aux = aux
        self.children = children
        self.num_leaves = 1 if node is None else sum(c.num_leaves for c in children)
        self._hash = hash((node, aux, children))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, PyTreeDef) and self._hash == other._hash
                and self.node is other.node and self.aux == other.aux
                and self.children == other.children)

    def __hash__(self) -> int:
        return self._hash

    def unflatten(self, leaves: Iterable[Any]) -> Any:
        leaves = list(leaves)
        if len(leaves) != self.num_leaves:
            raise ValueError(f"the tree structure {self} has {self.num_leaves} leaves, "
                             f"got {len(leaves)}")
        return self._build(iter(leaves))

    def _build(self, leaves) -> Any:
        if self.node is None:
            return next(leaves)
        children = [c._build(leaves) for c in self.children]
        node = _REGISTRY.get(self.node)
        if node is not None:
            return node.unflatten(self.aux, children)
        if issubclass(self.node, tuple):  # namedtuple
            return self.node(*children)
        return self.node(**dict(zip(self.aux, children)))  # dataclass

    def __repr__(self) -> str:
        if self.node is None:
            return "*"
        inner = ", ".join(map(repr, self.children))
        if self.node is tuple:
            return f"({inner}{',' if len(self.children) == 1 else ''})"
        if self.node is list:
            return f"[{inner}]"
        if self.node is dict:
            return "{" + ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.aux, self.children)) + "}"
        if self.node is type(None):
            return "None"
        return f"{self.node.__name__}({inner})"


LEAF = PyTreeDef(None, None, ())  # the structure of a lone leaf


def tree_flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None
                 ) -> tuple[list[Any], PyTreeDef]:
    """The leaves of ``tree`` in order, and its structure."""
    leaves: list[Any] = []
    treedef = _flatten(tree, leaves, is_leaf)
    return leaves, treedef


def _flatten(x: Any, leaves: list, is_leaf) -> PyTreeDef:
    found = None if (is_leaf is not None and is_leaf(x)) else _children(x)
    if found is None:
        leaves.append(x)
        return LEAF
    cls, children, aux = found
    return PyTreeDef(cls, aux, tuple(_flatten(c, leaves, is_leaf) for c in children))


def tree_unflatten(treedef: PyTreeDef, leaves: Iterable[Any]) -> Any:
    """Rebuild a tree of structure ``treedef`` from its leaves."""
    return treedef.unflatten(leaves)


def tree_leaves(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list[Any]:
    """The leaves of ``tree``, in flattening order."""
    return tree_flatten(tree, is_leaf)[0]


def tree_structure(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> PyTreeDef:
    """The structure of ``tree``, without its leaves."""
    return tree_flatten(tree, is_leaf)[1]


def tree_map(f: Callable, tree: Any, *rest: Any, is_leaf: Callable[[Any], bool] | None = None
             ) -> Any:
    """Apply ``f`` leafwise to ``tree`` and trees of the same structure."""
    leaves, treedef = tree_flatten(tree, is_leaf)
    others = []
    for other in rest:
        other_leaves, other_def = tree_flatten(other, is_leaf)
        if other_def != treedef:
            raise ValueError(f"tree_map: tree structures differ: {treedef} and {other_def}")
        others.append(other_leaves)
    return treedef.unflatten(f(*xs) for xs in zip(leaves, *others))
