"""builtin_files: the `store_file` plugin that keeps uploads in the OpenAI Files API."""
