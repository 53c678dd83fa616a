"""Mutants of a solution's functions: one change at one site, each identified stably.

Two families of operators, both on libcst trees (so a mutant keeps its author's formatting and the
diff shows only the change):

* mutmut's own node operators (`mutmut.mutation.mutators.mutation_operators`, mutmut 3): numbers
  (+1), strings, True/False, assignments to None, dropped or None'd call arguments, swapped
  arithmetic, comparison and boolean operators, `is`/`in` flipped, augmented assignments made
  plain, ternaries forced down one branch. Imported and applied as they are, not copied.
* numpy-specific ones, written here (mutmut has none): an `axis` or `keepdims` changed or
  dropped, `sum`/`mean` swapped, one numpy function for a related one, a transpose dropped,
  `@` for `*`, a float constant 10% off, `rtol`/`atol`/`tol` ten times larger or smaller, a
  conversion or copy (`np.abs`, `np.clip`, `.copy()`, `dict(...)`, ...) dropped.

A mutant's id is `<origin>:<function>:<operator>:<first 10 hex of sha256 of the mutated def>`:
the same change of the same code gets the same id in every run (audit/accepted.toml uses it).
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import libcst as cst


@dataclass(frozen=True)
class Mutant:
    origin: str        # "reference" or an alternative's name
    function: str      # the answer function mutated
    operator: str      # e.g. "mutmut.swap_op", "numpy.axis"
    source: str        # the mutated def
    original: str      # the def it was made from
    line: int          # line of the change within the def (1-based)

    @property
    def id(self) -> str:
        digest = hashlib.sha256(self.source.encode()).hexdigest()[:10]
        return f"{self.origin}:{self.function}:{self.operator}:{digest}"

    @property
    def diff(self) -> str:
        return "".join(difflib.unified_diff(
            self.original.splitlines(keepends=True), self.source.splitlines(keepends=True),
            fromfile=f"{self.origin}/{self.function}", tofile=f"mutant {self.id}", n=1))


# --------------------------------------------------------------------------- numpy operators

_SWAPS = {   # one numpy (or scipy, or method) function for a related one
    "max": "min", "min": "max", "amax": "amin", "amin": "amax", "maximum": "minimum",
    "minimum": "maximum", "all": "any", "any": "all", "exp": "expm1", "expm1": "exp",
    "log": "log1p", "log1p": "log", "zeros": "ones", "ones": "zeros", "zeros_like": "ones_like",
    "ones_like": "zeros_like", "full": "full_like", "full_like": "full", "sqrt": "square",
    "square": "sqrt", "allclose": "array_equal", "array_equal": "allclose", "isclose": "equal",
    "ptp": "max", "dot": "multiply", "matmul": "multiply", "multiply": "matmul",
    "standard_normal": "random", "normal": "uniform", "uniform": "normal", "tanh": "sinh",
    "expit": "logit", "hstack": "vstack", "vstack": "hstack", "where": "select", "ravel": "squeeze",
    "prod": "sum", "isfinite": "isnan",
}
_DROPPABLE = {"abs", "absolute", "clip", "copy", "deepcopy", "asarray", "array", "float", "bool",
              "squeeze", "ravel", "flatten", "dict", "list", "astype"}
_TOLERANCES = {"tol", "rtol", "atol", "eps", "epsilon"}
_SCALING_OPS = (cst.Multiply, cst.Divide, cst.Power)


def _func_name(call: cst.Call) -> str | None:
    f = call.func
    if isinstance(f, cst.Name):
        return f.value
    if isinstance(f, cst.Attribute):
        return f.attr.value
    return None


def _renamed(call: cst.Call, new: str) -> cst.Call:
    f = call.func
    if isinstance(f, cst.Name):
        return call.with_changes(func=f.with_changes(value=new))
    return call.with_changes(func=f.with_changes(attr=f.attr.with_changes(value=new)))


def _without_arg(call: cst.Call, i: int) -> cst.Call:
    args = list(call.args[:i]) + list(call.args[i + 1:])
    if args:
        args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return call.with_changes(args=args)


def _with_arg_value(call: cst.Call, i: int, value: cst.BaseExpression) -> cst.Call:
    args = list(call.args)
    args[i] = args[i].with_changes(value=value)
    return call.with_changes(args=args)


def _expr(text: str) -> cst.BaseExpression:
    return cst.parse_expression(text)


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def numpy_axis(node: cst.Call) -> Iterable[cst.CSTNode]:
    for i, arg in enumerate(node.args):
        if arg.keyword is not None and arg.keyword.value == "axis":
            old = _code(arg.value).strip()
            for new in ("0", "1", "None"):
                if new != old:
                    yield _with_arg_value(node, i, _expr(new))


def numpy_keepdims(node: cst.Call) -> Iterable[cst.CSTNode]:
    for i, arg in enumerate(node.args):
        if arg.keyword is not None and arg.keyword.value == "keepdims":
            old = _code(arg.value).strip()
            yield _with_arg_value(node, i, _expr("False" if old == "True" else "True"))
            yield _without_arg(node, i)


def numpy_sum_mean(node: cst.Call) -> Iterable[cst.CSTNode]:
    name = _func_name(node)
    if name in ("sum", "mean"):
        yield _renamed(node, "mean" if name == "sum" else "sum")


def numpy_function(node: cst.Call) -> Iterable[cst.CSTNode]:
    name = _func_name(node)
    if name in _SWAPS and (isinstance(node.func, cst.Attribute) or name == "expit"):
        yield _renamed(node, _SWAPS[name])


def numpy_drop_call(node: cst.Call) -> Iterable[cst.CSTNode]:
    """np.abs(x) -> x, np.clip(x, a, b) -> x, x.copy() -> x, dict(p) -> p, x.astype(t) -> x."""
    name = _func_name(node)
    if name not in _DROPPABLE:
        return
    if isinstance(node.func, cst.Attribute) and name in ("copy", "astype", "ravel", "flatten", "squeeze") \
            and not (isinstance(node.func.value, cst.Name) and node.func.value.value in ("np", "numpy", "copy")):
        yield node.func.value.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    elif node.args and node.args[0].keyword is None and not node.args[0].star:
        yield node.args[0].value.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def numpy_transpose(node: cst.CSTNode) -> Iterable[cst.CSTNode]:
    if isinstance(node, cst.Attribute) and node.attr.value == "T":
        yield node.value
    elif isinstance(node, cst.Call) and _func_name(node) == "transpose":
        if isinstance(node.func, cst.Attribute) and not node.args:
            yield node.func.value
        elif node.args and node.args[0].keyword is None:
            yield node.args[0].value.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def numpy_matmul(node: cst.BinaryOperation) -> Iterable[cst.CSTNode]:
    if isinstance(node.operator, cst.MatrixMultiply):
        yield node.with_changes(operator=cst.Multiply())


def numpy_tolerance(node: cst.CSTNode) -> Iterable[cst.CSTNode]:
    """rtol=/atol=/tol= keyword arguments, and tolerance parameters' defaults: x10, /10, dropped."""
    if isinstance(node, cst.Call):
        for i, arg in enumerate(node.args):
            if arg.keyword is not None and arg.keyword.value in _TOLERANCES:
                value = _code(arg.value).strip()
                yield _with_arg_value(node, i, _expr(f"({value}) * 10"))
                yield _with_arg_value(node, i, _expr(f"({value}) / 10"))
                yield _without_arg(node, i)
    elif isinstance(node, cst.Param) and node.name.value in _TOLERANCES and node.default is not None:
        value = _code(node.default).strip()
        yield node.with_changes(default=_expr(f"{value} * 10"))
        yield node.with_changes(default=_expr(f"{value} / 10"))


