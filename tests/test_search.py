"""`GET /search`: the database's own full-text index over titles and messages, on both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from fake_openai import Script
from test_chat import send, upstream_env

from promptkit.db.engine import new_id, now, sync_url
from promptkit.db.search import fold
from promptkit.db.tables import messages
from promptkit.migrate import alembic_config


@pytest.fixture
def app_environ(fake):
    return upstream_env(fake)


def store(database_url, conversation_id, owner_id, *contents, role="user"):
    """Messages written as the chat writes them; the ids, in order."""
    ids = [new_id("msg") for _ in contents]
    engine = sa.create_engine(sync_url(database_url))
    with engine.begin() as connection:
        for message_id, content in zip(ids, contents, strict=True):
            connection.execute(
                sa.insert(messages).values(
                    id=message_id,
                    conversation_id=conversation_id,
                    owner_id=owner_id,
                    role=role,
                    content=content,
                    status="complete",
                    created_at=now(),
                )
            )
    engine.dispose()
    return ids


async def project(client, headers, name="P"):
    response = await client.post("/projects", json={"name": name}, headers=headers)
    return (await response.get_json())["id"]


async def conversation(client, headers, project_id, title=""):
    response = await client.post(
        f"/projects/{project_id}/conversations", json={"title": title}, headers=headers
    )
    return (await response.get_json())["id"]


async def search(client, headers, q, **params):
    response = await client.get("/search", query_string={"q": q, **params}, headers=headers)
    assert response.status_code == 200, await response.get_data()
    return await response.get_json()


async def found(client, headers, q, **params):
    """(conversation id, message id) of each hit, in order."""
    hits = (await search(client, headers, q, **params))["data"]
    return [(hit["conversation"]["id"], hit["message_id"]) for hit in hits]


async def test_words_prefixes_case_and_accents(client, auth, clean_database):
    alice = auth("alice")
    chat = await conversation(client, alice, await project(client, alice))
    [message] = store(clean_database, chat, "alice", "We ate pastéis de nata in Alfama")
    for q in ("alfama", "Alfa", "PASTEIS", "pastéis", "pastei nat", "ALFAMA pastéis"):
        assert await found(client, alice, q) == [(chat, message)], q
    for q in ("lfama", "alfama lisbon", "pasteiss"):
        assert await found(client, alice, q) == [], q


async def test_a_quoted_phrase_matches_its_words_in_order(client, auth, clean_database):
    alice = auth("alice")
    project_id = await project(client, alice)
    ordered = await conversation(client, alice, project_id)
    reversed_ = await conversation(client, alice, project_id)
    store(clean_database, ordered, "alice", "the database migration failed")
    store(clean_database, reversed_, "alice", "migration of the database")
    assert [c for c, _ in await found(client, alice, '"database migration"')] == [ordered]
    both = {c for c, _ in await found(client, alice, "database migration")}
    assert both == {ordered, reversed_}


async def test_snippet_is_plain_text_with_offsets_of_the_matching_words(
    client, auth, clean_database
):
    alice = auth("alice")
    chat = await conversation(client, alice, await project(client, alice))
    text = (
        "filler words " * 40 + "then <b>Pastéis</b> & the pastry, and pastéis again " + "end " * 60
    )
    store(clean_database, chat, "alice", text)
    [hit] = (await search(client, alice, "pasteis"))["data"]
    snippet = hit["snippet"]
    assert "Pastéis</b>" in snippet and len(snippet) < len(text)
    marked = [snippet[start:end] for start, end in hit["highlights"]]
    assert marked == ["Pastéis", "pastéis"]
    assert all(fold(word).startswith("pasteis") for word in marked)


async def test_titles_are_searched_and_a_rename_updates_them(client, auth, clean_database):
    alice = auth("alice")
    project_id = await project(client, alice)
    titled = await conversation(client, alice, project_id, "Database migration plan")
    talked = await conversation(client, alice, project_id, "Untitled")
    [message] = store(clean_database, talked, "alice", "how do I write a migration?")
    [hit] = (await search(client, alice, "plan"))["data"]
    assert hit["message_id"] is None and hit["snippet"] == "Database migration plan"
    assert hit["highlights"] == [[19, 23]]
    assert set(await found(client, alice, "migration")) == {(titled, None), (talked, message)}

    await client.patch(f"/conversations/{titled}", json={"title": "Holidays"}, headers=alice)
    assert await found(client, alice, "plan") == []
    assert await found(client, alice, "holiday") == [(titled, None)]


async def test_one_hit_per_conversation_with_its_best_message(client, auth, clean_database):
    alice = auth("alice")
    chat = await conversation(client, alice, await project(client, alice), "Lisbon notes")
    _weak, strong = store(
        clean_database,
        chat,
        "alice",
        "lisbon " + "and many other words about nothing in particular " * 10,
        "lisbon lisbon tram",
    )
    assert await found(client, alice, "lisbon") == [(chat, strong)]


async def test_a_reply_is_findable_once_stored_and_gone_after_a_delete(
    client, auth, fake, clean_database
):
    alice = auth("alice")
    chat = await conversation(client, alice, await project(client, alice))
    fake.default = Script(tokens=["Try the ", "Miradouro ", "at sunset"])
    response, events = await send(
        client, alice, {"conversation_id": chat, "message": "best viewpoint in Graça?"}
    )
    assert response.status_code == 200 and events[-1] == "[DONE]"
    history = await client.get(f"/conversations/{chat}/messages", headers=alice)
    user, reply = (await history.get_json())["data"]
    assert await found(client, alice, "graca") == [(chat, user["id"])]
    assert await found(client, alice, "miradouro sun") == [(chat, reply["id"])]

    assert (await client.delete(f"/conversations/{chat}", headers=alice)).status_code == 204
    assert await found(client, alice, "miradouro") == []
    assert await found(client, alice, "graca") == []


async def test_another_users_text_is_never_found(client, auth, clean_database):
    alice, bob = auth("alice"), auth("bob")
    bobs_project = await project(client, bob)
    bobs = await conversation(client, bob, bobs_project, "secret tramway")
    store(clean_database, bobs, "bob", "secret tramway plans")
    mine = await conversation(client, alice, await project(client, alice))
    [message] = store(clean_database, mine, "alice", "public tramway")
    assert await found(client, alice, "tramway") == [(mine, message)]
    assert await found(client, alice, "secret") == []
    response = await client.get(
        "/search", query_string={"q": "secret", "project_id": bobs_project}, headers=alice
    )
    assert response.status_code == 404
    assert (await response.get_json())["error"]["code"] == "not_found"


async def test_project_id_narrows_the_search(client, auth, clean_database):
    alice = auth("alice")
    work, home = await project(client, alice, "work"), await project(client, alice, "home")
    at_work = await conversation(client, alice, work, "budget")
    at_home = await conversation(client, alice, home, "budget")
    assert {c for c, _ in await found(client, alice, "budget")} == {at_work, at_home}
    assert await found(client, alice, "budget", project_id=home) == [(at_home, None)]


# Each with whether it finds "alpha beta near and or not title content drop table": any
# character that is not part of a word is plain text, and every word must match.
HOSTILE = [
    ('"', False),
    ('"alpha', True),
    ('alpha"', True),
    ('"alpha" "', True),
    ("alpha*", True),
    ("*", False),
    ("NEAR(alpha beta)", True),
    ("NEAR(alpha", True),
    ("alpha AND beta", True),
    ("alpha OR", True),
    ("NOT alpha", True),
    ("^alpha", True),
    ("title:alpha", True),
    ("content:alpha", True),
    ("{content title}: alpha", True),
    ("')--", False),
    ("alpha'); DROP TABLE messages; --", False),  # no "messages" in the text
    ("alpha & beta | !near", True),
    ("(alpha) <-> beta:*", True),
    ("alpha:*", True),
    ("!!", False),
    ("&|!():*<->", False),
    ("-alpha +beta", True),
    ("\\alpha\\", True),
    ("%_", False),
    ("alpha_beta", True),
    ("ω ✓ 🙂", False),
    ("zeta", False),
]


@pytest.mark.parametrize(("q", "finds"), HOSTILE)
async def test_engine_syntax_is_plain_text(client, auth, clean_database, q, finds):
    alice = auth("alice")
    chat = await conversation(client, alice, await project(client, alice))
    store(clean_database, chat, "alice", "alpha beta near and or not title content drop table")
    assert bool(await found(client, alice, q)) is finds


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": ""},
        {"q": "   "},
        {"q": "\t\n"},
        {"q": "a" * 201},
        {"q": "alpha", "limit": "0"},
        {"q": "alpha", "limit": "101"},
        {"q": "alpha", "limit": "ten"},
        {"q": "alpha", "cursor": "not-a-cursor"},
        {"q": "alpha", "cursor": "WyJ4IiwgMV0"},  # base64 of ["x", 1]
        # a list cursor, whose id carries no score
        {"q": "alpha", "cursor": "WyIyMDI2LTEyLTAzVDE2OjAwOjAwKzAwOjAwIiwgImNudl94Il0"},
    ],
)
async def test_bad_input_is_422(client, auth, clean_database, params):
    response = await client.get("/search", query_string=params, headers=auth("alice"))
    assert response.status_code == 422
    assert (await response.get_json())["error"]["code"]


async def test_paging_walks_every_hit_once_newest_first_among_equals(client, auth, clean_database):
    alice = auth("alice")
    project_id = await project(client, alice)
    chats = [await conversation(client, alice, project_id, "same words") for _ in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        body = await search(client, alice, "same", **params)
        seen += [hit["conversation"]["id"] for hit in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and seen == chats[::-1]


async def test_the_migration_indexes_rows_that_already_exist(client, auth, clean_database):
    alice = auth("alice")
    chat = await conversation(client, alice, await project(client, alice), "Before search")
    config = alembic_config(clean_database)
    command.downgrade(config, "0001")
    try:
        [message] = store(clean_database, chat, "alice", "written before the index existed")
    finally:
        command.upgrade(config, "head")
    assert await found(client, alice, "existed") == [(chat, message)]
    assert await found(client, alice, "before") == [(chat, message)]
    assert await found(client, alice, "search") == [(chat, None)]
