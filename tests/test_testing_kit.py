"""promptkit.testing, as a plugin author uses it: the echo example's own suite runs on its
fixtures in a pytest of its own, and the stream reader refuses a stream that did not end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from promptkit.testing import read_ui_message_stream, text_of

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "promptkit-echo"


def test_the_echo_examples_own_tests_pass_on_the_kit():
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_the_reader_gives_the_parts_of_a_finished_stream():
    body = (
        'data: {"type":"start"}\n\ndata: {"type":"text-delta","id":"t","delta":"Hi"}\n\n'
        'data: {"type":"text-delta","id":"t","delta":" there"}\n\ndata: {"type":"finish"}\n\n'
        "data: [DONE]\n\n"
    )
    parts = read_ui_message_stream(body)
    assert [part["type"] for part in parts] == ["start", "text-delta", "text-delta", "finish"]
    assert text_of(parts) == "Hi there"


@pytest.mark.parametrize(
    "body",
    ['data: {"type":"start"}\n\n', 'data: [DONE]\n\ndata: {"type":"start"}\n\n', "data: {\n\n"],
)
def test_the_reader_refuses_a_stream_that_did_not_end_once(body):
    with pytest.raises((AssertionError, ValueError)):
        read_ui_message_stream(body)


def run_example_suite(name: str) -> str:
    """An example package's own tests, run as its author runs them: its output."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=EXAMPLE.parent / name,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout and "failed" not in done.stdout
    return done.stdout


@pytest.mark.parametrize("example", ["promptkit-tools", "promptkit-mcp", "promptkit-anthropic"])
def test_the_tool_examples_own_tests_pass_on_the_kit(example):
    # promptkit-mcp's suite starts real MCP servers (stdio and streamable HTTP) with the SDK;
    # promptkit-anthropic's runs a tool round trip through the real anthropic SDK.
    run_example_suite(example)


async def test_the_kit_points_an_app_at_its_fake_openai(make_app, auth, promptkit_fake_openai):
    from promptkit.testing import chat
    from promptkit.testing.fake_openai import Script

    fake = promptkit_fake_openai
    fake.queue(Script(reply="Scripted for this test"))
    environ = {
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "sk-kit",
        "PROMPTKIT_OPENAI_MODELS": "gpt-4.1-mini",
    }
    app = make_app(environ=environ)
    async with app.test_app():
        parts = await chat(app.test_client(), auth("alice"), "hi", model="gpt-4.1-mini")
    assert text_of(parts) == "Scripted for this test"
    assert fake.last.body["messages"][-1] == {"role": "user", "content": "hi"}
