"""builtin_openai against the fake upstream: upstream failures become safe error parts, retries
happen only before the first token, and the plugin passes when it is not configured."""

from __future__ import annotations

import pytest
from fake_openai import Script
from test_chat import SECRET, history, new_conversation, send, text_of, upstream_env

from promptkit import ChatMessage, ChatRequest
from promptkit.errors import UnknownModel


@pytest.fixture
def app_environ(fake):
    # No waiting between retries: the fake's retry-after-ms headers say 1 ms.
    return upstream_env(fake)


def error_of(events) -> str:
    errors = [e["errorText"] for e in events if isinstance(e, dict) and e["type"] == "error"]
    assert len(errors) == 1, events
    return errors[0]


FAST_RETRY = {"retry-after-ms": "1"}


@pytest.mark.parametrize(
    ("script", "expected", "attempts"),
    [
        (Script(status=500, headers=FAST_RETRY), "the model provider had an error; try again", 3),
        (Script(status=429, headers=FAST_RETRY), "rate limiting", 3),
        (
            Script(
                status=429, error_code="insufficient_quota", headers={"x-should-retry": "false"}
            ),
            "quota is used up",
            1,
        ),
        (Script(status=401), "the model provider rejected the API key", 1),
        (Script(status=404), "the model 'gpt-4.1-mini' is not available at the provider", 1),
    ],
)
async def test_upstream_http_error_is_an_error_part_and_the_user_message_is_kept(
    client, auth, fake, script, expected, attempts
):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    fake.default = script

    response, events = await send(client, alice, {"conversation_id": conversation, "message": "hi"})

    assert response.status_code == 200  # the stream had started: the failure is a part
    assert [e if isinstance(e, str) else e["type"] for e in events] == ["start", "error", "[DONE]"]
    assert expected in error_of(events)
    assert SECRET not in (await response.get_data()).decode()
    assert len(fake.received) == attempts  # the SDK retried 5xx and 429, nothing else
    stored = await history(client, alice, conversation)
    assert [(m["role"], m["content"]) for m in stored] == [("user", "hi")]
    # The conversation is free again.
    fake.default = Script(reply="fine now")
    response, events = await send(
        client, alice, {"conversation_id": conversation, "message": "again"}
    )
    assert text_of(events) == "fine now"


async def test_a_retry_before_the_first_token_recovers(client, auth, fake):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    fake.queue(Script(status=503, headers=FAST_RETRY), Script(reply="second attempt"))
    _, events = await send(client, alice, {"conversation_id": conversation, "message": "hi"})
    assert text_of(events) == "second attempt"
    assert len(fake.received) == 2
    assert fake.received[1].headers.get("X-Stainless-Retry-Count") == "1"


@pytest.mark.parametrize("failure", ["error_after", "drop_after"])
async def test_failure_mid_stream_stores_the_partial_text_as_error(client, auth, fake, failure):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    fake.default = Script(tokens=["par", "tial", " never"], **{failure: 2})

    _, events = await send(client, alice, {"conversation_id": conversation, "message": "hi"})

    types = [e if isinstance(e, str) else e["type"] for e in events]
    assert types == ["start", "text-start", "text-delta", "text-delta", "error", "[DONE]"]
    assert text_of(events) == "partial"
    assert error_of(events).startswith("the model provider")
    assert len(fake.received) == 1  # never retried once tokens had been sent
    stored = await history(client, alice, conversation)
    assert [(m["role"], m["content"], m["status"]) for m in stored] == [
        ("user", "hi", "complete"),
        ("assistant", "partial", "error"),
    ]


async def test_a_length_finish_is_passed_on(client, auth, fake):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    fake.default = Script(reply="cut", finish_reason="length")
    _, events = await send(client, alice, {"conversation_id": conversation, "message": "hi"})
    assert events[-2] == {"type": "finish", "finishReason": "length"}


