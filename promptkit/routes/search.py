"""Search: `/search` over the caller's conversation titles and messages."""

from __future__ import annotations

from pydantic import Field, field_validator
from quart import Blueprint
from quart_schema import validate_querystring, validate_response

from .. import context
from ..db import projects
from ..db import search as q
from ..schemas import ListQuery, Page, SearchHit
from . import PageOf, found, page

blueprint = Blueprint("search", __name__)

QUERY_MAX = 200


class SearchQuery(ListQuery):
    q: str = Field(min_length=1, max_length=QUERY_MAX)
    project_id: str | None = Field(None, max_length=64)

    @field_validator("q")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


@blueprint.get("/search")
@validate_querystring(SearchQuery)
@validate_response(Page[SearchHit])
async def search(query_args: SearchQuery) -> PageOf[q.SearchHitRow]:
    """Find my conversations by their titles and messages, best first."""
    owner = context.owner()
    if query_args.project_id is not None:
        found(await projects.get(context.db(), owner, query_args.project_id), "project")
    rows, cursor = await q.search(
        context.db(),
        owner,
        query_args.q,
        project_id=query_args.project_id,
        limit=query_args.limit,
        cursor=query_args.cursor,
    )
    return page(rows, cursor)
