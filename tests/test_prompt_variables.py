"""The `{{name}}` filler on its own: what is a placeholder, what is literal, what is missing."""

from __future__ import annotations

import pytest

from promptkit.errors import MissingPromptVariable
from promptkit.prompt_variables import fill, placeholders


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("plain", {}, "plain"),
        ("{{a}}{{ a }}", {"a": "x"}, "xx"),
        ("{{{{a}}", {}, "{{a}}"),
        ("{{{{{{a}}", {"a": "x"}, "{{x"),
        ("{{a}}", {"a": "{{b}}", "b": "no"}, "{{b}}"),
        ("{{ not a name }} {a} {{1a}}", {}, "{{ not a name }} {a} {{1a}}"),
        ("{{a}", {"a": "x"}, "{{a}"),
    ],
)
def test_fill(template, values, expected):
    assert fill(template, values) == expected


def test_missing_names_every_one_in_order():
    assert placeholders("{{b}} {{a}} {{b}} {{{{c}}") == ["b", "a"]
    with pytest.raises(MissingPromptVariable) as error:
        fill("{{b}} {{a}}", {})
    assert "b, a" in error.value.message
    assert error.value.status == 422 and error.value.code == "missing_prompt_variable"
