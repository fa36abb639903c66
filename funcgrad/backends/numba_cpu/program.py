"""An optimized IR as one generated Python module, compiled by Numba.

Runs of equations with a lowering become one ``@njit`` function each (a
fully lowered IR is a single function, so a call crosses into compiled code
once); an equation without one runs between them as a host call on NumPy.
The module is written to the disk cache, named by the hash of its source,
so Numba's ``cache=True`` lets a second process skip compilation.

Example:
    >>> import numpy as np, funcgrad as fg
    >>> from funcgrad.transforms.passes import optimize
    >>> program = generate(optimize(fg.make_ir(lambda x: x * 2.0 + 1.0)(np.ones(3))), "f")
    >>> print(program.source.split("def ")[1].split("return")[0].rstrip())
    kernel(a):
        # b:f64[3] = fused a  (<doctest funcgrad.backends.numba_cpu.program[2]>:1)
        b = np.empty((3,), np.float64)
        for i0 in range(3):
            d_s = np.float64(a[i0] * np.float64(2.0))
            b_s = np.float64(d_s + np.float64(1.0))
            b[i0] = b_s
"""

from __future__ import annotations

import os
import re
import weakref
from dataclasses import dataclass, field

import numba
import numpy as np

from funcgrad.backends import array_namespace
from funcgrad.backends.numba_cpu import modules
from funcgrad.backends.numba_cpu.blas import set_blas_threads
from funcgrad.backends.numba_cpu.emitter import Emitter
from funcgrad.backends.numba_cpu.loops import MATH_AVAILABLE, lower_fused
from funcgrad.backends.numba_cpu.rules import CONDITIONS, RULES
from funcgrad.config import config
from funcgrad.errors import FuncgradError
from funcgrad.ir import IR, Eqn, Literal, Var

# Numba's compile time grows faster than linearly with a function's size (a program of
# 400 loop nests took a minute as one function), so long programs become several functions.
MAX_EQNS_PER_FUNCTION = int(os.environ.get("FUNCGRAD_MAX_EQNS_PER_FUNCTION", "24"))

# No nnan/ninf (NaN and inf behave as in NumPy) and no reassoc (exact
# range reductions in the math functions); FMA contraction is allowed.
FASTMATH = "{'nsz', 'contract'}"


class JitCompilationError(FuncgradError, RuntimeError):
    """Numba could not compile the code generated for an equation."""


def has_lowering(eqn: Eqn) -> bool:
    name = eqn.primitive.name
    if name == "fused":
        return True
    return name in RULES and CONDITIONS.get(name, lambda e: True)(eqn)


@dataclass
class Segment:
    """A compiled function over a run of equations."""

    function: str
    inputs: list[Var]
    outputs: list[Var]
    eqns: list[Eqn]
    lines: list[str] = field(default_factory=list)
    line_eqns: list[Eqn | None] = field(default_factory=list)
    parallel: bool = False


