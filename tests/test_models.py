"""The model registry: routing by registration, the allow-list, the default, `GET /models`,
and the OpenAI plugin's listing against the fake server's `GET /v1/models`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from click.testing import CliRunner
from fake_openai import FakeOpenAI
from promptkit_openai.models import TEXT
from test_chat import SECRET, new_conversation, send, text_of, upstream_env

from promptkit import Capabilities, ChatRequest, Model, StreamEnd, hookimpl


class Provider:
    """A provider plugin that registers `models` and records the chats it was asked for."""

    def __init__(self, name: str, *models: Model) -> None:
        self.name, self.models = name, models
        self.__name__ = name  # pluggy's name for it, so errors and `provider` show it
        self.asked: list[str] = []

    @hookimpl
    def register_models(self, register: Callable[[Model], None]) -> None:
        for model in self.models:
            register(model)

    @hookimpl
    def complete_stream(self, chat: ChatRequest) -> AsyncIterator[str | StreamEnd]:
        self.asked.append(chat.model)

        async def reply() -> AsyncIterator[str | StreamEnd]:
            yield f"from {self.name}"
            yield StreamEnd(model=chat.model, usage={"prompt_tokens": 1, "completion_tokens": 2})

        return reply()


async def history(client: Any, headers: dict[str, str], conversation: str) -> list[Any]:
    response = await client.get(f"/conversations/{conversation}/messages", headers=headers)
    return list((await response.get_json())["data"])


async def test_two_providers_each_get_only_their_own_models(make_app, auth):
    first = Provider("first", Model(id="alpha-1", aliases=("alpha",)), Model(id="alpha-2"))
    second = Provider("second", Model(id="beta-1"))
    app = make_app(first, second)
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        replies = {}
        for model in ("alpha-1", "beta-1", "alpha-2", "alpha", "echo"):
            conversation = await new_conversation(client, alice)
            body = {"conversation_id": conversation, "message": "hi", "model": model}
            _, events = await send(client, alice, body)
            replies[model] = text_of(events)
            stored = await history(client, alice, conversation)
            assert stored[1]["model"] == {"alpha": "alpha-1"}.get(model, model)
    assert first.asked == ["alpha-1", "alpha-2", "alpha-1"]  # the alias went as its id
    assert second.asked == ["beta-1"]
    assert replies["beta-1"] == "from second" and replies["alpha"] == "from first"
    assert replies["echo"].startswith("I am promptkit's offline echo provider")


async def test_one_id_registered_by_two_plugins_stops_start_up_naming_both(make_app):
    app = make_app(Provider("a", Model(id="same")), Provider("b", Model(id="same")))
    # The test app wraps start-up errors; `promptkit serve` prints the same message.
    with pytest.raises(
        Exception, match="'same' is registered twice: by plugin 'a' and by plugin 'b'"
    ):
        async with app.test_app():
            pass


async def test_an_alias_that_is_another_plugins_id_stops_start_up(make_app):
    app = make_app(Provider("a", Model(id="x")), Provider("b", Model(id="y", aliases=("x",))))
    with pytest.raises(Exception, match="'x' is registered twice: by plugin 'a' and by plugin 'b'"):
        async with app.test_app():
            pass


async def test_the_allow_list_refuses_the_rest_with_422_and_writes_nothing(make_app, auth):
    provider = Provider("p", Model(id="small-1"), Model(id="small-2"), Model(id="large-1"))
    app = make_app(provider, models=("small-*",))
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        listed = await (await client.get("/models", headers=alice)).get_json()
        conversation = await new_conversation(client, alice)
        refused = []
        for model in ("large-1", "echo", "never-registered"):
            body = {"conversation_id": conversation, "message": "hi", "model": model}
            refused.append(await client.post("/chat", json=body, headers=alice))
        stored = await history(client, alice, conversation)
        allowed = await client.post(
            "/chat", json={"conversation_id": conversation, "message": "hi"}, headers=alice
        )
        await allowed.get_data()
    assert [m["id"] for m in listed["data"]] == ["small-1", "small-2"]
    for response in refused:
        assert response.status_code == 422
        assert (await response.get_json())["error"]["code"] == "unknown_model"
    assert stored == [] and provider.asked == ["small-1"]  # the first allowed is the default
    assert allowed.status_code == 200


async def test_get_models_lists_capabilities_and_the_default(make_app, auth):
    provider = Provider(
        "p",
        Model(
            id="vision-1",
            display_name="Vision One",
            aliases=("vision",),
            capabilities=Capabilities(tools=True, attachments=("image/png",), reasoning=True),
            context_window=32_000,
        ),
    )
    app = make_app(provider)
    async with app.test_app():
        client = app.test_client()
        response = await client.get("/models", headers=auth("alice"))
        anonymous = await client.get("/models")
    assert anonymous.status_code == 401
    models = {m["id"]: m for m in (await response.get_json())["data"]}
    assert list(models) == ["vision-1", "echo"]  # the offline echo provider lists last
    vision = models["vision-1"]
    assert vision["display_name"] == vision["name"] == "Vision One"
    assert vision["provider"] != "echo" and models["echo"]["provider"] == "echo"
    assert vision["capabilities"] == {
        "streaming": True,
        "tools": True,
        "attachments": ["image/png"],
        "reasoning": True,
    }
    assert vision["context_window"] == 32_000 and vision["aliases"] == ["vision"]
    assert vision["default"] is True and models["echo"]["default"] is False
    assert models["echo"]["capabilities"]["attachments"] == ["*/*"]


async def test_the_embedded_default_answers_with_echo(make_app, auth):
    app, alice = make_app(), auth("alice")  # no OpenAI settings: only the echo provider
    async with app.test_app():
        client = app.test_client()
        conversation = await new_conversation(client, alice)
        _, events = await send(client, alice, {"conversation_id": conversation, "message": "hi"})
        stored = await history(client, alice, conversation)
    assert text_of(events).startswith("I am promptkit's offline echo provider")
    assert stored[1]["model"] == "echo"


async def test_a_default_model_that_is_not_registered_stops_start_up(make_app):
    app = make_app(Provider("p", Model(id="real-1")), default_model="gpt-typo")
    with pytest.raises(Exception, match=r"PROMPTKIT_MODEL='gpt-typo'.*registered: real-1, echo"):
        async with app.test_app():
            pass


async def test_a_default_model_the_allow_list_leaves_out_stops_start_up(make_app):
    app = make_app(default_model="echo", models=("gpt-*",))
    with pytest.raises(Exception, match=r"allowed by PROMPTKIT_MODELS: gpt-\*"):
        async with app.test_app():
            pass


def test_promptkit_models_prints_the_registry(monkeypatch):
    from promptkit.cli import cli

    monkeypatch.setenv("OPENAI_API_KEY", "")
    monkeypatch.setenv("OPENAI_BASE_URL", "")
    monkeypatch.setenv("PROMPTKIT_DISABLED_PLUGINS", "anthropic")
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["id"] for row in rows] == ["echo"]
    assert rows[0]["provider"] == "echo" and rows[0]["allowed"] is True


# The OpenAI plugin's listing, against the fake server's `GET /v1/models`.


@pytest.fixture
def app_environ(fake: FakeOpenAI) -> dict[str, str]:
    return upstream_env(fake)


async def test_openai_registers_what_the_upstream_lists(app, fake):
    registered = {m.id: m for m in app.models.registered() if m.provider == "openai"}
    # The embedding model is no chat model; the rest are, in the order listed (sorted).
    assert list(registered) == ["gpt-4.1-mini", "gpt-4o", "llama-3-8b"]
    assert "application/pdf" in registered["gpt-4o"].capabilities.attachments
    assert registered["gpt-4o"].context_window == 128_000
    # An id of no OpenAI family streams text, takes tools and reads text files (as text).
    assert registered["llama-3-8b"].capabilities == Capabilities(tools=True, attachments=TEXT)
    assert app.models.default == "gpt-4.1-mini"  # today's default, as it is registered
    assert fake.model_listings == 1


async def test_the_models_setting_replaces_the_listing_and_declares_capabilities(make_app, fake):
    declared = [
        "gpt-5-mini",
        {"id": "llava", "display_name": "LLaVA", "attachments": ["image/png"], "tools": False},
    ]
    environ = {**upstream_env(fake), "PROMPTKIT_OPENAI_MODELS": json.dumps(declared)}
    app = make_app(environ=environ)
    async with app.test_app():
        registered = {m.id: m for m in app.models.registered() if m.provider == "openai"}
    assert fake.model_listings == 0
    assert registered["gpt-5-mini"].capabilities.reasoning
    llava = registered["llava"]
    assert llava.display_name == "LLaVA"
    assert llava.capabilities == Capabilities(tools=False, attachments=("image/png",))
    assert app.models.default == "gpt-5-mini"  # gpt-4.1-mini is not registered: the first


async def test_a_malformed_models_setting_stops_start_up(make_app, fake):
    environ = {**upstream_env(fake), "PROMPTKIT_OPENAI_MODELS": "[{'id': 1}]"}
    with pytest.raises(Exception, match="PROMPTKIT_OPENAI_MODELS"):
        async with make_app(environ=environ).test_app():
            pass


OPERATOR = {"Authorization": "Bearer operator-token"}


async def test_a_failing_listing_keeps_the_last_good_one_and_says_so(make_app, fake, auth):
    app = make_app(
        environ=upstream_env(fake), models_refresh_seconds=0.05, metrics_token="operator-token"
    )
    async with app.test_app():
        client = app.test_client()
        assert (await (await client.get("/health/ready")).get_json())["checks"]["models"] == "ok"
        fake.models_status = 500
        seen = fake.model_listings
        await wait_until(lambda: fake.model_listings >= seen + 2)
        ready = await client.get("/health/ready")
        detail = await (await client.get("/health/ready", headers=OPERATOR)).get_json()
        kept = await (await client.get("/models", headers=auth("alice"))).get_json()

        fake.models_status = None  # the upstream recovers, with one model more
        fake.models.append("gpt-4.1-nano")
        await wait_until(lambda: "gpt-4.1-nano" in {m.id for m in app.models.registered()})
        recovered = await (await client.get("/health/ready", headers=OPERATOR)).get_json()
    body = await ready.get_json()
    assert ready.status_code == 200  # still serving the models it had
    assert body["checks"]["models"] == "stale"
    assert "openai" not in json.dumps(body)  # which plugins are installed: operators only
    stale = detail["stale_model_listings"]["openai"]
    assert stale["error"] == "GET /models answered HTTP 500" and stale["kept_models"] == 3
    assert {"gpt-4.1-mini", "gpt-4o", "llama-3-8b"} <= {m["id"] for m in kept["data"]}
    assert recovered["checks"]["models"] == "ok" and "stale_model_listings" not in recovered
    assert SECRET not in json.dumps(detail)


async def test_a_listing_that_fails_at_start_up_still_starts(make_app, fake, auth):
    fake.models_status = 503
    app = make_app(environ=upstream_env(fake), metrics_token="operator-token")
    async with app.test_app():
        client = app.test_client()
        ready = await (await client.get("/health/ready", headers=OPERATOR)).get_json()
        listed = await (await client.get("/models", headers=auth("alice"))).get_json()
    assert ready["checks"]["models"] == "stale"
    assert ready["stale_model_listings"]["openai"]["kept_models"] == 0
    assert [m["id"] for m in listed["data"]] == ["echo"]


@pytest.mark.parametrize(
    ("model", "cap"), [("gpt-4.1-mini", "max_tokens"), ("o3-mini", "max_completion_tokens")]
)
async def test_the_reply_cap_goes_upstream(make_app, fake, auth, model, cap):
    fake.models.append("o3-mini")
    app = make_app(environ=upstream_env(fake), max_reply_tokens=321)
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        conversation = await new_conversation(client, alice)
        body = {"conversation_id": conversation, "message": "hi", "model": model}
        await send(client, alice, body)
    assert fake.last.body[cap] == 321
    other = {"max_tokens", "max_completion_tokens"} - {cap}
    assert not other & set(fake.last.body)


async def wait_until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition did not come true within 10 s")
