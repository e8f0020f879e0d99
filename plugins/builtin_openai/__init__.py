"""builtin_openai: the `complete_stream` provider for OpenAI and OpenAI-compatible servers."""
