"""The echo provider's own tests, on promptkit.testing's fixtures: an app on a fresh database
with this plugin installed, a signed-in user, and the UI message stream read back."""

from promptkit.testing import chat, text_of


async def test_echo_answers_and_says_it_is_not_a_model(promptkit_client, promptkit_token):
    parts = await chat(promptkit_client, promptkit_token("alice"), "Hello there")
    assert parts[0]["type"] == "start" and parts[-1]["type"] == "finish"
    assert "Hello there" in text_of(parts)
    assert "not a language model" in text_of(parts)
