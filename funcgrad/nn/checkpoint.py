"""Checkpoints: a pytree of arrays in one ``.npz`` file, and back.

The leaves are the file's arrays, so dtypes, shapes and values come back
exactly; beside them, a JSON description of the tree records its
containers (dicts and their keys, lists, tuples, ``None``, namedtuples and
dataclasses by import path) and which leaves were Python or NumPy scalars.
The file loads without pickle: the only code ``load`` runs is the import
of the modules defining the namedtuples and dataclasses it names, and their
constructors (none with ``like``).

``load(path)`` rebuilds the tree from the description;
``load(path, like=template)`` rebuilds it with the template's containers
instead (no imports) after checking that the structures, shapes and dtypes
match, which catches loading the wrong model's checkpoint.

Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> save(path, {"w": np.ones((2, 3), np.float32), "layers": [(1, None)]})
    >>> load(path)
    {'layers': [(1, None)], 'w': array([[1., 1., 1.],
           [1., 1., 1.]], dtype=float32)}
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from funcgrad.errors import DtypeError, ShapeError, StructureError
from funcgrad.tree import PyTreeDef, tree_flatten

_FORMAT = "funcgrad-checkpoint-1"
_HEADER = "__funcgrad__"  # the array holding the JSON description
_LEAF = "*"  # a leaf in the description
_BUILTINS = {tuple: "tuple", list: "list", dict: "dict", type(None): "None"}
_BUILTIN_TYPES = {name: cls for cls, name in _BUILTINS.items()}
_PYTHON_SCALARS = {"bool": bool, "int": int, "float": float, "complex": complex}
_KEY_TYPES = (str, int, float, bool)


def save(path: str | os.PathLike, tree: Any) -> None:
    """Write ``tree`` (a pytree of NumPy arrays and Python scalars) to
    ``path``, exactly as given: no ``.npz`` is appended.  The file is
    written beside ``path`` and then moved there, so an interrupted save
    leaves the previous checkpoint whole."""
    path = os.fspath(path)
    leaves, treedef = tree_flatten(tree)
    description = _describe(treedef)
    arrays = [np.asarray(leaf) for leaf in leaves]
    kinds = [_leaf_kind(leaf, array, where)
             for leaf, array, where in zip(leaves, arrays, _leaf_paths(description))]
    header = json.dumps({"format": _FORMAT, "tree": description, "leaves": kinds})
    partial = path + ".partial"
    with open(partial, "wb") as file:
        np.savez(file, **{_HEADER: np.array(header)},
                 **{f"leaf_{i}": array for i, array in enumerate(arrays)})
    os.replace(partial, path)


def load(path: str | os.PathLike, like: Any = None) -> Any:
    """The tree saved at ``path``.  With ``like``, a tree of the expected
    structure (arrays or anything with ``shape`` and ``dtype`` as leaves),
    check that the checkpoint matches it and rebuild with its containers.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "params.npz")
        >>> save(path, {"w": np.zeros(3)})
        >>> load(path, like={"w": np.ones(4)})
        Traceback (most recent call last):
        ...
        funcgrad.errors.ShapeError: load: ['w'] has shape (3,) in the checkpoint but (4,) in like...
    """
    path = os.fspath(path)
    description, kinds, arrays = _read(path)
    if like is None:
        treedef = _treedef(description)
    else:
        template, treedef = tree_flatten(like)
        problem = _mismatch(description, _describe(treedef))
        if problem:
            raise StructureError(f"load: the checkpoint {path!r} does not fit like: {problem}")
        for where, array, expected in zip(_leaf_paths(description), arrays, template):
            _check_leaf(where, array, expected)
    return treedef.unflatten(_restore(kind, array) for kind, array in zip(kinds, arrays))


def _read(path: str) -> tuple[Any, list[str], list[np.ndarray]]:
    """The tree description, leaf kinds and arrays of the checkpoint file."""
    if not os.path.exists(path):
        hint = f" (there is {path + '.npz'!r})" if os.path.exists(path + ".npz") else ""
        raise FileNotFoundError(f"load: no checkpoint file at {path!r}{hint}")
    if zipfile.is_zipfile(path):
        with np.load(path, allow_pickle=False) as data:
            if _HEADER in data.files:
                header = json.loads(data[_HEADER].item())
                if header.get("format") == _FORMAT:
                    arrays = [data[f"leaf_{i}"] for i in range(len(header["leaves"]))]
                    return header["tree"], header["leaves"], arrays
    raise ValueError(f"load: {path!r} is not a checkpoint written by funcgrad.nn.checkpoint.save")


# ---------------------------------------------------------------- leaves


def _leaf_kind(leaf: Any, array: np.ndarray, where: str) -> str:
    """What a leaf was, to restore it as such: an array, a NumPy scalar, a Python scalar."""
    if isinstance(leaf, np.ndarray):
        kind = "array"
    elif isinstance(leaf, np.generic):
        kind = "numpy scalar"
    elif type(leaf) in _PYTHON_SCALARS.values():  # exactly: not subclasses such as IntEnum
        kind = type(leaf).__name__
    else:
        raise TypeError(f"save: {where} is a {type(leaf).__name__}; "
                        "a checkpoint holds NumPy arrays, NumPy scalars and Python numbers")
    if array.dtype.hasobject:  # object arrays, and ints beyond int64
        raise TypeError(f"save: {where} would be stored as Python objects, which need pickle; "
                        "a checkpoint holds numeric, bool and string arrays")
    return kind


def _restore(kind: str, array: np.ndarray) -> Any:
    if kind == "array":
        return array
    if kind == "numpy scalar":
        return array[()]
    return _PYTHON_SCALARS[kind](array)


def _check_leaf(where: str, array: np.ndarray, expected: Any) -> None:
    """Raise if the template leaf has a shape and dtype that ``array`` lacks."""
    shape, dtype = getattr(expected, "shape", None), getattr(expected, "dtype", None)
    if shape is not None and tuple(shape) != array.shape:
        raise ShapeError(f"load: {where} has shape {array.shape} in the checkpoint "
                         f"but {tuple(shape)} in like")
    if dtype is not None and np.dtype(dtype) != array.dtype:
        raise DtypeError(f"load: {where} has dtype {array.dtype} in the checkpoint "
                         f"but {np.dtype(dtype)} in like")


# ---------------------------------------------------------------- structure


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _init_fields(cls: type) -> tuple[str, ...]:
    """The fields a namedtuple's or dataclass's constructor takes, in order."""
    if issubclass(cls, tuple):
        return tuple(cls._fields)
    return tuple(f.name for f in dataclasses.fields(cls) if f.init)


def _describe(treedef: PyTreeDef) -> Any:
    """The structure as JSON: ``"*"`` for a leaf, else a dict naming the
    container ("type", and "class", "keys" or "fields") and its "children"."""
    node, aux = treedef.node, treedef.aux
    if node is None:
        return _LEAF
    if node in _BUILTINS:
        description = {"type": _BUILTINS[node]}
        if node is dict:
            bad = [key for key in aux if type(key) not in _KEY_TYPES]
            if bad:
                raise TypeError(f"checkpoint: dict key {bad[0]!r} is a {type(bad[0]).__name__}; "
                                "keys must be str, int, float or bool")
            description["keys"] = list(aux)
    elif issubclass(node, tuple) and hasattr(node, "_fields"):
        description = {"type": "namedtuple", "class": _class_path(node), "fields": list(node._fields)}
    elif dataclasses.is_dataclass(node) and aux == _init_fields(node):
        description = {"type": "dataclass", "class": _class_path(node), "fields": list(aux)}
    else:  # a node registered with register_pytree_node: its aux may not be JSON
        description = {"type": "registered node", "class": _class_path(node)}
    description["children"] = [_describe(child) for child in treedef.children]
    return description


def _treedef(description: Any, path: str = "") -> PyTreeDef:
    """The ``PyTreeDef`` a description stands for, importing its classes."""
    if description == _LEAF:
        return PyTreeDef(None, None, ())
    children = tuple(_treedef(child, path + label)
                     for label, child in zip(_labels(description), description["children"]))
    kind = description["type"]
    if kind in _BUILTIN_TYPES:
        aux = tuple(description["keys"]) if kind == "dict" else None
        return PyTreeDef(_BUILTIN_TYPES[kind], aux, children)
    where, name = path or "the top level", description["class"]
    fix = "pass like=<a tree of the saved structure> to rebuild it with the template's types"
    if kind == "registered node":
        raise StructureError(f"load: {where} is {_node_name(description)}, "
                             "which only load(path, like=...) can rebuild", fix)
    cls = _import(description, where, fix)
    fields = _init_fields(cls)
    if list(fields) != description["fields"]:
        raise StructureError(f"load: {where} was saved as a {name} with fields "
                             f"{description['fields']}, but {name} now has {list(fields)}", fix)
    return PyTreeDef(cls, None if kind == "namedtuple" else fields, children)


def _import(description: dict, where: str, fix: str) -> type:
    module, _, qualname = description["class"].partition(":")
    try:
        found = importlib.import_module(module)
        for attribute in qualname.split("."):
            found = getattr(found, attribute)
    except (ImportError, AttributeError):
        raise StructureError(f"load: {where} is {_node_name(description)}, which cannot be imported",
                             fix) from None
    return found


def _labels(description: Any) -> list[str]:
    """How each child of a description is addressed: ``['key']``, ``.field``, ``[i]``."""
    if "keys" in description:
        return [f"[{key!r}]" for key in description["keys"]]
    if "fields" in description:
        return [f".{field}" for field in description["fields"]]
    return [f"[{i}]" for i in range(len(description["children"]))]


def _leaf_paths(description: Any, path: str = "") -> Iterator[str]:
    """The path of each leaf, in order, as ``['params'][0].w``."""
    if description == _LEAF:
        yield path or "the top-level leaf"
        return
    for label, child in zip(_labels(description), description["children"]):
        yield from _leaf_paths(child, path + label)


def _node_name(description: Any) -> str:
    if description == _LEAF:
        return "a leaf"
    if description["type"] == "None":
        return "None"
    return f"a {description['type']}" + (f" {description['class']}" if "class" in description else "")


def _mismatch(saved: Any, expected: Any, path: str = "") -> str | None:
    """Where two descriptions first differ, in words; None when they agree."""
    if saved == expected:
        return None
    where = path or "the top level"
    if _LEAF in (saved, expected) or _node_name(saved) != _node_name(expected):
        return f"{where} is {_node_name(saved)} in the checkpoint but {_node_name(expected)} in like"
    saved_labels, expected_labels = _labels(saved), _labels(expected)
    if saved_labels != expected_labels:
        only_saved = [label for label in saved_labels if label not in expected_labels]
        only_expected = [label for label in expected_labels if label not in saved_labels]
        if not only_saved and not only_expected:
            return f"{where} holds {', '.join(saved_labels)} in another order than in like"
        return (f"{where} holds {', '.join(only_saved) or 'nothing'} only in the checkpoint "
                f"and {', '.join(only_expected) or 'nothing'} only in like")
    for label, saved_child, expected_child in zip(saved_labels, saved["children"], expected["children"]):
        found = _mismatch(saved_child, expected_child, path + label)
        if found:
            return found
    return None


__all__ = ["load", "save"]
