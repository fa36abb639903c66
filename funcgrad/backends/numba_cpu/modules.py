"""Generated modules on disk, so Numba's cache works across processes.

Numba caches compiled code per source file; code made by a bare ``exec``
has none.  So each generated module is written to
``<cache_dir>/generated/fg_<hash>.py`` (the hash of its source and of the
versions that shape the code) and imported from there with ``cache=True``;
Numba keeps its compiled objects in ``__pycache__`` beside it.

- Writing is atomic (a temporary file renamed into place), and a file is
  only rewritten when its content is wrong, so two processes writing the
  same module at once are safe, and a corrupted file is replaced.
- With the disk cache off, or the folder not writable, modules are made in
  memory and Numba compiles in every process.

Example:
    >>> module = load("CACHE_CHECK = 1\\n", "example")
    >>> module.CACHE_CHECK
    1
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import linecache
import os
import sys
import tempfile
import types

import numba

from funcgrad.config import config

_TAG = f"funcgrad-numba{numba.__version__}-py{sys.version_info[0]}{sys.version_info[1]}"
_LOADED: dict[str, types.ModuleType] = {}
_PATHS: dict[str, str] = {}


def digest(source: str) -> str:
    return hashlib.sha256((_TAG + "\n" + source).encode()).hexdigest()[:24]


def path_of(source: str) -> str | None:
    """Where the module for ``source`` was loaded from (None: not loaded)."""
    return _PATHS.get(digest(source))


def load(source: str, name: str, *, fresh: bool = False) -> types.ModuleType:
    """The module for ``source`` (imported once per process; ``fresh``
    imports it again, dropping Numba's cached objects for it)."""
    key = digest(source)
    if key in _LOADED and not fresh:
        return _LOADED[key]
    folder = os.path.join(config.cache_dir, "generated")
    path = os.path.join(folder, f"fg_{key}.py")
    module = None
    if config.disk_cache:
        try:
            if fresh:
                _remove_compiled(path)
            _write_if_changed(path, "CACHE = True\n" + source)
            module = _import_file(f"funcgrad_generated_{key}", path)
        except OSError:
            module = None  # a read-only or full disk: compile in memory
    if module is None:
        path = f"<funcgrad generated {name} {key}>"
        text = "CACHE = False\n" + source
        linecache.cache[path] = (len(text), None, text.splitlines(True), path)
        module = types.ModuleType(f"funcgrad_generated_{key}")
        module.__file__ = path
        exec(compile(text, path, "exec"), module.__dict__)
    _LOADED[key] = module
    _PATHS[key] = path
    return module


def _write_if_changed(path: str, text: str) -> None:
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except (OSError, UnicodeDecodeError):
        pass
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _import_file(module_name: str, path: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # Numba's cache finds functions through their module
    spec.loader.exec_module(module)
    return module


def _remove_compiled(path: str) -> None:
    """Delete Numba's index and object files for the module at ``path``."""
    stem = os.path.splitext(os.path.basename(path))[0]
    for found in glob.glob(os.path.join(os.path.dirname(path), "__pycache__", f"{stem}.*")):
        try:
            os.unlink(found)
        except OSError:
            pass
