"""The tools themselves, and `calculate` through a whole chat on promptkit.testing's app."""

from __future__ import annotations

import logging

import pytest
from promptkit_tools.arithmetic import evaluate
from promptkit_tools.tools import Expression, NoInput, TimeZone, current_time, project_files

from promptkit import Principal, ToolContext
from promptkit.testing import chat, text_of


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("-2 ** 2", -4),
        ("2 ** 10", 1024),
        ("10 % 4", 2),
        ("0.1 + 0.2", 0.1 + 0.2),
    ],
)
def test_arithmetic(expression, value):
    assert evaluate(expression) == value


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("__import__('os').system('true')", "Call is not allowed"),
        ("x + 1", "Name is not allowed"),
        ("9 ** 9 ** 9", "exponents above 1000"),
        ("1 / 0", "division by zero"),
        ("'a' * 3", "Constant is not allowed"),
        ("(-8) ** 0.5", "not a real number"),
        ("1 +", "not an arithmetic expression"),
        ("True + 1", "Constant is not allowed"),
    ],
)
def test_arithmetic_refuses_everything_else(expression, reason):
    with pytest.raises(ValueError, match=reason):
        evaluate(expression)


def context(files):
    async def list_project_files():
        return files

    return ToolContext(
        Principal("alice"), "prj_1", "cnv_1", logging.getLogger("t"), list_project_files
    )


async def test_current_time_in_a_zone_and_an_unknown_zone():
    now = await current_time(TimeZone(time_zone="Asia/Tokyo"), context([]))
    assert now["iso"].endswith("+09:00")
    with pytest.raises(ValueError, match="unknown time zone"):
        await current_time(TimeZone(time_zone="Mars/Olympus"), context([]))


async def test_project_files_come_from_the_context():
    files = [{"filename": "a.txt", "size_bytes": 3, "content_type": "text/plain"}]
    assert await project_files(NoInput(), context(files)) == {"files": files, "count": 1}


def test_expression_input_is_bounded():
    with pytest.raises(ValueError):
        Expression(expression="1+" * 300 + "1")


async def test_calculate_through_a_chat_with_the_echo_provider(promptkit_client, promptkit_token):
    # The echo provider (installed beside this package) calls a tool on "/tool NAME {json}".
    alice = promptkit_token("alice")
    project = await (
        await promptkit_client.post("/projects", json={"name": "P"}, headers=alice)
    ).get_json()
    response = await promptkit_client.patch(
        f"/projects/{project['id']}", json={"tools": ["calculate"]}, headers=alice
    )
    assert response.status_code == 200
    conversation = await promptkit_client.post(
        f"/projects/{project['id']}/conversations", json={}, headers=alice
    )
    parts = await chat(
        promptkit_client,
        alice,
        '/tool calculate {"expression": "6 * 7"}',
        conversation_id=(await conversation.get_json())["id"],
    )
    (output,) = [part for part in parts if part["type"] == "tool-output-available"]
    assert output["output"] == {"expression": "6 * 7", "value": 42}
    assert "42" in text_of(parts)
