"""The fake Files API speaks what the real `openai` SDK expects, failures included: the other
file tests are only as good as this fake."""

from __future__ import annotations

import io

import openai
import pytest
from fake_openai_files import FakeOpenAIFiles

FAKE_SERVER = FakeOpenAIFiles  # the `fake` fixture (conftest) starts it


@pytest.fixture
async def sdk(fake):
    client = openai.AsyncOpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=0)
    yield client
    await client.close()


async def test_upload_retrieve_list_delete(sdk, fake):
    created = await sdk.files.create(file=("a.txt", io.BytesIO(b"abc")), purpose="user_data")
    assert created.bytes == 3 and created.filename == "a.txt" and created.purpose == "user_data"
    assert (await sdk.files.retrieve(created.id)).id == created.id
    others = [
        await sdk.files.create(file=(f"{i}.txt", io.BytesIO(b"x")), purpose="assistants")
        for i in range(3)
    ]

    mine = [item.id async for item in sdk.files.list(purpose="user_data")]
    assert mine == [created.id]
    paged = [item.id async for item in sdk.files.list(purpose="assistants", limit=2)]
    assert paged == [other.id for other in reversed(others)]  # newest first, over two pages

    deleted = await sdk.files.delete(created.id)
    assert deleted.deleted and deleted.id == created.id
    with pytest.raises(openai.NotFoundError):
        await sdk.files.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        await sdk.files.delete(created.id)


@pytest.mark.parametrize("step", ["upload", "list", "retrieve", "delete"])
async def test_failures_are_injected_at_each_step(sdk, fake, step):
    created = await sdk.files.create(file=("a.txt", io.BytesIO(b"abc")), purpose="user_data")
    fake.fail(step, status=500)
    calls = {
        "upload": lambda: sdk.files.create(file=("b.txt", io.BytesIO(b"b")), purpose="user_data"),
        "list": lambda: sdk.files.list(),
        "retrieve": lambda: sdk.files.retrieve(created.id),
        "delete": lambda: sdk.files.delete(created.id),
    }
    with pytest.raises(openai.InternalServerError):
        await calls[step]()
    assert list(fake.files) == [created.id]  # a failure before the work does none of it
    fake.fail(step, drop=True)
    with pytest.raises(openai.APIConnectionError):
        await calls[step]()
    await calls[step]()  # and the next one works


async def test_wrong_key_is_401(fake):
    client = openai.AsyncOpenAI(api_key="sk-wrong", base_url=fake.base_url, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await client.files.list()
    await client.close()
