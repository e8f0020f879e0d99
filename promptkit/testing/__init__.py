"""What a plugin's own tests need, so that they are a few lines each.

Installing promptkit registers a pytest plugin (the `pytest11` entry point `promptkit`) with
these fixtures; a plugin's test module uses them by name:

- `promptkit_app`: a started app on a fresh SQLite database, with every installed plugin (yours
  too, once `pip install -e .` registered it) and the ones that `promptkit_plugins` returns;
- `promptkit_client`: Quart's test client for it;
- `promptkit_token`: `promptkit_token("alice")` gives the headers of a signed-in user (a real
  RS256 session token that the built-in Clerk plugin verifies);
- `promptkit_environ` and `promptkit_plugins`: override these to give the app settings (your
  plugin's own names, read with `host.setting(name)`) or plugin objects;
- `promptkit_host`: `promptkit_host("greeter")` gives a real `promptkit.Host` on those
  settings, to call a hookimpl with directly (`startup(host)`, then the hook under test);
- `promptkit_fake_openai`: a scriptable OpenAI-compatible server on a loopback port
  (`promptkit.testing.fake_openai.FakeOpenAI`, with `Script` for each answer: text, delays,
  errors, tool calls), for testing a plugin against the OpenAI provider or an OpenAI-style
  upstream of its own.

And helpers for the UI message stream that `POST /chat` answers:

    parts = await chat(promptkit_client, promptkit_token("alice"), "Hello")
    assert text_of(parts) == "..."

The async fixtures need pytest-asyncio (`pip install promptkit[testing]`).
"""

from .stream import chat, read_ui_message_stream, text_of

__all__ = ["chat", "read_ui_message_stream", "text_of"]