@dataclass
class Program:
    """Generated source and the steps that run it (compiled segments and
    host calls)."""

    ir: IR
    name: str
    source: str
    steps: list[Segment | Eqn]
    consts: list[np.ndarray]
    line_eqns: dict[int, Eqn]

    def compile(self) -> Executable:
        """Compile every segment now, for the IR's input types (a corrupted
        disk-cache entry is dropped and compiled again)."""
        segments = [s for s in self.steps if isinstance(s, Segment)]
        set_blas_threads(config.blas_threads)
        for attempt in range(2):
            module = modules.load(self.source, self.name, fresh=attempt > 0)
            try:
                functions = {}
                for segment in segments:
                    function = getattr(module, segment.function)
                    if hasattr(function, "compile"):  # not under NUMBA_DISABLE_JIT=1
                        function.compile(self._signature(segment))
                    functions[segment.function] = function
                return Executable(self, functions)
            except Exception as error:
                if attempt > 0:
                    raise self._explain(error) from None
        raise AssertionError("unreachable")

    def _signature(self, segment: Segment) -> tuple:
        arrays = [numba.types.Array(numba.from_dtype(v.aval.dtype), v.aval.ndim, "C")
                  for v in segment.inputs]
        return tuple(arrays + [numba.typeof(c) for c in self.consts])

    def _explain(self, error: Exception) -> Exception:
        """Numba's error, with the primitive and the user's line it comes from."""
        text = str(error)
        eqn = None
        path = modules.path_of(self.source)
        for match in re.finditer(r'File "([^"]+)", line (\d+)', text):
            if path and os.path.basename(match.group(1)) == os.path.basename(path):
                eqn = self.line_eqns.get(int(match.group(2)), eqn)
        if eqn is None:  # no location (an unknown name, say): the first line naming it
            lines = self.source.splitlines()
            for quoted in re.findall(r"'(\w+)'", text):
                found = [n for n, line in enumerate(lines, 1) if quoted in line and n in self.line_eqns]
                if found:
                    eqn = self.line_eqns[found[0]]
                    break
        summary = "\n".join(text.strip().splitlines()[:3]) or type(error).__name__
        if eqn is None:
            return JitCompilationError(f"jit could not compile {self.name}: {summary}",
                                       "run it under fg.disable_jit() to find the operation")
        where = f" recorded at {eqn.source}" if eqn.source else ""
        return JitCompilationError(
            f"jit could not compile {eqn.primitive.name}{where} in {self.name}: {summary}",
            "run it under fg.disable_jit() to check it eagerly; please report the bug")


def generate(ir: IR, name: str) -> Program:
    """The program for an optimized ``ir`` (see ``funcgrad.transforms.passes``)."""
    em = Emitter()
    em.name_as_printed(ir)
    runs: list[list[Eqn] | Eqn] = []
    for eqn in ir.eqns:
        if not has_lowering(eqn):
            runs.append(eqn)
        elif runs and isinstance(runs[-1], list) and len(runs[-1]) < MAX_EQNS_PER_FUNCTION:
            runs[-1].append(eqn)
        else:
            runs.append([eqn])
    if not any(isinstance(r, list) for r in runs) or isinstance(runs[-1], Eqn):
        runs.append([])  # the outputs are returned by a compiled segment
    steps: list[Segment | Eqn] = []
    for index, run in enumerate(runs):
        if isinstance(run, Eqn):
            steps.append(run)
            continue
        later = runs[index + 1:]
        segment = _segment(em, run, later, ir, single=len(runs) == 1,
                           function="kernel" if len(runs) == 1 else f"kernel{index}")
        steps.append(segment)
    source, line_eqns = _module_source(em, [s for s in steps if isinstance(s, Segment)])
    return Program(ir, name, source, steps, em.const_values, line_eqns)


def _segment(em: Emitter, run: list[Eqn], later: list, ir: IR, single: bool,
             function: str) -> Segment:
    ordered = [v for e in run for v in e.outputs]
    defined = set(ordered)
    if single:
        inputs = list(ir.inputs)
    else:
        inputs = []
        for e in run:
            inputs.extend(a for a in e.inputs
                          if isinstance(a, Var) and a not in defined and a not in inputs)
    read_later = {a for item in later for e in (item if isinstance(item, list) else [item])
                  for a in e.inputs if isinstance(a, Var)}
    read_later.update(a for a in ir.outputs if isinstance(a, Var))
    is_last = not any(isinstance(item, list) for item in later)
    if is_last:
        outputs = [a for a in ir.outputs]
        inputs.extend(a for a in ir.outputs if isinstance(a, Var) and a not in defined
                      and a not in inputs)
    else:
        outputs = [v for v in ordered if v in read_later]
    segment = Segment(function, inputs, outputs, run)
    start = len(em.lines)
    em.depth = 1
    for var in inputs:
        em.name(var)
    em.parallel = False
    emit_eqns(em, run)
    segment.parallel, em.current = em.parallel, None
    returned = []
    for atom in outputs:
        if isinstance(atom, Literal) or atom not in defined:  # a fresh array, never an alias
            copy = em.fresh("out")
            em.line(f"{copy} = {em.name(atom)}.copy()")
            returned.append(copy)
        else:
            returned.append(em.name(atom))
    em.line(f"return ({', '.join(returned)}{',' if len(returned) == 1 else ''})")
    segment.lines, segment.line_eqns = em.lines[start:], em.line_eqns[start:]
    del em.lines[start:], em.line_eqns[start:]
    return segment


