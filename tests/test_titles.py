"""Titles: an untitled conversation is named beside its first reply, through the
`conversation_title` hook (the OpenAI plugin against the fake upstream, the echo provider, the
kernel's first words), stored without overwriting a user's title, never failing or delaying
the reply."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest
from fake_openai import Script
from test_chat import new_conversation, send, text_of, upstream_env

from promptkit import ChatRequest, Model, StreamEnd, hookimpl
from promptkit.hooktypes import ChatMessage
from promptkit.titles import PART_TYPE, first_words, tidy

T = TypeVar("T")
QUESTION = "How do I rotate the signing keys of a Clerk instance without logging people out?"


@pytest.fixture
async def titled(make_app, fake) -> AsyncIterator[Any]:
    """An app with titles on, its provider the fake upstream."""
    app = make_app(titles=True, environ=upstream_env(fake))
    async with app.test_app():
        yield app


async def conversation_of(client, headers, conversation_id: str) -> dict[str, Any]:
    response = await client.get(f"/conversations/{conversation_id}", headers=headers)
    assert response.status_code == 200
    return await response.get_json()


async def eventually(check: Callable[[], Awaitable[T | None]]) -> T:
    """The first answer of `check` that is not None, asked every 10 ms for up to 10 s."""
    for _ in range(1000):
        if (answer := await check()) is not None:
            return answer
        await asyncio.sleep(0.01)
    raise AssertionError("still waiting after 10 s")


async def stored_title(client, headers, conversation_id: str) -> str:
    """The title once the naming task has written one (it may end after the reply)."""

    async def title() -> str | None:
        return (await conversation_of(client, headers, conversation_id))["title"] or None

    return await eventually(title)


async def ask_once(app, headers) -> tuple[Any, str, list[Any]]:
    """A new conversation with one message sent: the client, its id and the stream's events."""
    client = app.test_client()
    conversation = await new_conversation(client, headers)
    response, events = await send(
        client, headers, {"conversation_id": conversation, "message": QUESTION}
    )
    assert response.status_code == 200
    return client, conversation, events


def title_parts(events: list[Any]) -> list[dict[str, Any]]:
    return [e for e in events if isinstance(e, dict) and e["type"] == PART_TYPE]


async def test_the_models_title_is_stored_and_sent_before_finish(titled, auth, fake):
    client, alice = titled.test_client(), auth("alice")
    conversation = await new_conversation(client, alice)
    fake.queue_plain(Script(reply='"Rotating Clerk signing keys."'))
    # The reply waits until the title is stored, so the stream must carry it.
    title_stored = asyncio.Event()
    fake.queue(Script(reply="Use two keys for a while.", hold=title_stored))

    async def release_when_titled() -> None:
        await stored_title(client, alice, conversation)
        title_stored.set()

    releasing = asyncio.create_task(release_when_titled())
    response, events = await send(
        client, alice, {"conversation_id": conversation, "message": QUESTION}
    )
    await releasing

    assert response.status_code == 200
    assert text_of(events) == "Use two keys for a while."
    # Quotes and the final full stop trimmed, stored and announced as a transient data part.
    assert title_parts(events) == [
        {"type": PART_TYPE, "data": {"title": "Rotating Clerk signing keys"}, "transient": True}
    ]
    types = [e if isinstance(e, str) else e["type"] for e in events]
    assert types.index(PART_TYPE) < types.index("finish")
    assert (await conversation_of(client, alice, conversation))["title"] == (
        "Rotating Clerk signing keys"
    )
    # One short, non-streamed request on the chat's model, with the message in it.
    [asked] = fake.plain
    assert asked.body["model"] == "gpt-4.1-mini"
    assert asked.body["max_tokens"] == 32
    assert QUESTION in asked.body["messages"][-1]["content"]

    # Named once: the second message asks for no title.
    await send(client, alice, {"conversation_id": conversation, "message": "and then?"})
    assert len(fake.plain) == 1


async def test_the_title_model_setting_is_used(make_app, auth, fake):
    app = make_app(titles=True, environ={**upstream_env(fake), "PROMPTKIT_TITLE_MODEL": "tiny-1"})
    async with app.test_app():
        client, alice = app.test_client(), auth("alice")
        conversation = await new_conversation(client, alice)
        await send(client, alice, {"conversation_id": conversation, "message": QUESTION})
        assert await stored_title(client, alice, conversation) == "A fake title"
        assert [seen.body["model"] for seen in fake.plain] == ["tiny-1"]


async def test_a_failing_title_call_falls_back_to_the_first_words(titled, auth, fake):
    client, alice = titled.test_client(), auth("alice")
    conversation = await new_conversation(client, alice)
    fake.queue_plain(Script(status=500))
    fake.default = Script(reply="Fine.")

    response, events = await send(
        client, alice, {"conversation_id": conversation, "message": QUESTION}
    )

    assert response.status_code == 200
    assert text_of(events) == "Fine."
    assert events[-2] == {"type": "finish", "finishReason": "stop"}
    title = await stored_title(client, alice, conversation)
    assert title == "How do I rotate the signing keys of a Clerk instance without"
    assert len(fake.plain) == 1  # not retried


