"""The query functions' typed rows (TypedDicts, which mypy checks the views against) name the
same fields as the API's response models (pydantic, which validate every answer), with the
same types, and the rows read straight from a select name its columns: a field added to one
and not the other fails here, not in production."""

from __future__ import annotations

import functools
import operator
import types
import typing
from typing import Any

import pytest

from promptkit import schemas
from promptkit.budget import UsageRow, WindowRow
from promptkit.db import conversations, files, prompts
from promptkit.db.conversations import ConversationRow
from promptkit.db.files import FileRow, StoredFileRow
from promptkit.db.messages import BranchRow, MessagePromptRow, MessageRow
from promptkit.db.owners import OwnerRow
from promptkit.db.projects import ProjectRow
from promptkit.db.prompts import PromptRow, PromptVersionRow
from promptkit.db.search import SearchHitRow
from promptkit.models import CapabilitiesRow, ModelRow
from promptkit.routes.files import File
from promptkit.routes.tools import ToolRow

PAIRS = [
    (ProjectRow, schemas.Project),
    (OwnerRow, schemas.ProjectOwner),
    (PromptRow, schemas.Prompt),
    (PromptVersionRow, schemas.PromptVersion),
    (FileRow, File),
    (ConversationRow, schemas.Conversation),
    (MessageRow, schemas.Message),
    (MessagePromptRow, schemas.MessagePrompt),
    (BranchRow, schemas.BranchPlace),
    (SearchHitRow, schemas.SearchHit),
    (ModelRow, schemas.ModelOut),
    (CapabilitiesRow, schemas.ModelCapabilities),
    (ToolRow, schemas.ToolOut),
    (UsageRow, schemas.TokenUsage),
    (WindowRow, schemas.BudgetWindow),
]
ROW_OF: dict[Any, Any] = {model: row for row, model in PAIRS}

# Where a row holds what the model parses into its own type when it validates the answer.
PARSED = {
    (MessageRow, "usage"): dict[str, Any] | None,  # into `Usage`
    (SearchHitRow, "highlights"): list[list[int]],  # [start, end] pairs into tuples
    (UsageRow, "resets_at"): str | None,  # RFC 3339 text into a datetime
    (WindowRow, "resets_at"): str | None,
}


def as_row_type(annotation: Any) -> Any:
    """A model's field type with each response model in it replaced by its row's TypedDict."""
    if annotation in ROW_OF:
        return ROW_OF[annotation]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is None or origin is typing.Literal:
        return annotation
    rows = tuple(as_row_type(arg) for arg in args)
    if origin in (types.UnionType, typing.Union):
        return functools.reduce(operator.or_, rows)
    return origin[rows]


@pytest.mark.parametrize(("row", "model"), PAIRS, ids=lambda kind: kind.__name__)
def test_a_typed_row_has_the_fields_of_its_response_model(row, model):
    assert row.__required_keys__ | row.__optional_keys__ == set(model.model_fields)


@pytest.mark.parametrize(("row", "model"), PAIRS, ids=lambda kind: kind.__name__)
def test_a_typed_row_has_the_types_of_its_response_model(row, model):
    hints = typing.get_type_hints(row)
    for name, field in model.model_fields.items():
        expected = PARSED.get((row, name)) or as_row_type(field.annotation)
        hint = hints[name]
        if not field.is_required() and field.default is None:
            hint = hint | None  # a key the row may leave out: the model's default is null
        assert hint == expected, name


@pytest.mark.parametrize(
    ("row", "columns"),
    [
        (PromptRow, prompts.COLUMNS),
        (PromptVersionRow, prompts.VERSION_COLUMNS),
        (FileRow, files.COLUMNS),
        (StoredFileRow, files.STORED_COLUMNS),
        (ConversationRow, conversations.COLUMNS),
    ],
    ids=lambda kind: getattr(kind, "__name__", ""),
)
def test_a_row_read_as_selected_has_the_selected_columns(row, columns):
    assert row.__required_keys__ | row.__optional_keys__ == {column.key for column in columns}
