"""Chat in production: its metrics after real chats, and its own per-user rate limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from promptkit import ChatRequest, Model, ProviderError, StreamEnd, hookimpl
from promptkit.app import PromptkitApp
from promptkit.metrics import MAX_MODEL_LABELS

TOKEN = "metrics-token"
Auth = Callable[[str], dict[str, str]]


class ScriptedProvider:
    """Registers `models` and answers each with `words`; can hold the reply after its first
    word, or fail."""

    def __init__(
        self,
        words: list[str],
        *,
        fail_after: int | None = None,
        models: tuple[str, ...] = ("scripted",),
    ) -> None:
        self.words, self.fail_after, self.models = words, fail_after, models
        self.first_word_sent = asyncio.Event()
        self.go_on = asyncio.Event()
        self.go_on.set()

    @hookimpl
    def register_models(self, register: Callable[[Model], None]) -> None:
        for model in self.models:
            register(Model(id=model))

    @hookimpl
    def complete_stream(self, chat: ChatRequest) -> AsyncIterator[str | StreamEnd]:
        return self._reply()

    async def _reply(self) -> AsyncIterator[str | StreamEnd]:
        for index, word in enumerate(self.words):
            if index == self.fail_after:
                raise ProviderError("the model is overloaded")
            yield word
            if index == 0:
                self.first_word_sent.set()
                await self.go_on.wait()
        yield StreamEnd(model="scripted-1", usage={"prompt_tokens": 7, "completion_tokens": 3})


async def new_conversation(client: Any, headers: dict[str, str]) -> str:
    project = await (await client.post("/projects", json={"name": "p"}, headers=headers)).get_json()
    created = await client.post(
        f"/projects/{project['id']}/conversations", json={}, headers=headers
    )
    conversation: str = (await created.get_json())["id"]
    return conversation


async def chat(client: Any, headers: dict[str, str], conversation: str) -> tuple[int, str]:
    response = await client.post(
        "/chat", json={"conversation_id": conversation, "message": "hello"}, headers=headers
    )
    return response.status_code, await response.get_data(as_text=True)


async def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(await response.get_data(as_text=True))
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_after_chats_show_what_happened(
    make_app: Callable[..., PromptkitApp], auth: Auth
) -> None:
    provider = ScriptedProvider(["one", " two", " three"])
    app = make_app(provider, metrics_token=TOKEN, default_model="scripted")
    headers = auth("chatty")
    async with app.test_app():
        client = app.test_client()
        conversation = await new_conversation(client, headers)

        provider.go_on.clear()  # hold the first reply after its first word
        in_flight = asyncio.create_task(chat(client, headers, conversation))
        await asyncio.wait_for(provider.first_word_sent.wait(), 10)
        # The provider starts while the user message is stored: the stream opens just after.
        for _ in range(1000):
            during = await scrape(client)
            if value(during, "promptkit_chat_streams_open") == 1:
                break
            await asyncio.sleep(0.01)
        provider.go_on.set()
        assert (await in_flight)[0] == 200

        provider.first_word_sent.clear()
        status, body = await chat(client, headers, conversation)
        assert status == 200 and "data: [DONE]" in body
        after = await scrape(client)

    assert value(during, "promptkit_chat_streams_open") == 1
    assert value(after, "promptkit_chat_streams_open") == 0
    assert value(after, "promptkit_chat_time_to_first_token_seconds_count", model="scripted") == 2
    assert value(after, "promptkit_chat_tokens_total", direction="in", model="scripted-1") == 14
    assert value(after, "promptkit_chat_tokens_total", direction="out", model="scripted-1") == 6
    assert value(after, "promptkit_chat_upstream_errors_total", model="scripted") == 0
    latency = "promptkit_http_request_duration_seconds_count"
    assert value(after, latency, method="POST", route="/chat") == 2
    chats = value(
        after, "promptkit_http_requests_total", method="POST", route="/chat", status="200"
    )
    assert chats == 2


async def test_a_failing_provider_counts_an_upstream_error(
    make_app: Callable[..., PromptkitApp], auth: Auth
) -> None:
    app = make_app(
        ScriptedProvider(["one", " two"], fail_after=1, models=("m",)),
        metrics_token=TOKEN,
        default_model="m",
    )
    headers = auth("unlucky")
    async with app.test_app():
        client = app.test_client()
        status, body = await chat(client, headers, await new_conversation(client, headers))
        samples = await scrape(client)
    assert status == 200 and '"type":"error"' in body.replace(" ", "")
    assert value(samples, "promptkit_chat_upstream_errors_total", model="m") == 1
    assert value(samples, "promptkit_chat_streams_open") == 0
    assert value(samples, "promptkit_chat_tokens_total", direction="out", model="m") == 0


async def test_model_labels_are_bounded(make_app: Callable[..., PromptkitApp], auth: Auth) -> None:
    names = tuple(f"m-{index}" for index in range(25))
    app = make_app(ScriptedProvider(["x"], models=names), metrics_token=TOKEN)
    headers = auth("namer")
    async with app.test_app():
        client = app.test_client()
        conversation = await new_conversation(client, headers)
        for index in range(25):
            response = await client.post(
                "/chat",
                json={"conversation_id": conversation, "message": "hi", "model": f"m-{index}"},
                headers=headers,
            )
            assert response.status_code == 200
            await response.get_data()
        samples = await scrape(client)
    models = {
        dict(labels)["model"]
        for name, labels in samples
        if name == "promptkit_chat_time_to_first_token_seconds_count"
    }
    # At most MAX_MODEL_LABELS names (the provider's own model counts too), then one series.
    assert "other" in models and len(models) <= MAX_MODEL_LABELS + 1


async def test_chat_has_its_own_limit(make_app: Callable[..., PromptkitApp], auth: Auth) -> None:
    app = make_app(ScriptedProvider(["ok"]), rate_limit="2/minute", api_rate_limit="5/minute")
    headers = auth("limited")
    async with app.test_app():
        client = app.test_client()
        conversation = await new_conversation(client, headers)  # 2 of the 3 API requests
        first = await chat(client, headers, conversation)
        second = await chat(client, headers, conversation)
        third = await client.post(
            "/chat", json={"conversation_id": conversation, "message": "more"}, headers=headers
        )
        listed = await client.get(f"/conversations/{conversation}/messages", headers=headers)
        over_api_limit = await client.get("/projects", headers=headers)
        other_user = await chat(client, auth("someone-else"), "cnv_unknown")
    assert first[0] == second[0] == 200
    assert third.status_code == 429
    assert 1 <= int(third.headers["Retry-After"]) <= 60
    assert (await third.get_json())["error"]["code"] == "rate_limited"
    # The two chats counted against the API limit too (2 + 2 + the listing = 5), the refused
    # one did not, and it stored nothing.
    assert listed.status_code == 200
    assert over_api_limit.status_code == 429
    assert [m["role"] for m in (await listed.get_json())["data"]] == ["user", "assistant"] * 2
    assert other_user[0] == 404  # a limit is per user
