"""Pytrees: flatten/unflatten round trips over every container kind."""

import dataclasses
from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from funcgrad import tree

Point = namedtuple("Point", "x y")


@dataclasses.dataclass
class Params:
    w: object
    b: object = None


@dataclasses.dataclass(frozen=True)
class Frozen:
    a: object


class Pair:
    def __init__(self, first, second):
        self.first, self.second = first, second


tree.register_pytree_node(Pair, lambda p: ((p.first, p.second), "pair"),
                          lambda aux, ch: Pair(*ch))

leaves = st.one_of(st.integers(), st.floats(allow_nan=False), st.just(np.ones(2)))
trees = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=3), children, max_size=3),
        st.tuples(children, children).map(lambda t: Point(*t)),
        st.tuples(children, children).map(lambda t: Params(*t)),
        st.just(None),
    ),
    max_leaves=8,
)


def _equal(a, b):
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    if dataclasses.is_dataclass(a):
        return type(a) is type(b) and all(_equal(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_equal, a, b))
    if isinstance(a, dict):
        return type(b) is dict and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b


@given(trees)
def test_flatten_unflatten_round_trip(t):
    flat, treedef = tree.tree_flatten(t)
    assert treedef.num_leaves == len(flat)
    assert _equal(tree.tree_unflatten(treedef, flat), t)
    assert tree.tree_structure(t) == treedef and hash(tree.tree_structure(t)) == hash(treedef)


def test_container_kinds():
    t = {"p": Params(w=1, b=(2, None)), "pt": Point(3, [4]), "pair": Pair(5, 6), "n": None}
    flat, treedef = tree.tree_flatten(t)
    assert flat == [1, 2, 5, 6, 3, 4]  # dict keys sorted: n, p, pair, pt
    rebuilt = tree.tree_unflatten(treedef, [10 * v for v in flat])
    assert rebuilt["p"] == Params(w=10, b=(20, None))
    assert rebuilt["pt"] == Point(30, [40]) and isinstance(rebuilt["pt"], Point)
    assert (rebuilt["pair"].first, rebuilt["pair"].second) == (50, 60)
    assert rebuilt["n"] is None


def test_frozen_dataclass_and_map():
    assert tree.tree_map(lambda v: v + 1, Frozen(a=[1, 2])) == Frozen(a=[2, 3])


def test_tree_map_over_several_trees_and_is_leaf():
    assert tree.tree_map(lambda a, b: a * b, {"x": 2, "y": (3,)}, {"x": 5, "y": (7,)}) == \
        {"x": 10, "y": (21,)}
    assert tree.tree_map(len, [[1, 2], [3]], is_leaf=lambda v: isinstance(v, list)
                         and all(isinstance(i, int) for i in v)) == [2, 1]


def test_structures_differ_is_a_clear_error():
    with pytest.raises(ValueError, match="structures differ"):
        tree.tree_map(lambda a, b: a, [1, 2], (1, 2))
    with pytest.raises(ValueError, match="has 2 leaves, got 3"):
        tree.tree_unflatten(tree.tree_structure([1, 2]), [1, 2, 3])


def test_treedef_repr_is_readable():
    assert repr(tree.tree_structure({"a": [1, (2,)], "b": None})) == "{'a': [*, (*,)], 'b': None}"


def test_registering_twice_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        tree.register_pytree_node(Pair, lambda p: ((), None), lambda a, c: None)