def numpy_constant(node: cst.BaseNumber, parent: cst.CSTNode | None) -> Iterable[cst.CSTNode]:
    """A constant 10% off: every float, and integers that scale (operands of *, / or **)."""
    if isinstance(node, cst.Float) or (
            isinstance(node, cst.Integer) and isinstance(parent, cst.BinaryOperation)
            and isinstance(parent.operator, _SCALING_OPS)):
        value = node.evaluated_value
        if value != 0:
            yield cst.Float(repr(value * 1.1))


NUMPY_OPERATORS: list[tuple[str, type, Callable]] = [
    ("numpy.axis", cst.Call, numpy_axis),
    ("numpy.keepdims", cst.Call, numpy_keepdims),
    ("numpy.sum_mean", cst.Call, numpy_sum_mean),
    ("numpy.function", cst.Call, numpy_function),
    ("numpy.drop_call", cst.Call, numpy_drop_call),
    ("numpy.transpose", cst.CSTNode, numpy_transpose),
    ("numpy.matmul", cst.BinaryOperation, numpy_matmul),
    ("numpy.tolerance", cst.CSTNode, numpy_tolerance),
]


def library_operators() -> list[tuple[str, type, Callable]]:
    """mutmut's node operators, named `mutmut.<name>`."""
    from mutmut.mutation.mutators import mutation_operators

    return [(f"mutmut.{fn.__name__.removeprefix('operator_')}", node_type, fn)
            for node_type, fn in mutation_operators]