async def test_events_are_read_however_the_bytes_are_framed(client, auth, fake):
    """CRLF line ends, a comment, `data:` without its space, one event's data on two lines,
    and reads that end mid-line, mid-event and inside a two-byte character."""
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    fake.default = Script(
        raw=[
            b": ping\r\n\r\n",
            b'data: {"choices":[{"delta":{"content":"Gr\xc3',
            b'\xbc\xc3\x9fe"}}]}\r\n\r',
            b'\ndata:{"choices":[{"delta":{"content":", "}}]}\n\n',
            b'data: {"choices":[{"delta":\ndata: {"content":"Welt"}}]}\n',
            b'\ndata: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\nda',
            b"ta: [DONE]\n\n",
        ]
    )
    _, events = await send(client, alice, {"conversation_id": conversation, "message": "hi"})
    assert text_of(events) == "Grüße, Welt"
    assert events[-2] == {"type": "finish", "finishReason": "stop"}


async def test_an_event_the_stream_breaks_off_in_is_not_used(client, auth, fake):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    fake.default = Script(
        raw=[b'data: {"choices":[{"delta":{"content":"kept"}}]}\n\n', b'data: {"choices":[{']
    )
    _, events = await send(client, alice, {"conversation_id": conversation, "message": "hi"})
    assert text_of(events) == "kept"
    assert error_of(events) == "the model provider's stream ended early"


async def test_a_stalled_upstream_times_out_into_an_error_part(make_app, auth, fake):
    env = {**upstream_env(fake), "PROMPTKIT_OPENAI_TIMEOUT": "0.3"}
    app = make_app(environ=env)
    async with app.test_app():
        client, alice = app.test_client(), auth("alice")
        conversation = await new_conversation(client, alice)
        fake.default = Script(tokens=["a", "b"], delay=2)
        _, events = await send(client, alice, {"conversation_id": conversation, "message": "hi"})
    assert error_of(events) == "the model provider's stream broke off"


async def test_an_unreachable_upstream_is_an_error_part(make_app, auth):
    env = {
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "PROMPTKIT_OPENAI_MAX_RETRIES": "0",
        "PROMPTKIT_OPENAI_MODELS": "gpt-4.1-mini",  # listing them would fail the same way
    }
    app = make_app(environ=env)
    async with app.test_app():
        client, alice = app.test_client(), auth("alice")
        conversation = await new_conversation(client, alice)
        _, events = await send(client, alice, {"conversation_id": conversation, "message": "hi"})
    assert error_of(events) == "could not reach the model provider"


async def test_one_client_per_app_closed_at_shutdown(make_app, fake):
    app = make_app(environ=upstream_env(fake))
    async with app.test_app():
        client = app.plugins.host("openai").state["client"]
        assert str(client.base_url) == fake.base_url + "/"
    assert "client" not in app.plugins.host("openai").state
    assert client.is_closed()


async def test_passes_when_not_configured(make_app):
    app = make_app(environ={"OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""})
    async with app.test_app():
        assert "client" not in app.plugins.host("openai").state
        chat = ChatRequest(
            model="gpt-4.1-mini",
            messages=[ChatMessage(role="user", content="hi")],
            user_id="u",
            conversation_id="c",
        )
        # It registers nothing: the model is unknown, and the default is the echo provider's.
        assert [m.id for m in app.models.registered()] == ["echo"]
        assert app.models.default == "echo"
        with pytest.raises(UnknownModel):
            await app.models.open_stream(chat)


async def test_a_key_alone_configures_it(make_app):
    # Its model list is given, so start-up does not ask api.openai.com for it.
    app = make_app(environ={"OPENAI_API_KEY": "sk-only-a-key", "PROMPTKIT_OPENAI_MODELS": "gpt-4o"})
    async with app.test_app():
        assert str(app.plugins.host("openai").state["client"].base_url).startswith(
            "https://api.openai"
        )


async def test_the_key_and_the_upstream_text_never_reach_logs_or_clients(
    client, auth, fake, caplog
):
    caplog.set_level("DEBUG")
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    fake.default = Script(status=401)
    response, events = await send(client, alice, {"conversation_id": conversation, "message": "hi"})
    assert error_of(events) == "the model provider rejected the API key"
    assert SECRET not in caplog.text
    assert "fake upstream" not in caplog.text  # the upstream's own message is never echoed
    assert "fake upstream" not in (await response.get_data()).decode()
