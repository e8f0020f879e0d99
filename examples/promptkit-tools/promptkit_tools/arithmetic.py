"""Arithmetic from text, by walking Python's own parse tree: numbers and operators only.

`eval` would run any code the model writes; this accepts number literals, `+ - * / // % **`
and parentheses, and refuses everything else by name. Exponents and results are bounded so
that `9**9**9` cannot take the process's memory.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

MAX_EXPONENT = 1000
MAX_DIGITS = 4000

Number = int | float
BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}


def evaluate(expression: str) -> Number:
    """The value of `expression`; ValueError with a reason for anything else."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise ValueError("not an arithmetic expression") from None
    value = _value(tree.body)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("the result is not a finite number")
    return value


def _value(node: ast.expr) -> Number:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value  # type: ignore[no-any-return]
    if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
        return UNARY[type(node.op)](_value(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ValueError(f"exponents above {MAX_EXPONENT} are refused")
        try:
            result = BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ValueError("division by zero") from None
        except OverflowError:
            raise ValueError("the result is too large") from None
        if isinstance(result, int) and result.bit_length() > MAX_DIGITS * 3.33:
            raise ValueError("the result is too large")
        if isinstance(result, complex):
            raise ValueError("the result is not a real number")
        return result
    raise ValueError(f"{type(node).__name__} is not allowed: only numbers and + - * / // % **")