def emit_eqns(em: Emitter, eqns: list[Eqn]) -> None:
    """Emit the source of lowered equations, each under its comment."""
    for eqn in eqns:
        em.comment(eqn)
        if eqn.primitive.name == "fused":
            lower_fused(em, eqn)
        else:
            RULES[eqn.primitive.name](em, eqn)


def can_inline(ir: IR) -> bool:
    """Whether every equation of ``ir``, optimized, has a lowering."""
    return all(map(has_lowering, optimized(ir).eqns))


def emit_inline(em: Emitter, ir: IR, inputs: list[str]) -> list[str]:
    """Emit ``ir`` (a control-flow body, say) inline, its inputs bound to the
    array expressions ``inputs``; returns the names holding its outputs.
    Check ``can_inline(ir)`` first."""
    body = optimized(ir)
    for var, expr in zip(body.inputs, inputs):
        em.line(f"{em.name(var)} = {expr}")
    emit_eqns(em, body.eqns)
    return [em.name(a) for a in body.outputs]


_OPTIMIZED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def optimized(ir: IR) -> IR:
    """``ir`` after the jit passes (memoized: sub-IRs are asked for twice)."""
    from funcgrad.transforms.passes import optimize

    if ir not in _OPTIMIZED:
        _OPTIMIZED[ir] = optimize(ir)
    return _OPTIMIZED[ir]


def _module_source(em: Emitter, segments: list[Segment]) -> tuple[str, dict[int, Eqn]]:
    lines = ["# Generated by funcgrad.jit: one line per IR equation, the equation above it.",
             "import numpy as np",
             "from numba import njit, prange  # noqa: F401"]
    runtime = sorted(em.imports - MATH_AVAILABLE)
    math = sorted(em.imports & MATH_AVAILABLE)
    if runtime:
        lines.append(f"from funcgrad.backends.numba_cpu.runtime import {', '.join(runtime)}")
    if math:
        lines.append(f"from funcgrad.backends.numba_math import {', '.join(math)}")
    consts = list(em.const_names.values())
    line_eqns: dict[int, Eqn] = {}
    for segment in segments:
        parallel = ", parallel=True" if segment.parallel else ""
        args = [em.name(v) for v in segment.inputs] + consts
        lines += ["", "", f"@njit(cache=CACHE, error_model='numpy', fastmath={FASTMATH}{parallel})",
                  f"def {segment.function}({', '.join(args)}):"]
        for text, eqn in zip(segment.lines, segment.line_eqns):
            lines.append(text)
            if eqn is not None:
                line_eqns[len(lines)] = eqn
    return "\n".join(lines) + "\n", line_eqns


class Executable:
    """Runs a compiled program on flat arrays (C-contiguous, of the IR's
    input dtypes); returns the flat outputs."""

    def __init__(self, program: Program, functions: dict):
        self.program = program
        self.functions = functions
        self.consts = tuple(program.consts)
        self.single = functions.get("kernel")  # the common case: one call, nothing around it

    def __call__(self, *args) -> list:
        if self.single is not None:
            return list(self.single(*args, *self.consts))
        return self._run_steps(args)

    def _run_steps(self, args) -> list:
        env: dict[Var, object] = dict(zip(self.program.ir.inputs, args))
        for step in self.program.steps:
            if isinstance(step, Eqn):
                values = [a.value if isinstance(a, Literal) else env[a] for a in step.inputs]
                result = step.primitive.impl(array_namespace(values), *values, **step.params)
                results = result if step.primitive.multiple_results else [result]
                env.update((v, np.asarray(r, v.aval.dtype, order="C"))
                           for v, r in zip(step.outputs, results))
            else:
                outs = self.functions[step.function](*(env[v] for v in step.inputs), *self.consts)
                env.update(zip(step.outputs, outs))
                last = outs
        return list(last)


# The other rule modules register their rules on import (after emit_inline, which some use).
from funcgrad.backends.numba_cpu import rules_control_flow, rules_indexing, rules_linalg  # noqa: E402, F401