async def test_a_slow_title_does_not_delay_the_reply(titled, auth, fake):
    client, alice = titled.test_client(), auth("alice")
    conversation = await new_conversation(client, alice)
    release_title = asyncio.Event()
    fake.queue_plain(Script(reply="Late title", hold=release_title))
    fake.default = Script(reply="An answer, in full.")

    # The whole reply streams and is stored while the title request is still unanswered.
    response, events = await send(
        client, alice, {"conversation_id": conversation, "message": QUESTION}
    )
    assert response.status_code == 200
    assert text_of(events) == "An answer, in full."
    assert events[-1] == "[DONE]"
    assert title_parts(events) == []  # not ready before the reply ended
    assert len(fake.plain) == 1 and not fake.plain[0].completed
    assert (await conversation_of(client, alice, conversation))["title"] == ""

    release_title.set()
    assert await stored_title(client, alice, conversation) == "Late title"


async def test_a_users_title_is_never_overwritten(titled, auth, fake):
    client, alice = titled.test_client(), auth("alice")
    # Titled from the start: nothing is asked.
    project = await (await client.post("/projects", json={"name": "P"}, headers=alice)).get_json()
    created = await client.post(
        f"/projects/{project['id']}/conversations", json={"title": "Mine"}, headers=alice
    )
    named = (await created.get_json())["id"]
    _, events = await send(client, alice, {"conversation_id": named, "message": QUESTION})
    assert title_parts(events) == []
    assert fake.plain == []
    assert (await conversation_of(client, alice, named))["title"] == "Mine"

    # Titled by the user while the model was still thinking of one: the user's title stays.
    conversation = await new_conversation(client, alice)
    release_title = asyncio.Event()
    fake.queue_plain(Script(reply="The model's idea", hold=release_title))
    await send(client, alice, {"conversation_id": conversation, "message": QUESTION})

    async def title_asked() -> bool | None:
        return bool(fake.plain) or None

    await eventually(title_asked)
    retitled = await client.patch(
        f"/conversations/{conversation}", json={"title": "Keys, my way"}, headers=alice
    )
    assert retitled.status_code == 200
    release_title.set()
    await asyncio.gather(*titled.background_tasks)  # the naming task, done with its answer
    assert fake.plain[-1].completed
    assert (await conversation_of(client, alice, conversation))["title"] == "Keys, my way"


async def test_titles_off_asks_nothing(make_app, auth, fake):
    app = make_app(titles=False, environ=upstream_env(fake))
    async with app.test_app():
        alice = auth("alice")
        client, conversation, events = await ask_once(app, alice)
        assert title_parts(events) == []
        assert fake.plain == []
        assert (await conversation_of(client, alice, conversation))["title"] == ""


async def test_the_echo_provider_names_by_the_first_words(make_app, auth):
    app = make_app(titles=True)  # no upstream configured: the echo provider answers
    async with app.test_app():
        alice = auth("alice")
        client, conversation, _ = await ask_once(app, alice)
        assert await stored_title(client, alice, conversation) == "How do I rotate the signing"


class SilentProvider:
    """Answers every chat and names nothing, so the kernel's own title is used."""

    @hookimpl
    def register_models(self, register: Any) -> None:
        register(Model(id="silent"))  # the only model, so the default

    @hookimpl
    def complete_stream(self, chat: ChatRequest) -> AsyncIterator[str | StreamEnd]:
        async def reply() -> AsyncIterator[str | StreamEnd]:
            yield "ok"
            yield StreamEnd()

        return reply()


class BrokenNamer:
    @hookimpl(tryfirst=True)
    async def conversation_title(self) -> str:
        raise RuntimeError("the namer broke")


@pytest.mark.parametrize("extra", [[], [BrokenNamer()]], ids=["no-plugin-answers", "one-raises"])
async def test_the_kernel_falls_back_to_the_first_words(make_app, auth, extra):
    app = make_app(SilentProvider(), *extra, titles=True, disabled_plugins=("openai", "echo"))
    async with app.test_app():
        alice = auth("alice")
        client, conversation, events = await ask_once(app, alice)
        assert text_of(events) == "ok"
        assert await stored_title(client, alice, conversation) == (
            "How do I rotate the signing keys of a Clerk instance without"
        )


async def test_a_title_is_per_owner(titled, auth, fake):
    """Naming writes only the owner's conversation: another user's stays as it was."""
    client, alice, bob = titled.test_client(), auth("alice"), auth("bob")
    theirs = await new_conversation(client, bob)
    mine = await new_conversation(client, alice)
    await send(client, alice, {"conversation_id": mine, "message": QUESTION})
    assert await stored_title(client, alice, mine) == "A fake title"
    assert (await conversation_of(client, bob, theirs))["title"] == ""


@pytest.mark.parametrize(
    ("raw", "title"),
    [
        ('"Clerk key rotation."', "Clerk key rotation"),
        ("\u201cSmart quotes\u201d", "Smart quotes"),
        ("Title: 'Labelled'", "Labelled"),
        ("  many\n  spaces   here ", "many spaces here"),
        ("Wait for it...", "Wait for it..."),
        ("x" * 80, "x" * 60),
        ("word " * 20, ("word " * 12).strip()),
        ("", ""),
        ("## **Clerk** key rotation", "Clerk key rotation"),
        ("How do I use `useChat` with _promptkit_?", "How do I use useChat with promptkit?"),
        ("- See [the docs](https://example.com/a_b) first", "See the docs first"),
        ("snake_case_name and 2 * 3 * 4", "snake_case_name and 2 * 3 * 4"),
        ("1. First step", "First step"),
    ],
)
def test_tidy(raw, title):
    assert tidy(raw) == title
    assert len(tidy(raw)) <= 60


def test_first_words_come_from_the_first_user_message():
    said = [ChatMessage("user", "first one here"), ChatMessage("assistant", "no")]
    assert first_words(said) == "first one here"
    assert first_words([]) == ""
