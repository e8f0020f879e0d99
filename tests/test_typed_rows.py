"""The query functions' typed rows (TypedDicts, which mypy checks the views against) name the
same fields as the API's response models (pydantic, which validate every answer): a field
added to one and not the other fails here, not in production."""

from __future__ import annotations

import pytest

from promptkit import schemas
from promptkit.db.messages import MessagePromptRow, MessageRow
from promptkit.db.search import HitConversation, SearchHitRow


@pytest.mark.parametrize(
    ("row", "model"),
    [
        (MessageRow, schemas.Message),
        (MessagePromptRow, schemas.MessagePrompt),
        (SearchHitRow, schemas.SearchHit),
        (HitConversation, schemas.Conversation),
    ],
    ids=lambda kind: kind.__name__,
)
def test_a_typed_row_has_the_fields_of_its_response_model(row, model):
    assert row.__required_keys__ | row.__optional_keys__ == set(model.model_fields)
