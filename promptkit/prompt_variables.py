"""`{{name}}` placeholders in a system prompt, filled from the chat's `prompt_variables`.

Nothing else: no expressions, no filters, no code. `{{{{` is a literal `{{`. A value is put
in as it is and never read for placeholders again.
"""

from __future__ import annotations

import re

from .errors import MissingPromptVariable

NAME = r"[A-Za-z_][A-Za-z0-9_]{0,63}"
_TOKEN = re.compile(r"\{\{\{\{|\{\{\s*(" + NAME + r")\s*\}\}")


def placeholders(template: str) -> list[str]:
    """The names the template asks for, in order of first use."""
    names = (match.group(1) for match in _TOKEN.finditer(template))
    return list(dict.fromkeys(name for name in names if name))


def fill(template: str, values: dict[str, str]) -> str:
    """The template with every placeholder replaced, in one pass; raises when one has no value."""
    missing = [name for name in placeholders(template) if name not in values]
    if missing:
        raise MissingPromptVariable(
            f"the system prompt needs a value for {', '.join(missing)}",
            details=[
                {"loc": ["body", "prompt_variables", name], "msg": "missing"} for name in missing
            ],
        )
    return _TOKEN.sub(lambda match: values[match.group(1)] if match.group(1) else "{{", template)