# --------------------------------------------------------------------------- walking a def

def _sites(node: cst.CSTNode, parent: cst.CSTNode | None = None) -> Iterator[tuple[cst.CSTNode, cst.CSTNode | None]]:
    """Every node of a def that may be mutated, with its parent: not the docstring, decorators,
    annotations or the function's own name."""
    if isinstance(node, (cst.Annotation, cst.Decorator)):
        return
    yield node, parent
    children = node.children
    if isinstance(node, cst.FunctionDef):
        children = [node.params, *_body_without_docstring(node)]
    for child in children:
        yield from _sites(child, node)


def _body_without_docstring(fn: cst.FunctionDef) -> list[cst.CSTNode]:
    body = list(fn.body.body) if isinstance(fn.body, cst.IndentedBlock) else [fn.body]
    if body and isinstance(body[0], cst.SimpleStatementLine) and len(body[0].body) == 1 \
            and isinstance(body[0].body[0], cst.Expr) and isinstance(body[0].body[0].value, cst.BaseString):
        body = body[1:]
    return body


def mutants(origin: str, function: str, source: str, *, operators=None) -> list[Mutant]:
    """Every first-order mutant of the def `source` (distinct, compiling, not the original)."""
    module = cst.parse_module(source)
    fns = [n for n in module.body if isinstance(n, cst.FunctionDef)]
    if len(fns) != 1:
        raise ValueError(f"{origin}/{function}: expected one def, found {len(fns)}")
    ops = operators if operators is not None else all_operators()
    wrapper = cst.MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(cst.metadata.PositionProvider)
    seen = {source}
    found: list[Mutant] = []
    for node, parent in _sites(fns[0]):
        for name, node_type, op in ops:
            if not isinstance(node, node_type):
                continue
            made = op(node, parent) if op is numpy_constant else op(node)
            for new in made:
                try:
                    code = module.deep_replace(node, new).code
                    compile(code, "<mutant>", "exec")
                except Exception:          # an operator's output that is not valid Python
                    continue
                if code in seen:
                    continue
                seen.add(code)
                pos = positions.get(node)
                found.append(Mutant(origin, function, name, code, source, pos.start.line if pos else 0))
    return found


def all_operators() -> list[tuple[str, type, Callable]]:
    return library_operators() + NUMPY_OPERATORS + [("numpy.constant", cst.BaseNumber, numpy_constant)]
