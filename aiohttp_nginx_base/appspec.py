"""APP_MODULE's syntax: `module:variable`, or gunicorn's `module:factory(args)` with literal arguments.

Standard library only: settings.py validates with it in PID 1, and each worker parses with it
before importing the app.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

MAX_LENGTH = 500
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True)
class AppSpec:
    module: str
    name: str
    # None: use the variable as it is; else call it with these (gunicorn's `factory(...)` syntax)
    args: Optional[List[Any]] = None
    kwargs: Dict[str, Any] = field(default_factory=dict)

    @property
    def called(self) -> bool:
        return self.args is not None


def parse(text: str) -> AppSpec:
    """Raise ValueError (with the reason) unless `text` is `module:name` or `module:name(literal, key=literal)`."""
    value = text.strip()
    if len(value) > MAX_LENGTH or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"at most {MAX_LENGTH} printable characters")
    module, sep, obj = value.partition(":")
    if not sep or not _MODULE.fullmatch(module):
        raise ValueError("a module name before ':'")
    try:
        expression = ast.parse(obj, mode="eval").body
    except SyntaxError:
        raise ValueError("a variable name or a call such as create_app() after ':'") from None
    if isinstance(expression, ast.Name):
        return AppSpec(module, expression.id)
    if not isinstance(expression, ast.Call) or not isinstance(expression.func, ast.Name):
        raise ValueError("a variable name or a call such as create_app() after ':'")
    if any(isinstance(a, ast.Starred) for a in expression.args) or any(k.arg is None for k in expression.keywords):
        raise ValueError("literal arguments (no * or **)")
    try:
        args = [ast.literal_eval(a) for a in expression.args]
        kwargs = {str(k.arg): ast.literal_eval(k.value) for k in expression.keywords}
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError("literal arguments: strings, numbers, True/False/None, tuples, lists, dicts") from None
    return AppSpec(module, expression.func.id, args, kwargs)
