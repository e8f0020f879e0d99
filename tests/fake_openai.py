"""The fake OpenAI-compatible server lives in `promptkit.testing`, where plugin authors' tests
reach it too; the project's tests import it from here."""

from promptkit.testing.fake_openai import FakeOpenAI, Received, Script

__all__ = ["FakeOpenAI", "Received", "Script"]
